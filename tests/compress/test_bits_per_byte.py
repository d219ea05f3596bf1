"""The bits-per-byte figures: the compressor's ideal agrees with a direct forward pass
(Client.logprobs), and the coded size stays close to the ideal."""

from __future__ import annotations

import math

import numpy as np
import pytest

from llmkit.compress import compress_with_stats, inspect, measure
from llmkit.compress.estimate import estimate
from llmkit.compress.mixing import BiasHead

TEXT = "def mean(values):\n    total = 0\n    for v in values:\n        total += v\n    return total / len(values)\n"


def test_ideal_bits_match_a_direct_forward_pass(mini):
    data = TEXT.encode()
    stats = measure(data, mini, mixing=False)
    assert stats.model_chunks == 1  # one chunk: conditioned on the start token only, as logprobs is
    direct = mini.logprobs(TEXT).bits_per_byte
    assert stats.ideal_bpb == pytest.approx(direct, rel=1e-4)
    assert stats.model_bits == pytest.approx(stats.ideal_bits)  # no mixing: the model's own numbers
    # what is written: a few bits of the coder's flush over the ideal
    assert 8 * stats.payload_bytes - stats.ideal_bits < 64 + 0.01 * stats.ideal_bits


def test_the_coded_size_approaches_the_ideal_on_longer_text(mini):
    data = (TEXT * 12).encode()
    stats = measure(data, mini)
    assert stats.payload_bpb <= stats.ideal_bpb * 1.05 + 64 * stats.model_chunks / len(data)
    assert stats.coded_bpb > stats.payload_bpb  # the container costs something, counted
    assert stats.bpb_with_model > 1000 * stats.coded_bpb  # the weights dwarf a small file


def test_stepper_and_full_pass_agree_and_the_stepper_repeats_exactly(mini):
    ids = [mini.tokenize(TEXT), mini.tokenize("x = 1\n")]
    full = mini.next_token_logprobs(ids)
    assert full.shape == (2, len(ids[0]), 8192) and full.dtype == np.float32
    assert np.isnan(full[1, len(ids[1]) :]).all()
    runs = []
    for _ in range(2):
        stepper = mini.token_stepper(2)
        rows = [stepper.step()]
        for t in range(len(ids[0]) - 1):
            rows.append(stepper.step([ids[0][t], ids[1][min(t, len(ids[1]) - 1)]]))
        runs.append(np.stack(rows, 1))
    assert np.array_equal(runs[0], runs[1])  # bit for bit: what the decoder relies on
    assert np.abs(runs[0][0] - full[0]).max() < 1e-3
    assert np.abs(runs[0][1, : len(ids[1])] - full[1, : len(ids[1])]).max() < 1e-3
    lp = sum(float(full[0, t, tok]) for t, tok in enumerate(ids[0]))
    assert lp == pytest.approx(mini.logprobs(TEXT).total, rel=1e-5)
    assert math.isclose(np.exp(runs[0][0, 0]).sum(), 1.0, rel_tol=1e-4)


def test_mixing_is_recorded_and_lowers_bits_on_repetitive_text(mini):
    data = (TEXT * 10).encode()
    blob, on = compress_with_stats(data, mini, mixing=True)
    off = measure(data, mini, mixing=False)
    assert on.ideal_bits < off.ideal_bits
    assert on.model_bits == pytest.approx(off.model_bits, rel=1e-6)
    assert inspect(blob)["settings"]["mixing"] == "bias+ngram"


@pytest.mark.parametrize("mixing", [True, False])
def test_the_estimate_equals_the_coders_ideal(mini, mixing):
    """estimate() (one forward pass per chunk) against compress() (one step per token):
    the same chunks, bias heads and n-gram model, in the same lockstep order."""
    data = (TEXT * 6).encode()
    stats = measure(data, mini, mixing=mixing, chunk_tokens=48, batch=2)
    e = estimate(data, mini, mixing=mixing, chunk_tokens=48, batch=2)
    assert e["chunks"] == stats.chunks > 2
    assert e["ideal_bits"] == pytest.approx(stats.ideal_bits, rel=1e-4)
    assert e["model_bits"] == pytest.approx(stats.model_bits, rel=1e-4)


def test_the_bias_head_learns_what_this_text_repeats_and_is_gated():
    vocab = 50
    p = np.full(vocab, 1.0 / vocab)
    head = BiasHead()
    assert np.array_equal(head.apply(0, p), p)  # nothing learned yet
    head.update(0, 7)
    for _ in range(20):  # two rows in lockstep, both using token 7, which the model thinks unlikely
        head.apply(0, p)
        head.apply(1, p)
        head.update(0, 7)
        head.update(1, 7)
    q = head.apply(0, p)
    assert head.gain > 0 and q[7] > 5 * p[7] and q.sum() == pytest.approx(1.0)
    assert list(head.ids) == [7]  # the bias covers the tokens the file has used, nothing else
    sure = BiasHead()  # a model already right about every token: a bias can only cost, so it stays off
    for t in range(200):
        right = np.full(vocab, 0.1 / (vocab - 1))
        right[(t * 7) % vocab] = 0.9
        assert np.array_equal(sure.apply(0, right), right)
        sure.update(0, (t * 7) % vocab)
    assert sure.gain < 0
