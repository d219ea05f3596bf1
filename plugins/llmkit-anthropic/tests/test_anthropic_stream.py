"""Streaming through the real SDK from real SSE bytes in Anthropic's event format:
text deltas, tool-use deltas reassembled into tool calls, usage from message_start and
message_delta, errors inside the stream, and streams that break off."""

from __future__ import annotations

import asyncio
import json

import httpx  # httpx2, aliased (tests/httpx2_alias.py)
import pydantic
import pytest
from anthropic_payloads import (
    MESSAGES,
    MODEL,
    error_body,
    finish,
    sent_json,
    sse,
    sse_headers,
    start,
    text_block,
    text_stream,
    tool_block,
)

import llmkit


def client(**kw) -> llmkit.Client:
    return llmkit.Client(f"anthropic:{MODEL}", **kw)


def stream_reply(body: bytes) -> httpx.Response:
    return httpx.Response(200, content=body, headers=sse_headers())


def test_streamed_text_arrives_in_pieces_and_adds_up(api):
    route = api.post(MESSAGES).mock(return_value=stream_reply(text_stream("Hel", "lo, ", "world!", input_tokens=1000,
                                                                          output_tokens=2000)))  # fmt: skip
    with client().stream("Say hello") as s:
        pieces = [e.text for e in s if e.text]
    assert pieces == ["Hel", "lo, ", "world!"]
    r = s.response
    assert r.text == "Hello, world!" and r.finish_reason == "stop"
    assert (r.usage.input_tokens, r.usage.output_tokens) == (1000, 2000)
    assert r.usage.cost == pytest.approx((1000 * 3.0 + 2000 * 15.0) / 1e6)
    assert r.model == "anthropic:claude-sonnet-4-5"
    assert sent_json(route)["stream"] is True


def test_the_raw_bytes_are_anthropics_event_format(api):
    body = text_stream("x")
    assert body.startswith(b"event: message_start\ndata: {")
    assert b"event: content_block_delta\ndata: " in body and b'"text_delta"' in body
    assert b"event: message_delta\n" in body and b"event: message_stop\n" in body


def test_streamed_tool_use_deltas_are_reassembled_into_tool_calls(api):
    body = sse(start(), *text_block(0, "Checking both."),
               *tool_block(1, "get_weather", "toolu_a", '{"ci', 'ty": "Os', 'lo"}'),
               *tool_block(2, "get_time", "toolu_b", '{"zone": ', '"CET"}'),
               *tool_block(3, "ping", "toolu_c"),  # no arguments at all
               *finish("tool_use", 40))  # fmt: skip
    api.post(MESSAGES).mock(return_value=stream_reply(body))
    with client().stream("Weather and time in Oslo?", tools=[{"name": n, "parameters": {"type": "object"}}
                                                             for n in ("get_weather", "get_time", "ping")]) as s:
        events = list(s)
    deltas = [d for e in events for d in e.tool_calls]
    assert [(d.index, d.id, d.name) for d in deltas if d.name] == [
        (0, "toolu_a", "get_weather"), (1, "toolu_b", "get_time"), (2, "toolu_c", "ping")]
    assert [d.arguments for d in deltas if d.index == 0 and not d.name] == ['{"ci', 'ty": "Os', 'lo"}']
    r = s.response
    assert r.text == "Checking both." and r.finish_reason == "tool_calls"
    assert r.tool_calls == [llmkit.ToolCall("toolu_a", "get_weather", '{"city": "Oslo"}'),
                            llmkit.ToolCall("toolu_b", "get_time", '{"zone": "CET"}'),
                            llmkit.ToolCall("toolu_c", "ping", "{}")]
    assert r.tool_calls[0].args == {"city": "Oslo"}


def test_thinking_and_unknown_events_are_left_out(api):
    thinking = [{"type": "content_block_start", "index": 0, "content_block": {"type": "thinking", "thinking": ""}},
                {"type": "content_block_delta", "index": 0, "delta": {"type": "thinking_delta", "thinking": "hmm"}},
                {"type": "content_block_delta", "index": 0, "delta": {"type": "signature_delta", "signature": "s"}},
                {"type": "content_block_stop", "index": 0}]
    body = sse(start(), {"type": "ping"}, *thinking, {"type": "brand_new_event", "x": 1}, *text_block(1, "Answer."),
               *finish())  # fmt: skip
    api.post(MESSAGES).mock(return_value=stream_reply(body))
    with client().stream("Think") as s:
        texts = [e.text for e in s if e.text]
    assert texts == ["Answer."]


def test_a_stream_that_ends_before_the_model_finished_is_malformed(api):
    body = sse(start(), *text_block(0, "Half an ans"))  # cut: no message_delta, no message_stop
    api.post(MESSAGES).mock(return_value=stream_reply(body))
    s = client(max_retries=0).stream("Hi")
    with pytest.raises(llmkit.MalformedStreamError, match="before the model finished"):
        list(s)


def test_an_event_that_is_not_json_is_a_malformed_stream(api):
    body = sse(start()) + b"event: content_block_delta\ndata: {not json\n\n"
    api.post(MESSAGES).mock(return_value=stream_reply(body))
    with pytest.raises(llmkit.MalformedStreamError, match="not valid JSON"):
        list(client(max_retries=0).stream("Hi"))


