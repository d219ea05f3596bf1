"""How to test a plugin: the provider against llmkit's loopback OpenAI-compatible server
(a real HTTP server on 127.0.0.1), the task and the tool with the scripted `mock` model."""

import argparse

import pytest
from llmkit_hello import HelloBackend, greeting, word_count
from llmkit_hello import cli as hello_cli

import llmkit
from llmkit.testing.openai_server import OpenAICompatibleServer, Reply


@pytest.fixture
def hello():
    llmkit.register_provider("hello", HelloBackend)  # an installed plugin is found by its entry point
    yield
    llmkit.registry.unregister_provider("hello")


def test_provider_speaks_to_a_real_server(hello):
    with OpenAICompatibleServer() as server:
        server.script(Reply(text="Hi there"))
        answer = llmkit.Client("hello:tiny", base_url=server.base_url).chat("Hello", max_tokens=5)
    assert answer.text == "Hi there" and answer.usage.output_tokens > 0
    sent = server.requests[0]["body"]
    assert sent["model"] == "tiny" and sent["max_tokens"] == 5 and sent["messages"][-1]["content"] == "Hello"


def test_server_errors_become_llmkit_errors_and_are_retried(hello):
    with OpenAICompatibleServer() as server:
        server.script(Reply(status=500), Reply(text="second try"))
        client = llmkit.Client("hello:tiny", base_url=server.base_url, retry_policy=llmkit.RetryPolicy(base_delay=0))
        assert client.chat("Hello").text == "second try"  # llmkit's retry loop, not the plugin's
        server.script(Reply(status=401))
        with pytest.raises(llmkit.AuthenticationError):
            client.chat("Hello")


def test_llmkit_checks_options_for_the_plugin(hello):
    with pytest.raises(llmkit.InvalidOptionError):
        llmkit.Client("hello:tiny").chat("Hello", top_k=3)  # not in HelloBackend.options


def test_task_with_the_mock_model():
    mock = llmkit.Client("mock", responses=["Hello, Ada!\n(and more)"])
    assert greeting("Ada", model=mock).text == "Hello, Ada!"
    kind, messages, options = mock.backend.calls[0]  # the mock records every call
    assert kind == "chat" and messages[-1].text == "Greet Ada."


def test_tool_in_an_agent_run():
    mock = llmkit.Client("mock", responses=[llmkit.ToolCall("1", "word_count", '{"text": "one two three"}'), "3 words"])
    result = llmkit.Agent(mock, tools=[word_count]).run("Count the words in: one two three")
    assert result.output == "3 words" and result.messages[2].text == "3"


def test_command(capsys):
    parser = argparse.ArgumentParser()
    hello_cli.add_arguments(parser)
    assert hello_cli.run(parser.parse_args(["Ada", "-m", "mock:echo"])) == 0
    assert "Greet Ada." in capsys.readouterr().out
