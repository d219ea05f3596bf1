"""client.embed: the OpenAI /embeddings endpoint (real loopback server and respx) and the
bundled model's mean-pooled hidden states."""

from __future__ import annotations

import asyncio
import json
import math

import pytest

import llmkit
from llmkit.backends import openai_embeddings
from llmkit.errors import (
    ContextLengthError,
    InvalidOptionError,
    MalformedResponseError,
    MissingCapabilityError,
    ServerError,
)
from llmkit.testing.openai_server import Reply

TEXTS = ["the cat sat on the mat", "the cat sat on a mat", "quarterly revenue grew by nine percent"]


def unit(v):
    return math.isclose(math.sqrt(sum(x * x for x in v)), 1.0, rel_tol=1e-5)


def test_openai_embed_over_a_real_socket(server):
    client = llmkit.Client("openai:text-embedding-3-small", base_url=server.base_url)
    e = client.embed(TEXTS)
    assert len(e) == 3 and e.dimensions == 32 and all(unit(v) for v in e)
    assert e.model == "openai:text-embedding-3-small" and e.served_model == "text-embedding-3-small"
    assert e.similarity(0, 1) > e.similarity(0, 2)
    assert e.usage.input_tokens == sum(len(t.split()) for t in TEXTS) and not e.usage.estimated
    assert e.usage.cost is None  # not api.openai.com: no list price applies
    body = server.requests[-1]["body"]
    assert server.requests[-1]["path"].endswith("/embeddings")
    assert body["input"] == TEXTS and body["encoding_format"] == "float"

    one = client.embed("the cat sat on the mat", dimensions=8)
    assert len(one) == 1 and one.dimensions == 8 and server.requests[-1]["body"]["dimensions"] == 8
    assert client.embed([]).vectors == []  # nothing to send: no request
    assert len(server.requests) == 2


def test_openai_embed_retries_and_async(server, no_sleep):
    client = llmkit.Client("openai:emb", base_url=server.base_url)
    server.script(Reply(status=503), Reply(embeddings=[[0.6, 0.8]]))
    assert client.embed("x").vectors == [[0.6, 0.8]]
    assert len(no_sleep) == 1

    e = asyncio.run(client.aembed(TEXTS[:2]))
    assert len(e) == 2 and e.model == "openai:emb"


def test_openai_embed_malformed_reply(server):
    client = llmkit.Client("openai:emb", base_url=server.base_url, max_retries=0)
    server.script(Reply(embeddings=[[1.0, 0.0]]))  # one vector for two texts
    with pytest.raises(MalformedResponseError, match="2 texts"):
        client.embed(["a", "b"])
    server.script(Reply(body=b'{"object": "list", "data": [{"index": 0, "embedding": "AAAA"}]}'))
    with pytest.raises(MalformedResponseError):
        client.embed("a")


def test_openai_embed_price_on_the_official_api(api, openai_key):
    payload = {"object": "list", "model": "text-embedding-3-small",
               "data": [{"object": "embedding", "index": 0, "embedding": [0.0, 1.0]}],
               "usage": {"prompt_tokens": 1_000_000, "total_tokens": 1_000_000}}  # fmt: skip
    route = api.post("/embeddings").respond(200, json=payload)
    e = llmkit.Client("openai:text-embedding-3-small").embed("hello")
    assert e.usage.cost == pytest.approx(0.02)
    assert json.loads(route.calls[0].request.content)["model"] == "text-embedding-3-small"


def test_embed_options_and_capabilities(server):
    client = llmkit.Client("openai:emb", base_url=server.base_url)
    with pytest.raises(InvalidOptionError, match="temperature") as info:
        client.embed("x", temperature=0)
    assert "dimensions" in str(info.value)
    with pytest.raises(InvalidOptionError):
        client.embed([1, 2])  # type: ignore[list-item]
    plain = llmkit.Client("mock", responses=["hi"], capabilities={"embeddings": False})
    assert not plain.capabilities.embeddings
    with pytest.raises(MissingCapabilityError, match="embeddings"):
        plain.embed("x")


