"""Token counting, context windows and prices (tiktoken offline)."""

import pytest

import llmkit
from llmkit import tokens


def test_cl100k_counts_are_exact_for_gpt4(monkeypatch):
    n = tokens.count("hello world", "gpt-4")
    assert n == 2 and not n.estimate and n.encoding == "cl100k_base"


def test_o200k_models_fall_back_to_a_flagged_estimate(tmp_path, monkeypatch):
    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", str(tmp_path))  # an empty cache: o200k absent
    tokens.encoding.cache_clear()
    n = tokens.count("hello world", "gpt-4o-mini")
    assert n == 2 and n.estimate and n.encoding == "cl100k_base"
    tokens.encoding.cache_clear()


def test_unknown_models_are_estimates():
    assert tokens.count("hello world", "qwen2.5").estimate


def test_message_counting_follows_the_chat_format():
    messages = [llmkit.system("You are terse."), llmkit.user("hello world")]
    text_tokens = tokens.count("You are terse.", "gpt-4") + tokens.count("hello world", "gpt-4")
    assert tokens.count(messages, "gpt-4") == text_tokens + 2 * tokens.TOKENS_PER_MESSAGE + tokens.REPLY_PRIMING


def test_model_table_matches_dated_snapshots():
    assert tokens.context_window("gpt-4o-mini-2024-07-18") == 128000
    assert tokens.context_window("gpt-4o") == 128000
    assert tokens.model_info("gpt-4o-mini")["input"] < tokens.model_info("gpt-4o")["input"]
    assert tokens.context_window("my-local-model") is None


def test_cost():
    assert tokens.cost("gpt-4o-mini", 1_000_000, 1_000_000) == pytest.approx(0.15 + 0.60)
    assert tokens.cost("unknown", 10, 10) is None


def test_client_count_tokens_and_overflow(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-abcdefghijklmnop")
    client = llmkit.Client("openai:gpt-4")
    assert client.count_tokens("hello world") == 2
    assert client.count_tokens([{"role": "user", "content": "hello world"}]) == 2 + 3 + 3
    huge = "word " * 9000  # gpt-4 has an 8192-token window
    with pytest.raises(llmkit.ContextLengthError) as err:
        client.chat(huge)
    expected = client.count_tokens([llmkit.user(huge)])
    assert expected > 8192
    assert f"the prompt has {expected} tokens" in str(err.value) and "8192" in str(err.value)


def test_counting_without_tiktoken(monkeypatch):
    monkeypatch.setitem(__import__("sys").modules, "tiktoken", None)
    tokens.encoding.cache_clear()
    n = tokens.count("abcdefgh", "gpt-4")
    assert n == 2 and n.estimate and n.encoding == "bytes/4"
    tokens.encoding.cache_clear()
