"""Writing files and directories so that readers see the old version or the new one,
never half of one (config edits, /save, checkpoints, converted GGUF models)."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

__all__ = ["write_text_atomic", "write_bytes_atomic", "temporary_dir", "replace_dir", "fsync_files"]

STALE_AFTER = 3600  # seconds: a temporary directory this old was left by a killed writer


def write_text_atomic(path: Path, text: str, check: Callable[[Path], object] | None = None) -> None:
    """Write `text` to a temporary sibling, optionally `check` it, then rename it over
    `path`. A new file is owner-only (0600); a replaced one keeps its permissions."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        if path.exists():
            os.chmod(tmp, path.stat().st_mode & 0o777)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())  # the data is on disk before the name points at it
        if check is not None:
            check(Path(tmp))
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    _fsync_dir(path.parent)  # and the rename itself survives a power cut


def _fsync_dir(directory: Path) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:  # some platforms cannot open a directory: the rename is still atomic
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def write_bytes_atomic(path: Path, data: bytes) -> None:
    """`data` to a temporary sibling, flushed, then renamed over `path`: an interrupted
    write (Ctrl-C, a full disk) leaves no partial file (compressed outputs)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def temporary_dir(target: Path) -> Iterator[Path]:
    """A new empty sibling directory of `target` to fill, then hand to `replace_dir`.
    It is removed when the block ends (also on an error or Ctrl-C) unless it was moved;
    temporaries of writers killed an hour or more ago are swept first."""
    target.parent.mkdir(parents=True, exist_ok=True)
    prefix = f".{target.name}.tmp-"
    for stale in target.parent.glob(f"{_glob_escape(prefix)}*"):
        with contextlib.suppress(OSError):
            if stale.is_dir() and time.time() - stale.stat().st_mtime > STALE_AFTER:
                shutil.rmtree(stale)
    tmp = Path(tempfile.mkdtemp(prefix=prefix, dir=target.parent))
    try:
        yield tmp
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def replace_dir(new: Path, target: Path) -> None:
    """Move directory `new` to `target`. An old `target` is renamed aside (`<target>.old`)
    first, then removed: directories cannot be swapped with one rename, so a crash
    between the two renames leaves a complete `<target>.old` and no target (readers can
    point that out, as checkpoint loading does)."""
    backup = target.with_name(target.name + ".old")
    if target.exists():
        if backup.exists():
            shutil.rmtree(backup)
        os.replace(target, backup)
    os.replace(new, target)
    if backup.exists():
        shutil.rmtree(backup, ignore_errors=True)


def fsync_files(directory: Path) -> None:
    """Flush a directory's files to disk: a rename is atomic, but without this a power
    cut could still leave empty files behind it."""
    for p in directory.iterdir():
        if p.is_file():
            with open(p, "rb") as f:
                os.fsync(f.fileno())


def _glob_escape(text: str) -> str:
    return "".join(f"[{c}]" if c in "*?[" else c for c in text)
