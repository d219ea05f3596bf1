"""Chat through the real anthropic SDK, HTTP mocked by respx: the request as Anthropic
wants it (system, turns, options, headers), the answer, usage and prices, what llmkit
refuses before sending, and replies of the wrong shape."""

from __future__ import annotations

import asyncio
import base64

import httpx  # httpx2, aliased (tests/httpx2_alias.py)
import pytest
from anthropic_payloads import KEY, MESSAGES, MODEL, message, sent_json, tool_use
from llmkit_anthropic import AnthropicBackend
from llmkit_anthropic import models as prices

import llmkit


def client(model: str = MODEL, **kw) -> llmkit.Client:
    return llmkit.Client(f"anthropic:{model}", **kw)


def test_chat_returns_text_finish_reason_usage_cost_and_ids(api):
    api.post(MESSAGES).respond(200, json=message("Hi there!", input_tokens=1000, output_tokens=2000))
    r = client().chat("Hello")
    assert r.text == "Hi there!" and r.texts == ["Hi there!"]
    assert r.finish_reason == "stop"
    assert (r.usage.input_tokens, r.usage.output_tokens, r.usage.estimated) == (1000, 2000, False)
    assert r.usage.cost == pytest.approx((1000 * 3.0 + 2000 * 15.0) / 1e6)  # Sonnet 4.5: $3 in, $15 out
    assert r.model == "anthropic:claude-sonnet-4-5"
    assert r.served_model == "claude-sonnet-4-5-20250929"
    assert r.id == "msg_01" and r.tool_calls == [] and r.structured_by is None
    assert isinstance(client().backend, AnthropicBackend)


def test_the_request_carries_the_key_version_model_and_a_default_max_tokens(api):
    route = api.post(MESSAGES).respond(200, json=message())
    client().chat("Hello")
    request = route.calls[0].request
    assert request.headers["authorization"] == f"Bearer {KEY}"  # how the SDK (2.15) sends the key
    assert request.headers["anthropic-version"]
    body = sent_json(route)
    assert body == {"model": MODEL, "max_tokens": 4096,
                    "messages": [{"role": "user", "content": [{"type": "text", "text": "Hello"}]}]}


def test_system_prompts_go_in_system_and_turns_alternate(api):
    route = api.post(MESSAGES).respond(200, json=message("4"))
    conversation = [
        llmkit.system("Be brief."),
        llmkit.user("What is 2+2?"),
        llmkit.assistant("Let me add.", [llmkit.ToolCall("toolu_1", "add", '{"a": 2, "b": 2}'),
                                         llmkit.ToolCall("toolu_2", "add", '{"a": 0, "b": 0}')]),
        llmkit.tool_result("4", "toolu_1"),
        llmkit.tool_result("0", "toolu_2"),
        llmkit.system("Answer with a number."),
        llmkit.user("So?"),
    ]
    client().chat(conversation)
    body = sent_json(route)
    assert body["system"] == "Be brief.\n\nAnswer with a number."
    assert body["messages"] == [
        {"role": "user", "content": [{"type": "text", "text": "What is 2+2?"}]},
        {"role": "assistant", "content": [
            {"type": "text", "text": "Let me add."},
            {"type": "tool_use", "id": "toolu_1", "name": "add", "input": {"a": 2, "b": 2}},
            {"type": "tool_use", "id": "toolu_2", "name": "add", "input": {"a": 0, "b": 0}}]},
        {"role": "user", "content": [  # both results and the next words, in one user turn, results first
            {"type": "tool_result", "tool_use_id": "toolu_1", "content": "4"},
            {"type": "tool_result", "tool_use_id": "toolu_2", "content": "0"},
            {"type": "text", "text": "So?"}]},
    ]


def test_options_map_onto_anthropic_parameters(api):
    route = api.post(MESSAGES).respond(200, json=message())
    client().chat("Hi", max_tokens=50, stop="END", user="u-42",
                  extra_body={"service_tier": "auto"}, extra_headers={"anthropic-beta": "test-beta"})
    body = sent_json(route)
    assert body["max_tokens"] == 50
    assert body["stop_sequences"] == ["END"]
    assert body["metadata"] == {"user_id": "u-42"}
    assert body["service_tier"] == "auto"
    assert route.calls[0].request.headers["anthropic-beta"] == "test-beta"


