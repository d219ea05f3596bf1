"""Structured output on every backend: native, or prompted (the schema in the prompt,
validated, re-asked), and the downgrade when an OpenAI-compatible server refuses it."""

import asyncio

import pydantic
import pytest

import llmkit
from llmkit.structured import StructuredOutputError
from llmkit.testing.openai_server import Reply


class City(pydantic.BaseModel):
    name: str
    population: int


def no_native(*responses):
    return llmkit.Client("mock", responses=list(responses), capabilities={"structured_output": False})


def test_a_backend_without_structured_output_is_prompted_validated_and_re_asked():
    model = no_native('{"name": "Oslo"}', 'Here: ```json\n{"name": "Oslo", "population": 709000}\n```')
    r = model.chat("Largest city in Norway?", response_format=City)
    assert r.parsed == City(name="Oslo", population=709000) and r.structured_by == "prompted"
    assert r.text == '{"name": "Oslo", "population": 709000}'  # the JSON, taken out of the fence
    first, second = model.backend.calls[0][1], model.backend.calls[1][1]
    assert "response_format" not in model.backend.calls[0][2]  # nothing on the wire it cannot do
    assert first[0].role == "system" and '"population"' in first[0].text  # the schema, stated
    assert second[-1].role == "user" and "population" in second[-1].text and "Field required" in second[-1].text
    once = no_native('Here: ```json\n{"name": "Oslo", "population": 709000}\n```').chat("Largest city in Norway?",
                                                                                     response_format=City)  # fmt: skip
    assert r.usage.input_tokens > once.usage.input_tokens and r.usage.output_tokens > once.usage.output_tokens


def test_the_re_ask_budget_is_its_own():
    with pytest.raises(StructuredOutputError) as info:
        llmkit.Client("mock", responses=["no", "still no", "never"], capabilities={"structured_output": False},
                      structured_retries=1).chat("?", response_format=City)  # fmt: skip
    assert info.value.text == "still no" and info.value.problems == ["the answer is not JSON"]
    assert not info.value.retryable


def test_json_schema_dicts_are_checked_with_jsonschema():
    schema = {"type": "object", "properties": {"n": {"type": "integer", "minimum": 1}}, "required": ["n"]}
    r = no_native('{"n": 0}', '{"n": 3}').chat("a number", response_format=schema)
    assert r.parsed == {"n": 3}
    assert no_native('{"any": "object"}').chat("x", response_format="json").parsed == {"any": "object"}


def test_async_structured_output_is_prompted_too():
    r = asyncio.run(no_native("nope", '{"name": "Lima", "population": 1}').achat("?", response_format=City))
    assert r.parsed.name == "Lima" and r.structured_by == "prompted"


def test_a_server_that_refuses_json_schema_gets_json_object_then_the_prompt_and_it_is_remembered(server):
    llmkit.clear_caches()
    refused = Reply(status=400, error={"message": "response_format type json_schema is unavailable", "type": "BadRequestError"})
    server.script(refused, Reply(text='{"name": "Oslo", "population": 5}'), Reply(text='{"name": "Rome", "population": 7}'))
    client = llmkit.Client("openai:test-model", base_url=server.base_url)
    r = client.chat("city?", response_format=City)
    assert r.parsed.name == "Oslo" and r.structured_by == "prompted"  # JSON mode does not enforce the schema: checked
    kinds = [q["body"].get("response_format", {}).get("type") for q in server.requests]
    assert kinds == ["json_schema", "json_object"]
    assert '"population"' in server.requests[1]["body"]["messages"][0]["content"]  # json_object carries no schema
    client.chat("again?", response_format=City)
    assert server.requests[-1]["body"]["response_format"]["type"] == "json_object"  # remembered: no 400 first

    llmkit.clear_caches()
    server.requests.clear()
    server.script(refused, refused, Reply(text='{"name": "Bern", "population": 1}'))
    r = llmkit.Client("openai:test-model", base_url=server.base_url).chat("city?", response_format=City)
    assert r.parsed.name == "Bern" and r.structured_by == "prompted"
    assert [q["body"].get("response_format", {}).get("type") for q in server.requests] == ["json_schema", "json_object", None]


def test_other_bad_requests_are_not_mistaken_for_a_refused_format(server):
    llmkit.clear_caches()
    too_long = Reply(status=400, error={"message": "too long", "code": "context_length_exceeded"})
    server.script(too_long)
    with pytest.raises(llmkit.ContextLengthError):
        llmkit.Client("openai:test-model", base_url=server.base_url, max_retries=0).chat("x", response_format=City)
    assert len(server.requests) == 1


def test_a_compatible_servers_json_schema_answer_is_checked_once_and_not_asked_again(server):
    llmkit.clear_caches()
    server.script(Reply(text='{"name": "Oslo", "population": 709000}'))
    r = llmkit.Client("openai:test-model", base_url=server.base_url).chat("city?", response_format=City)
    assert r.structured_by == "server" and r.parsed.population == 709000 and len(server.requests) == 1


