"""Reading files a user names (attachments, the config file, /load): a size cap, read
in bounded chunks, so that `/dev/zero`, a FIFO or a huge file is refused after at most
`limit` bytes, and Ctrl-C is answered between chunks.

    >>> import pathlib, tempfile
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "notes.md"
    >>> _ = p.write_text("hello")
    >>> read_capped(p, 10, "an attachment")
    b'hello'
    >>> read_capped(p, 3, "an attachment")
    Traceback (most recent call last):
    ...
    llmkit.errors.UsageError: ... is more than 3 bytes, the limit for an attachment
    ...
"""

from __future__ import annotations

import os
from pathlib import Path

from .errors import UsageError

__all__ = ["read_capped", "CHUNK"]

CHUNK = 1 << 16  # 64 KiB: one read is short, so Ctrl-C is seen quickly


def read_capped(path: str | os.PathLike[str], limit: int, what: str) -> bytes:
    """The bytes of `path`, or UsageError once more than `limit` arrive. The size the
    file system reports is not trusted: devices and pipes say 0 and never end."""
    p = Path(path)
    if p.is_dir():
        raise UsageError(f"{p} is a directory", hint=f"Name a file for {what}.")
    parts: list[bytes] = []
    size = 0
    with open(p, "rb") as f:
        while size <= limit:
            chunk = f.read(min(CHUNK, limit + 1 - size))
            if not chunk:
                return b"".join(parts)
            parts.append(chunk)
            size += len(chunk)
    raise UsageError(f"{p} is more than {limit:,} bytes, the limit for {what}",
                     hint="Use a smaller file or an excerpt of it.")  # fmt: skip
