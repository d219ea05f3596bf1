"""The bundled GPT through llmkit.Client: the same interface as every other model."""

from __future__ import annotations

import math

import pytest

import llmkit
from llmkit.backends import mini as mini_backend
from llmkit.mini.checkpoint import save_checkpoint


@pytest.fixture(scope="module")
def client(trained):
    return llmkit.Client(f"mini:{trained.path}", temperature=0, max_tokens=12)


def test_chat_and_complete_agree_under_greedy(client, trained_engine):
    r = client.chat("def add3(x):\n")
    direct = trained_engine.generate("def add3(x):\n", max_tokens=12, temperature=0)[0]
    assert r.text == direct.text and r.text
    assert r.model == f"mini:{client.backend.model}"
    assert r.usage.output_tokens == direct.completion_tokens
    assert client.complete("def add3(x):\n").text == r.text


def test_chat_template_joins_messages(client):
    messages = [llmkit.system("The cat"), llmkit.user("sat on the")]
    assert mini_backend.render_prompt(messages) == "The cat\n\nsat on the"
    assert client.count_tokens(messages) == client.count_tokens("The cat\n\nsat on the")
    assert client.chat(messages).text == client.complete("The cat\n\nsat on the").text


def test_n_samples_with_seed_are_reproducible(client):
    a = client.complete("The cat sat on the", n=3, temperature=1.0, seed=7)
    b = client.complete("The cat sat on the", n=3, temperature=1.0, seed=7)
    assert len(a.texts) == 3 and a.texts == b.texts
    assert len(set(a.texts)) > 1  # really sampled, not three copies


def test_stream_matches_chat_and_reports_usage(client):
    stream = client.stream("def scale1(y):\n")
    pieces = [e.text for e in stream if e.text]
    assert "".join(pieces) == client.chat("def scale1(y):\n").text
    assert stream.response.usage.output_tokens > 0
    assert stream.response.finish_reason in ("stop", "length")


def test_stream_can_be_cancelled(client):
    stream = client.stream("The", max_tokens=50)
    first = next(iter(stream))
    stream.close()
    assert first.text and stream.text == first.text


def test_stop_strings(client):
    full = client.complete("def add3(x):\n", max_tokens=20).text
    cut_at = full[3:6]
    assert cut_at
    cut = client.complete("def add3(x):\n", max_tokens=20, stop=[cut_at]).text
    assert cut_at not in cut and full.startswith(cut)


def test_logprobs_match_the_engine(client, trained_engine):
    text = "The cat sat on the mat."
    lp = client.logprobs(text)
    direct = trained_engine.logprobs(text)
    assert [t.token for t in lp.tokens] == [t.token for t in direct]
    assert lp.total == pytest.approx(sum(t.logprob for t in direct))
    assert lp.bits_per_byte == pytest.approx(-lp.total / math.log(2) / len(text.encode()))


def test_logprobs_of_a_continuation(client, trained_engine):
    context, text = "The cat sat on the", " mat. The dog sat on the log."  # " mat" starts a pre-token
    tok = trained_engine.tokenizer
    assert tok.encode(context) + tok.encode(text) == tok.encode(context + text)  # a clean seam, so:
    whole = client.logprobs(context + text)
    after = client.logprobs(text, context=context)
    n = len(tok.encode(text))
    assert [t.logprob for t in after.tokens] == pytest.approx([t.logprob for t in whole.tokens[-n:]], abs=1e-5)
    assert after.num_bytes == len(text.encode()) and "".join(t.token for t in after.tokens) == text
    alone = client.logprobs(text)
    assert [t.logprob for t in alone.tokens] != pytest.approx([t.logprob for t in after.tokens], abs=1e-3)
    assert client.logprobs(text, context="").total == alone.total


def test_fill_in_the_middle(client, trained_engine):
    r = client.complete("def add3(x):\n    return ", suffix="\n\ndef scale1(y):\n", max_tokens=6)
    direct = trained_engine.infill("def add3(x):\n    return ", "\n\ndef scale1(y):\n", max_tokens=6,
                                   temperature=0)[0]
    assert r.text == direct.text


def test_context_overflow_is_refused_before_generation(client):
    long_prompt = "the cat sat on the mat " * 40
    with pytest.raises(llmkit.ContextLengthError) as err:
        client.chat(long_prompt)
    assert str(client.context_window()) in str(err.value)
    assert client.chat(long_prompt, truncate="left").text is not None


def test_capabilities_are_honest(client):
    assert client.capabilities.logprobs and client.capabilities.fill_in_the_middle
    assert client.capabilities.tools and client.capabilities.structured_output  # by constrained decoding
    shipped = llmkit.Client("mini")  # the test model's 63-token window has no room for the tool protocol
    r = shipped.chat("x", tools=[{"name": "f", "parameters": {}}], tool_choice="required", max_tokens=40)
    assert r.tool_calls[0].name == "f" and r.finish_reason == "tool_calls"  # it can only call the one tool
    with pytest.raises(llmkit.InvalidOptionError, match="presence_penalty"):
        client.chat("x", presence_penalty=1.0)


