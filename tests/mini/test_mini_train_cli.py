"""`llmkit train` at the terminal: --resume with --time/--steps means more, a spent budget
says so, errors name flags, the loss curve's absence is said; `attention --png` checks
for matplotlib before any work."""

import json
import sys
from pathlib import Path

import pytest

from llmkit.cli import main

TINY = ["--vocab", "300", "--layers", "1", "--heads", "2", "--width", "32", "--context", "32",
        "--batch", "4", "--lr", "3e-3", "--warmup", "2", "--eval-every", "3", "--threads", "1"]  # fmt: skip


def steps_of(out: Path) -> int:
    return json.loads((out / "trainer_state.json").read_text())["step"]


def test_resume_trains_more_or_says_nothing_is_left(tmp_path, corpus_dir, capsys):
    out = tmp_path / "m"
    assert main(["train", str(corpus_dir), "-o", str(out), "--steps", "3", *TINY]) == 0
    assert steps_of(out) == 3
    capsys.readouterr()
    assert main(["train", str(corpus_dir), "-o", str(out), "--resume", *TINY]) == 0
    assert "nothing left to do" in capsys.readouterr().err and steps_of(out) == 3
    assert main(["train", str(corpus_dir), "-o", str(out), "--resume", "--steps", "2", *TINY]) == 0
    err = capsys.readouterr().err
    assert "at step 3" in err and "2 more steps" in err and steps_of(out) == 5


def test_errors_name_the_flags(tmp_path, corpus_dir, capsys):
    out = tmp_path / "m"
    out.mkdir()
    (out / "something").write_text("x")
    assert main(["train", str(corpus_dir), "-o", str(out), "--steps", "2", *TINY]) == 1
    err = capsys.readouterr().err
    assert "--resume" in err and "--overwrite" in err and "resume=True" not in err
    assert main(["train", str(corpus_dir), "-o", str(tmp_path / "none"), "--resume", *TINY]) == 1
    err = capsys.readouterr().err
    assert "holds no checkpoint" in err and "without --resume" in err


def test_a_skipped_loss_curve_is_said(tmp_path, corpus_dir, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # as if it were not installed
    assert main(["train", str(corpus_dir), "-o", str(tmp_path / "m"), "--steps", "2", *TINY]) == 0
    assert "no loss-curve PNG: matplotlib is not installed (pip install 'llmkit[plot]')" in capsys.readouterr().err


def test_loss_curve_is_written_when_matplotlib_is_there(tmp_path, corpus_dir, capsys):
    pytest.importorskip("matplotlib")
    assert main(["train", str(corpus_dir), "-o", str(tmp_path / "m"), "--steps", "2", *TINY]) == 0
    assert (tmp_path / "m" / "loss.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "no loss-curve PNG" not in capsys.readouterr().err


def test_attention_png_checks_for_matplotlib_first(monkeypatch, capsys):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "matplotlib" else real(name, *a))
    # a model that does not exist: had the model been loaded first, the error would be about it
    assert main(["attention", "the cat", "-m", "hf:/no/such/model", "--png", "x.png"]) == 1
    err = capsys.readouterr().err
    assert "--png needs matplotlib" in err and "llmkit[plot]" in err