def test_a_server_that_ignores_the_format_is_asked_again_with_the_schema(server):
    """transformers serve takes response_format and answers in prose: not trusted."""
    llmkit.clear_caches()
    server.script(Reply(text="Oslo is a city of about 700,000 people."),
                  Reply(text='{"name": "Oslo", "population": 709000}'))
    r = llmkit.Client("openai:test-model", base_url=server.base_url).chat("city?", response_format=City)
    assert r.parsed.population == 709000 and r.structured_by == "prompted" and len(server.requests) == 2
    assert '"population"' in server.requests[1]["body"]["messages"][0]["content"]  # the schema, in the prompt


def test_prompted_is_remembered_only_once_a_request_without_a_format_worked(server):
    llmkit.clear_caches()
    refused = Reply(status=400, error={"message": "response_format is not supported", "type": "BadRequestError"})
    broken = Reply(status=400, error={"message": "messages[0] is malformed", "type": "BadRequestError"})
    server.script(refused, refused, broken)  # the 400s had another cause: the prompted request fails too
    client = llmkit.Client("openai:test-model", base_url=server.base_url, max_retries=0)
    with pytest.raises(llmkit.BadRequestError):
        client.chat("city?", response_format=City)
    server.requests.clear()
    server.script(Reply(text='{"name": "Oslo", "population": 5}'))
    assert client.chat("city?", response_format=City).structured_by == "server"  # nothing was remembered
    assert server.requests[0]["body"]["response_format"]["type"] == "json_schema"

    llmkit.clear_caches()
    server.requests.clear()
    server.script(refused, refused, Reply(text='{"name": "Bern", "population": 1}'),
                  Reply(text='{"name": "Bern", "population": 2}'), Reply(text='{"name": "Bern", "population": 3}'))
    client = llmkit.Client("openai:test-model", base_url=server.base_url)
    client.chat("city?", response_format=City)
    r = client.chat("city?", response_format=City)  # remembered: straight to the prompt
    assert r.parsed.population == 2 and "response_format" not in server.requests[3]["body"]
    stream = client.stream("city?", response_format=City)  # a stream too: no format, the schema in the prompt
    assert "".join(e.text for e in stream) and stream.response.parsed.population == 3
    assert "response_format" not in server.requests[4]["body"]
    assert '"population"' in server.requests[4]["body"]["messages"][0]["content"]


def test_a_format_that_has_worked_is_never_given_up_for_one_400(server):
    llmkit.clear_caches()
    server.script(Reply(text='{"name": "Oslo", "population": 5}'),
                  Reply(status=400, error={"message": "schema too deep", "type": "BadRequestError"}))
    client = llmkit.Client("openai:test-model", base_url=server.base_url, max_retries=0)
    assert client.chat("city?", response_format=City).structured_by == "server"
    with pytest.raises(llmkit.BadRequestError, match="schema too deep"):
        client.chat("city?", response_format=City)
    assert len(server.requests) == 2  # no json_object, no prompt: the error is the answer


def test_a_stream_uses_the_endpoints_format(server):
    llmkit.clear_caches()
    refused = Reply(status=400, error={"message": "json_schema is unavailable", "type": "BadRequestError"})
    server.script(refused, Reply(text='{"name": "Oslo", "population": 5}'), Reply(text='{"name": "Rome", "population": 6}'))
    client = llmkit.Client("openai:test-model", base_url=server.base_url)
    stream = client.stream("city?", response_format=City)  # refused before any chunk: json_object instead
    assert stream.response.parsed.name == "Oslo"
    assert client.stream("city?", response_format=City).response.parsed.name == "Rome"
    kinds = [q["body"].get("response_format", {}).get("type") for q in server.requests]
    assert kinds == ["json_schema", "json_object", "json_object"]


def test_a_backend_claiming_structured_output_without_saying_how_is_checked():
    # the mock declares structured_output but enforces nothing: its answers are validated
    model = llmkit.Client("mock", responses=['{"name": "Oslo"}', '{"name": "Oslo", "population": 1}'])
    r = model.chat("city?", response_format=City)
    assert r.parsed.population == 1 and r.structured_by == "prompted" and len(model.backend.calls) == 2


def test_a_tool_call_is_handed_back_not_re_asked_as_bad_json():
    call = llmkit.ToolCall("c1", "lookup", '{"q": "Oslo"}')
    model = no_native(call)
    r = model.chat("city?", response_format=City, tools=[{"type": "function", "function": {"name": "lookup"}}])
    assert r.tool_calls == [call] and len(model.backend.calls) == 1


def test_plugin_backends_without_formats_are_prompted():
    from llmkit.backends.base import Backend
    from llmkit.types import Capabilities, Response

    class Plain(Backend):
        provider = "plainjson"
        capabilities = Capabilities(chat=True)
        options = frozenset({"max_tokens"})

        def chat(self, messages, options):
            return Response(text='{"name": "Lima", "population": 9}', finish_reason="stop")

    llmkit.clear_caches()
    try:
        llmkit.register_provider("plainjson", Plain)
        client = llmkit.Client("plainjson:any")
        r = client.chat("city?", response_format=City)
        assert r.parsed.name == "Lima" and r.structured_by == "prompted"
        assert client.chat("hi", tools=None, seed=None).text  # known options left unset are fine
        with pytest.raises(llmkit.InvalidOptionError, match="unknown option 'colour'"):
            client.chat("hi", colour=None)  # an unknown name is still an error
    finally:
        llmkit.clear_caches()
