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


def test_native_structured_output_is_not_checked_twice(server):
    llmkit.clear_caches()
    server.script(Reply(text='{"name": "Oslo", "population": 709000}'))
    r = llmkit.Client("openai:test-model", base_url=server.base_url).chat("city?", response_format=City)
    assert r.structured_by == "native" and r.parsed.population == 709000 and len(server.requests) == 1
