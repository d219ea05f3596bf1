"""Tools and structured output through the real SDK: tool definitions and tool_choice on
the wire, an agent's round trip (two scripted replies), and structured output through a
forced tool, with the client's check, re-ask and prompted fallback."""

from __future__ import annotations

import httpx  # httpx2, aliased (tests/httpx2_alias.py)
import pydantic
import pytest
from anthropic_payloads import MESSAGES, MODEL, error_body, message, sent_json, tool_use

import llmkit


def client(**kw) -> llmkit.Client:
    return llmkit.Client(f"anthropic:{MODEL}", **kw)


@llmkit.tool
def get_weather(city: str) -> str:
    "The weather in a city, now."
    return f"It is 21 degrees and sunny in {city}."


@llmkit.tool
def add(a: int, b: int) -> int:
    "Add two integers."
    return a + b


class Forecast(pydantic.BaseModel):
    city: str
    temperature: float
    summary: str


def test_tools_go_as_name_description_and_input_schema(api):
    route = api.post(MESSAGES).respond(200, json=message())
    client().chat("Hi", tools=[get_weather, {"type": "function", "function": {"name": "lookup", "parameters": {
        "type": "object", "properties": {"q": {"type": "string"}}}}}])  # fmt: skip
    tools = sent_json(route)["tools"]
    assert tools[0]["name"] == "get_weather" and tools[0]["description"] == "The weather in a city, now."
    assert tools[0]["input_schema"]["properties"] == {"city": {"title": "City", "type": "string"}}
    assert tools[0]["input_schema"]["required"] == ["city"]
    assert tools[1] == {"name": "lookup", "input_schema": {"type": "object", "properties": {"q": {"type": "string"}}}}
    assert "tool_choice" not in sent_json(route)  # auto, the API's default


def test_an_anthropic_tool_dict_goes_out_as_it_came_in(api):
    route = api.post(MESSAGES).respond(200, json=message())
    native = {"name": "search", "description": "Search.", "input_schema": {"type": "object"},
              "cache_control": {"type": "ephemeral"}}
    client().chat("Hi", tools=[native])
    assert sent_json(route)["tools"] == [native]


@pytest.mark.parametrize("choice, parallel, wire", [
    ("auto", None, {"type": "auto"}),
    ("required", None, {"type": "any"}),
    ("none", None, {"type": "none"}),
    ("add", None, {"type": "tool", "name": "add"}),
    ({"type": "function", "function": {"name": "add"}}, None, {"type": "tool", "name": "add"}),
    ({"type": "tool", "name": "add"}, None, {"type": "tool", "name": "add"}),
    (None, False, {"type": "auto", "disable_parallel_tool_use": True}),
    ("required", False, {"type": "any", "disable_parallel_tool_use": True}),
])  # fmt: skip
def test_tool_choice_maps_onto_anthropics(api, choice, parallel, wire):
    route = api.post(MESSAGES).respond(200, json=message())
    client().chat("Hi", tools=[add, get_weather], tool_choice=choice, parallel_tool_calls=parallel)
    assert sent_json(route)["tool_choice"] == wire


def test_a_tool_choice_naming_no_given_tool_is_refused_before_sending(api):
    route = api.post(MESSAGES).respond(200, json=message())
    with pytest.raises(llmkit.InvalidOptionError, match="'multiply', which is not one of the tools"):
        client().chat("Hi", tools=[add], tool_choice="multiply")
    assert not route.called


def test_an_agent_runs_the_tool_and_sends_its_result_back(api):
    route = api.post(MESSAGES)
    route.side_effect = [
        httpx.Response(200, json=message("I'll look.", stop_reason="tool_use", input_tokens=50, output_tokens=20,
                                         tool_uses=[tool_use("get_weather", {"city": "Oslo"}, "toolu_w1")])),
        httpx.Response(200, json=message("It is 21 degrees and sunny in Oslo.", input_tokens=90, output_tokens=12)),
    ]  # fmt: skip
    result = llmkit.Agent(client(), tools=[get_weather], system="Use tools.").run("Weather in Oslo?")
    assert result.output == "It is 21 degrees and sunny in Oslo."
    assert [m.role for m in result.messages] == ["system", "user", "assistant", "tool", "assistant"]
    assert result.usage.input_tokens == 140 and result.usage.output_tokens == 32
    second = sent_json(route, 1)
    assert second["system"] == "Use tools."
    assert second["messages"][1] == {"role": "assistant", "content": [
        {"type": "text", "text": "I'll look."},
        {"type": "tool_use", "id": "toolu_w1", "name": "get_weather", "input": {"city": "Oslo"}}]}
    assert second["messages"][2] == {"role": "user", "content": [
        {"type": "tool_result", "tool_use_id": "toolu_w1", "content": "It is 21 degrees and sunny in Oslo."}]}
    assert [t["name"] for t in second["tools"]] == ["get_weather"]


