"""Every example runs, as a user would run it, and prints what it promises."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def run_example(name, *args):
    r = subprocess.run([sys.executable, str(EXAMPLES / name), *args], capture_output=True, text=True,
                       timeout=120, env=os.environ.copy())
    assert r.returncode == 0, r.stderr
    return r.stdout


def test_openai_compatible_against_loopback(server):
    out = run_example("openai_compatible.py", "--base-url", server.base_url, "--model", "test-model")
    assert "chat:      Echo: What is the capital of France?" in out
    assert "stream:   Echo: Count from one to five.  [" in out
    assert "async:     Echo: Say hi asynchronously." in out
    assert "complete:  [' continuation 0', ' continuation 1', ' continuation 2']" in out
    assert "tokens:" in out


def test_tools_and_json():
    out = run_example("tools_and_json.py")
    assert "model calls get_weather({'city': 'Oslo'})" in out
    assert "answer: It is 21 degrees in Oslo." in out
    assert "Forecast(city='Oslo', temperature=21.0, summary='mild')" in out


def test_retries_and_fallbacks():
    out = run_example("retries_and_fallbacks.py")
    assert "after 2 retries: 'recovered' from mock" in out
    assert "fallback: 'answered by the fallback' from mock:echo" in out
    assert "Did you mean 'temperature'" in out


def test_embeddings_offline_and_against_a_server(server):
    out = run_example("embeddings.py")
    assert "5 vectors of 256 dimensions from mini" in out
    ranks = [line for line in out.splitlines() if line[:2] in ("1.", "2.", "3.", "4.")]
    assert len(ranks) == 4 and "def add(a, b):" in ranks[0]  # the bundled model finds the look-alike

    out = run_example("embeddings.py", "--model", "openai:emb", "--base-url", server.base_url)
    assert "5 vectors of 32 dimensions from openai:emb" in out
    assert server.requests[-1]["body"]["input"][0].startswith("def plus(x, y):")


def test_custom_backend():
    out = run_example("custom_backend.py")
    assert "chat:     HELLO THERE!!! (shouted)" in out
    assert "stream:   STREAMS WORK TOO!!! (shouted)" in out
    assert "options:  ONE TWO (shouted)" in out
    assert "refused:  InvalidOptionError - unknown option 'temperature'" in out
    assert "refused:  MissingCapabilityError - shout:!!! does not support completion" in out
    assert "refused:  ContextLengthError - the prompt has 60 tokens" in out


def test_conversation():
    out = run_example("conversation.py")
    assert "1. 'What is the capital of France?' (7 tokens from mock:echo)" in out
    assert "2. And of Norway?\n" in out
    assert "3. streamed in 3 pieces: 'And of Peru?'" in out
    assert "after undo: 2 turns; the next message goes with 5 messages" in out
    assert "loaded 2 turns from chat.md; system prompt: 'Answer in one short sentence.'" in out
    assert "continued: 'Thanks!'" in out


def test_conversation_against_a_real_openai_compatible_server(server):
    out = run_example("conversation.py", "--model", "openai:test-model", "--base-url", server.base_url)
    assert "1. 'Echo: What is the capital of France?'" in out and "continued: 'Echo: Thanks!'" in out
    sent = server.requests[-1]["body"]["messages"]
    assert [m["role"] for m in sent] == ["system", "user", "assistant", "user", "assistant", "user"]


def test_conversation_with_a_local_model():
    out = run_example("conversation.py", "--model", "mini")
    assert "loaded 2 turns from chat.md" in out and "\ncontinued: " in out  # sampled: any text


def test_testing_agents():
    out = run_example("testing_agents.py")
    assert "passed: 'It is 21 degrees in Oslo.'" in out
    assert "blocked: openai:gpt-4o-mini chat() would reach a real model" in out and "sk-not" not in out


def test_agent():
    out = run_example("agent.py")
    assert 'calls  get_weather({"city": "Oslo"})' in out and 'calls  get_weather({"city": "Lima"})' in out
    assert "answer 'Oslo: 4 °C and Lima: 19 °C' after 2 steps" in out
    assert "typed  Forecast(city='Oslo', temperature_c=4.0)" in out


def test_agent_against_an_openai_compatible_server(server):
    from llmkit.testing.openai_server import Reply

    weather = {"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": '{"city": "Oslo"}'}}
    server.script(Reply(tool_calls=[weather]), Reply(text="Oslo: 4 C"), Reply(text='{"city": "Oslo", "temperature_c": 4}'))
    env = {**os.environ, "OPENAI_BASE_URL": server.base_url, "OPENAI_API_KEY": "sk-test-not-real-0000"}
    r = subprocess.run([sys.executable, str(EXAMPLES / "agent.py"), "--model", "openai:test-model"],
                       capture_output=True, text=True, timeout=120, env=env)  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert "answer 'Oslo: 4 C' after 2 steps" in r.stdout and "typed  Forecast(city='Oslo', temperature_c=4.0)" in r.stdout
    assert server.requests[2]["body"]["response_format"]["type"] == "json_schema"  # native structured output


def test_mcp_tools():
    out = run_example("mcp_tools.py")
    assert "tools: add_note(text), list_notes()" in out
    assert 'calls  add_note({"text": "buy milk"})' in out and "result noted (1 notes)" in out
    assert 'answer Your notes: ["buy milk"]' in out


@pytest.mark.slow
def test_no_example_prints_a_traceback_when_run_without_arguments(tmp_path):
    """A newcomer runs `python examples/x.py` first: a missing key or server is a message."""
    hidden = ("OPENAI_API_KEY", "ANTHROPIC_API_KEY", "OPENAI_BASE_URL", "LLMKIT_PLUGINS")  # plugins on, as for a user
    env = {k: v for k, v in os.environ.items() if k not in hidden}
    env["LLMKIT_HOME"] = str(tmp_path / "home")
    for script in sorted(EXAMPLES.glob("*.py")):
        done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=300,
                              env=env, cwd=tmp_path, stdin=subprocess.DEVNULL)  # fmt: skip
        assert "Traceback" not in done.stderr + done.stdout, f"{script.name}:\n{done.stderr[-2000:]}"
