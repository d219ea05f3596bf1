"""llmkit's single retry layer and its fallbacks, against the OpenAI backend with respx:
which failures are retried, how long it waits (Retry-After, jittered backoff), how many
attempts, streams that fail before or after output, and moving on to fallback models."""

import asyncio
import email.utils
import time

import httpx  # httpx2 (see tests/httpx2_alias.py)
import pytest
from openai_payloads import (
    chat_completion,
    chunked_sse_response,
    completion,
    error_response,
    sent_json,
    sse_response,
    text_stream,
)

import llmkit
import llmkit.retry

CHAT = "/chat/completions"


pytestmark = pytest.mark.usefixtures("openai_key")  # conftest: KEY in OPENAI_API_KEY, respx `api`


@pytest.fixture(autouse=True)
def sleeps(no_sleep):
    """Backoff never really sleeps here; the delays asked for are recorded."""
    return no_sleep


def ok(text: str = "fine", model: str = "gpt-4o-mini") -> httpx.Response:
    return httpx.Response(200, json=chat_completion(text, model=model))


def stream_ok(text: str = "streamed") -> httpx.Response:
    return sse_response(text_stream([text]))


def client(model: str = "gpt-4o-mini", **kw) -> llmkit.Client:
    return llmkit.Client(f"openai:{model}", **kw)


# --- 7. retries -----------------------------------------------------------------------------------


def test_429_retry_after_seconds_is_honoured_exactly(api, sleeps):
    route = api.post(CHAT).mock(side_effect=[error_response(429, "rate_limit_exceeded", headers={"Retry-After": "2"}), ok("after wait")])
    r = client().chat("Hello")
    assert r.text == "after wait"
    assert route.call_count == 2
    assert sleeps == [2.0]


def test_429_retry_after_ms_is_honoured(api, sleeps):
    route = api.post(CHAT).mock(
        side_effect=[error_response(429, "rate_limit_exceeded", headers={"retry-after-ms": "1500", "retry-after": "9"}), ok()]
    )
    client().chat("Hello")
    assert route.call_count == 2
    assert sleeps == [1.5]  # the precise header wins


def test_429_retry_after_http_date(api, sleeps):
    when = email.utils.formatdate(time.time() + 30, usegmt=True)
    api.post(CHAT).mock(side_effect=[error_response(429, None, headers={"Retry-After": when}), ok()])
    client().chat("Hello")
    assert len(sleeps) == 1
    assert 27 <= sleeps[0] <= 30


@pytest.mark.parametrize("status", [503, 500, 408])
def test_retry_after_on_server_errors_is_honoured(api, sleeps, status):
    route = api.post(CHAT).mock(side_effect=[error_response(status, headers={"Retry-After": "3"}), ok()])
    client().chat("Hello")
    assert route.call_count == 2
    assert sleeps == [3.0]


def test_retry_after_beyond_the_policy_limit_is_not_waited_on(api, sleeps):
    route = api.post(CHAT).mock(side_effect=[error_response(429, None, headers={"Retry-After": "3600"}), ok()])
    with pytest.raises(llmkit.RateLimitError) as info:
        client(max_retries=3).chat("Hello")
    assert info.value.retry_after == 3600
    assert route.call_count == 1
    assert sleeps == []


def test_5xx_then_success_after_three_retries_with_jittered_exponential_delays(api, sleeps):
    route = api.post(CHAT).mock(
        side_effect=[error_response(500), error_response(502), error_response(503), ok("finally")]
    )
    r = client(max_retries=3).chat("Hello")
    assert r.text == "finally"
    assert route.call_count == 4
    assert len(sleeps) == 3
    base = llmkit.RetryPolicy().base_delay
    for attempt, delay in enumerate(sleeps):
        ceiling = base * 2**attempt
        assert ceiling / 2 <= delay <= ceiling, (attempt, delay)