def test_structured_output_goes_through_a_forced_tool(api):
    route = api.post(MESSAGES).respond(200, json=message(None, stop_reason="tool_use", tool_uses=[
        tool_use("json_answer", {"city": "Oslo", "temperature": 21, "summary": "mild"})]))  # fmt: skip
    r = client().chat("Forecast for Oslo", response_format=Forecast)
    assert r.parsed == Forecast(city="Oslo", temperature=21.0, summary="mild")
    assert r.finish_reason == "stop" and r.tool_calls == []
    assert r.structured_by == "tool"  # a forced tool; its input is not enforced by the server, the client checked it
    body = sent_json(route)
    assert body["tool_choice"] == {"type": "tool", "name": "json_answer"}
    schema = body["tools"][0]["input_schema"]
    assert schema["required"] == ["city", "temperature", "summary"] and "title" not in schema
    assert route.call_count == 1


def test_the_backend_says_how_it_got_the_structured_answer(api):
    api.post(MESSAGES).respond(200, json=message(None, stop_reason="tool_use",
                                                 tool_uses=[tool_use("json_answer", {"ok": True})]))
    backend = client().backend
    r = backend.chat([llmkit.user("ok?")], {"response_format": "json"})
    assert r.structured_by == "tool" and r.text == '{"ok": true}'


def test_a_non_object_schema_is_wrapped_and_unwrapped(api):
    route = api.post(MESSAGES).respond(200, json=message(None, stop_reason="tool_use", tool_uses=[
        tool_use("json_answer", {"value": ["red", "green"]})]))  # fmt: skip
    r = client().chat("Two colours", response_format={"type": "array", "items": {"type": "string"}})
    assert r.parsed == ["red", "green"]
    assert sent_json(route)["tools"][0]["input_schema"] == {
        "type": "object", "properties": {"value": {"type": "array", "items": {"type": "string"}}}, "required": ["value"]}


def test_an_answer_that_does_not_fit_is_sent_back_by_the_client(api):
    route = api.post(MESSAGES)
    route.side_effect = [
        httpx.Response(200, json=message(None, stop_reason="tool_use",
                                         tool_uses=[tool_use("json_answer", {"city": "Oslo"})])),
        httpx.Response(200, json=message('{"city": "Oslo", "temperature": 21, "summary": "mild"}')),
    ]  # fmt: skip
    r = client().chat("Forecast for Oslo", response_format=Forecast)
    assert r.parsed.temperature == 21.0 and route.call_count == 2
    again = sent_json(route, 1)
    assert "tools" not in again and "matches this JSON schema" in again["system"]
    assert "temperature" in again["messages"][-1]["content"][0]["text"]  # the problems, sent back


def test_structured_output_with_tools_asks_for_some_tool_call(api):
    route = api.post(MESSAGES).respond(200, json=message(None, stop_reason="tool_use",
                                                         tool_uses=[tool_use("add", {"a": 2, "b": 3})]))
    r = client().chat("2+3 as JSON", tools=[add], response_format={"type": "object"})
    assert r.tool_calls == [llmkit.ToolCall("toolu_01", "add", '{"a": 2, "b": 3}')]  # the caller runs it
    body = sent_json(route)
    assert body["tool_choice"] == {"type": "any"} and [t["name"] for t in body["tools"]] == ["add", "json_answer"]


def test_a_model_that_refuses_the_forced_tool_is_asked_in_the_prompt_and_remembered(api):
    refused = httpx.Response(400, json=error_body("invalid_request_error",
                                                  "Thinking may not be enabled when tool_choice forces tool use."))
    answer = httpx.Response(200, json=message('Here: {"city": "Oslo", "temperature": 21, "summary": "mild"}'))
    route = api.post(MESSAGES)
    route.side_effect = [refused, answer, answer]
    assert client().chat("Forecast", response_format=Forecast).parsed.city == "Oslo"
    assert route.call_count == 2 and "tools" not in sent_json(route, 1)
    assert client().chat("Forecast", response_format=Forecast).parsed.city == "Oslo"
    assert route.call_count == 3 and "tools" not in sent_json(route, 2)  # no forced tool again


def test_a_tool_named_like_the_answer_tool_is_refused(api):
    with pytest.raises(llmkit.InvalidOptionError, match="json_answer"):
        client().chat("Hi", tools=[{"name": "json_answer", "parameters": {"type": "object"}}], response_format="json")
