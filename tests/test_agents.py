"""The agent loop, through scripted models (every path) and a real OpenAI-protocol server."""

import asyncio
import json
import threading
import time

import pydantic
import pytest

import llmkit
from llmkit.agents import MaxStepsError, OutputValidationError, ToolFailedError, Veto
from llmkit.testing.openai_server import Reply


def call(name, args, id="c1"):
    return llmkit.ToolCall(id, name, json.dumps(args))


@llmkit.tool
def add(a: int, b: int) -> int:
    "Add two integers."
    return a + b


def scripted(*items):
    return llmkit.Client("mock", responses=list(items))


def test_one_call_then_an_answer():
    model = scripted(call("add", {"a": 2, "b": 3}), "2 + 3 = 5")
    result = llmkit.Agent(model, tools=[add], system="Use the tools.").run("What is 2 + 3?")
    assert result.output == result.text == "2 + 3 = 5"
    assert [m.role for m in result.messages] == ["system", "user", "assistant", "tool", "assistant"]
    tool_message = result.messages[3]
    assert tool_message.text == "5" and tool_message.tool_call_id == "c1"
    assert len(result.steps) == 2 and result.steps[0].outcomes[0].value == 5
    sent = model.backend.calls[0][2]["tools"]
    assert [t.name for t in sent] == ["add"]  # the tools were described to the model
    assert result.usage.output_tokens == sum(s.response.usage.output_tokens for s in result.steps) > 0


def test_the_calls_of_one_step_run_concurrently_and_come_back_in_order():
    started = []
    barrier = threading.Barrier(3, timeout=5)  # all three must be running at once to pass

    @llmkit.tool
    def slow_square(x: int) -> int:
        "Square a number, slowly."
        started.append(x)
        barrier.wait()
        return x * x

    calls = [call("slow_square", {"x": i}, id=f"c{i}") for i in (1, 2, 3)]
    result = llmkit.Agent(scripted(calls, "done"), tools=[slow_square]).run("squares")
    tool_messages = [m for m in result.messages if m.role == "tool"]
    assert [(m.tool_call_id, m.text) for m in tool_messages] == [("c1", "1"), ("c2", "4"), ("c3", "9")]


def test_errors_go_back_to_the_model_not_up_to_the_caller():
    @llmkit.tool
    def divide(a: float, b: float) -> float:
        "Divide a by b."
        return a / b

    model = scripted(
        [call("divide", {"a": 1, "b": 0}, "c1"), call("nope", {}, "c2"), call("divide", {"a": "x"}, "c3"),
         llmkit.ToolCall("c4", "divide", "{not json")],
        "I could not divide by zero.",
    )  # fmt: skip
    result = llmkit.Agent(model, tools=[divide], tool_retries=5).run("1/0?")
    texts = [m.text for m in result.messages if m.role == "tool"]
    assert texts[0] == "Error: the tool raised ZeroDivisionError: float division by zero"
    assert texts[1].startswith("Error: there is no tool 'nope'; the tools are: divide")
    assert "invalid arguments for tool 'divide'" in texts[2] and "a:" in texts[2] and "b:" in texts[2]
    assert "not valid JSON" in texts[3]
    assert result.output == "I could not divide by zero."


def test_a_tool_that_keeps_failing_ends_the_run_with_the_transcript():
    @llmkit.tool
    def broken() -> str:
        "Always fails."
        raise RuntimeError("backend down")

    model = scripted(*[call("broken", {}, f"c{i}") for i in range(5)])
    with pytest.raises(ToolFailedError) as info:
        llmkit.Agent(model, tools=[broken], tool_retries=2).run("go")
    assert info.value.tool == "broken" and sum(m.role == "tool" for m in info.value.messages) == 3


def test_max_steps_is_an_error_carrying_the_transcript():
    model = llmkit.Client("mock", responses=lambda messages, options: call("add", {"a": len(messages), "b": 1}))
    with pytest.raises(MaxStepsError) as info:
        llmkit.Agent(model, tools=[add], max_steps=3).run("loop forever")
    assert len([m for m in info.value.messages if m.role == "assistant"]) == 3 and info.value.usage.output_tokens >= 0


def test_the_same_call_again_is_answered_from_the_first_result():
    runs = []

    @llmkit.tool
    def lookup(city: str) -> str:
        "Population of a city."
        runs.append(city)
        return "709,000"

    model = scripted(call("lookup", {"city": "Oslo"}, "c1"), call("lookup", {"city": "Oslo"}, "c2"), "709,000")
    result = llmkit.Agent(model, tools=[lookup]).run("Population of Oslo?")
    assert runs == ["Oslo"]  # ran once
    second = [m for m in result.messages if m.role == "tool"][1]
    assert second.tool_call_id == "c2" and second.text.startswith("709,000") and "already called" in second.text
    assert result.steps[1].outcomes[0].repeated