def test_same_checkpoint_is_loaded_once(trained):
    a = llmkit.Client(f"mini:{trained.path}")
    b = llmkit.Client(f"mini:{trained.path}")
    assert a.backend.engine is b.backend.engine


def test_missing_and_corrupt_checkpoints(tmp_path, trained):
    with pytest.raises(llmkit.CheckpointError) as err:
        llmkit.Client(f"mini:{tmp_path / 'nope'}")
    assert str(tmp_path / "nope") in str(err.value)
    import shutil

    broken = tmp_path / "broken"
    shutil.copytree(trained.path, broken)
    (broken / "model.safetensors").write_bytes(b"garbage" * 10)
    with pytest.raises(llmkit.CheckpointError):
        llmkit.Client(f"mini:{broken}")


def test_missing_shipped_checkpoint_says_what_to_do(tmp_path, monkeypatch):
    monkeypatch.setattr(mini_backend, "SHIPPED", tmp_path / "weights")
    with pytest.raises(llmkit.CheckpointError) as err:
        llmkit.Client("mini")
    assert "llmkit train --stdlib" in str(err.value)


def test_checkpoint_generation_defaults_apply_unless_the_call_sets_them(tmp_path, random_model, tokenizer):
    from llmkit.mini.checkpoint import save_checkpoint

    path = tmp_path / "greedy-by-default"
    save_checkpoint(path, random_model, tokenizer, metadata={"generation": {"temperature": 0, "bogus": 1}})
    client = llmkit.Client(f"mini:{path}", max_tokens=8)
    greedy = client.complete("The cat sat", temperature=0).text
    assert client.complete("The cat sat").text == greedy  # the checkpoint's default: greedy
    sampled = {client.complete("The cat sat", temperature=1.5, seed=s).text for s in range(4)}
    assert len(sampled) > 1  # the call's own temperature wins
    assert client.backend.sampling_defaults == {"temperature": 0}  # unknown keys in the metadata are ignored


def test_switching_models_ten_times_holds_at_most_one_idle_engine(tmp_path, random_model, tokenizer, monkeypatch):
    """/model back and forth over four checkpoints: the engines of models no longer in
    use are freed (only the most recently released one stays warm), not kept forever."""
    import gc
    import io
    import weakref

    from rich.console import Console

    from llmkit.backends.mini import ENGINES
    from llmkit.conversation import Conversation, open_client
    from llmkit.repl.app import ChatApp
    from llmkit.repl.render import Renderer

    paths = []
    for i in range(4):
        paths.append(tmp_path / f"m{i}")
        save_checkpoint(paths[-1], random_model, tokenizer)
    llmkit.clear_caches()
    from llmkit.mini.engine import MiniEngine

    held_during_loads = []
    real_load = MiniEngine.load.__func__

    def load(cls, path, threads=None):  # what is held while another model loads: the peak
        held_during_loads.append(sum(ENGINES.stats().values()))
        return real_load(cls, path, threads)

    monkeypatch.setattr(MiniEngine, "load", classmethod(load))
    client, _ = open_client(f"mini:{paths[0]}", {"max_tokens": 2})
    app = ChatApp(Conversation(client), reader=None, out=Renderer(Console(file=io.StringIO())),
                  client_kwargs={"max_tokens": 2})
    engines = [weakref.ref(client.backend.engine)]
    del client  # the session holds it now (and closes it on /model)
    for step in range(1, 11):
        app.handle(f"/model mini:{paths[step % 4]}")
        engines.append(weakref.ref(app.conversation.client.backend.engine))
        app.handle("hello")
    gc.collect()
    assert ENGINES.stats() == {"live": 1, "idle": 1}
    assert len(held_during_loads) >= 4 and max(held_during_loads) <= 1  # never more than two at once
    alive = {id(e()) for e in engines if e() is not None}
    assert len(alive) <= 2  # the one in use and the one kept warm: the other eight were freed
    app.conversation.client.close()
    del app
    llmkit.clear_caches()
    gc.collect()
    assert all(e() is None for e in engines)


def test_closing_a_client_releases_its_engine_for_the_next_one(trained):
    from llmkit.backends.mini import ENGINES

    llmkit.clear_caches()
    a = llmkit.Client(f"mini:{trained.path}")
    assert ENGINES.stats() == {"live": 1, "idle": 0}
    engine = a.backend.engine
    a.close()
    assert ENGINES.stats() == {"live": 0, "idle": 1}  # kept warm: the next client reuses it
    b = llmkit.Client(f"mini:{trained.path}")
    assert b.backend.engine is engine and ENGINES.stats() == {"live": 1, "idle": 0}
    del b
    import gc

    gc.collect()  # a client nobody closed releases its engine when it is collected
    assert ENGINES.stats() == {"live": 0, "idle": 1}


def test_a_closed_client_frees_its_engine_and_leases_it_again_when_used(trained):
    import gc
    import weakref

    llmkit.clear_caches()
    client = llmkit.Client(f"mini:{trained.path}", max_tokens=3, temperature=0)
    first = client.complete("def").text
    engine = weakref.ref(client.backend.engine)
    client.close()
    llmkit.clear_caches()
    gc.collect()
    assert engine() is None  # nothing of it is left: the closed client dropped it too
    assert client.complete("def").text == first  # used again: loaded again
