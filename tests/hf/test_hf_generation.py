"""chat, stream, complete, stop strings, n, seeds and batching on a tiny random llama."""

from __future__ import annotations

import threading

import pytest

pytest.importorskip("transformers")

import llmkit
from llmkit.backends import hf_hooks
from llmkit.errors import InvalidOptionError, MissingCapabilityError

GREEDY = {"max_tokens": 16, "temperature": 0}
CONVERSATIONS = [
    [llmkit.user("Hello there")],
    [llmkit.system("Be brief."), llmkit.user("What is the capital of France?")],
    [llmkit.user("The cat sat on the mat and then the dog sat on the log")],
]


def test_chat_greedy(tiny):
    r = tiny.chat("Hello there", **GREEDY)
    assert r.text and r.text == tiny.chat("Hello there", **GREEDY).text
    assert r.finish_reason in ("stop", "length")
    assert r.model == tiny.model and r.served_model == "tiny-llama"
    assert r.usage.input_tokens == tiny.count_tokens([llmkit.user("Hello there")])
    assert 1 <= r.usage.output_tokens <= 16


def test_stream_equals_greedy_chat(tiny):
    for messages in CONVERSATIONS:
        expected = tiny.chat(messages, **GREEDY)
        with tiny.stream(messages, **GREEDY) as stream:
            deltas = [e.text for e in stream if e.text]
        assert "".join(deltas) == expected.text
        assert len(deltas) > 1  # token by token, not all at the end
        assert stream.response.finish_reason == expected.finish_reason
        assert stream.response.usage.output_tokens == expected.usage.output_tokens


@pytest.mark.parametrize("how", ["close", "break", "async-break"])
def test_leaving_a_stream_stops_generation(tiny, monkeypatch, how):
    import asyncio

    steps = []
    put = hf_hooks.QueueStreamer.put
    monkeypatch.setattr(hf_hooks.QueueStreamer, "put", lambda self, value: (steps.append(1), put(self, value)))
    if how == "async-break":

        async def first_text():
            async for event in tiny.astream("Hello there", max_tokens=100, temperature=0, stop="never-there"):
                if event.text:
                    break

        asyncio.run(first_text())
    else:
        stream = tiny.stream("Hello there", max_tokens=100, temperature=0, stop="never-there")
        for event in stream:
            if event.text:
                break  # leaving the loop is enough: no close() needed
        if how == "close":
            stream.close()
        assert not tiny.backend.engine.lm.lock.locked()  # the next call need not wait
    alive = [t for t in threading.enumerate() if t.name.startswith("llmkit-hf-stream")]
    assert not alive
    # generation stopped soon after the close, far before max_tokens (a loaded machine may take a few more steps)
    assert len(steps) < 40


def _stop_inside(text: str) -> str:
    """A short string that first occurs some way into `text`."""
    for start in range(3, len(text) - 2):
        candidate = text[start : start + 2]
        if text.find(candidate) == start and "\ufffd" not in candidate:
            return candidate
    pytest.skip(f"no usable stop string in {text!r}")


def test_stop_strings_cut_output_also_when_streaming(tiny):
    full = tiny.chat("Hello there", **GREEDY).text
    stop = _stop_inside(full)
    r = tiny.chat("Hello there", stop=[stop, "never-there"], **GREEDY)
    assert r.text == full[: full.find(stop)]
    assert r.finish_reason == "stop"
    streamed = "".join(e.text for e in tiny.stream("Hello there", stop=stop, **GREEDY))
    assert streamed == r.text


def test_n_samples_and_seed_determinism(tiny):
    a = tiny.chat("Hello there", n=3, seed=7, max_tokens=8, temperature=1.0)
    b = tiny.chat("Hello there", n=3, seed=7, max_tokens=8, temperature=1.0)
    c = tiny.chat("Hello there", n=3, seed=8, max_tokens=8, temperature=1.0)
    assert len(a.texts) == 3 and a.texts == b.texts
    assert a.texts != c.texts
    assert len(set(a.texts)) > 1  # sampled, not three copies
    assert a.usage.output_tokens == sum(len(s.token_ids) for s in a.raw)


