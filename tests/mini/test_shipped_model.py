"""The checkpoint that ships inside the package: it loads, completes code, and beats
general-purpose compressors on standard-library files it never saw in training."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

import llmkit
from llmkit.backends.mini import SHIPPED
from llmkit.mini.corpus import read_corpus, split_documents
from llmkit.mini.evaluate import score_documents
from llmkit.mini.stdlib_corpus import stdlib_files

pytestmark = pytest.mark.skipif(not (SHIPPED / "model.safetensors").exists(), reason="no shipped checkpoint")


def test_shipped_files_are_small_and_documented():
    size = (SHIPPED / "model.safetensors").stat().st_size
    assert size <= 25_000_000
    config = json.loads((SHIPPED / "config.json").read_text())
    assert "MODEL_CARD.md" in {p.name for p in SHIPPED.iterdir()}
    assert config  # readable, and loadable below


def test_default_client_is_the_shipped_model():
    client = llmkit.Client()  # no key, no config: the bundled model
    assert client.model == "mini"
    r = client.complete("def __init__(self):\n        self.", max_tokens=8, temperature=0)
    assert r.text and r.usage.output_tokens > 0
    assert client.backend.completion_model


def test_heldout_files_compress_better_than_xz():
    corpus = read_corpus(stdlib_files())
    _, val = split_documents(corpus.documents, 0.1, 0)  # the split training used
    engine = llmkit.Client("mini").backend.engine
    mid_sized = [d for d in sorted(val, key=lambda d: d.n_bytes) if d.n_bytes >= 3000][:4]
    scores = score_documents(engine, mid_sized)
    assert scores.bytes > 5_000
    assert scores.model_bpb < scores.xz_bpb and scores.model_bpb < scores.bz2_bpb


def test_quick_start_command():
    """The README's quick start: `llmkit ask "def fibonacci(n):"` with nothing configured."""
    r = subprocess.run([sys.executable, "-m", "llmkit.cli", "ask", "--max-tokens", "20", "def fibonacci(n):"],
                       capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip()


def test_example_runs_on_the_shipped_model():
    from pathlib import Path

    example = Path(__file__).resolve().parents[2] / "examples" / "mini_code.py"
    r = subprocess.run([sys.executable, str(example)], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert "completion model: True" in r.stdout and "bits per byte" in r.stdout


def test_infill_after_a_line_break_starts_a_line_not_a_word():
    """The shipped model's infills used to continue a cut word ("e:" where a statement
    belongs) after a prefix ending in a newline; healed, they start with indentation."""
    client = llmkit.Client("mini")
    prefix = "def balanced(s):\n    depth = 0\n    for ch in s:\n        if ch == '(':\n            depth += 1\n"
    suffix = "        if depth < 0:\n            return False\n    return depth == 0\n"
    text = client.complete(prefix, suffix=suffix, max_tokens=12, temperature=0).text
    assert text[:1].isspace(), text
    raw = llmkit.Client("mini", token_healing=False).complete(prefix, suffix=suffix, max_tokens=12, temperature=0)
    assert raw.text != text  # healing is what changed it