def test_backoff_doubles_and_is_capped(api, sleeps, monkeypatch):
    asked: list[tuple[float, float]] = []

    class FakeRandom:
        @staticmethod
        def uniform(lo, hi):
            asked.append((lo, hi))
            return hi

    monkeypatch.setattr(llmkit.retry, "random", FakeRandom)
    api.post(CHAT).mock(side_effect=[error_response(503)] * 5 + [ok()])
    policy = llmkit.RetryPolicy(max_retries=5, base_delay=1.0, max_delay=5.0)
    client(retry_policy=policy).chat("Hello")
    assert sleeps == [1.0, 2.0, 4.0, 5.0, 5.0]
    assert asked == [(0.5, 1.0), (1.0, 2.0), (2.0, 4.0), (2.5, 5.0), (2.5, 5.0)]


def test_jitter_spreads_delays(api, sleeps):
    api.post(CHAT).mock(side_effect=[error_response(503), ok()] * 20)
    c = client()
    for _ in range(20):
        c.chat("Hello")
    assert len(sleeps) == 20
    assert all(0.25 <= d <= 0.5 for d in sleeps)
    assert len(set(sleeps)) > 1  # jittered, not a constant


@pytest.mark.parametrize("status", [408, 409, 429, 500, 502, 503, 504])
def test_transient_statuses_are_retried(api, sleeps, status):
    route = api.post(CHAT).mock(side_effect=[error_response(status), ok()])
    assert client().chat("Hello").text == "fine"
    assert route.call_count == 2
    assert len(sleeps) == 1


def test_connection_reset_is_retried(api, sleeps):
    route = api.post(CHAT).mock(side_effect=[httpx.ConnectError("connection reset by peer"), ok("reconnected")])
    assert client().chat("Hello").text == "reconnected"
    assert route.call_count == 2
    assert len(sleeps) == 1


def test_read_timeout_is_retried(api, sleeps):
    route = api.post(CHAT).mock(side_effect=[httpx.ReadTimeout("timed out"), ok("in time")])
    assert client().chat("Hello").text == "in time"
    assert route.call_count == 2
    assert len(sleeps) == 1


@pytest.mark.parametrize("max_retries", [0, 1, 2, 4])
def test_exhausted_retries_raise_with_exact_attempt_count(api, sleeps, max_retries):
    route = api.post(CHAT).mock(return_value=error_response(503, headers={"x-request-id": "req_last"}))
    with pytest.raises(llmkit.ServerError) as info:
        client(max_retries=max_retries).chat("Hello")
    assert route.call_count == max_retries + 1
    assert len(sleeps) == max_retries
    assert info.value.status_code == 503


def test_exhausted_timeouts_raise_timeout_error(api, sleeps):
    route = api.post(CHAT).mock(side_effect=httpx.ReadTimeout("timed out"))
    with pytest.raises(llmkit.APITimeoutError):
        client(max_retries=2).chat("Hello")
    assert route.call_count == 3


@pytest.mark.parametrize(("status", "code"), [(400, None), (401, None), (403, None), (404, "model_not_found"), (400, "context_length_exceeded")])
def test_non_retryable_errors_are_not_retried(api, sleeps, status, code):
    route = api.post(CHAT).mock(side_effect=[error_response(status, code), ok()])
    with pytest.raises(llmkit.APIError):
        client(max_retries=3).chat("Hello")
    assert route.call_count == 1
    assert sleeps == []


def test_complete_is_retried(api, sleeps):
    route = api.post("/completions").mock(side_effect=[error_response(500), httpx.Response(200, json=completion([" mat"]))])
    assert client("gpt-3.5-turbo-instruct").complete("The cat sat on the").text == " mat"
    assert route.call_count == 2


def test_stream_failing_before_output_is_retried(api, sleeps):
    route = api.post(CHAT).mock(side_effect=[error_response(503), stream_ok("second try")])
    s = client().stream("Hello")
    assert [e.text for e in s if e.text] == ["second try"]
    assert route.call_count == 2
    assert len(sleeps) == 1


def test_stream_dropped_before_any_event_is_retried(api, sleeps):
    route = api.post(CHAT).mock(
        side_effect=[chunked_sse_response([], httpx.RemoteProtocolError("reset")), stream_ok("recovered")]
    )
    assert client().stream("Hello").response.text == "recovered"
    assert route.call_count == 2


