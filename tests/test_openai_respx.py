"""The OpenAI backend end to end through the real SDK, with the HTTP layer mocked by respx:
request bodies, responses, streaming (byte-level SSE), async, tools, structured output,
legacy completions, error mapping and input validation."""

import asyncio
import json
from typing import Literal

import httpx  # httpx2 (see tests/httpx2_alias.py)
import pydantic
import pytest
import respx
from openai_payloads import (
    API,
    KEY,
    chat_completion,
    chunk,
    chunked_sse_response,
    completion,
    error_response,
    sent_json,
    split_inside,
    sse,
    sse_response,
    text_stream,
    tool_call,
    tool_delta,
    usage_chunk,
)

import llmkit
import llmkit.retry

CHAT = "/chat/completions"


pytestmark = pytest.mark.usefixtures("openai_key")  # conftest: KEY in OPENAI_API_KEY, respx `api`


@pytest.fixture(autouse=True)
def sleeps(no_sleep):
    """Backoff never really sleeps here; the delays asked for are recorded."""
    return no_sleep


def client(model: str = "gpt-4o-mini", **kw) -> llmkit.Client:
    return llmkit.Client(f"openai:{model}", **kw)


# --- 1. non-streaming chat ------------------------------------------------------------


def test_chat_returns_text_finish_reason_usage_cost_and_served_model(api):
    api.post(CHAT).respond(200, json=chat_completion("Hi there!", prompt_tokens=1000, completion_tokens=2000))
    r = client().chat("Hello")
    assert r.text == "Hi there!"
    assert r.texts == ["Hi there!"]
    assert r.finish_reason == "stop"
    assert (r.usage.input_tokens, r.usage.output_tokens) == (1000, 2000)
    assert r.usage.total_tokens == 3000
    assert r.usage.estimated is False
    # gpt-4o-mini: $0.15 per 1M input tokens, $0.60 per 1M output tokens
    assert r.usage.cost == pytest.approx((1000 * 0.15 + 2000 * 0.60) / 1e6)
    assert r.served_model == "gpt-4o-mini-2024-07-18"
    assert r.model == "openai:gpt-4o-mini"
    assert r.id == "chatcmpl-123"
    assert r.tool_calls == []


def test_chat_sends_messages_as_openai_dicts_and_maps_options(api):
    route = api.post(CHAT).respond(200, json=chat_completion())
    conversation = [
        llmkit.system("Be brief."),
        {"role": "user", "content": "What is 2+2?"},
        llmkit.assistant(None, [llmkit.ToolCall("call_1", "add", '{"a": 2, "b": 2}')]),
        llmkit.tool_result("4", "call_1"),
    ]
    client().chat(conversation, stop="END", max_tokens=50, temperature=0, seed=7)
    body = sent_json(route)
    assert body["model"] == "gpt-4o-mini"
    assert body["messages"] == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "What is 2+2?"},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [{"id": "call_1", "type": "function", "function": {"name": "add", "arguments": '{"a": 2, "b": 2}'}}],
        },
        {"role": "tool", "content": "4", "tool_call_id": "call_1"},
    ]
    assert body["stop"] == ["END"]  # a single stop string goes out as a list
    assert body["max_tokens"] == 50
    assert "max_completion_tokens" not in body
    assert body["temperature"] == 0
    assert body["seed"] == 7
    assert "stream" not in body
    request = route.calls.last.request
    assert request.headers["authorization"] == f"Bearer {KEY}"
    assert request.url == f"{API}{CHAT}"


def test_client_defaults_are_sent_and_per_call_options_override_them(api):
    route = api.post(CHAT).respond(200, json=chat_completion())
    c = client(temperature=0.3, max_tokens=20)
    c.chat("a", max_tokens=5)
    body = sent_json(route)
    assert (body["temperature"], body["max_tokens"]) == (0.3, 5)
    c.chat("b", stop=["x", "y"])
    body = sent_json(route)
    assert (body["temperature"], body["max_tokens"], body["stop"]) == (0.3, 20, ["x", "y"])


@pytest.mark.parametrize("model", ["o3-mini", "o1", "gpt-5-mini"])
def test_official_reasoning_models_get_max_completion_tokens(api, model):
    route = api.post(CHAT).respond(200, json=chat_completion(model=model))
    client(model).chat("Think", max_tokens=64)
    body = sent_json(route)
    assert body["max_completion_tokens"] == 64
    assert "max_tokens" not in body


