"""The plugin as installed: found through its entry point (LLMKIT_PLUGINS unset), imported
only when used (listing providers imports neither it nor the SDK; a client imports the
SDK at its first request), and the example, run as a user runs it: without a key, and
against a loopback server that speaks Anthropic's Messages API."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from anthropic_payloads import MODEL, message, sse, start, text_block, tool_use
from anthropic_payloads import finish as finish_events

import llmkit
from llmkit import plugins

EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "plugin_anthropic.py"


@pytest.fixture
def all_plugins(monkeypatch):
    """Discovery as a user has it: LLMKIT_PLUGINS unset, every installed plugin scanned."""
    monkeypatch.delenv("LLMKIT_PLUGINS", raising=False)
    llmkit.clear_caches()
    yield
    llmkit.clear_caches()


def test_the_client_finds_the_provider_through_the_installed_entry_point(all_plugins, key):
    from llmkit_anthropic import AnthropicBackend

    c = llmkit.Client(f"anthropic:{MODEL}")
    assert type(c.backend) is AnthropicBackend and c.model == "anthropic:claude-sonnet-4-5"
    reg = plugins.get("provider", "anthropic")
    assert reg.owner == "llmkit-anthropic" and reg.target == "llmkit_anthropic:AnthropicBackend"
    (mine,) = [p for p in plugins.plugins() if p.name == "llmkit-anthropic"]
    assert mine.version == "0.1.0" and mine.requires == "<0.2,>=0.1" and not mine.skipped
    assert "Anthropic" in mine.summary
    assert "anthropic" in plugins.names("provider")


def test_with_plugins_turned_off_the_provider_is_unknown(monkeypatch, key):
    monkeypatch.setenv("LLMKIT_PLUGINS", "")
    llmkit.clear_caches()
    with pytest.raises(llmkit.UnknownModelError, match="unknown model 'anthropic:"):
        llmkit.Client(f"anthropic:{MODEL}")


def _python(code: str, home: Path, **env: str) -> str:
    environ = {k: v for k, v in os.environ.items() if k != "LLMKIT_PLUGINS" and not k.startswith("ANTHROPIC_")}
    environ.update(LLMKIT_HOME=str(home), **env)
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env=environ)
    assert r.returncode == 0, r.stderr
    return r.stdout.strip()


def test_listing_providers_imports_neither_the_plugin_nor_the_sdk(tmp_path):
    code = ("import sys, llmkit\nfrom llmkit import plugins\n"
            "print('anthropic' in plugins.names('provider'), 'llmkit_anthropic' in sys.modules, 'anthropic' in sys.modules)")  # fmt: skip
    assert _python(code, tmp_path) == "True False False"


def test_the_sdk_is_imported_at_the_first_request_not_before(tmp_path):
    code = ("import sys, llmkit\n"
            "c = llmkit.Client('anthropic:claude-haiku-4-5', base_url='http://127.0.0.1:9', max_retries=0)\n"
            "print('llmkit_anthropic' in sys.modules, 'anthropic' in sys.modules)\n"
            "try:\n    c.chat('Hi')\nexcept llmkit.APIConnectionError as e:\n    print(type(e).__name__)\n"
            "print('anthropic' in sys.modules)")  # fmt: skip
    assert _python(code, tmp_path).split() == ["True", "False", "APIConnectionError", "True"]


def _run_example(*args: str, home: Path, **env: str) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if k != "LLMKIT_PLUGINS" and not k.startswith("ANTHROPIC_")}
    environ.update(LLMKIT_HOME=str(home), **env)
    return subprocess.run([sys.executable, str(EXAMPLE), *args], capture_output=True, text=True, timeout=120,
                          env=environ)  # fmt: skip


def test_the_example_without_a_key_says_how_to_run_it(tmp_path):
    r = _run_example(home=tmp_path)
    assert r.returncode == 0 and r.stderr == ""
    assert "ANTHROPIC_API_KEY is not set" in r.stdout
    assert "ANTHROPIC_API_KEY=sk-ant-... python" in r.stdout and "--model claude-haiku-4-5" in r.stdout


class _FakeAnthropic(BaseHTTPRequestHandler):
    """Answers /v1/messages as Claude would for the example: text, a stream, a tool call
    and its follow-up, a structured answer through the forced tool."""

    requests: list[dict] = []

    def log_message(self, *args: object) -> None:
        pass

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["content-length"])))
        type(self).requests.append({"path": self.path, "body": body, "key": self.headers.get("authorization")})
        tools = [t["name"] for t in body.get("tools", [])]
        last = body["messages"][-1]["content"]
        if body.get("stream"):
            self._send(200, sse(start(12), *text_block(0, "One, two, ", "three, four, five."), *finish_events()),
                       "text/event-stream")  # fmt: skip
        elif "json_answer" in tools:
            answer = {"name": "Norway", "capital": "Oslo", "population_millions": 5.6}
            self._json(message(None, stop_reason="tool_use", tool_uses=[tool_use("json_answer", answer)]))
        elif "get_weather" in tools and not any(b.get("type") == "tool_result" for b in last):
            self._json(message(None, stop_reason="tool_use", tool_uses=[tool_use("get_weather", {"city": "Oslo"})]))
        elif "get_weather" in tools:
            self._json(message(f"Sunny: {last[0]['content']}"))
        else:
            self._json(message("Oslo is the capital of Norway.", input_tokens=20, output_tokens=8))

    def _json(self, payload: dict) -> None:
        self._send(200, json.dumps(payload).encode(), "application/json")

    def _send(self, status: int, data: bytes, kind: str) -> None:
        self.send_response(status)
        self.send_header("content-type", kind)
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


@pytest.fixture
def fake_anthropic():
    _FakeAnthropic.requests = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _FakeAnthropic)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", _FakeAnthropic.requests
    server.shutdown()
    server.server_close()


def test_the_example_against_a_server_that_speaks_the_messages_api(tmp_path, fake_anthropic):
    url, requests = fake_anthropic
    r = _run_example("--base-url", url, home=tmp_path, ANTHROPIC_API_KEY="example-credential-77aa")
    assert r.returncode == 0, r.stderr
    out = r.stdout
    assert "chat:       Oslo is the capital of Norway. (20 in / 8 out, no known price)" in out
    assert "stream:     One, two, three, four, five.  [finish: stop]" in out
    assert "agent:      get_weather({'city': 'Oslo'}) -> Sunny: It is 21 degrees and sunny in Oslo." in out
    assert "structured: Country(name='Norway', capital='Oslo', population_millions=5.6)" in out
    first = requests[0]
    assert first["path"] == "/v1/messages" and first["key"] == "Bearer example-credential-77aa"
    assert first["body"]["system"] == "Answer in one short sentence."
    assert requests[-1]["body"]["tool_choice"] == {"type": "tool", "name": "json_answer"}
