"""Tools: functions described as JSON schema, their arguments validated before a call."""

import asyncio
import subprocess
import sys
from typing import Literal

import pytest

import llmkit
from llmkit.tools import Tool, to_tool


@llmkit.tool
def add(a: int, b: int = 1) -> int:
    "Add two integers."
    return a + b


def test_a_decorated_function_is_a_tool_and_still_the_function():
    assert isinstance(add, Tool) and add.name == "add" and add.description == "Add two integers."
    assert add.parameters["required"] == ["a"] and add.parameters["properties"]["b"]["default"] == 1
    assert add(2, 3) == 5 and add.call({"a": 2}) == 3


def test_arguments_are_validated_and_converted_before_the_call():
    calls = []

    @llmkit.tool(name="weather", description="Weather in a city.", requires_approval=True)
    def get_weather(city: str, unit: Literal["C", "F"] = "C") -> str:
        calls.append((city, unit))
        return f"{city}: 21 {unit}"

    assert get_weather.name == "weather" and get_weather.requires_approval
    assert add.validate('{"a": "3"}') == {"a": 3, "b": 1}  # JSON text, "3" -> 3 for an int
    with pytest.raises(llmkit.ToolArgumentsError) as info:
        get_weather.call('{"city": "Oslo", "unit": "K"}')
    assert "unit" in str(info.value) and info.value.tool == "weather" and calls == []
    with pytest.raises(llmkit.ToolArgumentsError, match="city"):
        get_weather.call("{}")
    with pytest.raises(llmkit.ToolArgumentsError, match="not valid JSON"):
        get_weather.call("{city: Oslo")
    with pytest.raises(llmkit.ToolArgumentsError, match="JSON object"):
        get_weather.call("[1, 2]")
    assert get_weather.call({"city": "Oslo"}) == "Oslo: 21 C" and calls == [("Oslo", "C")]


def test_async_functions_are_awaited_and_sync_ones_run_in_a_thread():
    @llmkit.tool
    async def slow_add(a: int, b: int) -> int:
        await asyncio.sleep(0)
        return a + b

    assert slow_add.is_async and not add.is_async
    assert asyncio.run(slow_add.acall({"a": 1, "b": 2})) == 3
    assert asyncio.run(add.acall({"a": 1, "b": 2})) == 3


def test_schema_only_tools_from_dicts():
    spec = {"type": "function", "function": {"name": "f", "description": "d", "parameters": {"type": "object"}}}
    t = to_tool(spec)
    assert (t.name, t.description, t.parameters, t.function) == ("f", "d", {"type": "object"}, None)
    assert to_tool({"name": "g"}).parameters == {"type": "object", "properties": {}}
    with pytest.raises(llmkit.InvalidOptionError, match="only a schema"):
        t.call({})
    with pytest.raises(llmkit.InvalidOptionError, match="not a function description"):
        to_tool({"type": "function"})


def test_plain_functions_are_described_once():
    def shout(text: str) -> str:
        "Upper-case a text."
        return text.upper()

    assert to_tool(shout) is to_tool(shout) and to_tool(shout).call({"text": "hi"}) == "HI"


def test_the_old_message_helper_name_says_where_it_went():
    with pytest.raises(llmkit.InvalidOptionError, match="tool_result"):
        llmkit.tool("12:00")
    m = llmkit.tool_result("12:00", tool_call_id="t1")
    assert (m.role, m.text, m.tool_call_id) == ("tool", "12:00", "t1")


def test_parameters_that_have_no_schema_are_refused_when_described():
    class Opaque:
        pass

    def use(thing: Opaque) -> None:
        pass

    with pytest.raises(llmkit.InvalidOptionError, match="cannot describe tool 'use'"):
        llmkit.tool(use)


def test_every_backend_receives_tools_as_tool_objects():
    client = llmkit.Client("mock", responses=["ok"])
    client.chat("x", tools=[add, {"name": "f", "parameters": {}}, len.__call__ and add.function])
    tools = client.backend.calls[0][2]["tools"]
    assert all(isinstance(t, Tool) for t in tools) and [t.name for t in tools] == ["add", "f", "add"]


def test_importing_the_tools_module_does_not_import_pydantic():
    code = "import sys, llmkit.tools; print('pydantic' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).stdout.strip() == "False"
