"""oneDNN-prepacked bfloat16 linears (backends/hf_packing): the same bits as the plain
model, the ordinary module to everything that inspects it, and no packing where the
kernel would round differently (float32) or a layer's probe disagrees."""

from __future__ import annotations

import copy

import pytest

pytest.importorskip("transformers")

import torch
from transformers import AutoModelForCausalLM, DynamicCache

import llmkit
from llmkit.backends import hf_packing
from llmkit.backends.hf_loading import forward_arguments
from llmkit.cpu import cpu_supports
from llmkit.generation import fingerprint_of

needs_bf16 = pytest.mark.skipif(not cpu_supports(torch.bfloat16) or not hf_packing._available(),
                                reason="this CPU has no native bfloat16, or torch no oneDNN")  # fmt: skip


def _bf16(tiny_dir) -> torch.nn.Module:
    return AutoModelForCausalLM.from_pretrained(tiny_dir, dtype=torch.bfloat16).eval()


def _greedy(model, steps: int = 12) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """Greedy tokens and every step's logits: a 3-row prompt, then one token per row."""
    ids = torch.tensor([[5, 9, 14, 3, 7], [2, 2, 8, 11, 4], [13, 6, 1, 10, 12]])
    cache, logits, tokens = DynamicCache(), [], []
    key, _ = forward_arguments(model)
    with torch.inference_mode():
        out = model(input_ids=ids, use_cache=True, **{key: cache})
        for _ in range(steps):
            logits.append(out.logits[:, -1])
            nxt = out.logits[:, -1].argmax(-1, keepdim=True)
            tokens.append(nxt)
            out = model(input_ids=nxt, use_cache=True, **{key: cache})
    return torch.cat(tokens, 1), logits


@needs_bf16
def test_packed_bfloat16_gives_the_same_bits(tiny_dir):
    plain = _bf16(tiny_dir)
    packed = copy.deepcopy(plain)
    linears = sum(type(m) is torch.nn.Linear for m in packed.modules())
    assert hf_packing.pack_linears(packed) == linears == hf_packing.packed_count(packed) > 0
    assert hf_packing.pack_linears(packed) == 0  # packing twice does nothing
    want_tokens, want_logits = _greedy(plain)
    got_tokens, got_logits = _greedy(packed)
    assert torch.equal(got_tokens, want_tokens)
    assert all(torch.equal(a, b) for a, b in zip(got_logits, want_logits, strict=True))


@needs_bf16
def test_a_packed_model_looks_like_the_plain_one(tiny_dir):
    """State dict, weight digest and sizes (what a compressed file checks) are unchanged;
    with gradients on, the layers take the ordinary differentiable path."""
    plain = _bf16(tiny_dir)
    packed = copy.deepcopy(plain)
    hf_packing.pack_linears(packed)
    assert list(packed.state_dict()) == list(plain.state_dict())
    assert fingerprint_of(packed, "t") == fingerprint_of(plain, "t")
    packed.train()
    loss = packed(input_ids=torch.tensor([[5, 9, 14]]), labels=torch.tensor([[5, 9, 14]])).loss
    loss.backward()
    assert packed.model.layers[0].mlp.up_proj.weight.grad is not None


def test_float32_is_not_packed(tiny_dir):
    model = AutoModelForCausalLM.from_pretrained(tiny_dir, dtype=torch.float32).eval()
    assert hf_packing.pack_linears(model) == 0
    with llmkit.Client(f"hf:{tiny_dir}") as client:
        assert hf_packing.packed_count(client.backend.engine.model) == 0
        assert "packed" not in client.backend.runtime()


@needs_bf16
def test_a_layer_whose_probe_differs_stays_as_it_was(tiny_dir, monkeypatch):
    real = hf_packing._onednn_linear
    monkeypatch.setattr(hf_packing, "_onednn_linear", lambda x, w, b: real(x, w, b) * 1.5)
    model = _bf16(tiny_dir)
    assert hf_packing.pack_linears(model) == 0
    assert hf_packing.packed_count(model) == 0


@needs_bf16
def test_the_client_packs_bfloat16_and_answers_as_the_plain_model(tiny_dir):
    plain = _bf16(tiny_dir)
    with llmkit.Client(f"hf:{tiny_dir}", dtype="bfloat16") as client:
        model = client.backend.engine.model
        assert hf_packing.packed_count(model) == sum(type(m) is torch.nn.Linear for m in model.modules())
        assert torch.equal(_greedy(model)[0], _greedy(plain)[0])


@needs_bf16
def test_biases_and_batched_inputs_are_kept():
    torch.manual_seed(0)
    plain = torch.nn.Sequential(torch.nn.Linear(24, 40), torch.nn.GELU(), torch.nn.Linear(40, 8)).to(torch.bfloat16)
    for layer in (plain[0], plain[2]):
        torch.nn.init.normal_(layer.bias)
    packed = copy.deepcopy(plain)
    assert hf_packing.pack_linears(packed) == 2
    x = torch.randn(2, 5, 24, dtype=torch.bfloat16)
    with torch.inference_mode():
        assert torch.equal(packed(x), plain(x))


@needs_bf16
def test_a_copy_of_a_packed_model_runs_the_ordinary_way(tiny_dir):
    """oneDNN's packed tensors cannot be deep-copied; the packed model can, and its copy
    computes the same as the original, unpacked."""
    packed = _bf16(tiny_dir)
    hf_packing.pack_linears(packed)
    twin = copy.deepcopy(packed)
    assert hf_packing.packed_count(twin) == 0 < hf_packing.packed_count(packed)
    assert torch.equal(_greedy(twin)[0], _greedy(packed)[0])


@needs_bf16
def test_auto_measures_bfloat16_as_it_would_run_packed(tiny_dir, monkeypatch):
    """dtype="auto" times the bfloat16 copy with its linears packed, as the model would
    run once chosen, and the chosen model is packed too."""
    from llmkit.backends import hf_precision

    packed_when_timed = []

    def seconds(model):
        packed_when_timed.append(hf_packing.packed_count(model))
        return 2.0 if next(model.parameters()).dtype == torch.float32 else 1.0

    monkeypatch.setattr(hf_precision, "_decode_seconds", seconds)
    llmkit.clear_caches()
    with llmkit.Client(f"hf:{tiny_dir}", dtype="auto") as client:
        model = client.backend.engine.model
        assert next(model.parameters()).dtype == torch.bfloat16
        linears = sum(type(m) is torch.nn.Linear for m in model.modules())
        assert packed_when_timed == [0, linears]
        assert hf_packing.packed_count(model) == linears