def test_compatible_servers_keep_max_tokens_even_for_reasoning_names():
    with respx.mock(base_url="http://testserver/v1") as mock:
        route = mock.post(CHAT).respond(200, json=chat_completion(model="o3-mini"))
        client("o3-mini", base_url="http://testserver/v1").chat("Think", max_tokens=64)
    body = sent_json(route)
    assert body["max_tokens"] == 64
    assert "max_completion_tokens" not in body


def test_n_2_gives_texts_in_choice_order(api):
    # choices out of order on the wire: texts follow their index
    payload = chat_completion(texts=["first", "second"])
    payload["choices"].reverse()
    route = api.post(CHAT).respond(200, json=payload)
    r = client().chat("Two answers", n=2)
    assert sent_json(route)["n"] == 2
    assert r.texts == ["first", "second"]
    assert r.text == "first"


def test_compatible_server_without_usage_counts_locally_and_prices_nothing():
    with respx.mock(base_url="http://testserver/v1") as mock:
        mock.post(CHAT).respond(200, json=chat_completion("four words right here", usage=False, model="qwen"))
        r = client("gpt-4o-mini", base_url="http://testserver/v1").chat("Hello")
    assert r.usage.estimated is True
    assert r.usage.output_tokens > 0 and r.usage.input_tokens > 0
    assert r.usage.cost is None  # not OpenAI's price list on someone else's server


def test_reply_without_choices_is_a_malformed_response(api):
    payload = chat_completion()
    payload["choices"] = []
    api.post(CHAT).respond(200, json=payload)
    with pytest.raises(llmkit.MalformedResponseError):
        client(max_retries=0).chat("Hello")


# --- 2. streaming ------------------------------------------------------------------------


def test_stream_yields_text_deltas_and_sends_stream_options(api):
    route = api.post(CHAT).respond(200, content=text_stream(["Hel", "lo", " world"]), headers={"content-type": "text/event-stream"})
    s = client().stream("Hi")
    texts = [e.text for e in s if e.text]
    assert texts == ["Hel", "lo", " world"]
    assert s.done
    assert s.response.text == "Hello world"
    assert s.response.finish_reason == "stop"
    assert s.response.model == "openai:gpt-4o-mini"
    body = sent_json(route)
    assert body["stream"] is True
    assert body["stream_options"] == {"include_usage": True}


def test_stream_usage_setting_off_sends_no_stream_options(api):
    route = api.post(CHAT).mock(return_value=sse_response(text_stream(["ok"])))
    client(stream_usage=False).stream("Hi").response  # noqa: B018
    assert "stream_options" not in sent_json(route)


def test_streamed_usage_lands_in_response(api):
    api.post(CHAT).mock(return_value=sse_response(text_stream(["a", "b"], usage=(100, 200))))
    s = client().stream("Hi")
    r = s.response
    assert (r.usage.input_tokens, r.usage.output_tokens) == (100, 200)
    assert r.usage.cost == pytest.approx((100 * 0.15 + 200 * 0.60) / 1e6)
    assert r.text == "ab"


def _cuts(text: str) -> list[tuple[str, int]]:
    """Every byte offset into `text` that falls inside one character's UTF-8 sequence."""
    out, start = [], 0
    for ch in text:
        size = len(ch.encode("utf-8"))
        out += [(text, start + i) for i in range(1, size)]
        start += size
    return out


@pytest.mark.parametrize(("needle", "offset"), _cuts("é") + _cuts("日本") + _cuts("🙂"))
def test_multibyte_character_split_across_chunks_reassembles(api, needle, offset):
    body = text_stream(["caf", f"<{needle}>", " ok"])
    chunks = split_inside(body, needle, offset)
    with pytest.raises(UnicodeDecodeError):
        chunks[0].decode("utf-8")  # the cut really is inside the character
    response = chunked_sse_response(chunks)
    api.post(CHAT).mock(return_value=response)
    s = client().stream("Hi")
    texts = [e.text for e in s if e.text]
    assert texts == ["caf", f"<{needle}>", " ok"]
    assert s.response.text == f"caf<{needle}> ok"
    assert response.stream.delivered == 2  # it came as two separate network reads


