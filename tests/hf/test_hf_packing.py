"""oneDNN-prepacked linears (backends/hf_packing). bfloat16: the same bits as the plain
model, the ordinary module to everything that inspects it, and no packing where a
layer's probe disagrees. float32: oneDNN only while generating, the BLAS's bits for
everything else (log-probabilities, the compressor), and no copy past the memory budget."""

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


needs_onednn = pytest.mark.skipif(not hf_packing._available(), reason="torch has no oneDNN")


def _fp32(tiny_dir) -> torch.nn.Module:
    return AutoModelForCausalLM.from_pretrained(tiny_dir, dtype=torch.float32).eval()


def _counting(monkeypatch) -> list[int]:
    calls: list[int] = []
    real = hf_packing._onednn_linear
    monkeypatch.setattr(hf_packing, "_onednn_linear", lambda x, w, b: calls.append(1) or real(x, w, b))
    return calls


@needs_onednn
def test_float32_uses_onednn_only_while_generating(tiny_dir, monkeypatch):
    """Outside `generating()` a packed float32 model gives the plain model's bits (what
    log-probabilities and compressed files rely on); inside, the oneDNN kernel computes."""
    plain = _fp32(tiny_dir)
    packed = copy.deepcopy(plain)
    linears = sum(type(m) is torch.nn.Linear for m in packed.modules())
    assert hf_packing.pack_linears(packed) == linears == hf_packing.packed_count(packed)
    calls = _counting(monkeypatch)
    want_tokens, want_logits = _greedy(plain)
    got_tokens, got_logits = _greedy(packed)
    assert calls == []
    assert all(torch.equal(a, b) for a, b in zip(got_logits, want_logits, strict=True))
    with hf_packing.generating():
        fast_tokens, fast_logits = _greedy(packed)
    assert len(calls) >= linears
    assert torch.equal(fast_tokens, want_tokens)
    assert all(torch.allclose(a, b, atol=1e-4) for a, b in zip(fast_logits, want_logits, strict=True))


@needs_onednn
def test_float32_generation_rows_do_not_depend_on_the_batch(tiny_dir):
    """Each row's logits are the same bits alone as in a batch of three: why batched greedy
    answers equal one-by-one answers."""
    model = _fp32(tiny_dir)
    hf_packing.pack_linears(model)
    ids = torch.tensor([[5, 9, 14, 3, 7], [2, 2, 8, 11, 4], [13, 6, 1, 10, 12]])
    with torch.inference_mode(), hf_packing.generating():
        together = model(input_ids=ids).logits
        alone = torch.cat([model(input_ids=ids[i : i + 1]).logits for i in range(3)])
    assert torch.equal(together, alone)


@needs_onednn
def test_float32_past_the_memory_budget_is_not_packed(tiny_dir):
    model = _fp32(tiny_dir)
    assert hf_packing.pack_linears(model, budget=1000) == 0
    assert hf_packing.packed_count(model) == 0
    bf16 = _fp32(tiny_dir).to(torch.bfloat16)  # the budget is float32's: bfloat16 is packed where it is exact
    assert hf_packing.pack_linears(bf16, budget=0) == hf_packing.packed_count(bf16)


@needs_onednn
def test_a_model_cast_after_packing_runs_plain_until_packed_again(tiny_dir, monkeypatch):
    model = _fp32(tiny_dir)
    linears = hf_packing.pack_linears(model)
    model.to(torch.float64)  # a dtype oneDNN is not asked for: the float32 copies must not be used
    calls = _counting(monkeypatch)
    with torch.inference_mode(), hf_packing.generating():
        model(input_ids=torch.tensor([[5, 9, 14]], dtype=torch.long))
    assert calls == [] and hf_packing.packed_count(model) == 0
    model.to(torch.float32)
    assert hf_packing.packed_count(model) == 0  # new tensors, even with the same values
    assert hf_packing.pack_linears(model) == linears  # stale copies are replaced, not kept
    with torch.no_grad():
        model.lm_head.weight.mul_(2)  # written in place (load_state_dict copies in place)
    assert hf_packing.packed_count(model) == linears - 1