def test_greedy_n_gives_copies(tiny):
    r = tiny.chat("Hello there", n=2, **GREEDY)
    assert r.texts == [r.text, r.text]


def test_stream_with_n_samples(tiny):
    expected = tiny.chat("Hello there", n=2, seed=3, max_tokens=8, temperature=0.8)
    with tiny.stream("Hello there", n=2, seed=3, max_tokens=8, temperature=0.8) as stream:
        list(stream)
    assert stream.response.texts == expected.texts


def test_complete_with_n(tiny):
    r = tiny.complete("The cat sat on the", max_tokens=6, n=3, seed=0)
    assert len(r.texts) == 3
    assert r.usage.input_tokens == tiny.count_tokens("The cat sat on the")  # no BOS added by this tokenizer


def test_top_k_top_p_repetition_penalty(tiny):
    r = tiny.chat("Hello there", max_tokens=8, top_k=5, top_p=0.9, seed=1, repetition_penalty=1.3)
    assert r.text


def test_unknown_option_names_allowed_ones(tiny):
    with pytest.raises(InvalidOptionError, match="max_tokens"):
        tiny.chat("Hi", max_token=5)


def test_batched_greedy_equals_one_by_one(tiny):
    one_by_one = [tiny.chat(m, **GREEDY) for m in CONVERSATIONS]
    batched = tiny.backend.chat_batch(CONVERSATIONS, GREEDY)
    assert [r.text for r in batched] == [r.text for r in one_by_one]
    assert [r.usage.input_tokens for r in batched] == [r.usage.input_tokens for r in one_by_one]
    assert [r.finish_reason for r in batched] == [r.finish_reason for r in one_by_one]


def test_complete_batch_in_small_groups(tiny_dir):
    client = llmkit.Client(f"hf:{tiny_dir}", batch_size=2)
    prompts = ["The cat", "Once upon a time there was", "def add(a, b):", "Paris"]
    batched = client.backend.complete_batch(prompts, {"max_tokens": 8, "temperature": 0})
    assert [r.text for r in batched] == [client.complete(p, max_tokens=8, temperature=0).text for p in prompts]


def test_batch_validates_options(tiny):
    with pytest.raises(InvalidOptionError):
        tiny.backend.chat_batch(CONVERSATIONS, {"bogus": 1})


def test_fill_in_the_middle_needs_fim_tokens(tiny, fim_dir):
    assert not tiny.capabilities.fill_in_the_middle
    with pytest.raises(MissingCapabilityError):
        tiny.complete("def add(a, b):", suffix="\n", max_tokens=4)
    fim = llmkit.Client(f"hf:{fim_dir}")
    assert fim.capabilities.fill_in_the_middle
    assert isinstance(fim.complete("def add(a, b):", suffix="\n", max_tokens=4, temperature=0).text, str)


@pytest.mark.parametrize("spelling", [["<｜fim▁begin｜>", "<｜fim▁hole｜>", "<｜fim▁end｜>"],  # DeepSeek-Coder
                                      ["▁<PRE>", "▁<SUF>", "▁<MID>"]])  # CodeLlama
def test_fill_in_the_middle_with_other_families_tokens(tmp_path, spelling):
    from hf.conftest import build_model_dir

    client = llmkit.Client(f"hf:{build_model_dir(tmp_path / 'fim', fim=spelling)}")
    assert client.capabilities.fill_in_the_middle
    ids = client.backend._complete_ids("def f(x):", {"suffix": "\n    return y\n"})
    tok = client.backend.engine.tokenizer
    marks = [tok.convert_tokens_to_ids(t) for t in spelling]
    assert [i for i in ids if i in marks] == marks  # each once, prefix-suffix-middle order
    assert ids[-1] == marks[2] and tok.decode(ids[1 : ids.index(marks[1])]) == "def f(x):"
    assert isinstance(client.complete("def f(x):", suffix="\n", max_tokens=3, temperature=0).text, str)


