"""The decode loop's KV cache (backends/hf_cache): appending in place gives the logits
DynamicLayer's concatenation gives, bit for bit, across the buffer's growth and after
rows are dropped, repeated or merged in."""

from __future__ import annotations

import pytest

pytest.importorskip("transformers")

import torch
from transformers import AutoModelForCausalLM, DynamicCache

from llmkit.backends import hf_cache
from llmkit.backends.hf_loading import forward_arguments


@pytest.fixture(scope="module")
def model(tiny_dir):
    return AutoModelForCausalLM.from_pretrained(tiny_dir, dtype=torch.float32).eval()


def _decode(model, cache, steps: int, edit=None) -> list[torch.Tensor]:
    ids = torch.tensor([[5, 9, 14, 3, 7], [2, 2, 8, 11, 4], [13, 6, 1, 10, 12]])
    key, _ = forward_arguments(model)
    logits = []
    with torch.inference_mode():
        out = model(input_ids=ids, use_cache=True, **{key: cache})
        for step in range(steps):
            logits.append(out.logits[:, -1])
            nxt = out.logits[:, -1].argmax(-1, keepdim=True)
            if edit is not None and step == steps // 2:
                nxt = edit(cache, nxt)
            out = model(input_ids=nxt, use_cache=True, **{key: cache})
    return logits


def test_growing_cache_gives_dynamic_cache_logits_across_growth(model, monkeypatch):
    monkeypatch.setattr(hf_cache, "_ROOM", 3)  # grow every few steps
    want = _decode(model, DynamicCache(), 20)
    cache = hf_cache.growing_cache()
    got = _decode(model, cache, 20)
    assert all(type(layer) is hf_cache.GrowingLayer for layer in cache.layers)
    assert all(torch.equal(a, b) for a, b in zip(got, want, strict=True))
    layer = cache.layers[0]
    assert layer.keys.shape[-2] == cache.get_seq_length() == 5 + 20
    assert layer._keys.shape[-2] > layer.keys.shape[-2]  # room to spare: no copy at every step


def test_row_edits_assign_through_to_the_buffer(model, monkeypatch):
    """What hf_batching does to a cache (select rows, repeat them) works on the buffer."""
    monkeypatch.setattr(hf_cache, "_ROOM", 2)

    def edit(cache, nxt):
        index = torch.tensor([2, 0])
        cache.batch_select_indices(index)
        cache.batch_repeat_interleave(2)
        return nxt[index].repeat_interleave(2, 0)

    want = _decode(model, DynamicCache(), 12, edit)
    got = _decode(model, hf_cache.growing_cache(), 12, edit)
    assert [t.shape[0] for t in got] == [3] * 7 + [4] * 5
    assert all(torch.equal(a, b) for a, b in zip(got, want, strict=True))