def test_a_delta_for_a_block_that_never_started_is_malformed(api):
    body = sse(start(), {"type": "content_block_delta", "index": 3, "delta": {"type": "text_delta", "text": "x"}})
    api.post(MESSAGES).mock(return_value=stream_reply(body))
    with pytest.raises(llmkit.MalformedStreamError, match="content block 3, which never started"):
        list(client(max_retries=0).stream("Hi"))


def test_an_overloaded_error_event_before_any_text_is_retried(api, no_sleep):
    overloaded = sse(start(), {"type": "error", **error_body("overloaded_error", "Overloaded")})
    route = api.post(MESSAGES)
    route.side_effect = [stream_reply(overloaded), stream_reply(text_stream("recovered"))]
    with client().stream("Hi") as s:
        text = "".join(e.text for e in s)
    assert text == "recovered" and route.call_count == 2 and len(no_sleep) == 1


def test_an_error_event_after_text_reaches_the_caller_as_its_class(api):
    body = sse(start(), *text_block(0, "Some of it"), {"type": "error", **error_body("overloaded_error", "Overloaded")})
    route = api.post(MESSAGES).mock(return_value=stream_reply(body))
    got = []
    with pytest.raises(llmkit.ServerError) as err:
        for event in client().stream("Hi"):
            got.append(event.text)
    assert got == ["Some of it"] and route.call_count == 1  # output was seen: never retried
    assert "overloaded_error" in str(err.value) and err.value.retryable


def test_a_stream_refused_with_a_status_is_mapped_before_any_event(api):
    api.post(MESSAGES).respond(429, json=error_body("rate_limit_error", "Slow down"), headers={"retry-after": "3"})
    with pytest.raises(llmkit.RateLimitError) as err:
        list(client(max_retries=0).stream("Hi"))
    assert err.value.retry_after == 3.0


def test_structured_output_streams_the_answer_tools_input_as_text(api):
    class City(pydantic.BaseModel):
        name: str
        population: int

    body = sse(start(), *tool_block(0, "json_answer", "toolu_x", '{"name": "Os', 'lo", "population": 70', '9000}'),
               *finish("tool_use"))  # fmt: skip
    route = api.post(MESSAGES).mock(return_value=stream_reply(body))
    with client().stream("Describe Oslo", response_format=City) as s:
        texts = [e.text for e in s if e.text]
    assert texts == ['{"name": "Os', 'lo", "population": 70', '9000}']
    assert s.response.parsed == City(name="Oslo", population=709000)
    assert s.response.finish_reason == "stop" and s.response.tool_calls == []
    assert sent_json(route)["tool_choice"] == {"type": "tool", "name": "json_answer"}


def test_a_wrapped_structured_answer_is_unwrapped_at_the_end_of_its_block(api):
    body = sse(start(), *tool_block(0, "json_answer", "toolu_x", '{"value": ["a", ', '"b"]}'), *finish("tool_use"))
    api.post(MESSAGES).mock(return_value=stream_reply(body))
    with client().stream("Two letters", response_format={"type": "array", "items": {"type": "string"}}) as s:
        texts = [e.text for e in s if e.text]
    assert texts == ['["a", "b"]'] and s.response.parsed == ["a", "b"]


def test_a_stream_whose_forced_tool_is_refused_asks_with_the_schema_in_the_prompt(api):
    refused = httpx.Response(400, json=error_body("invalid_request_error",
                                                  "Thinking may not be enabled when tool_choice forces tool use."))
    route = api.post(MESSAGES)
    route.side_effect = [refused, stream_reply(text_stream('{"ok": ', "true}")),
                         stream_reply(text_stream('{"ok": false}'))]  # fmt: skip
    schema = {"type": "object", "properties": {"ok": {"type": "boolean"}}}
    with client().stream("Fine?", response_format=schema) as s:
        list(s)
    assert s.response.parsed == {"ok": True}
    second = sent_json(route, 1)
    assert "tools" not in second and "matches this JSON schema" in second["system"]
    with client().stream("Again?", response_format=schema) as s:  # remembered: no forced tool first
        list(s)
    assert route.call_count == 3 and "tools" not in sent_json(route, 2)


def test_astream_yields_the_same_events(api):
    api.post(MESSAGES).mock(return_value=stream_reply(text_stream("a", "b")))

    async def run() -> str:
        out = []
        async for event in client().astream("Hi"):
            out.append(event.text)
        return "".join(out)

    assert asyncio.run(run()) == "ab"


def test_usage_in_message_delta_may_carry_input_and_cache_counts(api):
    delta = {"type": "message_delta", "delta": {"stop_reason": "end_turn"},
             "usage": {"input_tokens": 30, "output_tokens": 7, "cache_read_input_tokens": 100}}
    api.post(MESSAGES).mock(return_value=stream_reply(sse(start(25), *text_block(0, "x"), delta, {"type": "message_stop"})))
    with client().stream("Hi") as s:
        list(s)
    assert (s.response.usage.input_tokens, s.response.usage.output_tokens) == (130, 7)
    assert json.loads(json.dumps(s.response.usage.cost)) == pytest.approx((30 * 3 + 100 * 0.3 + 7 * 15) / 1e6)