def test_stream_delivered_one_byte_at_a_time(api):
    pieces = ["Grüße ", "aus ", "東京 ", "👋🏽", "!"]
    body = text_stream(pieces, usage=(3, 5))
    api.post(CHAT).mock(side_effect=lambda request: chunked_sse_response([body[i : i + 1] for i in range(len(body))]))
    s = client().stream("Hi")
    assert [e.text for e in s if e.text] == pieces
    assert s.response.usage.output_tokens == 5


def test_missing_done_with_finish_reason_is_fine(api):
    api.post(CHAT).mock(return_value=sse_response(text_stream(["all", " here"], done=False)))
    s = client().stream("Hi")
    assert s.response.text == "all here"
    assert s.response.finish_reason == "stop"


def test_missing_done_and_finish_reason_is_a_malformed_stream(api):
    route = api.post(CHAT).mock(return_value=sse_response(text_stream(["cut", " off"], finish_reason=None, done=False)))
    s = client().stream("Hi")
    seen = []
    with pytest.raises(llmkit.MalformedStreamError):
        for e in s:
            seen.append(e.text)
    assert "".join(seen) == "cut off"  # what arrived was delivered first
    assert route.call_count == 1  # output had begun: not retried


@pytest.mark.parametrize(
    ("code", "error_cls"),
    [("server_error", llmkit.ServerError), ("context_length_exceeded", llmkit.ContextLengthError), (None, llmkit.ServerError)],
)
def test_error_event_mid_stream_raises_api_error(api, code, error_cls):
    events = [
        chunk("", role="assistant"),
        chunk("partial"),
        {"error": {"message": "The server had an error", "type": "server_error", "code": code}},
    ]
    route = api.post(CHAT).mock(side_effect=lambda request: sse_response(sse(events)))
    s = client().stream("Hi")
    seen = []
    with pytest.raises(llmkit.APIError) as info:
        for e in s:
            seen.append(e.text)
    assert type(info.value) is error_cls
    assert "partial" in seen
    assert route.call_count == 1


def test_dropped_connection_mid_stream_raises_connection_error_after_first_events(api):
    body = text_stream(["one ", "two ", "three"], finish_reason=None, done=False)
    first = body[: body.index(b"two")]  # the connection dies before "two" arrives
    route = api.post(CHAT).mock(
        side_effect=lambda request: chunked_sse_response([first], httpx.RemoteProtocolError("peer closed connection"))
    )
    s = client().stream("Hi")
    seen = []
    with pytest.raises(llmkit.APIConnectionError):
        for e in s:
            seen.append(e.text)
    assert "".join(seen) == "one "
    assert s.text == "one "
    assert route.call_count == 1


def test_leaving_a_stream_early_closes_the_http_response(api):
    body = text_stream([f"w{i} " for i in range(50)])
    response = chunked_sse_response([body[i : i + 40] for i in range(0, len(body), 40)])
    api.post(CHAT).mock(return_value=response)
    with client().stream("Hi") as s:
        for event in s:
            if event.text:
                break
    assert response.stream.closed
    assert response.stream.delivered < len(response.stream.chunks)  # the rest was never read
    assert s.text == "w0 "


def test_invalid_json_in_stream_is_a_malformed_stream(api):
    body = sse([chunk("ok")], done=False) + b"data: {not json\n\n"
    api.post(CHAT).mock(return_value=sse_response(body))
    with pytest.raises(llmkit.MalformedStreamError):
        list(client().stream("Hi"))


def test_stream_request_rejected_before_output_maps_the_error(api):
    api.post(CHAT).mock(return_value=error_response(401, "invalid_api_key"))
    with pytest.raises(llmkit.AuthenticationError) as info:
        list(client().stream("Hi"))
    assert info.value.status_code == 401


# --- 3. async ------------------------------------------------------------------------------


def test_achat(api):
    route = api.post(CHAT).respond(200, json=chat_completion("async hello", prompt_tokens=4, completion_tokens=2))
    r = asyncio.run(client().achat("Hello", max_tokens=9))
    assert r.text == "async hello"
    assert r.model == "openai:gpt-4o-mini"
    assert (r.usage.input_tokens, r.usage.output_tokens) == (4, 2)
    assert sent_json(route)["max_tokens"] == 9


