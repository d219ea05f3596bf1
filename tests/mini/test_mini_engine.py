"""MiniEngine: sampling, stop strings, streaming, n samples, healing, infill, logprobs."""

from __future__ import annotations

import pytest
import torch

from llmkit.errors import ContextLengthError, InvalidOptionError
from llmkit.generation import Generation
from llmkit.mini.checkpoint import load_checkpoint, save_checkpoint
from llmkit.mini.engine import MiniEngine


def test_load_attributes(engine: MiniEngine, random_ckpt) -> None:
    assert engine.name == random_ckpt.name
    assert engine.context_window == engine.config.block_size - 1
    assert engine.count_tokens("the cat sat") == len(engine.tokenizer.encode("the cat sat"))


def test_engine_decodes_in_inference_layout(engine: MiniEngine, tmp_path) -> None:
    """The engine's weight matrices are column-major (GPT.inference_layout); a checkpoint
    saved from it holds the same values and loads like any other."""
    assert engine.model.wte.weight.t().is_contiguous()
    save_checkpoint(tmp_path / "resaved", engine.model, engine.tokenizer)
    plain = load_checkpoint(tmp_path / "resaved").model
    assert plain.wte.weight.is_contiguous()
    for a, b in zip(plain.state_dict().values(), engine.model.state_dict().values(), strict=True):
        assert torch.equal(a, b)


def test_generate_shape_and_counts(engine: MiniEngine) -> None:
    [g] = engine.generate("The cat", max_tokens=7, seed=0)
    assert isinstance(g, Generation)
    assert g.prompt_tokens == engine.count_tokens("The cat")
    assert 1 <= g.completion_tokens <= 7
    if g.finish_reason == "length":
        assert g.completion_tokens == 7


def test_seed_makes_sampling_reproducible(engine: MiniEngine) -> None:
    a = engine.generate("The dog", max_tokens=20, seed=123, n=2)
    b = engine.generate("The dog", max_tokens=20, seed=123, n=2)
    c = engine.generate("The dog", max_tokens=20, seed=124, n=2)
    assert [g.token_ids for g in a] == [g.token_ids for g in b]
    assert [g.token_ids for g in a] != [g.token_ids for g in c]


def test_n_samples_are_a_batch(engine: MiniEngine) -> None:
    samples = engine.generate("The", max_tokens=15, seed=5, n=4)
    assert len(samples) == 4
    assert len({tuple(g.token_ids) for g in samples}) > 1  # temperature 1 on a random model
    greedy_one = engine.generate("The", max_tokens=15, temperature=0)[0]
    greedy_many = engine.generate("The", max_tokens=15, temperature=0, n=3)
    assert all(g.token_ids == greedy_one.token_ids for g in greedy_many)


def test_greedy_equals_top_k_1_and_tiny_top_p(engine: MiniEngine) -> None:
    greedy = engine.generate("A small", max_tokens=12, temperature=0)[0].token_ids
    assert engine.generate("A small", max_tokens=12, top_k=1, seed=9)[0].token_ids == greedy
    assert engine.generate("A small", max_tokens=12, top_p=1e-6, seed=9)[0].token_ids == greedy


def test_greedy_matches_manual_argmax_decoding(engine: MiniEngine) -> None:
    """The cached decoding loop against a plain full-forward greedy loop."""
    tok = engine.tokenizer
    prompt = tok.encode("The cat sat")
    out = engine.generate(prompt, max_tokens=10, temperature=0, token_healing=False)[0].token_ids
    seq = [tok.eot_id, *prompt]
    banned = {tok.fim_prefix_id, tok.fim_suffix_id, tok.fim_middle_id}
    manual = []
    with torch.no_grad():
        for _ in range(len(out)):
            logits = engine.model(torch.tensor([seq]))[0][0, -1]
            logits[list(banned)] = float("-inf")
            nxt = int(logits.argmax())
            manual.append(nxt)
            seq.append(nxt)
            if nxt == tok.eot_id:
                break
    assert out == manual


def _tokens_text(engine: MiniEngine, ids: list[int]) -> list[str]:
    return [engine.tokenizer.token_bytes(i).decode("utf-8", "replace") for i in ids]


def _spanning_stop(engine: MiniEngine, ids: list[int]) -> str:
    """A stop string that starts inside one generated token and ends inside the next."""
    pieces = _tokens_text(engine, ids)
    for a, b in zip(pieces, pieces[1:], strict=False):
        if a.isascii() and b.isascii() and a and b and "\ufffd" not in a + b:
            return a[-2:] + b[:1]
    pytest.skip("no pair of ASCII tokens in this output")


def test_stop_string_spanning_tokens(trained_engine: MiniEngine) -> None:
    e = trained_engine
    prompt = "The cat sat on"
    full = e.generate(prompt, max_tokens=30, temperature=0)[0]
    stop = _spanning_stop(e, full.token_ids[1:])
    cut = full.text.index(stop)
    [g] = e.generate(prompt, max_tokens=30, temperature=0, stop=["NEVER-SEEN", stop])
    assert g.finish_reason == "stop"
    assert g.text == full.text[:cut]
    assert g.completion_tokens < full.completion_tokens or full.finish_reason == "stop"
    # Streaming: the same text, and the stop string never leaks out, even partially.
    stream = e.stream(prompt, max_tokens=30, temperature=0, stop=stop)
    deltas = list(stream)
    assert "".join(deltas) == g.text
    assert stream.finish_reason == "stop"
    assert stream.completion_tokens == g.completion_tokens


