"""A faulty server, for real, over loopback (llmkit.testing.openai_server): a body
dripped a byte at a time, a stream that never ends, replies of the wrong shape, request
headers echoed back in errors, nonsense Retry-After values, and many client set-ups.
Every fault ends in an llmkit error that says what happened, within the time asked for,
and shows no secret."""

import asyncio
import gc
import itertools
import json
import logging
import os
import time

import pytest

import llmkit
from llmkit.testing.openai_server import OpenAICompatibleServer, Reply

# --- slow drip and never-ending streams: `timeout` is a total deadline ------------------

SLOW = Reply(text="word " * 60, drip=0.05)  # ~20 s to send, never silent for 0.1 s
DEADLINE = 1.0
ALLOWED = 2.5  # the deadline plus a loaded machine's slack (today's code: > 15 s)


def _chunk(text: str) -> bytes:
    data = {"id": "c", "object": "chat.completion.chunk", "created": 0, "model": "m",
            "choices": [{"index": 0, "delta": {"content": text}, "finish_reason": None}]}  # fmt: skip
    return b"data: " + json.dumps(data).encode() + b"\n\n"


def endless() -> Reply:
    return Reply(sse=itertools.cycle([_chunk("more ")]))  # a stream that never finishes


def _timed(fn):
    started = time.monotonic()
    with pytest.raises(llmkit.APITimeoutError) as info:
        fn()
    return time.monotonic() - started, info.value


@pytest.fixture
def faulty():
    with OpenAICompatibleServer() as s:
        yield s


def test_slow_drip_chat_ends_at_the_deadline_retries_included(faulty):
    faulty.script(SLOW, SLOW, SLOW)
    client = llmkit.Client("openai:m", base_url=faulty.base_url)  # max_retries=2: the deadline covers them all
    took, error = _timed(lambda: client.chat("hi", timeout=DEADLINE))
    assert took < ALLOWED, took
    assert "timeout" in error.message and "deadline" in error.message


def test_slow_drip_with_timeout_as_a_setting(faulty):
    faulty.script(SLOW)
    client = llmkit.Client("openai:m", base_url=faulty.base_url, timeout=DEADLINE, max_retries=0)
    took, _ = _timed(lambda: client.chat("hi"))
    assert took < ALLOWED, took


def test_slow_drip_stream_and_never_ending_stream_end_at_the_deadline(faulty):
    client = llmkit.Client("openai:m", base_url=faulty.base_url, max_retries=0)
    faulty.script(Reply(text="a b c d e f g h", drip=0.05))
    took, _ = _timed(lambda: list(client.stream("hi", timeout=DEADLINE)))
    assert took < ALLOWED, took
    faulty.script(endless())
    stream = client.stream("hi", timeout=DEADLINE)
    took, _ = _timed(lambda: [None for _ in stream])
    assert took < ALLOWED, took
    assert stream.text.startswith("more more")  # what arrived is kept


def test_slow_drip_achat_and_astream_end_at_the_deadline(faulty):
    client = llmkit.Client("openai:m", base_url=faulty.base_url, max_retries=0)

    async def achat():
        return await client.achat("hi", timeout=DEADLINE)

    async def astream():
        return [e async for e in client.astream("hi", timeout=DEADLINE)]

    faulty.script(SLOW)
    took, _ = _timed(lambda: asyncio.run(achat()))
    assert took < ALLOWED, took
    faulty.script(endless())
    took, _ = _timed(lambda: asyncio.run(astream()))
    assert took < ALLOWED, took


def test_a_timeout_of_inf_means_no_deadline(faulty):
    client = llmkit.Client("openai:m", base_url=faulty.base_url, timeout=float("inf"))
    assert client.chat("hi").text == "Echo: hi"
    assert client.chat("hi", timeout=float("inf")).text == "Echo: hi"


# --- replies of the wrong shape: MalformedResponseError, never AttributeError -----------

OK = {"id": "x", "object": "chat.completion", "created": 0, "model": "m",
      "choices": [{"index": 0, "message": {"role": "assistant", "content": "hi"}, "finish_reason": "stop"}],
      "usage": {"prompt_tokens": 1, "completion_tokens": 1}}  # fmt: skip


def _with(**fields):
    return {**json.loads(json.dumps(OK)), **fields}


def _choice(**fields):
    return _with(choices=[{"index": 0, "finish_reason": "stop", **fields}])