def test_stream_failing_after_output_is_not_retried(api, sleeps):
    body = text_stream(["partial ", "rest"], finish_reason=None, done=False)
    first = body[: body.index(b"rest")]
    route = api.post(CHAT).mock(
        side_effect=[chunked_sse_response([first], httpx.RemoteProtocolError("reset")), stream_ok("would duplicate")]
    )
    s = llmkit.Client("openai:gpt-4o-mini", max_retries=5, fallbacks=["mock:echo"]).stream("Hello")
    seen = []
    with pytest.raises(llmkit.APIConnectionError):
        for e in s:
            seen.append(e.text)
    assert "".join(seen) == "partial "
    assert route.call_count == 1  # neither retried nor moved to the fallback
    assert sleeps == []


def test_async_chat_retries(api, sleeps):
    route = api.post(CHAT).mock(
        side_effect=[error_response(429, None, headers={"Retry-After": "2"}), httpx.ConnectError("reset"), ok("async ok")]
    )
    r = asyncio.run(client(max_retries=2).achat("Hello"))
    assert r.text == "async ok"
    assert route.call_count == 3
    assert sleeps[0] == 2.0 and len(sleeps) == 2


def test_async_chat_exhausts_retries(api, sleeps):
    route = api.post(CHAT).mock(return_value=error_response(500))
    with pytest.raises(llmkit.ServerError):
        asyncio.run(client(max_retries=1).achat("Hello"))
    assert route.call_count == 2
    assert len(sleeps) == 1


def test_async_stream_retried_only_before_output(api, sleeps):
    route = api.post(CHAT).mock(side_effect=[error_response(502), stream_ok("async stream")])

    async def collect(c):
        return [e.text async for e in c.astream("Hello") if e.text]

    assert asyncio.run(collect(client())) == ["async stream"]
    assert route.call_count == 2

    body = text_stream(["partial ", "rest"], finish_reason=None, done=False)
    first = body[: body.index(b"rest")]
    route.side_effect = [chunked_sse_response([first], httpx.RemoteProtocolError("reset")), stream_ok()]
    route.reset()
    seen: list[str] = []

    async def run():
        async for e in client(max_retries=3).astream("Hello"):
            seen.append(e.text)

    with pytest.raises(llmkit.APIConnectionError):
        asyncio.run(run())
    assert "".join(seen) == "partial "
    assert route.call_count == 1


# --- 8. fallbacks ------------------------------------------------------------------------------------


def test_falls_back_after_retries_are_exhausted(api, sleeps):
    mini = api.post(CHAT, json__model="gpt-4o-mini").mock(return_value=error_response(503))
    big = api.post(CHAT, json__model="gpt-4o").mock(return_value=ok("from 4o", model="gpt-4o-2024-08-06"))
    c = llmkit.Client("openai:gpt-4o-mini", fallbacks=["openai:gpt-4o", "mock:echo"], max_retries=2)
    r = c.chat("Hello")
    assert r.text == "from 4o"
    assert r.model == "openai:gpt-4o"
    assert r.served_model == "gpt-4o-2024-08-06"
    assert mini.call_count == 3  # all its retries first
    assert big.call_count == 1
    assert sent_json(big)["messages"] == [{"role": "user", "content": "Hello"}]
    assert c.model == "openai:gpt-4o-mini"  # the primary stays the primary


def test_server_context_length_error_moves_on_without_retrying(api, sleeps):
    mini = api.post(CHAT, json__model="gpt-4o-mini").mock(return_value=error_response(400, "context_length_exceeded"))
    big = api.post(CHAT, json__model="gpt-4o").mock(return_value=ok("bigger window", model="gpt-4o"))
    r = llmkit.Client("openai:gpt-4o-mini", fallbacks=["openai:gpt-4o"]).chat("Hello")
    assert r.model == "openai:gpt-4o"
    assert mini.call_count == 1 and big.call_count == 1
    assert sleeps == []