@needs_onednn
def test_the_client_generates_on_onednn_and_scores_on_the_blas(tiny_dir, monkeypatch):
    with llmkit.Client(f"hf:{tiny_dir}") as client:
        model = client.backend.engine.model
        client.backend.engine.lm.ready()  # packed in a thread after loading
        assert hf_packing.packed_count(model) == sum(type(m) is torch.nn.Linear for m in model.modules())
        assert "oneDNN-packed weights to generate" in client.backend.runtime()
        calls = _counting(monkeypatch)
        client.logprobs("The cat sat on the mat.")
        client.next_token_logprobs([client.tokenize("The cat sat")])
        assert calls == []  # scoring and the compressor's distributions: the plain float32 path
        client.chat("Hello", max_tokens=3, temperature=0)
        assert calls  # generation: oneDNN
        calls.clear()
        with client.stream("Hello", max_tokens=3, temperature=0) as stream:
            list(stream)
        assert calls


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
        client.backend.engine.lm.ready()
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
    """dtype="auto" times float32 and the bfloat16 copy with their linears packed, as each
    would run once chosen, and the chosen model is packed too."""
    from llmkit.backends import hf_precision

    packed_when_timed = []

    def seconds(model):
        packed_when_timed.append(hf_packing.packed_count(model))
        return 2.0 if next(model.parameters()).dtype == torch.float32 else 1.0

    monkeypatch.setattr(hf_precision, "decode_seconds", seconds)
    llmkit.clear_caches()
    with llmkit.Client(f"hf:{tiny_dir}", dtype="auto") as client:
        model = client.backend.engine.model
        client.backend.engine.lm.ready()
        assert next(model.parameters()).dtype == torch.bfloat16
        linears = sum(type(m) is torch.nn.Linear for m in model.modules())
        assert packed_when_timed == [linears, linears]
        assert hf_packing.packed_count(model) == linears


@needs_onednn
def test_loading_returns_before_packing_ends_and_generation_waits_for_it(tiny_dir, monkeypatch):
    """The weights are reordered in a thread, so a chat's model is there at once; the
    first generation waits for the packing (its answer never mixes kernels)."""
    import threading

    release = threading.Event()
    real, real_linear = hf_packing.pack_linears, hf_packing._onednn_linear

    def slow(model, budget=None, stop=None):
        release.wait(30)
        return real(model, budget, stop)

    monkeypatch.setattr(hf_packing, "pack_linears", slow)
    llmkit.clear_caches()
    with llmkit.Client(f"hf:{tiny_dir}") as client:
        lm = client.backend.engine.lm
        assert hf_packing.packed_count(lm.model) == 0  # loaded, not yet packed
        client.logprobs("The cat sat.")  # scoring does not wait: it runs plain either way
        generating: list[bool] = []  # per oneDNN call: inside generating() (the probes of packing are not)
        monkeypatch.setattr(hf_packing, "_onednn_linear",
                            lambda x, w, b: generating.append(hf_packing._GENERATING.get()) or real_linear(x, w, b))  # fmt: skip
        threading.Timer(0.3, release.set).start()
        client.chat("Hello", max_tokens=3, temperature=0)
        assert hf_packing.packed_count(lm.model) == sum(type(m) is torch.nn.Linear for m in lm.model.modules())
        assert hf_packing.packed_count(lm.model) > 0 and True in generating  # the answer on the packed kernels
    llmkit.clear_caches()


@needs_onednn
def test_a_model_leaving_the_cache_stops_its_packing(tiny_dir, monkeypatch):
    """Clearing the cache stops the packer after the layer at hand (a file the weights are
    mapped from may be rewritten next) and waits for it."""
    real = hf_packing.pack_linears
    started = []

    def held_until_stopped(model, budget=None, stop=None):
        started.append(stop)
        stop.wait(30)  # set by close()
        return real(model, budget, stop)

    monkeypatch.setattr(hf_packing, "pack_linears", held_until_stopped)
    llmkit.clear_caches()
    client = llmkit.Client(f"hf:{tiny_dir}")
    lm = client.backend.engine.lm
    client.close()
    llmkit.clear_caches()  # the idle model is closed
    assert started and started[0].is_set()
    assert not lm.packer.alive and hf_packing.packed_count(lm.model) == 0  # stopped before any layer