def test_astream_with_split_multibyte_and_usage(api):
    body = text_stream(["日本", "語"], usage=(7, 2))
    chunks = split_inside(body, "日本", 4)
    api.post(CHAT).mock(side_effect=lambda request: chunked_sse_response(chunks))

    async def run():
        s = client().astream("Hi")
        texts = [e.text async for e in s if e.text]
        return texts, await s.get_response()

    texts, r = asyncio.run(run())
    assert texts == ["日本", "語"]
    assert r.text == "日本語"
    assert (r.usage.input_tokens, r.usage.output_tokens) == (7, 2)
    assert r.model == "openai:gpt-4o-mini"


def test_astream_dropped_connection_raises_after_first_events(api):
    body = text_stream(["one ", "two"], finish_reason=None, done=False)
    first = body[: body.index(b"two")]
    route = api.post(CHAT).mock(side_effect=lambda request: chunked_sse_response([first], httpx.RemoteProtocolError("gone")))

    async def run():
        seen = []
        with pytest.raises(llmkit.APIConnectionError):
            async for e in client().astream("Hi"):
                seen.append(e.text)
        return seen

    assert "".join(asyncio.run(run())) == "one "
    assert route.call_count == 1


def test_astream_missing_finish_reason_is_malformed(api):
    api.post(CHAT).mock(side_effect=lambda request: sse_response(text_stream(["x"], finish_reason=None, done=False)))

    async def run():
        async for _ in client().astream("Hi"):
            pass

    with pytest.raises(llmkit.MalformedStreamError):
        asyncio.run(run())


# --- 4. tools and structured output --------------------------------------------------------------


def get_weather(city: str, unit: Literal["C", "F"] = "C") -> str:
    """Current weather in a city."""
    return f"12 {unit} in {city}"


def test_function_tool_becomes_json_schema_in_request(api):
    route = api.post(CHAT).respond(200, json=chat_completion())
    client().chat("Weather in Oslo?", tools=[get_weather], tool_choice="get_weather")
    body = sent_json(route)
    (tool,) = body["tools"]
    assert tool["type"] == "function"
    fn = tool["function"]
    assert fn["name"] == "get_weather"
    assert fn["description"] == "Current weather in a city."
    params = fn["parameters"]
    assert params["type"] == "object"
    assert params["required"] == ["city"]
    assert params["properties"]["city"]["type"] == "string"
    assert params["properties"]["unit"]["enum"] == ["C", "F"]
    assert params["properties"]["unit"]["default"] == "C"
    assert body["tool_choice"] == {"type": "function", "function": {"name": "get_weather"}}


def get_time(city: "str", fmt: "Literal['12h', '24h']" = "24h") -> "str":
    """Local time in a city (annotations as strings, as under `from __future__ import annotations`)."""
    return city


def test_tool_with_string_annotations_becomes_json_schema(api):
    route = api.post(CHAT).respond(200, json=chat_completion())
    client().chat("Time in Oslo?", tools=[get_time])
    params = sent_json(route)["tools"][0]["function"]["parameters"]
    assert params["properties"]["fmt"]["enum"] == ["12h", "24h"]


def test_tool_dicts_and_plain_tool_choice_pass_through(api):
    route = api.post(CHAT).respond(200, json=chat_completion())
    spec = {"name": "noop", "parameters": {"type": "object", "properties": {}}}
    client().chat("x", tools=[spec], tool_choice="required", parallel_tool_calls=False)
    body = sent_json(route)
    assert body["tools"] == [{"type": "function", "function": spec}]
    assert body["tool_choice"] == "required"
    assert body["parallel_tool_calls"] is False


def test_parallel_tool_calls_in_one_message(api):
    calls = [
        tool_call("call_a", "get_weather", {"city": "Oslo"}),
        tool_call("call_b", "get_weather", {"city": "Lima", "unit": "F"}),
    ]
    api.post(CHAT).respond(200, json=chat_completion(None, tool_calls=calls, finish_reason="tool_calls"))
    r = client().chat("Weather in Oslo and Lima?", tools=[get_weather])
    assert r.finish_reason == "tool_calls"
    assert r.text == ""
    assert [(c.id, c.name) for c in r.tool_calls] == [("call_a", "get_weather"), ("call_b", "get_weather")]
    assert r.tool_calls[0].args == {"city": "Oslo"}
    assert r.tool_calls[1].args == {"city": "Lima", "unit": "F"}
    # the answer goes back into the conversation as an assistant message with both calls
    assert [tc.id for tc in r.message.tool_calls] == ["call_a", "call_b"]


