"""Capability `distributions` on an `hf:` model (a tiny random llama), and compression
with it: the stepper repeats bit for bit and agrees with the full-pass scores and with
Client.logprobs; files round-trip and name the model's fingerprint."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("transformers")
pytest.importorskip("constriction")

import llmkit
from llmkit.compress import compress, compress_with_stats, decompress, inspect
from llmkit.errors import CompressedFileError

TEXT = "The cat sat on the mat. What is the capital of France? Paris is the capital of France."


def test_tokens_and_distributions(tiny):
    ids = tiny.tokenize(TEXT)
    assert tiny.detokenize(ids) == TEXT and tiny.capabilities.distributions
    full = tiny.next_token_logprobs([ids])
    assert full.shape[:2] == (1, len(ids)) and full.dtype == np.float32
    runs = []
    for _ in range(2):
        stepper = tiny.token_stepper(1)
        rows = [stepper.step()] + [stepper.step([t]) for t in ids[:-1]]
        runs.append(np.concatenate(rows))
    assert np.array_equal(runs[0], runs[1])
    assert np.abs(runs[0] - full[0]).max() < 1e-3
    total = sum(float(full[0, t, tok]) for t, tok in enumerate(ids))
    assert total == pytest.approx(tiny.logprobs(TEXT).total, rel=1e-4)
    fp = tiny.fingerprint()
    assert len(fp["weights"]) == 16 and fp["parameters"] > 0


def test_compress_round_trips_on_hf(tiny, tiny_dir):
    for data in (TEXT.encode(), "naïve café, 日本語 🙂\n".encode() * 5, b"\xff\x00binary" + bytes(range(256)), b""):
        blob = compress(data, tiny, batch=2)
        assert decompress(blob, tiny) == data
    blob, stats = compress_with_stats(TEXT.encode() * 3, tiny, mixing=True)
    header = inspect(blob)
    assert header["model"] == f"hf:{tiny_dir}" and header["settings"]["mixing"] == "bias+ngram"
    assert llmkit.decompress(blob) == TEXT.encode() * 3  # the model from the file's id


def test_another_hf_model_is_refused(tiny, tmp_path):
    from hf.conftest import build_model_dir  # the same architecture, other random weights

    other = llmkit.Client(f"hf:{build_model_dir(tmp_path / 'other', seed=1)}", threads=1)
    blob = compress(TEXT.encode(), tiny)
    with pytest.raises(CompressedFileError, match="weights"):
        decompress(blob, other)
