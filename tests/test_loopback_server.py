"""The OpenAI backend against a real OpenAI-compatible HTTP server on loopback."""

import asyncio
import json

import pytest

import llmkit
from llmkit.testing.openai_server import OpenAICompatibleServer, Reply


def test_chat_round_trip(server, local_client):
    r = local_client.chat([llmkit.system("Be brief."), llmkit.user("Hello there")], max_tokens=20, temperature=0)
    assert r.text == "Echo: Hello there"
    assert r.finish_reason == "stop"
    assert r.model == "openai:test-model"
    assert (r.usage.input_tokens, r.usage.output_tokens) == (2, 3)
    sent = server.requests[-1]["body"]
    assert sent["messages"][0] == {"role": "system", "content": "Be brief."}
    assert sent["max_tokens"] == 20 and sent["temperature"] == 0


def test_stream_and_usage(server, local_client):
    stream = local_client.stream("one two three")
    pieces = [e.text for e in stream if e.text]
    assert "".join(pieces) == "Echo: one two three"
    assert len(pieces) == 4  # really streamed, word by word
    assert stream.response.usage.output_tokens == 4
    assert stream.response.finish_reason == "stop"
    assert server.requests[-1]["body"]["stream_options"] == {"include_usage": True}


def test_async_chat_and_stream(server, local_client):
    async def go():
        r = await local_client.achat("async hi")
        texts = [e.text async for e in local_client.astream("async stream")]
        return r, "".join(texts)

    r, streamed = asyncio.run(go())
    assert r.text == "Echo: async hi"
    assert streamed == "Echo: async stream"


def test_complete_n_samples_and_suffix(server, local_client):
    r = local_client.complete("The cat sat on the", n=3, max_tokens=5, suffix=" end.")
    assert r.texts == [" continuation 0", " continuation 1", " continuation 2"]
    body = server.requests[-1]["body"]
    assert server.requests[-1]["path"].endswith("/v1/completions")
    assert body["prompt"] == "The cat sat on the" and body["suffix"] == " end." and body["n"] == 3


def test_retry_after_then_success(server, local_client, no_sleep):
    server.script(Reply(status=429, headers={"retry-after": "3"}), Reply(status=503), Reply(text="ok"))
    assert local_client.chat("x").text == "ok"
    assert no_sleep[0] == 3.0 and len(no_sleep) == 2
    assert len(server.requests) == 3


def test_dropped_stream_before_output_is_retried(server, local_client, no_sleep):
    server.script(Reply(drop_after=0), Reply(text="second try"))
    assert local_client.stream("x").response.text == "second try"
    assert len(server.requests) == 2


def test_dropped_stream_after_output_is_not_retried(server, local_client, no_sleep):
    server.script(Reply(text="a b c d", drop_after=3))
    stream = local_client.stream("x")
    with pytest.raises(llmkit.APIConnectionError):
        for _ in stream:
            pass
    assert stream.text == "a b "  # what arrived is kept
    assert len(server.requests) == 1 and no_sleep == []


def test_missing_done_with_finish_reason_is_fine(server, local_client):
    chunk = {"id": "c", "object": "chat.completion.chunk", "created": 0, "model": "m",
             "choices": [{"index": 0, "delta": {"content": "fine"}, "finish_reason": "stop"}]}
    server.script(Reply(sse=[b"data: " + json.dumps(chunk).encode() + b"\n\n"]))
    assert local_client.stream("x").response.text == "fine"


def test_truncated_stream_is_an_error(server, local_client, no_sleep):
    chunk = {"id": "c", "object": "chat.completion.chunk", "created": 0, "model": "m",
             "choices": [{"index": 0, "delta": {"content": "half"}, "finish_reason": None}]}
    server.script(Reply(sse=[b"data: " + json.dumps(chunk).encode() + b"\n\n"]))
    with pytest.raises(llmkit.MalformedStreamError):
        local_client.stream("x").response


def test_malformed_reply(server, local_client, no_sleep):
    server.script(*[Reply(body=b"<html>not json</html>")] * 3)
    with pytest.raises(llmkit.MalformedResponseError):
        local_client.chat("x")


