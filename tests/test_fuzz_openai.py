"""Property-based fuzzing (hypothesis) of what llmkit reads and what it is given:

- the OpenAI reply parsers (chat, legacy completions, embeddings, stream chunks): any
  JSON value in place of any field, or the field left out, gives a well-formed Response
  or a MalformedResponseError (MalformedStreamError in streams), never an AttributeError
  or TypeError from deep inside. The bytes go through the real SDK (respx answers), so
  the SDK's own lenient parsing is part of what is fuzzed.
- message normalisation (`to_messages`, so chat/stream/count_tokens): any value, and
  any message-shaped dict, gives well-formed messages or an InvalidOptionError.
"""

from __future__ import annotations

import copy
import json
import math
from typing import Any

import httpx  # httpx2 (tests/httpx2_alias.py)
import pytest
import respx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from openai_payloads import API, chat_completion, chunk, sse, tool_call, usage_chunk

import llmkit
from llmkit.types import ROLES, Message, to_messages

FUZZ = settings(max_examples=150, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])

JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=8,
)  # fmt: skip
DELETE = object()


def _paths(value: Any, prefix: tuple = ()) -> list[tuple]:
    """Every place in a JSON document a value sits (keys of objects, items of lists)."""
    out = [prefix] if prefix else []
    if isinstance(value, dict):
        for k, v in value.items():
            out += _paths(v, (*prefix, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            out += _paths(v, (*prefix, i))
    return out


def _mutated(doc: Any, path: tuple, new: Any) -> Any:
    doc = copy.deepcopy(doc)
    if not path:
        return new
    parent = doc
    for step in path[:-1]:
        parent = parent[step]
    if new is DELETE:
        del parent[path[-1]]
    else:
        parent[path[-1]] = new
    return doc


def _body(doc: Any) -> bytes:
    return json.dumps(doc, allow_nan=True).encode()  # NaN and Infinity too: Python's json reads them


@pytest.fixture(scope="module")
def mock_api():
    with respx.mock(base_url=API, assert_all_called=False) as mock:
        yield mock


@pytest.fixture(scope="module")
def client():
    return llmkit.Client("openai:gpt-4o-mini", api_key="sk-fuzz-0123456789abcdef", max_retries=0)


def _check_response(r: llmkit.Response) -> None:
    assert isinstance(r.text, str) and all(isinstance(t, str) for t in r.texts) and r.texts[0] == r.text
    assert r.finish_reason is None or isinstance(r.finish_reason, str)
    u = r.usage
    for n in (u.input_tokens, u.output_tokens):
        assert isinstance(n, int) and not isinstance(n, bool) and n >= 0
    for call in r.tool_calls:
        assert isinstance(call.name, str) and call.name and isinstance(call.arguments, str) and isinstance(call.id, str)
    assert r.served_model is None or isinstance(r.served_model, str)
    assert r.id is None or isinstance(r.id, str)


CHAT = chat_completion("Hi", texts=["Hi", "Yo"], tool_calls=[tool_call("c1", "add", {"a": 1})])
CHAT_PATHS = _paths(CHAT)


@FUZZ
@given(path=st.sampled_from(CHAT_PATHS), new=JSON | st.just(DELETE))
def test_chat_replies_of_any_shape(mock_api, client, path, new):
    mock_api.post("/chat/completions").mock(return_value=httpx.Response(200, content=_body(_mutated(CHAT, path, new)),
                                                                       headers={"content-type": "application/json"}))  # fmt: skip
    try:
        r = client.chat("hi")
    except llmkit.MalformedResponseError as exc:
        assert exc.retryable and exc.message
        return
    _check_response(r)


@FUZZ
@given(doc=JSON)
def test_chat_replies_that_are_any_json_at_all(mock_api, client, doc):
    mock_api.post("/chat/completions").mock(return_value=httpx.Response(200, content=_body(doc),
                                                                       headers={"content-type": "application/json"}))  # fmt: skip
    try:
        _check_response(client.chat("hi"))
    except llmkit.MalformedResponseError:
        pass


COMPLETION = {"id": "cmpl-1", "object": "text_completion", "created": 0, "model": "m",
              "choices": [{"index": 0, "text": " a", "finish_reason": "length", "logprobs": None},
                          {"index": 1, "text": " b", "finish_reason": "stop", "logprobs": None}],
              "usage": {"prompt_tokens": 2, "completion_tokens": 2, "total_tokens": 4}}  # fmt: skip


@FUZZ
@given(path=st.sampled_from(_paths(COMPLETION)), new=JSON | st.just(DELETE))
def test_completion_replies_of_any_shape(mock_api, client, path, new):
    mock_api.post("/completions").mock(return_value=httpx.Response(200, content=_body(_mutated(COMPLETION, path, new)),
                                                                  headers={"content-type": "application/json"}))  # fmt: skip
    try:
        r = client.complete("x", n=2)
    except llmkit.MalformedResponseError:
        return
    _check_response(r)


EMBEDDINGS = {"object": "list", "model": "m", "usage": {"prompt_tokens": 2, "total_tokens": 2},
              "data": [{"object": "embedding", "index": 0, "embedding": [0.1, 0.2]},
                       {"object": "embedding", "index": 1, "embedding": [0.3, 0.4]}]}  # fmt: skip


@FUZZ
@given(path=st.sampled_from(_paths(EMBEDDINGS)), new=JSON | st.just(DELETE))
def test_embedding_replies_of_any_shape(mock_api, client, path, new):
    mock_api.post("/embeddings").mock(return_value=httpx.Response(200, content=_body(_mutated(EMBEDDINGS, path, new)),
                                                                 headers={"content-type": "application/json"}))  # fmt: skip
    try:
        e = client.embed(["a", "b"])
    except llmkit.MalformedResponseError:
        return
    assert len(e.vectors) == 2 and len({len(v) for v in e.vectors}) == 1
    assert all(isinstance(x, float) and math.isfinite(x) for v in e.vectors for x in v)
    assert isinstance(e.usage.input_tokens, int) and e.usage.input_tokens >= 0


STREAM = [chunk(content="He", role="assistant"), chunk(content="llo"),
          {"id": "c", "object": "chat.completion.chunk", "created": 0, "model": "m",
           "choices": [{"index": 0, "delta": {"tool_calls": [{"index": 0, "id": "t1", "type": "function",
                                                              "function": {"name": "add", "arguments": "{}"}}]},
                        "finish_reason": None}]},
          chunk(finish_reason="stop"), usage_chunk(3, 2)]  # fmt: skip
STREAM_PLACES = [(i, path) for i, c in enumerate(STREAM) for path in _paths(c)] + [(i, ()) for i in range(len(STREAM))]


@FUZZ
@given(place=st.sampled_from(STREAM_PLACES), new=JSON | st.just(DELETE))
def test_stream_chunks_of_any_shape(mock_api, client, place, new):
    i, path = place
    if not path and new is DELETE:
        events = STREAM[:i] + STREAM[i + 1 :]
    else:
        events = [*STREAM[:i], _mutated(STREAM[i], path, new), *STREAM[i + 1 :]]
    body = b"".join(b"data: " + _body(e) + b"\n\n" for e in events) + b"data: [DONE]\n\n"
    mock_api.post("/chat/completions").mock(return_value=httpx.Response(200, content=body,
                                                                       headers={"content-type": "text/event-stream"}))  # fmt: skip
    stream = client.stream("hi")
    try:
        for event in stream:
            assert isinstance(event.text, str) and isinstance(event.index, int) and event.index >= 0
            assert event.finish_reason is None or isinstance(event.finish_reason, str)
            assert all(isinstance(d.arguments, str) and isinstance(d.index, int) for d in event.tool_calls)
    except llmkit.MalformedResponseError:  # MalformedStreamError is one
        return
    except llmkit.APIError as exc:  # a chunk that became {"error": ...}: the server's error event
        assert isinstance(new, dict) and "error" in json.dumps(new) or not path, exc
        return
    _check_response(stream.response)


def test_the_fuzzed_documents_are_valid_replies_untouched(mock_api, client):
    """The base documents parse: the mutations are what the fuzzing varies."""
    mock_api.post("/chat/completions").mock(return_value=httpx.Response(200, json=CHAT))
    r = client.chat("hi")
    assert r.texts == ["Hi", "Yo"] and r.tool_calls[0].name == "add"
    mock_api.post("/chat/completions").mock(return_value=httpx.Response(200, content=sse(STREAM),
                                                                       headers={"content-type": "text/event-stream"}))  # fmt: skip
    s = client.stream("hi")
    assert s.response.text == "Hello" and s.response.usage.output_tokens == 2


# --- message normalisation ---------------------------------------------------------------------

TEXT = st.text(max_size=12) | st.sampled_from(["\ud800", "caf\udce9", ""])  # lone surrogates too
PART = st.fixed_dictionaries({"type": st.sampled_from(["text", "image_url"]) | JSON},
                             optional={"text": TEXT | JSON, "image_url": JSON})  # fmt: skip
CALL = st.fixed_dictionaries({}, optional={"id": TEXT | JSON, "type": st.just("function") | JSON,
                                           "function": st.fixed_dictionaries({}, optional={"name": TEXT | JSON,
                                                                                           "arguments": TEXT | JSON}) | JSON})  # fmt: skip
MESSAGE = st.fixed_dictionaries(
    {"role": st.sampled_from(ROLES) | JSON},
    optional={"content": TEXT | st.lists(PART | JSON, max_size=3) | JSON, "name": TEXT | JSON,
              "tool_calls": st.lists(CALL | JSON, max_size=3) | JSON, "tool_call_id": TEXT | JSON},
)  # fmt: skip
PROMPT = TEXT | MESSAGE | st.lists(MESSAGE | JSON, max_size=4) | JSON | st.binary(max_size=4)


def _check_message(m: Message) -> None:
    assert m.role in ROLES and isinstance(m.text, str)
    assert m.name is None or isinstance(m.name, str)
    assert m.tool_call_id is None or isinstance(m.tool_call_id, str)
    assert all(isinstance(c.name, str) and c.name and isinstance(c.arguments, str) for c in m.tool_calls)
    json.dumps(m.to_dict(), ensure_ascii=False).encode("utf-8")  # sendable: JSON, valid UTF-8


@settings(max_examples=400, deadline=None, database=None)
@given(prompt=PROMPT)
def test_message_normalisation_of_any_value(prompt):
    try:
        messages = to_messages(prompt)
    except llmkit.InvalidOptionError as exc:
        assert exc.message and exc.hint
        return
    assert messages and all(isinstance(m, Message) for m in messages)
    for m in messages:
        _check_message(m)


@settings(max_examples=100, deadline=None, database=None)
@given(prompt=PROMPT)
def test_the_client_takes_any_value_or_refuses_it_in_words(prompt):
    client = llmkit.Client("mock:echo")
    try:
        r = client.chat(prompt)
    except llmkit.InvalidOptionError:
        return
    assert isinstance(r.text, str)