@pytest.mark.parametrize(("status", "code", "error_cls"), [(400, None, llmkit.BadRequestError), (401, None, llmkit.AuthenticationError)])
def test_callers_mistakes_do_not_fall_back(api, sleeps, status, code, error_cls):
    mini = api.post(CHAT, json__model="gpt-4o-mini").mock(return_value=error_response(status, code))
    big = api.post(CHAT, json__model="gpt-4o").mock(return_value=ok())
    with pytest.raises(error_cls):
        llmkit.Client("openai:gpt-4o-mini", fallbacks=["openai:gpt-4o", "mock:echo"]).chat("Hello")
    assert mini.call_count == 1
    assert not big.called


def test_local_context_overflow_moves_on_to_a_fallback(api, sleeps):
    route = api.post(CHAT).mock(return_value=ok("fallback answered", model="gpt-4o"))
    c = llmkit.Client("openai:gpt-4o-mini", fallbacks=["openai:gpt-4o"], context_window=5)
    r = c.chat("this prompt is far longer than five tokens, surely")
    assert r.model == "openai:gpt-4o"
    assert route.call_count == 1
    assert sent_json(route)["model"] == "gpt-4o"  # nothing was sent for the primary


def test_local_context_overflow_without_fallback_is_raised_unsent(api):
    route = api.post(CHAT).mock(return_value=ok())
    with pytest.raises(llmkit.ContextLengthError):
        llmkit.Client("openai:gpt-4o-mini", context_window=5).chat("this prompt is far longer than five tokens")
    assert not route.called


def test_falls_back_to_mock_echo(api, sleeps):
    route = api.post(CHAT).mock(return_value=error_response(503))
    c = llmkit.Client("openai:gpt-4o-mini", fallbacks=["openai:gpt-4o", "mock:echo"], max_retries=1)
    r = c.chat("echo me")
    assert r.model == "mock:echo"
    assert r.text == "echo me"
    assert route.call_count == 4  # two models, two attempts each
    assert [sent_json(call.request)["model"] for call in route.calls] == ["gpt-4o-mini"] * 2 + ["gpt-4o"] * 2


def test_all_candidates_failing_raises_the_last_error_naming_what_was_tried(api, sleeps):
    api.post(CHAT).mock(return_value=error_response(503))
    c = llmkit.Client("openai:gpt-4o-mini", fallbacks=["openai:gpt-4o"], max_retries=0)
    with pytest.raises(llmkit.ServerError) as info:
        c.chat("Hello")
    assert info.value.model == "openai:gpt-4o"
    assert "tried in order: openai:gpt-4o-mini, openai:gpt-4o" in str(info.value)


def test_stream_falls_back_before_output(api, sleeps):
    api.post(CHAT, json__model="gpt-4o-mini").mock(return_value=error_response(503))
    api.post(CHAT, json__model="gpt-4o").mock(side_effect=lambda request: stream_ok("fallback stream"))
    s = llmkit.Client("openai:gpt-4o-mini", fallbacks=["openai:gpt-4o"], max_retries=0).stream("Hello")
    events = list(s)
    assert {e.model for e in events} == {"openai:gpt-4o"}
    assert s.response.text == "fallback stream"
    assert s.response.model == "openai:gpt-4o"


def test_async_falls_back(api, sleeps):
    mini = api.post(CHAT, json__model="gpt-4o-mini").mock(return_value=error_response(500))
    api.post(CHAT, json__model="gpt-4o").mock(return_value=ok("async fallback", model="gpt-4o"))
    r = asyncio.run(llmkit.Client("openai:gpt-4o-mini", fallbacks=["openai:gpt-4o"], max_retries=1).achat("Hi"))
    assert r.model == "openai:gpt-4o"
    assert r.text == "async fallback"
    assert mini.call_count == 2


def test_async_stream_falls_back_to_mock(api, sleeps):
    api.post(CHAT).mock(return_value=error_response(503))

    async def run():
        s = llmkit.Client("openai:gpt-4o-mini", fallbacks=["mock:echo"], max_retries=0).astream("say this")
        texts = [e.text async for e in s]
        return "".join(texts), await s.get_response()

    text, r = asyncio.run(run())
    assert text == "say this"
    assert r.model == "mock:echo"