def test_stream_equals_generate(engine: MiniEngine) -> None:
    [g] = engine.generate("The river", max_tokens=25, seed=3)
    stream = engine.stream("The river", max_tokens=25, seed=3)
    assert "".join(stream) == g.text
    assert stream.finish_reason == g.finish_reason
    assert stream.completion_tokens == g.completion_tokens


def test_stream_is_cancellable_and_leaves_grad_mode_alone(engine: MiniEngine) -> None:
    stream = engine.stream("The", max_tokens=50, seed=1, token_healing=False)
    first = next(stream)
    assert first
    assert torch.is_grad_enabled()  # no inference_mode leaking into the caller between tokens
    stream.close()
    assert list(stream) == []
    assert stream.completion_tokens < 50


def test_stream_checks_options_eagerly(engine: MiniEngine) -> None:
    with pytest.raises(InvalidOptionError, match="n=1"):
        engine.stream("x", n=2)
    with pytest.raises(ContextLengthError):
        engine.stream("the cat " * 100, max_tokens=10)


@pytest.mark.parametrize("options", [
    {"temperature": -1}, {"top_k": 0}, {"top_p": 0}, {"top_p": 1.5}, {"n": 0}, {"max_tokens": 0},
    {"truncate": "right"}, {"stop": [""]},
])
def test_invalid_options(engine: MiniEngine, options: dict) -> None:
    with pytest.raises(InvalidOptionError):
        engine.generate("x", **options)


def test_prompt_ids_out_of_range(engine: MiniEngine) -> None:
    with pytest.raises(InvalidOptionError, match="out of range"):
        engine.generate([1, 10**6], max_tokens=2)


def test_context_overflow_and_left_truncation(engine: MiniEngine) -> None:
    window = engine.context_window
    prompt = " ".join(f"w{i}" for i in range(200))
    n_prompt = engine.count_tokens(prompt)
    assert n_prompt > window
    with pytest.raises(ContextLengthError) as info:
        engine.generate(prompt, max_tokens=10)
    message = str(info.value)
    assert str(n_prompt) in message and "10" in message and str(window) in message
    with pytest.raises(ContextLengthError, match="max_tokens"):
        engine.generate("hi", max_tokens=window + 1)
    [g] = engine.generate(prompt, max_tokens=10, truncate="left", seed=0)
    assert g.prompt_tokens == window - 10
    # Without max_tokens, a fitting prompt gets the room that is left.
    fits = engine.tokenizer.decode(engine.tokenizer.encode(prompt)[: window - 3])
    [g] = engine.generate(fits, seed=0, token_healing=False)
    assert g.prompt_tokens + g.completion_tokens <= window


def test_token_healing_recreates_indentation(trained_engine: MiniEngine) -> None:
    e = trained_engine
    tok = e.tokenizer
    prompt = "def add3(x):\n    "
    # Precondition: the prompt's trailing whitespace tokenizes unlike inside training text.
    canonical = tok.encode("def add3(x):\n    return x")
    assert tok.encode(prompt) != canonical[: len(tok.encode(prompt))]
    healed = e.generate(prompt, max_tokens=6, temperature=0)[0]
    raw = e.generate(prompt, max_tokens=6, temperature=0, token_healing=False)[0]
    assert healed.text.startswith("return")
    assert not raw.text.startswith("return")  # off-distribution without healing
    # The re-created bytes are generated, not repeated in the text.
    generated = tok.decode_bytes(healed.token_ids)
    assert generated.startswith(b"\n") and generated.decode().endswith(healed.text)
    assert (prompt + healed.text).startswith("def add3(x):\n    return")


def test_token_healing_first_token_starts_with_removed_text(engine: MiniEngine) -> None:
    tok = engine.tokenizer
    prompt = "The cat sat on the"
    last = tok.token_bytes(tok.encode(prompt)[-1])
    for seed in range(5):
        g = engine.generate(prompt, max_tokens=5, seed=seed)[0]
        out = tok.decode_bytes(g.token_ids)
        assert out.startswith(last)
        assert g.text == out[len(last):].decode("utf-8", "replace")


def test_infill_uses_fim_tokens(trained_engine: MiniEngine) -> None:
    e = trained_engine
    tok = e.tokenizer
    prefix, suffix = "def add3(x):\n", "\n\ndef mix4(y):\n    return y + 2\n"
    [g] = e.infill(prefix, suffix, max_tokens=12, temperature=0, token_healing=False)
    assert g.prompt_tokens == len(tok.encode(prefix)) + len(tok.encode(suffix)) + 3
    fim = {tok.fim_prefix_id, tok.fim_suffix_id, tok.fim_middle_id}
    assert not fim & set(g.token_ids)
    # Built as <eot><pre>prefix<suf>suffix<mid>: the cached greedy step must match a
    # full forward pass over exactly that sequence.
    seq = [tok.eot_id, tok.fim_prefix_id, *tok.encode(prefix), tok.fim_suffix_id, *tok.encode(suffix),
           tok.fim_middle_id]
    with torch.no_grad():
        logits = e.model(torch.tensor([seq]))[0][0, -1]
    logits[sorted(fim)] = float("-inf")
    assert g.token_ids[0] == int(logits.argmax())
    [short] = e.infill(prefix * 40, suffix * 40, max_tokens=5, temperature=0, truncate="left")
    assert short.prompt_tokens + 5 <= e.context_window


