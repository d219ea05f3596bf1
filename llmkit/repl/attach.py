"""/attach: text files added to the next message, each as a fenced block headed by its name."""

from __future__ import annotations

import re
from pathlib import Path

from ..errors import UsageError
from ..userfiles import read_capped

__all__ = ["read_attachment", "format_attachment", "MAX_ATTACH_BYTES"]

MAX_ATTACH_BYTES = 200_000  # beyond this a file is very likely not meant for a prompt


def read_attachment(path: str, max_bytes: int = MAX_ATTACH_BYTES) -> tuple[str, str]:
    """(display name, text) of a text file; a clear error for anything else."""
    p = Path(path).expanduser()
    if not path.strip():
        raise UsageError("/attach needs a file name", hint="e.g. /attach notes.md")
    if not p.exists():
        raise UsageError(f"no such file: {p}")
    if p.is_dir():
        raise UsageError(f"{p} is a directory", hint="Attach the files in it one by one.")
    size = p.stat().st_size
    if size > max_bytes:
        raise UsageError(f"{p} is {size:,} bytes; the limit for /attach is {max_bytes:,}",
                          hint="Attach a smaller file or an excerpt of it.")  # fmt: skip
    data = read_capped(p, max_bytes, "/attach")  # the size above can lie: /dev/zero says 0 and never ends
    if b"\0" in data[:8192]:
        raise UsageError(f"{p} is a binary file", hint="Only text files can be attached.")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise UsageError(
            f"{p} is not UTF-8 text", hint="Only text files can be attached (convert it to UTF-8)."
        ) from None
    return str(path), text


def format_attachment(name: str, text: str) -> str:
    """A file as a fenced block headed by its name; the fence outgrows any inside it."""
    longest = max((len(m) for m in re.findall(r"`{3,}", text)), default=2)
    fence = "`" * (longest + 1)
    lang = Path(name).suffix.lstrip(".")
    return f"File: {name}\n{fence}{lang}\n{text.rstrip(chr(10))}\n{fence}"
