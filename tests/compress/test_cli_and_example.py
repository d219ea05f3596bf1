"""`llmkit compress`, `llmkit decompress` and `llmkit bpb`, and the example script."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from llmkit.cli import main

ROOT = Path(__file__).resolve().parents[2]
TEXT = b"Some text for the command line.\nIt has two lines.\n" * 4


def test_compress_then_decompress_files(tiny_path, tmp_path, capsys):
    src = tmp_path / "notes.txt"
    src.write_bytes(TEXT)
    model = f"mini:{tiny_path}"
    assert main(["compress", str(src), "-m", model, "--verify", "--threads", "1"]) == 0
    packed = tmp_path / "notes.txt.llmz"
    assert packed.is_file() and packed.read_bytes().startswith(b"LLMZ")
    err = capsys.readouterr().err
    assert "bits/byte" in err and "verified" in err
    src.rename(tmp_path / "original.txt")
    assert main(["decompress", str(packed)]) == 0  # the model comes from the file
    assert (tmp_path / "notes.txt").read_bytes() == TEXT


def test_existing_output_needs_force(tiny_path, tmp_path, capsys):
    src = tmp_path / "a.txt"
    src.write_bytes(TEXT)
    out = tmp_path / "a.txt.llmz"
    out.write_bytes(b"precious")
    assert main(["compress", str(src), "-m", f"mini:{tiny_path}"]) == 1
    assert "already exists" in capsys.readouterr().err and out.read_bytes() == b"precious"
    assert main(["compress", str(src), "-m", f"mini:{tiny_path}", "--force"]) == 0
    assert out.read_bytes().startswith(b"LLMZ")
    other = tmp_path / "b.bin"
    assert main(["decompress", str(out), "-o", str(other)]) == 0 and other.read_bytes() == TEXT
    assert main(["decompress", str(out), "-o", str(other)]) == 1  # exists now
    assert "--force" in capsys.readouterr().err


def test_bad_files_are_one_line_errors(tmp_path, capsys):
    bad = tmp_path / "x.llmz"
    bad.write_bytes(b"not compressed at all")
    assert main(["decompress", str(bad), "-o", str(tmp_path / "y")]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: this is not an llmkit compressed file") and err.count("\n") == 1
    assert not (tmp_path / "y").exists()


def test_ctrl_c_leaves_no_output(tiny_path, tmp_path, monkeypatch, capsys):
    import llmkit.compress.coder as coder

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(coder, "encode_rows", interrupted)
    src = tmp_path / "big.txt"
    src.write_bytes(TEXT)
    assert main(["compress", str(src), "-m", f"mini:{tiny_path}"]) == 130
    assert sorted(p.name for p in tmp_path.iterdir()) == ["big.txt"]


def test_an_interrupted_write_leaves_nothing(tmp_path, monkeypatch):
    from llmkit import atomic

    real_fsync = os.fsync

    def interrupt(fd):
        raise KeyboardInterrupt

    monkeypatch.setattr(atomic.os, "fsync", interrupt)
    with pytest.raises(KeyboardInterrupt):
        atomic.write_bytes_atomic(tmp_path / "out.llmz", b"data")
    monkeypatch.setattr(atomic.os, "fsync", real_fsync)
    assert list(tmp_path.iterdir()) == []


def _run(args, stdin: bytes) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "llmkit.cli", *args], input=stdin, capture_output=True,
                          timeout=300, env=env, cwd=ROOT)  # fmt: skip


def test_stdin_to_stdout(tiny_path):
    packed = _run(["compress", "-m", f"mini:{tiny_path}", "--threads", "1"], TEXT)
    assert packed.returncode == 0, packed.stderr
    assert packed.stdout.startswith(b"LLMZ")
    back = _run(["decompress"], packed.stdout)
    assert back.returncode == 0, back.stderr
    assert back.stdout == TEXT


def test_bpb_json_and_table(tiny_path, tmp_path, capsys):
    src = tmp_path / "t.txt"
    src.write_bytes(TEXT)
    model = f"mini:{tiny_path}"
    assert main(["bpb", str(src), "-m", model, "--json", "--verify"]) == 0
    report = json.loads(capsys.readouterr().out)
    rows = {r["name"]: r for r in report[str(src)]["rows"]}
    assert {"gzip -9", "bz2 -9", "xz -9e", model} <= set(rows)
    m = rows[model]
    assert m["coded_bpb"] == pytest.approx(8 * m["bytes"] / len(TEXT))
    assert m["gap"] == pytest.approx(m["coded_bpb"] / m["ideal_bpb"] - 1)
    assert m["bpb_with_model"] > m["coded_bpb"]
    assert main(["bpb", str(src), "-m", model]) == 0
    out = capsys.readouterr().out
    assert "bits per byte" in out and "xz -9e" in out and "with model" in out


def test_example_compress_text():
    r = subprocess.run([sys.executable, str(ROOT / "examples" / "compress_text.py")], capture_output=True, text=True,
                       timeout=600, env={**os.environ, "PYTHONPATH": str(ROOT)})  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert "round trips: exact" in r.stdout
    python = next(line for line in r.stdout.splitlines() if line.startswith("python"))
    coded, bz2_bpb = float(python.split(": ")[1].split()[0]), float(python.split("bz2 ")[1].rstrip(")"))
    assert coded < bz2_bpb  # the bundled code model beats bz2 on code, container included


def test_compress_adapt_on_the_command_line(tiny_path, tmp_path, capsys):
    src = tmp_path / "notes.txt"
    src.write_bytes(TEXT)
    model = f"mini:{tiny_path}"
    assert main(["compress", str(src), "-m", model, "--adapt", "--verify", "-o", str(tmp_path / "a.llmz")]) == 0
    assert main(["compress", str(src), "-m", model, "--adapt", "segment=4,lr=0.01", "-o", str(tmp_path / "b.llmz")]) == 0
    from llmkit.compress import inspect

    assert inspect((tmp_path / "a.llmz").read_bytes())["settings"]["adapt"] == "segment=8,lr=0.0001,layers=all"
    assert inspect((tmp_path / "b.llmz").read_bytes())["settings"]["adapt"] == "segment=4,lr=0.01,layers=all"
    capsys.readouterr()
    assert main(["decompress", str(tmp_path / "b.llmz"), "-o", str(tmp_path / "b.txt")]) == 0
    assert (tmp_path / "b.txt").read_bytes() == TEXT
    assert main(["compress", str(src), "-m", model, "--adapt", "speed=3", "-o", str(tmp_path / "c.llmz")]) == 1
    err = capsys.readouterr().err
    assert "'speed=3' is not one of segment=N, lr=X, layers=N|all" in err and not (tmp_path / "c.llmz").exists()
    assert main(["bpb", str(src), "-m", model, "--json", "--verify", "--adapt", "segment=4,lr=0.01"]) == 0
    adapted = next(r for r in json.loads(capsys.readouterr().out)[str(src)]["rows"] if r["kind"] == "model")
    assert main(["bpb", str(src), "-m", model, "--json"]) == 0
    plain = next(r for r in json.loads(capsys.readouterr().out)[str(src)]["rows"] if r["kind"] == "model")
    assert adapted["ideal_bpb"] < plain["ideal_bpb"]  # the repeated lines were learned


def test_example_compress_adapt():
    r = subprocess.run([sys.executable, str(ROOT / "examples" / "compress_adapt.py")], capture_output=True, text=True,
                       timeout=600, env={**os.environ, "PYTHONPATH": str(ROOT)})  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert "round trips: exact" in r.stdout
    ideal = {line.split()[0]: float(line.split("(ideal ")[1].split(")")[0]) for line in r.stdout.splitlines()
             if line.startswith("adapt=")}  # fmt: skip
    assert ideal["adapt=True"] < ideal["adapt=False"]  # it learned from the text