async def _achat(client):
    return await client.achat("Hello there", **GREEDY)


def test_async_chat(tiny):
    import asyncio

    assert asyncio.run(_achat(tiny)).text == tiny.chat("Hello there", **GREEDY).text


def test_client_chat_batch_goes_through_the_batched_backend(tiny_dir):
    import llmkit

    client = llmkit.Client(f"hf:{tiny_dir}", temperature=0, max_tokens=6)
    prompts = ["hello there", "the cat sat", "one two"]
    batched = client.chat_batch(prompts)
    assert [r.text for r in batched] == [client.chat(p).text for p in prompts]
    assert all(r.model == f"hf:{tiny_dir}" for r in batched)


def test_hf_local_example(tiny_dir):
    import subprocess
    import sys
    from pathlib import Path

    example = Path(__file__).resolve().parents[2] / "examples" / "hf_local.py"
    r = subprocess.run([sys.executable, str(example), "--model", f"hf:{tiny_dir}"], capture_output=True,
                       text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    for label in ("chat:", "stream:", "batch:", "score:", "runtime: runs on cpu in ", " threads (threads=auto: "):
        assert label in r.stdout
    assert "batch:   refused: batch item #2: " in r.stdout  # the rest of the batch answered


def test_attention_maps_and_command(tiny_dir):
    import subprocess
    import sys

    import torch

    import llmkit

    backend = llmkit.Client(f"hf:{tiny_dir}").backend
    before = backend.engine.lm.model.config._attn_implementation
    tokens, maps = backend.attention("the cat sat on the mat")
    assert backend.engine.lm.model.config._attn_implementation == before  # switched back for generation
    n = len(tokens)
    assert maps.shape[0] == backend.engine.lm.model.config.num_hidden_layers and maps.shape[2:] == (n, n)
    assert torch.allclose(maps.sum(-1), torch.ones(maps.shape[:3]), atol=1e-4)
    assert torch.all(maps.triu(diagonal=1).abs() < 1e-6)  # causal
    r = subprocess.run([sys.executable, "-m", "llmkit.cli", "attention", "the cat sat", "-m", f"hf:{tiny_dir}",
                        "--layer", "0", "--head", "0"], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert "layer 0 head 0" in r.stdout


def test_the_model_authors_generation_defaults_apply_when_a_call_sets_none(tiny_dir, tmp_path):
    import json
    import shutil


    def variant(name, generation_config):
        target = tmp_path / name
        shutil.copytree(tiny_dir, target)
        (target / "generation_config.json").write_text(json.dumps(generation_config))
        llmkit.clear_caches()
        return llmkit.Client(f"hf:{target}", max_tokens=8)

    derived = llmkit.Client(f"hf:{tiny_dir}", max_tokens=8)  # a config transformers derived: generate is greedy
    assert derived.backend.sampling_defaults == {"temperature": 0}
    assert len({derived.chat("Hello", seed=s).text for s in range(3)}) == 1  # as model.generate() would do
    assert len({derived.chat("Hello", temperature=1.0, seed=s).text for s in range(4)}) > 1  # the call wins

    greedy = variant("greedy", {"bos_token_id": 1, "eos_token_id": 2})  # a file without do_sample
    assert greedy.backend.sampling_defaults == {"temperature": 0}
    expected = greedy.chat("Hello", temperature=0).text
    assert {greedy.chat("Hello", seed=s).text for s in range(3)} == {expected}
    assert len({greedy.chat("Hello", temperature=1.0, seed=s).text for s in range(4)}) > 1  # the call wins

    topk1 = variant("top-k-1", {"do_sample": True, "temperature": 0.7, "top_k": 1, "top_p": 0.9})
    assert topk1.backend.sampling_defaults["top_k"] == 1
    assert {topk1.chat("Hello", seed=s).text for s in range(3)} == {expected}  # top_k 1: the greedy choice