def test_mock_embeddings_for_tests_of_your_own_code():
    client = llmkit.Client("mock:echo")
    e = client.embed(TEXTS, dimensions=16)
    assert e.dimensions == 16 and all(unit(v) for v in e) and e.similarity(0, 1) > e.similarity(0, 2)
    assert e.vectors == client.embed(TEXTS, dimensions=16).vectors  # deterministic
    assert client.backend.calls[-1] == ("embed", TEXTS, {"dimensions": 16})


def test_mini_embeddings():
    client = llmkit.Client("mini")
    code = ["def add(a, b):\n    return a + b", "def plus(x, y):\n    return x + y", "import os\nos.listdir('.')"]
    e = client.embed(code)
    assert len(e) == 3 and e.dimensions == client.backend.engine.config.n_embd and all(unit(v) for v in e)
    assert e.similarity(0, 1) > e.similarity(0, 2)
    assert e.usage.input_tokens == sum(client.count_tokens(t) for t in code)
    # batched with right padding == one at a time
    for text, vector in zip(code, e, strict=True):
        assert client.embed(text)[0] == pytest.approx(vector, abs=1e-5)
    assert unit(client.embed("")[0])

    long = "import os\n" * 200 + "x = 1\n" * 200
    with pytest.raises(ContextLengthError, match="context window"):
        client.embed(long)
    end, start = client.embed(long, truncate="left")[0], client.embed(long, truncate="right")[0]
    tail = client.embed("x = 1\n" * 40)[0]
    assert llmkit.cosine(end, tail) > llmkit.cosine(start, tail)  # left keeps the end, right the start


def test_cosine_helper():
    assert llmkit.cosine([1.0, 0.0], [0.0, 2.0]) == 0.0
    assert llmkit.cosine([1.0, 1.0], [2.0, 2.0]) == pytest.approx(1.0)
    assert llmkit.cosine([0.0, 0.0], [1.0, 0.0]) == 0.0


def test_client_defaults_apply_to_the_calls_that_take_them(server):
    client = llmkit.Client("openai:emb", base_url=server.base_url, temperature=0, dimensions=8)
    assert client.embed("x").dimensions == 8 and "temperature" not in server.requests[-1]["body"]
    client.chat("hi")
    assert server.requests[-1]["body"]["temperature"] == 0 and "dimensions" not in server.requests[-1]["body"]
    assert llmkit.Client("mini", temperature=0).embed("x = 1").dimensions == 256
    with pytest.raises(InvalidOptionError, match="bogus"):
        client.embed([], bogus=1)  # nothing to send, still checked


def test_embeddings_never_fall_back_to_another_vector_space(server, no_sleep):
    client = llmkit.Client("openai:emb", base_url=server.base_url, fallbacks=["mock:echo"], max_retries=1)
    server.script(Reply(status=503), Reply(status=503))
    with pytest.raises(ServerError):
        client.embed("x")
    assert len(no_sleep) == 1  # retried once, then no fallback
    assert client.chat("hi").text == "Echo: hi"  # chat still falls back as configured


def test_long_lists_are_split_into_requests_within_the_limits(server, monkeypatch):
    monkeypatch.setattr(openai_embeddings, "EMBED_MAX_INPUTS", 2)
    client = llmkit.Client("openai:emb", base_url=server.base_url)
    texts = [f"text number {i}" for i in range(5)]
    e = client.embed(texts)
    assert [r["body"]["input"] for r in server.requests] == [texts[:2], texts[2:4], texts[4:]]
    assert e.vectors == [client.embed(t)[0] for t in texts]  # in order
    assert e.usage.input_tokens == 15

    monkeypatch.setattr(openai_embeddings, "EMBED_MAX_BYTES", 20)
    server.requests.clear()
    client.embed(["a" * 15, "b" * 15, "c"])
    assert [len(r["body"]["input"]) for r in server.requests] == [1, 2]


def test_the_official_api_is_not_sent_empty_strings(api, openai_key):
    route = api.post("/embeddings").respond(200, json={})
    with pytest.raises(InvalidOptionError, match="text #1 is empty"):
        llmkit.Client("openai:text-embedding-3-small").embed(["fine", ""])
    assert not route.called


def test_mini_overflow_hint_names_truncate():
    with pytest.raises(ContextLengthError) as info:
        llmkit.Client("mini").embed("x = 1\n" * 400)
    assert 'truncate="left"' in info.value.hint and "max_tokens" not in info.value.hint
