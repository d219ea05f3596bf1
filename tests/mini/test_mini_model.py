"""The GPT itself: shapes, loss, causal masking, KV-cached decoding, tied weights."""

from __future__ import annotations

import math

import pytest
import torch

from llmkit.mini.model import GPT, Decoder, GPTConfig, apply_rope, attention_mask, rope_tables


@pytest.fixture()
def model() -> GPT:
    torch.manual_seed(1)
    return GPT(GPTConfig(vocab_size=97, n_layer=2, n_head=4, n_embd=32, block_size=48)).eval()


def test_shapes_and_loss(model: GPT) -> None:
    idx = torch.randint(0, 97, (3, 17))
    logits, loss = model(idx)
    assert logits.shape == (3, 17, 97)
    assert loss is None
    _, loss = model(idx, targets=torch.randint(0, 97, (3, 17)))
    # Freshly initialised: close to uniform over the vocabulary.
    assert abs(loss.item() - math.log(97)) < 0.5


def test_ignore_index_in_targets(model: GPT) -> None:
    idx = torch.randint(0, 97, (1, 10))
    targets = idx.clone()
    _, full = model(idx, targets)
    targets[0, 5:] = -1
    _, partial = model(idx, targets)
    logits, _ = model(idx)
    expected = torch.nn.functional.cross_entropy(logits[0, :5], idx[0, :5])
    assert torch.allclose(partial, expected, atol=1e-6)
    assert not torch.allclose(full, partial)


def test_weights_are_tied(model: GPT) -> None:
    assert model.lm_head.weight is model.wte.weight
    n_unique = sum(p.numel() for p in model.parameters())  # parameters() deduplicates
    assert n_unique == model.num_parameters()
    assert "rope_cos" not in model.state_dict()  # derived buffers are not saved


def test_config_validation() -> None:
    with pytest.raises(ValueError, match="multiple of n_head"):
        GPTConfig(n_embd=30, n_head=4)
    with pytest.raises(ValueError, match="unknown GPTConfig fields"):
        GPTConfig.from_dict({"vocab_size": 10, "wat": 1})
    cfg = GPTConfig(vocab_size=300, n_layer=1, n_head=2, n_embd=16, block_size=8)
    assert GPTConfig.from_dict(cfg.to_dict()) == cfg


def test_future_tokens_do_not_change_past_logits(model: GPT) -> None:
    idx = torch.randint(0, 97, (1, 30))
    changed = idx.clone()
    changed[0, 20:] = (changed[0, 20:] + 1) % 97
    with torch.no_grad():
        a, _ = model(idx)
        b, _ = model(changed)
    assert torch.allclose(a[0, :20], b[0, :20], atol=1e-6)
    assert not torch.allclose(a[0, 20:], b[0, 20:], atol=1e-3)


def test_attention_mask_bottom_right_aligned() -> None:
    mask = attention_mask(2, 5)
    # Query 0 is at absolute position 3 (keys 0..3), query 1 at position 4 (keys 0..4).
    assert mask.tolist() == [[True, True, True, True, False], [True, True, True, True, True]]
    assert torch.equal(attention_mask(4, 4), torch.ones(4, 4, dtype=torch.bool).tril())


@pytest.mark.parametrize("chunks", [[1] * 25, [10, 1, 1, 5, 8], [7, 18], [25]])
def test_cached_decoding_matches_full_forward(model: GPT, chunks: list[int]) -> None:
    idx = torch.randint(0, 97, (2, sum(chunks)))
    with torch.no_grad():
        full, _ = model(idx)
        cache = model.new_cache(batch_size=2)
        pieces, pos = [], 0
        for size in chunks:
            logits, _ = model(idx[:, pos:pos + size], kv_cache=cache)
            pieces.append(logits)
            pos += size
    assert cache.length == sum(chunks)
    assert torch.allclose(torch.cat(pieces, dim=1), full, atol=1e-5)


def test_expanded_cache_decodes_each_row_like_batch_one(model: GPT) -> None:
    prompt = torch.randint(0, 97, (1, 9))
    nxt = torch.tensor([[3], [50], [96]])
    with torch.no_grad():
        cache = model.new_cache(1)
        model(prompt, kv_cache=cache)
        batched, _ = model(nxt, kv_cache=cache.expand(3))
        for row in range(3):
            single, _ = model(torch.cat([prompt, nxt[row:row + 1]], dim=1))
            assert torch.allclose(batched[row, -1], single[0, -1], atol=1e-5)


def test_context_window_is_enforced(model: GPT) -> None:
    with pytest.raises(ValueError, match="context window"):
        model(torch.zeros(1, 49, dtype=torch.long))
    cache = model.new_cache(1)
    model(torch.zeros(1, 40, dtype=torch.long), kv_cache=cache)
    with pytest.raises(ValueError, match="context window"):
        model(torch.zeros(1, 9, dtype=torch.long), kv_cache=cache)


