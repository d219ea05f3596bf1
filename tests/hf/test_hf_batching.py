"""Continuous batching (hf_batching) against transformers' own `generate`, one prompt at a
time, on a tiny random llama: the same tokens, while rows leave and join the batch."""

from __future__ import annotations

import functools

import pytest

pytest.importorskip("transformers")

import torch

import llmkit

PROMPTS = ["The cat", "Once upon a time there was a", "def add(a, b):", "Paris", "Hello there, how are you today",
           "1 2 3 4 5 6 7 8 9", "A"]  # fmt: skip


def _generate(client: llmkit.Client, prompt: str, seed: int | None = None, **kwargs) -> list[int]:
    """The anchor: `model.generate` on one prompt, the answer's token ids."""
    engine = client.backend.engine
    ids = torch.tensor([engine.encode(prompt)])
    if seed is not None:
        torch.manual_seed(seed)
    with torch.inference_mode():
        out = engine.model.generate(input_ids=ids, attention_mask=torch.ones_like(ids), pad_token_id=engine.pad_id,
                                    eos_token_id=engine.eos_ids, **kwargs)  # fmt: skip
    return out[0, ids.shape[1] :].tolist()


@pytest.fixture
def client3(tiny_dir):
    with llmkit.Client(f"hf:{tiny_dir}", batch_size=3, threads=1) as client:
        yield client


def _forward_sizes(client: llmkit.Client, monkeypatch) -> list[tuple[int, int]]:
    """Record (rows, new tokens) of every forward pass the model makes."""
    model = client.backend.engine.model
    sizes: list[tuple[int, int]] = []
    original = model.forward

    @functools.wraps(original)  # the same parameters (the cache argument's name is read from them)
    def forward(*args, **kwargs):
        sizes.append(tuple(kwargs["input_ids"].shape))
        return original(*args, **kwargs)

    monkeypatch.setattr(model, "forward", forward)
    return sizes


def test_greedy_batch_equals_generate_one_prompt_at_a_time(client3, monkeypatch):
    expected = [_generate(client3, p, max_new_tokens=10, do_sample=False) for p in PROMPTS]
    sizes = _forward_sizes(client3, monkeypatch)
    batched = client3.backend.complete_batch(PROMPTS, {"max_tokens": 10, "temperature": 0})
    assert [r.raw[0].token_ids for r in batched] == expected
    assert max(rows for rows, _ in sizes) <= 3  # never more than batch_size rows
    assert client3.backend.engine.lm.mergeable is True


def test_a_finished_row_frees_its_slot_for_a_waiting_prompt(client3, monkeypatch):
    """Stop strings end some rows early: the waiting prompts join as soon as a slot is
    free, instead of after the longest row of a fixed group."""
    options = {"max_tokens": 12, "temperature": 0}
    first = max(PROMPTS, key=lambda p: len(client3.backend.engine.encode(p)))  # the batch starts with the longest
    stop = client3.complete(first, **options).text[2:4]  # ends that answer after a few tokens
    expected = [client3.complete(p, **options, stop=[stop]) for p in PROMPTS]
    assert len({len(r.raw[0].token_ids) for r in expected}) > 1  # rows of different lengths
    sizes = _forward_sizes(client3, monkeypatch)
    batched = client3.backend.complete_batch(PROMPTS, {**options, "stop": [stop]})
    assert [r.text for r in batched] == [r.text for r in expected]
    assert [r.finish_reason for r in batched] == [r.finish_reason for r in expected]
    prefills = [i for i, (_, width) in enumerate(sizes) if width > 1]
    assert len(prefills) > 1 and prefills[1] < 12  # a prompt joined before the first rows were done
    longest = max(len(r.raw[0].token_ids) for r in expected)
    assert len(sizes) < len(PROMPTS) // 3 * longest + longest  # fewer passes than fixed groups of 3


def test_a_seeded_sample_draws_what_generate_draws(client3):
    r = client3.complete("Once upon a time", max_tokens=10, temperature=0.9, top_k=20, top_p=0.95, seed=11)
    assert r.raw[0].token_ids == _generate(client3, "Once upon a time", seed=11, max_new_tokens=10, do_sample=True,
                                           temperature=0.9, top_k=20, top_p=0.95)  # fmt: skip


def test_repetition_penalty_as_generate_applies_it(client3):
    r = client3.complete("1 2 3 4 5 6 7 8 9", max_tokens=12, temperature=0, repetition_penalty=1.8)
    assert r.raw[0].token_ids == _generate(client3, "1 2 3 4 5 6 7 8 9", max_new_tokens=12, do_sample=False,
                                           repetition_penalty=1.8)  # fmt: skip


def test_n_samples_in_the_batch(client3):
    results = client3.backend.complete_batch(PROMPTS[:4], {"max_tokens": 6, "temperature": 1.0, "n": 2, "seed": 5})
    assert [len(r.texts) for r in results] == [2, 2, 2, 2]
    again = client3.backend.complete_batch(PROMPTS[:4], {"max_tokens": 6, "temperature": 1.0, "n": 2, "seed": 5})
    assert [r.texts for r in results] == [r.texts for r in again]


def test_a_model_whose_cache_cannot_be_merged_uses_generate(client3, monkeypatch):
    expected = client3.backend.complete_batch(PROMPTS, {"max_tokens": 8, "temperature": 0})
    model_class = type(client3.backend.engine.model)
    monkeypatch.setattr(model_class, "_supports_default_dynamic_cache", classmethod(lambda cls: False))
    monkeypatch.setattr(client3.backend.engine.lm, "mergeable", None)  # tried again; restored after the test
    again = client3.backend.complete_batch(PROMPTS, {"max_tokens": 8, "temperature": 0})
    assert client3.backend.engine.lm.mergeable is False
    assert [r.text for r in again] == [r.text for r in expected]


def test_an_over_long_prompt_is_refused_alone_and_the_rest_answered(client3):
    long = "word " * 400  # the tiny model's window is 128 tokens
    results = client3.complete_batch(["The cat", long, "Paris"], max_tokens=6, temperature=0)
    assert [r.finish_reason for r in results] == ["length", "error", "length"]
    assert isinstance(results[1].error, llmkit.ContextLengthError)
    assert "128" in results[1].error.message and "batch item #1" in results[1].error.message
    assert results[0].text == client3.complete("The cat", max_tokens=6, temperature=0).text


def test_a_stream_holds_the_model_only_while_it_steps(client3):
    """Streams run the loop a step at a time: between two events another caller can use
    the model (a stream through generate's worker thread holds the lock while it runs)."""
    lock = client3.backend.engine.lm.lock
    expected = client3.complete("Once upon a time", max_tokens=8, temperature=0).raw[0].token_ids
    with client3.stream("Once upon a time", max_tokens=8, temperature=0) as stream:
        events = iter(stream)
        next(e for e in events if e.text)
        assert lock.acquire(blocking=False), "the stream kept the model's lock between steps"
        lock.release()
        list(events)
    assert stream.response.usage.output_tokens == len(expected)