WRONG_REPLIES = {
    "choices [null]": _with(choices=[None]),
    "choices not a list": _with(choices={"a": 1}),
    "a choice without message": _choice(),
    "message not an object": _choice(message="hi"),
    "content 5": _choice(message={"role": "assistant", "content": 5}),
    "usage 'x'": _with(usage="x"),
    "negative usage": _with(usage={"prompt_tokens": -1, "completion_tokens": 1}),
    "usage of floats": _with(usage={"prompt_tokens": 1.5, "completion_tokens": 1}),
    "tool call named null": _choice(message={"role": "assistant", "content": None, "tool_calls": [
        {"id": "a", "type": "function", "function": {"name": None, "arguments": "{}"}}]}),
    "tool_calls 'x'": _choice(message={"role": "assistant", "content": None, "tool_calls": "x"}),
    "tool call arguments 5": _choice(message={"role": "assistant", "content": None, "tool_calls": [
        {"id": "a", "type": "function", "function": {"name": "f", "arguments": 5}}]}),
    "finish_reason 5": _with(choices=[{"index": 0, "message": {"role": "assistant", "content": "x"}, "finish_reason": 5}]),
    "index 'a'": _with(choices=[{"index": "a", "message": {"role": "assistant", "content": "x"}, "finish_reason": "stop"}]),
    "a list": [],
    "null": None,
}  # fmt: skip


@pytest.mark.parametrize("body", WRONG_REPLIES.values(), ids=WRONG_REPLIES.keys())
def test_chat_replies_of_the_wrong_shape_are_malformed_response_errors(faulty, body):
    faulty.script(Reply(body=json.dumps(body).encode()))
    client = llmkit.Client("openai:m", base_url=faulty.base_url, max_retries=0)
    with pytest.raises(llmkit.MalformedResponseError) as info:
        client.chat("hi")
    assert info.value.retryable  # another try may get a good reply
    assert info.value.hint


def test_a_malformed_reply_is_retried(faulty, no_sleep):
    faulty.script(Reply(body=json.dumps(_with(choices=[None])).encode()), Reply(text="fine"))
    assert llmkit.Client("openai:m", base_url=faulty.base_url).chat("hi").text == "fine"
    assert len(faulty.requests) == 2


def _chunk_with(**fields) -> bytes:
    data = {"id": "c", "object": "chat.completion.chunk", "created": 0, "model": "m", **fields}
    return b"data: " + json.dumps(data).encode() + b"\n\n"


WRONG_CHUNKS = {
    "choices [null]": _chunk_with(choices=[None]),
    "choices 'x'": _chunk_with(choices="x"),
    "delta 'x'": _chunk_with(choices=[{"index": 0, "delta": "x", "finish_reason": None}]),
    "content 5": _chunk_with(choices=[{"index": 0, "delta": {"content": 5}, "finish_reason": None}]),
    "tool_calls [null]": _chunk_with(choices=[{"index": 0, "delta": {"tool_calls": [None]}, "finish_reason": None}]),
    "usage 'x'": _chunk_with(choices=[], usage="x"),
    "negative usage": _chunk_with(choices=[], usage={"prompt_tokens": 1, "completion_tokens": -4}),
    "a list": b"data: []\n\n",
    "a number": b"data: 5\n\n",
}  # fmt: skip


@pytest.mark.parametrize("chunk", WRONG_CHUNKS.values(), ids=WRONG_CHUNKS.keys())
def test_stream_chunks_of_the_wrong_shape_are_malformed_stream_errors(faulty, chunk):
    faulty.script(Reply(sse=[chunk, _chunk_with(choices=[{"index": 0, "delta": {}, "finish_reason": "stop"}]),
                             b"data: [DONE]\n\n"]))  # fmt: skip
    client = llmkit.Client("openai:m", base_url=faulty.base_url, max_retries=0)
    with pytest.raises(llmkit.MalformedStreamError):
        list(client.stream("hi"))


WRONG_EMBEDDINGS = {
    "data [null]": b'{"object": "list", "model": "m", "data": [null]}',
    "data 'x'": b'{"object": "list", "model": "m", "data": "x"}',
    "NaN": b'{"object": "list", "model": "m", "data": [{"index": 0, "embedding": [NaN, 1.0]}]}',
    "Infinity": b'{"object": "list", "model": "m", "data": [{"index": 0, "embedding": [Infinity, 1.0]}]}',
    "strings": b'{"object": "list", "model": "m", "data": [{"index": 0, "embedding": ["a", "b"]}]}',
    "negative usage": b'{"object": "list", "model": "m", "data": [{"index": 0, "embedding": [1.0]}],'
                      b' "usage": {"prompt_tokens": -3}}',
}  # fmt: skip


@pytest.mark.parametrize("body", WRONG_EMBEDDINGS.values(), ids=WRONG_EMBEDDINGS.keys())
def test_embeddings_of_the_wrong_shape_are_malformed_response_errors(faulty, body):
    faulty.script(Reply(body=body))
    with pytest.raises(llmkit.MalformedResponseError):
        llmkit.Client("openai:m", base_url=faulty.base_url, max_retries=0).embed("hi")


