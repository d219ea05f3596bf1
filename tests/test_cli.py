"""The `llmkit` command, run as a real subprocess."""

import json
import os
import subprocess
import sys


def llmkit(*args, stdin="", env=None):
    full_env = {**os.environ, **(env or {})}
    return subprocess.run([sys.executable, "-m", "llmkit.cli", *args], input=stdin, capture_output=True,
                          text=True, env=full_env, timeout=60)


def test_help_is_fast_and_light():
    out = subprocess.run([sys.executable, "-c",
                          "import sys\nfrom llmkit.cli import build_parser\nbuild_parser().format_help()\n"
                          "print(sorted(m for m in ('torch','openai','transformers') if m in sys.modules))"],
                         capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
    r = llmkit("--help")
    assert r.returncode == 0 and "ask" in r.stdout


def test_ask_with_piped_stdin_and_json():
    r = llmkit("ask", "-m", "mock:echo", "--json", "summarise", stdin="some piped text")
    assert r.returncode == 0, r.stderr
    data = json.loads(r.stdout)
    assert data["text"] == "some piped text\n\nsummarise"  # stdin first, then the prompt (as `llm` does)
    assert data["model"] == "mock:echo" and data["usage"]["output_tokens"] > 0


def test_ask_streams_to_stdout():
    r = llmkit("ask", "-m", "mock:echo", "hello", "there")
    assert r.returncode == 0 and r.stdout == "hello there\n"


def test_ask_against_a_loopback_server(server):
    r = llmkit("ask", "-m", "openai:test", "hi", env={"OPENAI_BASE_URL": server.base_url})
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "Echo: hi"


def test_errors_are_one_line_and_nonzero():
    r = llmkit("ask", "-m", "nosuch:model", "hi")
    assert r.returncode == 1
    assert r.stderr.startswith("error: unknown model 'nosuch:model'")
    assert "Traceback" not in r.stderr
    r = llmkit("ask", "-m", "openai:gpt-4o-mini", "hi", env={"OPENAI_API_KEY": ""})
    assert r.returncode == 1 and "OPENAI_API_KEY" in r.stderr
    r = llmkit("ask", "-m", "mock:echo")
    assert r.returncode == 2 and "no prompt" in r.stderr


def test_models_lists_configured_endpoints(isolated_home):
    isolated_home.mkdir(parents=True)
    (isolated_home / "config.toml").write_text(
        '[providers.local]\nkind = "openai"\nbase_url = "http://127.0.0.1:8000/v1"\n[aliases]\nq = "local:qwen"\n')
    r = llmkit("models", "--json")
    data = json.loads(r.stdout)
    local = next(p for p in data["providers"] if p["provider"] == "local")
    assert local["base_url"] == "http://127.0.0.1:8000/v1" and "streaming" in local["capabilities"]
    assert data["aliases"] == {"q": "local:qwen"}