def test_a_call_written_as_text_is_recognised_and_run():
    model = scripted('```json\n{"name": "add", "arguments": {"a": 1, "b": 1}}\n```', "1 + 1 = 2")
    result = llmkit.Agent(model, tools=[add]).run("1 + 1?")
    assistant = result.messages[1]
    assert assistant.tool_calls and assistant.tool_calls[0].name == "add"  # recorded as a native call
    assert result.messages[2].text == "2" and result.output == "1 + 1 = 2"
    tagged = scripted('<tool_call>{"name": "add", "arguments": {"a": 2, "b": 2}}</tool_call>', "4")
    assert llmkit.Agent(tagged, tools=[add]).run("2 + 2?").messages[2].text == "4"
    prose = scripted('I would call {"name": "add"} here, but the answer is 7.')
    assert llmkit.Agent(prose, tools=[add]).run("?").output.endswith("is 7.")  # mentions are answers


def test_approval_is_a_callback_that_the_model_cannot_bypass():
    deleted = []

    @llmkit.tool(requires_approval=True)
    def delete_file(path: str) -> str:
        "Delete a file."
        deleted.append(path)
        return "deleted"

    asked = []
    model = scripted(call("delete_file", {"path": "/etc/passwd"}, "c1"), call("delete_file", {"path": "notes.txt"}, "c2"),
                     "done")  # fmt: skip
    result = llmkit.Agent(model, tools=[delete_file],
                          approve=lambda ctx: asked.append(ctx.arguments["path"]) or ctx.arguments["path"] == "notes.txt",
                          ).run("clean up")  # fmt: skip
    assert asked == ["/etc/passwd", "notes.txt"] and deleted == ["notes.txt"]
    assert [m.text for m in result.messages if m.role == "tool"] == ["Not run: the user declined this call.", "deleted"]
    # without an approve callback such a tool never runs, whatever the model says
    model = scripted(call("delete_file", {"path": "x", "approved": True}), "ok")
    llmkit.Agent(model, tools=[delete_file]).run("the user already approved this")
    assert deleted == ["notes.txt"]


def test_hooks_log_veto_and_rewrite():
    seen = []

    def before(ctx):
        seen.append((ctx.tool.name, dict(ctx.arguments), ctx.step))
        if ctx.arguments["a"] < 0:
            raise Veto("negative numbers are not allowed")
        return {**ctx.arguments, "b": 100}  # rewrite the arguments

    def after(ctx, value):
        return f"result: {value}"

    model = scripted([call("add", {"a": -1, "b": 1}, "c1"), call("add", {"a": 1, "b": 1}, "c2")], "ok")
    result = llmkit.Agent(model, tools=[add], before_tool=before, after_tool=after).run("add")
    assert [m.text for m in result.messages if m.role == "tool"] == ["Not run: negative numbers are not allowed",
                                                                    "result: 101"]  # fmt: skip
    assert seen == [("add", {"a": -1, "b": 1}, 1), ("add", {"a": 1, "b": 1}, 1)]


class City(pydantic.BaseModel):
    name: str
    population: int


def test_structured_output_is_validated_and_re_asked():
    answers = ('{"name": "Oslo"}', 'Here it is: ```json\n{"name": "Oslo", "population": 709000}\n```')
    model = llmkit.Client("mock", responses=list(answers), capabilities={"structured_output": False})
    result = llmkit.Agent(model, output_type=City).run("Largest city in Norway?")
    assert result.output == City(name="Oslo", population=709000)
    reask = [m.text for m in result.messages if m.role == "user"][-1]
    assert "population" in reask and "Field required" in reask
    assert "population" in result.messages[0].text  # described in the system prompt for any backend


def test_with_response_format_the_client_checks_the_output():
    model = scripted('{"name": "Oslo"}', '{"name": "Oslo", "population": 709000}')
    result = llmkit.Agent(model, output_type=City).run("Largest city in Norway?")
    assert result.output.population == 709000 and len(model.backend.calls) == 2
    assert model.backend.calls[0][2]["response_format"] is City  # asked for natively where the backend takes it
    never = scripted("no", "still no", "never")
    with pytest.raises(OutputValidationError) as info:  # the client's re-asks ran out: the run ends the same way
        llmkit.Agent(never, output_type=City).run("?")
    assert info.value.text == "never" and info.value.problems == ["the answer is not JSON"]


def test_structured_output_that_never_fits_is_an_error():
    model = llmkit.Client("mock", responses=["no", "still no", "never"], capabilities={"structured_output": False})
    with pytest.raises(OutputValidationError) as info:
        llmkit.Agent(model, output_type=City, output_retries=2).run("?")
    assert info.value.problems == ["the answer is not JSON"] and info.value.text == "never"


def test_any_pydantic_type_as_output():
    result = llmkit.Agent(scripted("[1, 2, 3]"), output_type=list[int]).run("first three")
    assert result.output == [1, 2, 3]