# --- secrets echoed back -----------------------------------------------------------------

HEADER_SECRET = "corp7Token4815162342"  # no "key-like" shape: only being remembered hides it
EXTRA_SECRET = "perCallValue99887766"


def _everything(exc: BaseException) -> str:
    import traceback

    parts = [str(exc), repr(exc), exc.one_line() if isinstance(exc, llmkit.LLMKitError) else "",
             "".join(traceback.format_exception(exc))]  # fmt: skip
    return "\n".join(parts + [str(getattr(exc, a, "")) for a in ("message", "hint", "code", "request_id")])


def _sent(server) -> dict[str, str]:
    return {k.lower(): v for k, v in server.requests[-1]["headers"].items()}


def test_header_values_echoed_by_a_server_never_show(faulty):
    faulty.script(Reply(status=400, echo_headers=True), Reply(status=400, echo_headers=True))
    client = llmkit.Client("openai:m", base_url=faulty.base_url, headers={"X-Corp-Auth": HEADER_SECRET})
    with pytest.raises(llmkit.BadRequestError) as info:
        client.chat("hi")
    assert _sent(faulty)["x-corp-auth"] == HEADER_SECRET  # it was sent
    assert "x-corp-auth" in str(info.value).lower()  # the echo came back: only the value is hidden
    assert HEADER_SECRET not in _everything(info.value)
    with pytest.raises(llmkit.BadRequestError) as info:
        client.chat("hi", extra_headers={"X-Session": EXTRA_SECRET})
    assert _sent(faulty)["x-session"] == EXTRA_SECRET
    assert EXTRA_SECRET not in _everything(info.value)


def test_url_credentials_never_reach_a_log_line_or_an_error(faulty, caplog):
    caplog.set_level(logging.DEBUG)
    for name in ("llmkit", "openai", "httpx", "httpx2", "httpcore", "httpcore2"):
        caplog.set_level(logging.DEBUG, logger=name)
    url = faulty.base_url.replace("http://", "http://bob:hunter2pass@")
    client = llmkit.Client("openai:m", base_url=url, max_retries=0)
    assert client.chat("hi").text == "Echo: hi"
    assert _sent(faulty)["authorization"].startswith("Basic ")  # still sent, as HTTP does
    faulty.script(Reply(status=401, echo_headers=True))
    with pytest.raises(llmkit.AuthenticationError) as info:
        client.chat("hi")
    text = caplog.text + "\n".join(repr(r.__dict__) for r in caplog.records)
    assert "HTTP Request" in text  # the INFO line was there
    assert "hunter2pass" not in text and "Ym9iOmh1bnRlcjJwYXNz" not in text  # nor its Basic form
    assert "hunter2pass" not in _everything(info.value) and "Ym9iOmh1bnRlcjJwYXNz" not in _everything(info.value)


# --- Retry-After nonsense ----------------------------------------------------------------


@pytest.mark.parametrize("value", ["-5", "nan", "inf", "-inf", "1e999", "soon"])
def test_nonsense_retry_after_falls_back_to_backoff(faulty, no_sleep, value):
    faulty.script(Reply(status=503, headers={"retry-after": value}), Reply(status=503, headers={"retry-after-ms": value}),
                  Reply(text="ok"))  # fmt: skip
    assert llmkit.Client("openai:m", base_url=faulty.base_url).chat("hi").text == "ok"
    assert len(no_sleep) == 2 and all(0 < d <= 20 for d in no_sleep), no_sleep


# --- many client set-ups: bounded, owned, released ------------------------------------------


def _open_files() -> int:
    return len(os.listdir("/proc/self/fd"))


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="counts open files through /proc")
def test_many_distinct_clients_hold_a_bounded_number_of_connections(faulty):
    llmkit.clear_caches()
    gc.collect()
    before = _open_files()
    for i in range(40):  # each its own key: its own SDK client
        client = llmkit.Client("openai:m", base_url=faulty.base_url, api_key=f"key{i:03d}xyzxyzxyz", max_retries=0)
        client.chat("hi")
        client.close()

    async def many():
        for i in range(40):
            client = llmkit.Client("openai:m", base_url=faulty.base_url, timeout=10 + i)
            await client.achat("hi")
            client.close()
        await asyncio.sleep(0.1)  # the closes run on the loop

    asyncio.run(many())
    for i in range(20):  # each on its own event loop, never closed by the caller
        client = llmkit.Client("openai:m", base_url=faulty.base_url, timeout=100 + i)
        asyncio.run(client.achat("hi"))
    del client
    gc.collect()
    assert _open_files() - before <= 24, _open_files() - before  # the sync cache keeps 8 (2 files each)
    llmkit.clear_caches()