def test_rope_is_the_rotation_of_each_pair() -> None:
    """apply_rope's 4-op form is bit-identical to the textbook (x1 cos - x2 sin, x2 cos + x1 sin)."""
    torch.manual_seed(0)
    x = torch.randn(2, 3, 7, 16)
    cos, sin = rope_tables(16, 7, 10000.0)
    half_cos, half_sin = cos[:, :8], sin[:, 8:]
    assert torch.equal(cos[:, 8:], half_cos) and torch.equal(sin[:, :8], -half_sin)
    x1, x2 = x.chunk(2, dim=-1)
    textbook = torch.cat((x1 * half_cos - x2 * half_sin, x2 * half_cos + x1 * half_sin), dim=-1)
    assert torch.equal(apply_rope(x, cos, sin), textbook)


def test_full_cache_raises_and_keeps_its_contents(model: GPT) -> None:
    cache = model.new_cache(1, max_len=6)
    with torch.no_grad():
        model(torch.tensor([[1, 2, 3, 4, 5]]), kv_cache=cache)
        model(torch.tensor([[6]]), kv_cache=cache)  # exactly full
        before = [k.clone() for k in cache.k]
        with pytest.raises(ValueError, match="KV cache full"):
            model(torch.tensor([[7]]), kv_cache=cache)
    assert all(torch.equal(a, b) for a, b in zip(before, cache.k, strict=True))


def test_expanded_cache_rows_are_independent(model: GPT) -> None:
    """n samples decode from copies of one prefilled cache: writing one row leaves the
    batch-1 original and the other rows alone."""
    with torch.no_grad():
        cache = model.new_cache(1, max_len=20)
        model(torch.randint(0, 97, (1, 5)), kv_cache=cache)
        original = [k.clone() for k in cache.k]
        wide = cache.expand(2)
        model(torch.tensor([[3], [50]]), kv_cache=wide)
        assert wide.length == 6 and cache.length == 5
        assert all(torch.equal(a, b) for a, b in zip(original, cache.k, strict=True))
        assert not torch.equal(wide.k[0][0, :, 5], wide.k[0][1, :, 5])
    with pytest.raises(ValueError, match="batch-1"):
        wide.expand(4)


def _greedy(m: GPT, prompt: torch.Tensor, n: int) -> list[int]:
    cache = m.new_cache(1)
    logits, _ = m(prompt, kv_cache=cache)
    out = []
    for _ in range(n):
        nxt = logits[:, -1].argmax(-1, keepdim=True)
        out.append(int(nxt))
        logits, _ = m(nxt, kv_cache=cache)
    return out


def test_inference_layout_keeps_values_and_decoding(model: GPT) -> None:
    fast = GPT(model.config).eval()
    fast.load_state_dict(model.state_dict())
    assert fast.inference_layout() is fast
    assert fast.lm_head.weight is fast.wte.weight  # still tied
    for (name, a), b in zip(model.state_dict().items(), fast.state_dict().values(), strict=True):
        assert torch.equal(a, b), name
        if b.dim() == 2:
            assert b.t().is_contiguous(), name  # column-major
    prompt = torch.randint(0, 97, (1, 7))
    with torch.no_grad():
        assert _greedy(fast, prompt, 20) == _greedy(model, prompt, 20)
        ids = torch.randint(0, 97, (2, 30))
        assert torch.allclose(fast(ids)[0], model(ids)[0], atol=1e-5)



@pytest.mark.parametrize("bias", [False, True])
def test_decoder_matches_the_forward_pass(bias: bool) -> None:
    """The inference fast path computes what forward() does: bit for bit when each row
    feeds one token (the compressor's stepper codes with it), to float rounding for a
    chunk (prefill), in either weight layout, with and without biases."""
    torch.manual_seed(3)
    model = GPT(GPTConfig(vocab_size=97, n_layer=3, n_head=4, n_embd=32, block_size=48, bias=bias)).eval()
    for p in model.parameters():  # biases and norms away from their 0/1 init, so a dropped one shows
        p.data.add_(0.1 * torch.randn_like(p))
    for layout in ("default", "inference"):
        if layout == "inference":
            model.inference_layout()
        decoder = Decoder(model)
        with torch.inference_mode():
            prompt = torch.randint(0, 97, (3, 9))
            ref, fast = model.new_cache(3), model.new_cache(3)
            want, _ = model(prompt, kv_cache=ref)
            got = decoder(prompt, fast)
            assert got.shape == (3, 97)
            torch.testing.assert_close(got, want[:, -1], rtol=0, atol=1e-5)
            assert fast.length == ref.length == 9
            for _ in range(12):
                nxt = want[:, -1].argmax(-1, keepdim=True)
                want, _ = model(nxt, kv_cache=ref)
                assert torch.equal(decoder(nxt, fast), want[:, -1]), layout
            assert all(torch.equal(a, b) for a, b in zip(ref.k + ref.v, fast.k + fast.v, strict=True))
            chunk = torch.randint(0, 97, (3, 5))  # a chunk after a cached past: the bottom-right mask
            want, _ = model(chunk, kv_cache=ref)
            torch.testing.assert_close(decoder(chunk, fast), want[:, -1], rtol=0, atol=1e-5)


def test_decoder_refuses_positions_past_the_window(model: GPT) -> None:
    decoder = Decoder(model)
    with torch.inference_mode():
        cache = model.new_cache(1, max_len=60)
        decoder(torch.zeros(1, 40, dtype=torch.long), cache)
        with pytest.raises(ValueError, match="exceeds the context window"):
            decoder(torch.zeros(1, 9, dtype=torch.long), cache)
        assert cache.length == 40