def test_default_max_tokens_follows_the_setting_and_the_models_limit(api):
    route = api.post(MESSAGES).respond(200, json=message())
    client(default_max_tokens=123).chat("Hi")
    client("claude-3-haiku-20240307").chat("Hi")  # its output limit is 4096
    assert sent_json(route, 0)["max_tokens"] == 123
    assert sent_json(route, 1)["max_tokens"] == 4096


def test_an_image_as_a_data_url_becomes_an_image_block(api):
    route = api.post(MESSAGES).respond(200, json=message("a red dot"))
    data = base64.b64encode(b"\x89PNG fake").decode()
    client().chat([llmkit.user([{"type": "text", "text": "What is this?"},
                                {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{data}"}},
                                {"type": "image_url", "image_url": {"url": "https://example.com/cat.jpg"}}])])
    content = sent_json(route)["messages"][0]["content"]
    assert content[1] == {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": data}}
    assert content[2] == {"type": "image", "source": {"type": "url", "url": "https://example.com/cat.jpg"}}


def test_anthropic_keys_on_text_blocks_are_kept(api):
    route = api.post(MESSAGES).respond(200, json=message())
    client().chat([llmkit.user([{"type": "text", "text": "A long document...", "cache_control": {"type": "ephemeral"}},
                                {"type": "text", "text": "Summarise it."}])])
    content = sent_json(route)["messages"][0]["content"]
    assert content[0] == {"type": "text", "text": "A long document...", "cache_control": {"type": "ephemeral"}}


def test_a_content_part_anthropic_cannot_take_is_refused_before_sending(api):
    route = api.post(MESSAGES).respond(200, json=message())
    with pytest.raises(llmkit.InvalidOptionError, match="input_audio"):
        client().chat([llmkit.user([{"type": "input_audio", "input_audio": {"data": "x", "format": "wav"}}])])
    assert not route.called


@pytest.mark.parametrize("stop_reason, finish", [("end_turn", "stop"), ("stop_sequence", "stop"),
                                                 ("max_tokens", "length"), ("tool_use", "tool_calls"),
                                                 ("refusal", "content_filter"),
                                                 ("model_context_window_exceeded", "length")])  # fmt: skip
def test_stop_reasons_become_llmkit_finish_reasons(api, stop_reason, finish):
    api.post(MESSAGES).respond(200, json=message("x", stop_reason=stop_reason))
    assert client().chat("Hi").finish_reason == finish


def test_cached_tokens_count_as_input_and_are_priced_as_anthropic_bills_them(api):
    api.post(MESSAGES).respond(200, json=message(
        "ok", input_tokens=100, output_tokens=10, cache_read_input_tokens=2000, cache_creation_input_tokens=500,
        cache_creation={"ephemeral_5m_input_tokens": 300, "ephemeral_1h_input_tokens": 200}))
    r = client("claude-haiku-4-5").chat("Hi")
    assert r.usage.input_tokens == 100 + 2000 + 500
    expected = (100 * 1.0 + 300 * 1.0 * 1.25 + 200 * 1.0 * 2 + 2000 * 1.0 * 0.1 + 10 * 5.0) / 1e6
    assert r.usage.cost == pytest.approx(expected)


def test_long_context_sonnet_requests_are_billed_at_the_higher_price(api):
    api.post(MESSAGES).respond(200, json=message("ok", input_tokens=300_000, output_tokens=1000))
    r = client().chat("Hi")
    assert r.usage.cost == pytest.approx((300_000 * 6.0 + 1000 * 22.5) / 1e6)


def test_prices_setting_overrides_and_unknown_models_have_no_cost(api):
    api.post(MESSAGES).respond(200, json=message("ok", input_tokens=1_000_000, output_tokens=1_000_000))
    assert client(prices={"input": 1, "output": 2}).chat("Hi").usage.cost == pytest.approx(3.0)
    assert client("claude-opus-4-7").chat("Hi").usage.cost is None  # not in the table: no guess from claude-opus-4
    assert prices.info("claude-opus-4-20250514") is prices.MODELS["claude-opus-4"]


def test_another_base_url_is_not_priced_unless_prices_are_given(key):
    import respx

    with respx.mock(base_url="http://proxy.local:8080") as mock:
        mock.post(MESSAGES).respond(200, json=message("ok", input_tokens=10, output_tokens=10))
        r = client(base_url="http://proxy.local:8080").chat("Hi")
    assert r.text == "ok" and r.usage.cost is None


def test_sampling_options_are_taken_but_not_sent_and_the_log_says_so(api, caplog):
    """The SDK's API version (2026-10-21) refuses temperature/top_p/top_k on every model;
    llmkit's tasks ask for temperature 0, so the options are taken and left out."""
    route = api.post(MESSAGES).respond(200, json=message())
    with caplog.at_level("WARNING", logger="llmkit"):
        client().chat("Hi", temperature=0, top_p=0.9)
        client().chat("Hi", temperature=0, top_p=0.9)
    body = sent_json(route)
    assert not {"temperature", "top_p", "top_k"} & set(body)
    said = [r.getMessage() for r in caplog.records if "not sent" in r.getMessage()]
    assert len(said) == 1 and "temperature, top_p" in said[0] and "send_sampling" in said[0]


def test_send_sampling_puts_them_in_the_body(api):
    route = api.post(MESSAGES).respond(200, json=message())
    client(send_sampling=True).chat("Hi", temperature=0.2, top_k=40, extra_body={"service_tier": "auto"})
    body = sent_json(route)
    assert (body["temperature"], body["top_k"], body["service_tier"]) == (0.2, 40, "auto")


def test_an_option_anthropic_does_not_take_is_refused_by_llmkit(api):
    route = api.post(MESSAGES).respond(200, json=message())
    with pytest.raises(llmkit.InvalidOptionError) as err:
        client().chat("Hi", seed=7)
    assert "unknown option 'seed'" in str(err.value) and "top_k" in str(err.value)
    with pytest.raises(llmkit.InvalidOptionError, match="unknown option 'frequency_penalty'"):
        client(frequency_penalty=0.5)
    with pytest.raises(llmkit.MissingCapabilityError):
        client().complete("Once upon a time")
    with pytest.raises(llmkit.InvalidOptionError, match="unknown option 'n'"):
        client().chat("Hi", n=2)
    assert not route.called


def test_settings_are_checked_in_words(key):
    with pytest.raises(llmkit.InvalidOptionError, match="unknown setting 'base_uri'"):
        AnthropicBackend(MODEL, base_uri="x")
    with pytest.raises(llmkit.InvalidOptionError, match="setting prices="):
        client(prices={"input": "cheap"})
    with pytest.raises(llmkit.InvalidOptionError, match="setting timeout="):
        client(timeout=-1)
    with pytest.raises(llmkit.UnknownModelError, match="no model name"):
        llmkit.Client("anthropic")


def test_without_a_key_the_error_says_to_set_anthropic_api_key():
    with pytest.raises(llmkit.ConfigurationError) as err:
        client()
    text = str(err.value)
    assert "ANTHROPIC_API_KEY is not set" in text and "export ANTHROPIC_API_KEY=" in text


def test_api_key_env_names_another_variable(monkeypatch):
    import respx

    monkeypatch.setenv("MY_CLAUDE_KEY", "another-credential-5d8c2f")
    with respx.mock(base_url="https://api.anthropic.com") as mock:
        route = mock.post(MESSAGES).respond(200, json=message())
        client(api_key_env="MY_CLAUDE_KEY").chat("Hi")
    assert route.calls[0].request.headers["authorization"] == "Bearer another-credential-5d8c2f"
    with pytest.raises(llmkit.ConfigurationError, match="MY_OTHER_KEY is not set"):
        client(api_key_env="MY_OTHER_KEY")


def test_a_prompt_surely_too_long_is_refused_before_sending(api):
    route = api.post(MESSAGES).respond(200, json=message())
    with pytest.raises(llmkit.ContextLengthError, match="context window of 200000"):
        client().chat("word " * 300_000)  # 1.5 MB: over 200k tokens at any rate of bytes per token
    assert not route.called
    client().chat("word " * 100_000)  # may fit (about 125k tokens): the server decides
    assert route.called


def test_count_tokens_is_an_estimate_and_says_so(key):
    c = client()
    n = c.count_tokens("x" * 400)
    assert int(n) == 100 and n.estimate
    assert c.count_tokens([llmkit.user("x" * 40)]) > 10
    assert c.context_window() == 200_000
    assert client(context_window=50_000).context_window() == 50_000


def test_achat_runs_through_the_same_backend(api):
    api.post(MESSAGES).respond(200, json=message("async hi"))
    assert asyncio.run(client().achat("Hi")).text == "async hi"


def test_tool_use_in_a_reply_becomes_tool_calls(api):
    api.post(MESSAGES).respond(200, json=message("Let me check.", stop_reason="tool_use",
                                                 tool_uses=[tool_use("get_weather", {"city": "Oslo"})]))
    r = client().chat("Weather in Oslo?", tools=[{"name": "get_weather", "parameters": {"type": "object"}}])
    assert r.text == "Let me check." and r.finish_reason == "tool_calls"
    assert r.tool_calls == [llmkit.ToolCall("toolu_01", "get_weather", '{"city": "Oslo"}')]
    assert r.tool_calls[0].args == {"city": "Oslo"}


@pytest.mark.parametrize("reply", [
    {"type": "message", "content": "just text", "stop_reason": "end_turn"},
    {"type": "message", "content": [None], "stop_reason": "end_turn"},
    {"type": "message", "content": [{"type": "text", "text": 5}]},
    {"type": "message", "content": [{"type": "tool_use", "id": "t", "input": {}}]},
    {"type": "message", "content": [{"type": "tool_use", "id": "t", "name": "f", "input": "[1]"}]},
    {"type": "message", "content": [], "usage": {"input_tokens": -3, "output_tokens": 1}},
    {"type": "message", "content": [], "usage": "lots"},
    {"type": "error", "error": {"type": "api_error"}},
])  # fmt: skip
def test_replies_of_the_wrong_shape_are_malformed_response_errors(api, reply):
    api.post(MESSAGES).respond(200, json=reply)
    with pytest.raises(llmkit.MalformedResponseError, match="malformed"):
        client(max_retries=0).chat("Hi")


def test_a_body_that_is_not_json_is_a_malformed_response_and_retried(api):
    route = api.post(MESSAGES)
    route.side_effect = [httpx.Response(200, text="<html>proxy error</html>", headers={"content-type": "text/html"}),
                         httpx.Response(200, text="{not json", headers={"content-type": "application/json"}),
                         httpx.Response(200, json=message("finally"))]  # fmt: skip
    assert client().chat("Hi").text == "finally"  # MalformedResponseError is retryable: twice, then the answer
    assert route.call_count == 3
    route.side_effect = [httpx.Response(200, text="{not json", headers={"content-type": "application/json"})]
    with pytest.raises(llmkit.MalformedResponseError, match="not valid JSON"):
        client(max_retries=0).chat("Hi")


def test_close_releases_the_sdk_client_and_a_later_call_builds_another(api):
    api.post(MESSAGES).respond(200, json=message("again"))
    c = client()
    c.chat("Hi")
    first = c.backend.sdk
    c.close()
    assert first.is_closed()
    assert c.chat("Hi").text == "again" and c.backend.sdk is not first


def test_capabilities_are_what_the_messages_api_does(key):
    caps = client().capabilities
    assert (caps.chat, caps.streaming, caps.tools, caps.structured_output) == (True, True, True, True)
    assert not (caps.completion or caps.embeddings or caps.logprobs or caps.multiple_samples)
    if hasattr(caps, "images"):  # a field of llmkit's newer than 0.1.0
        assert caps.images