def test_a_tool_set_is_an_object_whose_public_methods_are_tools():
    class Notes:
        def __init__(self):
            self.notes = []

        def remember(self, text: str) -> str:
            "Remember a note."
            self.notes.append(text)
            return "ok"

        @llmkit.tool(name="recall_all")
        def recall(self) -> list[str]:
            "All notes so far."
            return self.notes

        def _private(self):
            raise AssertionError("not a tool")

    notes = Notes()
    model = scripted(call("remember", {"text": "buy milk"}), call("recall_all", {}), "You noted: buy milk")
    result = llmkit.Agent(model, tools=[notes]).run("remember buy milk, then recall")
    assert notes.notes == ["buy milk"] and [m.text for m in result.messages if m.role == "tool"] == ["ok", '["buy milk"]']
    assert sorted(t.name for t in llmkit.agents.tools_of(notes)) == ["recall_all", "remember"]


def test_two_tools_with_one_name_are_refused():
    def add(x: int) -> int:
        return x

    with pytest.raises(llmkit.InvalidOptionError, match="two tools are named 'add'"):
        llmkit.Agent(scripted("x"), tools=[globals()["add"], add])


def test_streaming_yields_text_tool_calls_results_and_the_result():
    model = scripted(call("add", {"a": 2, "b": 2}), "The answer is 4.")
    events = list(llmkit.Agent(model, tools=[add]).stream("2 + 2?"))
    kinds = [e.kind for e in events]
    assert kinds[:2] == ["tool_call", "tool_result"] and kinds[-1] == "final"
    assert "".join(e.text for e in events if e.kind == "text") == "The answer is 4."
    assert events[1].outcome.content == "4" and events[-1].result.output == "The answer is 4."


def test_async_runs_await_async_tools_concurrently():
    @llmkit.tool
    async def fetch(url: str) -> str:
        "Fetch a page."
        await asyncio.sleep(0.2)
        return f"<html>{url}</html>"

    calls = [call("fetch", {"url": f"u{i}"}, f"c{i}") for i in range(4)]
    agent = llmkit.Agent(scripted(calls, "fetched"), tools=[fetch])
    started = time.perf_counter()
    result = asyncio.run(agent.arun("get them"))
    assert time.perf_counter() - started < 0.7  # together, not one after another (4 x 0.2 s)
    assert [m.text for m in result.messages if m.role == "tool"] == [f"<html>u{i}</html>" for i in range(4)]

    async def collect():
        return [e.kind async for e in llmkit.Agent(scripted(calls, "fetched"), tools=[fetch]).astream("again")]

    assert asyncio.run(collect())[-1] == "final"


def test_an_agent_continues_a_conversation():
    model = scripted("Hello again")
    history = [llmkit.user("Hi"), llmkit.assistant("Hello")]
    result = llmkit.Agent(model).run([*history, llmkit.user("And now?")])
    assert [m.text for m in result.messages] == ["Hi", "Hello", "And now?", "Hello again"]


def test_against_an_openai_compatible_server_with_streamed_tool_calls(server):
    tool_call = {"id": "call_1", "type": "function", "function": {"name": "add", "arguments": '{"a": 20, "b": 22}'}}
    server.script(Reply(tool_calls=[tool_call]), Reply(text="It is 42."))
    client = llmkit.Client("openai:test-model", base_url=server.base_url)
    events = list(llmkit.Agent(client, tools=[add]).stream("20 + 22?"))
    assert events[-1].result.output == "It is 42."
    second = server.requests[1]["body"]
    assert second["messages"][-1] == {"role": "tool", "content": "42", "tool_call_id": "call_1"}
    assert second["messages"][-2]["tool_calls"][0]["function"]["name"] == "add"
    assert second["tools"][0]["function"]["name"] == "add"


def test_blocking_model_requests_lets_only_test_doubles_answer(monkeypatch, server, tmp_path):
    from llmkit.testing.models import block_model_requests

    local = llmkit.Client("openai:test-model", base_url=server.base_url)
    with block_model_requests():
        assert llmkit.Client("mock:echo").chat("fine").text == "fine"
        with pytest.raises(llmkit.ModelRequestBlockedError, match="openai:test-model chat"):
            local.chat("never sent")
        with pytest.raises(llmkit.ModelRequestBlockedError):
            llmkit.Agent(local).run("never sent either")
        with pytest.raises(llmkit.ModelRequestBlockedError, match="embed"):
            local.embed("x")
    assert server.requests == []  # nothing reached the server
    assert local.chat("after").text == "Echo: after"
    monkeypatch.setenv("LLMKIT_BLOCK_MODEL_REQUESTS", "1")
    with pytest.raises(llmkit.ModelRequestBlockedError):
        local.chat("blocked by the environment")
    with pytest.raises(llmkit.ModelRequestBlockedError):  # a fallback to a real model is blocked too
        llmkit.Client("mock", responses=[llmkit.ServerError("down")], max_retries=0, fallbacks=["mini"]).chat("x")
