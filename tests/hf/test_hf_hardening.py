"""Local models under hostile use (issue 14): async readers that are cancelled, streams
left unread while another thread wants the model, integer sampling options, empty and
invalid prompts."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

pytest.importorskip("transformers")

import llmkit  # noqa: E402
from llmkit.backends import hf_engine, hf_hooks  # noqa: E402


@pytest.fixture
def roomy(long_context_dir):
    return llmkit.Client(f"hf:{long_context_dir}", threads=1)


def _cancelled_astream(client, **options) -> BaseException | None:
    async def consume():
        async for _ in client.astream("hi", **options):
            pass

    async def go():
        try:
            await asyncio.wait_for(consume(), 0.3)
        except BaseException as exc:  # noqa: BLE001 (what the caller sees is the point)
            return exc
        return None

    return asyncio.run(go())


def test_cancelling_an_hf_astream_stops_generation_and_frees_the_model(roomy):
    error = _cancelled_astream(roomy, max_tokens=2000, temperature=0)
    assert isinstance(error, asyncio.TimeoutError), repr(error)  # not "generator already executing"
    started = time.monotonic()
    assert roomy.chat("x", max_tokens=2).text is not None
    assert time.monotonic() - started < 1.5  # the abandoned generation is not still holding the lock


def test_cancelling_a_mini_astream_is_clean():
    error = _cancelled_astream(llmkit.Client("mini"), max_tokens=200, temperature=0)
    assert error is None or isinstance(error, asyncio.TimeoutError), repr(error)


def test_an_unread_stream_gives_the_model_back_and_resumes_where_it_was(roomy, monkeypatch):
    monkeypatch.setattr(hf_hooks, "IDLE", 0.2)
    whole = roomy.chat("hi", max_tokens=600, temperature=0)
    stream = roomy.stream("hi", max_tokens=600, temperature=0)
    events = iter(stream)
    next(events)  # started, then neither finished nor closed
    waited = []
    other = threading.Thread(target=lambda: (t := time.monotonic(), roomy.chat("x", max_tokens=2),
                                             waited.append(time.monotonic() - t)))  # fmt: skip
    other.start()
    other.join(30)
    assert waited and waited[0] < 3, waited  # not the whole 600 tokens' time
    for _ in events:  # read again: it goes on from where it paused
        pass
    assert stream.response.text == whole.text and stream.response.finish_reason == whole.finish_reason
    assert stream.response.usage.output_tokens == whole.usage.output_tokens


def test_a_constrained_stream_resumed_after_a_pause_still_fits_its_schema(roomy, monkeypatch):
    monkeypatch.setattr(hf_engine, "AHEAD", 2)
    monkeypatch.setattr(hf_hooks, "IDLE", 0.05)
    schema = {"type": "object", "properties": {"n": {"type": "integer"}, "s": {"type": "string", "maxLength": 30}},
              "required": ["n", "s"]}  # fmt: skip
    whole = roomy.chat("hi", response_format=schema, max_tokens=80, temperature=0)
    text = []
    for event in roomy.stream("hi", response_format=schema, max_tokens=80, temperature=0):
        text.append(event.text)
        time.sleep(0.12)  # a slow reader: generation pauses between its reads
    assert "".join(text) == whole.text


def test_integer_temperature_and_penalty_work(tiny):
    assert isinstance(tiny.chat("hi", temperature=2, repetition_penalty=2, max_tokens=3, seed=1).text, str)
    assert isinstance(tiny.complete("hi", temperature=1, top_p=1, max_tokens=3, seed=1).text, str)


def test_an_empty_completion_prompt_starts_from_the_start_token(tiny):
    r = tiny.complete("", max_tokens=3, temperature=0)
    assert r.usage.output_tokens >= 1 and r.usage.input_tokens == 1
    assert len(tiny.complete_batch(["", "The cat"], max_tokens=2, temperature=0)) == 2
    assert "".join(e.text for e in tiny.stream([{"role": "user", "content": ""}], max_tokens=2)) is not None


def test_a_lone_surrogate_is_an_invalid_option_not_a_type_error(tiny):
    for call in (lambda: tiny.chat("caf\udce9"), lambda: tiny.complete("\ud800"), lambda: tiny.embed("\udfff"),
                 lambda: tiny.count_tokens("x\udc80")):  # fmt: skip
        with pytest.raises(llmkit.InvalidOptionError, match="surrogate"):
            call()


def test_an_empty_stop_string_is_refused_by_hf_and_mini_alike(tiny):
    for client in (tiny, llmkit.Client("mini")):
        for stop in ("", [""], ["ok", ""]):
            with pytest.raises(llmkit.InvalidOptionError, match="stop"):
                client.complete("x", stop=stop, max_tokens=2)
            with pytest.raises(llmkit.InvalidOptionError, match="stop"):
                client.chat_batch(["x"], stop=stop, max_tokens=2)