def test_infill_heals_the_prefix_last_token(trained_engine: MiniEngine) -> None:
    """A prefix ending at a line break ends in a bare "\n" token: the middle must
    re-create it (as one natural token with the indentation), not be read as the rest
    of a cut word, and the re-created bytes are not repeated in the output."""
    e = trained_engine
    tok = e.tokenizer
    prefix, suffix = "def add3(x):\n", "\n\ndef mix4(y):\n    return y + 2\n"
    pre = tok.encode(prefix)
    removed = tok.token_bytes(pre[-1])
    assert removed.isspace()
    for seed in range(4):
        [g] = e.infill(prefix, suffix, max_tokens=8, temperature=1.0, seed=seed)
        assert g.prompt_tokens == len(pre) - 1 + len(tok.encode(suffix)) + 3  # the last token backed up
        raw = tok.decode_bytes(g.token_ids)
        assert raw.startswith(removed)  # constrained to re-create it first
        assert g.text == raw[len(removed):].decode("utf-8", "replace")
    [plain] = e.infill(prefix, suffix, max_tokens=8, temperature=0, token_healing=False)
    assert plain.prompt_tokens == len(pre) + len(tok.encode(suffix)) + 3


def test_logprobs_equal_direct_forward(engine: MiniEngine) -> None:
    tok = engine.tokenizer
    text = "The cat sat on the mat. Café ✓"
    pairs = engine.logprobs(text)
    ids = tok.encode(text)
    assert [t.token for t in pairs] == [tok.token_str(i) for i in ids]
    with torch.no_grad():
        logits = engine.model(torch.tensor([[tok.eot_id, *ids]]))[0][0]
    expected = torch.log_softmax(logits, -1)[torch.arange(len(ids)), torch.tensor(ids)]
    assert torch.allclose(torch.tensor([t.logprob for t in pairs]), expected, atol=1e-5)
    assert engine.logprobs("") == []


def test_score_is_prefix_stable_and_handles_long_text(engine: MiniEngine) -> None:
    """The compressor needs bit-identical distributions when decoding token by token."""
    tok = engine.tokenizer
    ids = tok.encode(" ".join(f"w{i} cat" for i in range(80)))
    assert len(ids) > 2 * engine.config.block_size
    full = engine.score(ids)
    assert full.shape == (len(ids), engine.config.vocab_size) and full.dtype == torch.float32
    for k in (1, 17, engine.config.block_size, len(ids) - 5):
        assert torch.equal(engine.score(ids[:k]), full[:k])
    assert torch.equal(engine.score(ids), full)  # deterministic
    assert torch.allclose(full.exp().sum(-1), torch.ones(len(ids)), atol=1e-4)
    # Within the first window, scores equal a direct forward pass.
    block = engine.config.block_size
    with torch.no_grad():
        logits = engine.model(torch.tensor([[tok.eot_id, *ids[: block - 1]]]))[0][0]
    assert torch.allclose(full[:block], torch.log_softmax(logits, -1), atol=1e-5)


def test_threads_option(random_ckpt) -> None:
    with pytest.raises(InvalidOptionError, match="threads"):
        MiniEngine.load(random_ckpt, threads=0)
    with pytest.raises(InvalidOptionError, match=r"got 'auto' \(threads='auto', measured, is for hf: models\)"):
        MiniEngine.load(random_ckpt, threads="auto")  # a clear error, not a TypeError from comparing str < int
    current = torch.get_num_threads()
    assert MiniEngine.load(random_ckpt, threads=current).threads == current


def test_repetition_penalty_discourages_tokens_already_in_context(engine: MiniEngine) -> None:
    def repeats(ids: list[int]) -> int:
        return len(ids) - len(set(ids))

    plain = engine.generate("the cat", max_tokens=40, temperature=0)[0].token_ids
    penalised = engine.generate("the cat", max_tokens=40, temperature=0, repetition_penalty=3.0)[0].token_ids
    assert repeats(penalised) < repeats(plain)
    assert engine.generate("the cat", max_tokens=40, temperature=0, repetition_penalty=1.0)[0].token_ids == plain


def test_sampling_params_or_options_not_both(engine: MiniEngine) -> None:
    from llmkit.generation import SamplingParams

    params = SamplingParams(max_tokens=5, temperature=0)
    assert engine.generate("The", params)[0].token_ids == engine.generate("The", max_tokens=5, temperature=0)[0].token_ids
    with pytest.raises(InvalidOptionError, match="not both"):
        engine.generate("The", params, max_tokens=3)
