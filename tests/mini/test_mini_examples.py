"""The mini examples run as a user runs them."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def run(*args: str) -> str:
    r = subprocess.run([sys.executable, *args], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    return r.stdout


def test_mini_code_example(trained):
    out = run(str(EXAMPLES / "mini_code.py"), "--model", f"mini:{trained.path}")
    assert "completion model: True" in out
    for label in ("complete:", "infill:", "samples:", "stream:", "logprobs:"):
        assert label in out
    assert "bits per byte" in out


def test_train_and_complete_example(tmp_path):
    # its default corpus (data/tinyshakespeare.txt) ships with the repository
    out = run(str(EXAMPLES / "train_and_complete.py"), "--time", "60", "--steps", "20", "--out", str(tmp_path / "m"))
    assert "trained 20 steps" in out and "bits per byte" in out
    assert (tmp_path / "m" / "model.safetensors").exists()