def test_streamed_tool_call_deltas_assemble(api):
    events = [
        chunk(role="assistant", tool_calls=[tool_delta(0, "", id="call_a", name="get_weather")]),
        chunk(tool_calls=[tool_delta(0, '{"ci')]),
        chunk(tool_calls=[tool_delta(1, "", id="call_b", name="get_weather")]),
        chunk(tool_calls=[tool_delta(0, 'ty": "Oslo"}')]),
        chunk(tool_calls=[tool_delta(1, '{"city": ')]),
        chunk(tool_calls=[tool_delta(1, '"Lima"}')]),
        chunk(finish_reason="tool_calls"),
        usage_chunk(20, 30),
    ]
    api.post(CHAT).mock(return_value=sse_response(sse(events)))
    s = client().stream("Weather?", tools=[get_weather])
    r = s.response
    assert r.finish_reason == "tool_calls"
    assert [(c.id, c.name, c.arguments) for c in r.tool_calls] == [
        ("call_a", "get_weather", '{"city": "Oslo"}'),
        ("call_b", "get_weather", '{"city": "Lima"}'),
    ]
    assert [c.args for c in r.tool_calls] == [{"city": "Oslo"}, {"city": "Lima"}]


class City(pydantic.BaseModel):
    name: str
    population: int


def test_response_format_pydantic_sends_json_schema_and_parses(api):
    route = api.post(CHAT).respond(200, json=chat_completion(json.dumps({"name": "Oslo", "population": 709000})))
    r = client().chat("Biggest city in Norway?", response_format=City)
    assert sent_json(route)["response_format"] == {
        "type": "json_schema",
        "json_schema": {"name": "City", "schema": City.model_json_schema()},
    }
    city = r.parsed
    assert isinstance(city, City)
    assert city == City(name="Oslo", population=709000)


def test_response_format_json_mode(api):
    route = api.post(CHAT).respond(200, json=chat_completion('{"ok": true}'))
    r = client().chat("JSON please", response_format="json")
    assert sent_json(route)["response_format"] == {"type": "json_object"}
    assert r.parsed == {"ok": True}


def test_streamed_structured_output_parses_into_the_model(api):
    text = json.dumps({"name": "Bergen", "population": 290000})
    api.post(CHAT).mock(return_value=sse_response(text_stream([text[:10], text[10:]])))
    s = client().stream("City?", response_format=City)
    assert s.response.parsed == City(name="Bergen", population=290000)


# --- 5. legacy completions -----------------------------------------------------------------------


def test_complete_hits_completions_with_n_and_max_tokens(api):
    chat = api.post(CHAT).respond(200, json=chat_completion())
    route = api.post("/completions").respond(200, json=completion([" mat.", " floor.", " sofa."]))
    r = client("gpt-3.5-turbo-instruct").complete("The cat sat on the", n=3, max_tokens=5, stop="\n")
    assert r.texts == [" mat.", " floor.", " sofa."]
    assert r.text == " mat."
    assert r.finish_reason == "length"
    assert r.model == "openai:gpt-3.5-turbo-instruct"
    assert r.usage.input_tokens == 6
    body = sent_json(route)
    assert body == {"model": "gpt-3.5-turbo-instruct", "prompt": "The cat sat on the", "n": 3, "max_tokens": 5, "stop": ["\n"]}
    assert not chat.called


def test_complete_sends_suffix(api):
    route = api.post("/completions").respond(200, json=completion(["    return a + b\n"]))
    r = client("gpt-3.5-turbo-instruct").complete("def add(a, b):\n", suffix="\nprint(add(1, 2))\n", max_tokens=16)
    assert sent_json(route)["suffix"] == "\nprint(add(1, 2))\n"
    assert r.text == "    return a + b\n"


def test_complete_rejects_chat_only_options_before_sending(api):
    route = api.post("/completions").respond(200, json=completion(["x"]))
    with pytest.raises(llmkit.InvalidOptionError):
        client("gpt-3.5-turbo-instruct").complete("x", tools=[get_weather])
    assert not route.called