def test_tool_calls_over_the_wire(server, local_client):
    calls = [
        {"id": "call_1", "type": "function", "function": {"name": "add", "arguments": '{"a": 1, "b": 2}'}},
        {"id": "call_2", "type": "function", "function": {"name": "add", "arguments": '{"a": 3, "b": 4}'}},
    ]
    server.script(Reply(tool_calls=calls), Reply(tool_calls=calls))

    def add(a: int, b: int) -> int:
        """Add two numbers."""
        return a + b

    r = local_client.chat("1+2 and 3+4?", tools=[add])
    assert [c.args for c in r.tool_calls] == [{"a": 1, "b": 2}, {"a": 3, "b": 4}]
    tool = server.requests[-1]["body"]["tools"][0]["function"]
    assert tool["name"] == "add" and tool["parameters"]["required"] == ["a", "b"]
    streamed = local_client.stream("again", tools=[add]).response
    assert [c.name for c in streamed.tool_calls] == ["add", "add"]
    assert streamed.tool_calls[1].args == {"a": 3, "b": 4}


def test_server_requiring_a_key(monkeypatch):
    with OpenAICompatibleServer(api_key="sk-local-secret-123456") as s:
        monkeypatch.setenv("LOCAL_KEY", "sk-local-secret-123456")
        ok = llmkit.Client("openai:m", base_url=s.base_url, api_key_env="LOCAL_KEY")
        assert ok.chat("hi").text == "Echo: hi"
        bad = llmkit.Client("openai:m", base_url=s.base_url, api_key="sk-wrong-key-0000000")
        with pytest.raises(llmkit.AuthenticationError) as err:
            bad.chat("hi")
        assert "sk-wrong-key-0000000" not in str(err.value)


def test_configured_provider_reaches_the_server(server, isolated_home):
    isolated_home.mkdir(parents=True, exist_ok=True)
    (isolated_home / "config.toml").write_text(
        f'[providers.local]\nkind = "openai"\nbase_url = "{server.base_url}"\n\n[aliases]\nqwen = "local:qwen2.5"\n'
    )
    r = llmkit.Client("qwen").chat("via alias")
    assert r.text == "Echo: via alias"
    assert r.model == "local:qwen2.5"
    assert server.requests[-1]["body"]["model"] == "qwen2.5"


def test_connection_refused_is_clear(no_sleep):
    import socket

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    client = llmkit.Client("openai:m", base_url=f"http://127.0.0.1:{port}/v1")
    with pytest.raises(llmkit.APIConnectionError) as err:
        client.chat("hi")
    assert f"127.0.0.1:{port}" in str(err.value)
    assert len(no_sleep) == 2  # retried, then gave up


def test_own_http_clients_are_used_sync_and_async(server):
    import httpx  # httpx2, through tests/httpx2_alias.py

    seen: list[str] = []

    def hook(request):
        seen.append(f"sync {request.url.path}")

    async def ahook(request):
        seen.append(f"async {request.url.path}")

    client = llmkit.Client(
        "openai:test-model",
        base_url=server.base_url,
        http_client=httpx.Client(event_hooks={"request": [hook]}),
        async_http_client=httpx.AsyncClient(event_hooks={"request": [ahook]}),
    )
    assert client.chat("hi").text == "Echo: hi"

    async def both():  # an AsyncClient's connections belong to one event loop
        return (await client.achat("hi again")).text, (await client.aembed("x")).dimensions

    assert asyncio.run(both()) == ("Echo: hi again", 32)
    assert seen == ["sync /v1/chat/completions", "async /v1/chat/completions", "async /v1/embeddings"]


def test_closed_clients_free_their_connection_pools_but_never_a_callers_http_client(server):
    import httpx  # httpx2, through tests/httpx2_alias.py

    from llmkit.backends.openai import SDK_CLIENTS

    llmkit.clear_caches()
    own = httpx.Client()
    sdks = []
    for i in range(SDK_CLIENTS.keep + 3):  # distinct settings: one SDK client (and pool) each
        with llmkit.Client("openai:test-model", base_url=server.base_url, headers={"x-n": str(i)}) as client:
            assert client.chat("hi").text == "Echo: hi"
            sdks.append(client.backend.sdk)
    assert SDK_CLIENTS.stats() == {"live": 0, "idle": SDK_CLIENTS.keep}
    assert [s.is_closed() for s in sdks] == [True] * 3 + [False] * SDK_CLIENTS.keep  # oldest idle ones closed
    for _ in range(SDK_CLIENTS.keep + 1):
        with llmkit.Client("openai:test-model", base_url=server.base_url, http_client=own) as client:
            client.chat("hi")
        llmkit.clear_caches()
    assert not own.is_closed  # the caller's client is theirs to close
    assert llmkit.Client("openai:test-model", base_url=server.base_url, http_client=own).chat("hi").text == "Echo: hi"
