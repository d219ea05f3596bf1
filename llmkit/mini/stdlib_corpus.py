"""The shipped model's corpus: the CPython standard library source (PSF licence).

It is on every machine with Python, so `llmkit train --stdlib` reproduces the shipped
checkpoint's recipe anywhere. Left out: test suites, site-packages, and machine-made
near-duplicates (the encodings/ charmap tables, huge generated data modules) that teach
nothing and would flatter any model's held-out score.
"""

from __future__ import annotations

import fnmatch
import sysconfig
from pathlib import Path

__all__ = ["stdlib_files", "stdlib_dir"]

EXCLUDE_DIRS = {"site-packages", "dist-packages", "test", "tests", "idle_test", "__pycache__", "__phello__"}
EXCLUDE_FILES = [
    "encodings/cp*.py", "encodings/mac_*.py", "encodings/iso8859_*.py", "encodings/koi8_*.py",
    "encodings/hp_roman8.py", "encodings/palmos.py", "encodings/ptcp154.py", "encodings/tis_620.py",
    "encodings/kz1048.py", "pydoc_data/topics.py", "*/_pydecimal.py",
]  # fmt: skip
MAX_FILE_BYTES = 200_000  # larger files are generated tables, not code people write


def stdlib_dir() -> Path:
    return Path(sysconfig.get_paths()["stdlib"])


def stdlib_files(root: Path | None = None) -> list[Path]:
    """The .py files of the standard library that the shipped model trains on, sorted."""
    root = root or stdlib_dir()
    files = []
    for path in sorted(root.rglob("*.py")):
        rel = path.relative_to(root)
        if EXCLUDE_DIRS.intersection(rel.parts[:-1]):
            continue
        if any(fnmatch.fnmatch(rel.as_posix(), pattern) for pattern in EXCLUDE_FILES):
            continue
        if path.stat().st_size > MAX_FILE_BYTES:
            continue
        files.append(path)
    return files