# --- 6. error mapping -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "code", "error_cls"),
    [
        (400, "context_length_exceeded", llmkit.ContextLengthError),
        (400, None, llmkit.BadRequestError),
        (400, "content_filter", llmkit.ContentFilterError),
        (401, "invalid_api_key", llmkit.AuthenticationError),
        (401, None, llmkit.AuthenticationError),
        (403, None, llmkit.PermissionDeniedError),
        (404, "model_not_found", llmkit.NotFoundError),
        (413, None, llmkit.ContextLengthError),
        (422, None, llmkit.BadRequestError),
        (429, "insufficient_quota", llmkit.QuotaExceededError),
        (429, "rate_limit_exceeded", llmkit.RateLimitError),
        (500, None, llmkit.ServerError),
        (503, None, llmkit.ServerError),
    ],
)
def test_http_errors_map_on_status_and_code(api, status, code, error_cls):
    route = api.post(CHAT).mock(
        return_value=error_response(status, code, headers={"x-request-id": "req_abc123"}, message="nope")
    )
    with pytest.raises(llmkit.APIError) as info:
        client(max_retries=0).chat("Hello")
    exc = info.value
    assert type(exc) is error_cls
    assert exc.status_code == status
    if code:
        assert exc.code == code
    assert exc.request_id == "req_abc123"
    assert exc.model == "openai:gpt-4o-mini"
    assert "req_abc123" in str(exc) and str(status) in str(exc)
    assert route.call_count == 1


def test_mapping_ignores_message_text(api):
    # words that sound like a context overflow or a rate limit decide nothing
    api.post(CHAT).mock(
        return_value=error_response(400, None, message="This model's maximum context length is 8 tokens; rate limit")
    )
    with pytest.raises(llmkit.BadRequestError) as info:
        client().chat("Hello")
    assert type(info.value) is llmkit.BadRequestError


def test_model_not_found_says_to_check_the_model_name(api):
    api.post(CHAT).mock(return_value=error_response(404, "model_not_found", message="The model `gpt-9` does not exist"))
    with pytest.raises(llmkit.NotFoundError) as info:
        client("gpt-9").chat("Hello")
    assert info.value.code == "model_not_found"
    assert "openai:gpt-9" in info.value.hint


def test_insufficient_quota_is_not_retried(api, sleeps):
    route = api.post(CHAT).mock(return_value=error_response(429, "insufficient_quota", type="insufficient_quota"))
    with pytest.raises(llmkit.QuotaExceededError) as info:
        client(max_retries=5).chat("Hello")
    assert route.call_count == 1
    assert sleeps == []
    assert info.value.retryable is False


def test_server_error_is_retryable(api):
    api.post(CHAT).mock(return_value=error_response(500, None, type="server_error"))
    with pytest.raises(llmkit.ServerError) as info:
        client(max_retries=0).chat("Hello")
    assert info.value.retryable is True


def test_non_json_error_body_is_mapped(api):
    api.post(CHAT).respond(502, text="<html>Bad Gateway</html>")
    with pytest.raises(llmkit.ServerError) as info:
        client(max_retries=0).chat("Hello")
    assert info.value.status_code == 502


def test_complete_errors_are_mapped_too(api):
    api.post("/completions").mock(return_value=error_response(401, "invalid_api_key"))
    with pytest.raises(llmkit.AuthenticationError):
        client("gpt-3.5-turbo-instruct").complete("x")


def test_async_errors_are_mapped(api):
    api.post(CHAT).mock(return_value=error_response(400, "context_length_exceeded", headers={"x-request-id": "req_9"}))
    with pytest.raises(llmkit.ContextLengthError) as info:
        asyncio.run(client().achat("Hello"))
    assert info.value.request_id == "req_9"


# --- 9. bad input ----------------------------------------------------------------------------------


def test_missing_key_names_the_env_var(monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY")
    with pytest.raises(llmkit.ConfigurationError) as info:
        client()
    assert "OPENAI_API_KEY" in str(info.value)


def test_missing_key_names_a_custom_env_var(monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY")
    with pytest.raises(llmkit.ConfigurationError) as info:
        client(api_key_env="MY_OPENAI_KEY", base_url="https://api.openai.com/v1")
    assert "MY_OPENAI_KEY" in str(info.value)


def test_custom_base_url_works_without_a_key(monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY")
    with respx.mock(base_url="http://testserver/v1") as mock:
        route = mock.post(CHAT).respond(200, json=chat_completion("local answer", model="qwen2.5"))
        r = llmkit.Client("openai:qwen2.5", base_url="http://testserver/v1").chat("Hello")
    assert r.text == "local answer"
    assert r.served_model == "qwen2.5"
    assert route.call_count == 1
    assert sent_json(route)["model"] == "qwen2.5"


def test_openai_base_url_env_is_used(monkeypatch):
    monkeypatch.setenv("OPENAI_BASE_URL", "http://testserver/v1")
    with respx.mock(base_url="http://testserver/v1") as mock:
        route = mock.post(CHAT).respond(200, json=chat_completion("env server"))
        assert client().chat("Hello").text == "env server"
    assert route.called


def test_unknown_option_names_the_allowed_ones(api):
    route = api.post(CHAT).respond(200, json=chat_completion())
    with pytest.raises(llmkit.InvalidOptionError) as info:
        client().chat("Hello", temprature=0)
    message = str(info.value)
    assert "temprature" in message
    assert "'temperature'" in message  # the closest match is suggested
    assert "max_tokens" in message and "top_p" in message  # the allowed ones are listed
    assert not route.called


def test_unknown_option_in_constructor_names_settings_and_options():
    with pytest.raises(llmkit.InvalidOptionError) as info:
        client(max_token=5)
    message = str(info.value)
    assert "'max_tokens'" in message
    assert "base_url" in message and "temperature" in message


def test_invalid_option_value_is_refused_before_sending(api):
    route = api.post(CHAT).respond(200, json=chat_completion())
    with pytest.raises(llmkit.InvalidOptionError, match="temperature"):
        client().chat("Hello", temperature=5)
    assert not route.called


def test_empty_message_list_is_refused(api):
    route = api.post(CHAT).respond(200, json=chat_completion())
    with pytest.raises(llmkit.InvalidOptionError, match="empty"):
        client().chat([])
    with pytest.raises(llmkit.InvalidOptionError, match="empty"):
        client().stream([])
    assert not route.called


def test_context_overflow_is_refused_before_sending_with_counts(api):
    route = api.post(CHAT).respond(200, json=chat_completion())
    c = client(context_window=50)
    prompt = "word " * 100
    prompt_tokens = int(c.count_tokens([llmkit.user(prompt)]))
    assert prompt_tokens > 50
    with pytest.raises(llmkit.ContextLengthError) as info:
        c.chat(prompt, max_tokens=10)
    message = str(info.value)
    assert f"{prompt_tokens} prompt tokens" in message
    assert "max_tokens 10" in message
    assert f"= {prompt_tokens + 10}" in message
    assert "50 tokens" in message
    with pytest.raises(llmkit.ContextLengthError):
        list(c.stream(prompt))
    assert not route.called


def test_max_tokens_alone_can_overflow_the_window(api):
    route = api.post(CHAT).respond(200, json=chat_completion())
    with pytest.raises(llmkit.ContextLengthError):
        client().chat("Hi", max_tokens=200_000)  # gpt-4o-mini: 128k window
    assert not route.called


def test_complete_prompt_overflow_is_refused_before_sending(api):
    route = api.post("/completions").respond(200, json=completion(["x"]))
    with pytest.raises(llmkit.ContextLengthError, match="4096"):
        client("gpt-3.5-turbo-instruct").complete("lorem ipsum " * 3000)
    assert not route.called


def test_context_precheck_counts_non_ascii_tool_call_arguments(api):
    # emoji cost several tokens per character: a cheap per-character bound must not let this through
    route = api.post(CHAT).respond(200, json=chat_completion())
    conversation = [
        llmkit.user("Parrots?"),
        llmkit.assistant(None, [llmkit.ToolCall("c1", "show", json.dumps({"s": "🦜" * 100}, ensure_ascii=False))]),
        llmkit.tool_result("ok", "c1"),
    ]
    c = client(context_window=250)  # ~180 if each character were one token; in fact over 300
    assert int(c.count_tokens(conversation)) > 250
    with pytest.raises(llmkit.ContextLengthError):
        c.chat(conversation)
    assert not route.called
