"""Stored keys (`llmkit keys`, llmkit.keys), issue 13 item 8: set from a hidden prompt
or a pipe (never an argument), a 0600 file made so from the start, used after the
environment by the backends that read keys, and never shown or written elsewhere."""

import io
import json
import os
import stat
import subprocess
import sys

import pytest

import llmkit
from llmkit import keys
from llmkit.cli import main
from llmkit.testing.openai_server import OpenAICompatibleServer

STORED = "sk-test-stored-key-0123456789abcdef"
ENV = "sk-test-env-key-9876543210fedcba"


def llmkit_cli(*args, stdin="", env=None):
    return subprocess.run([sys.executable, "-m", "llmkit.cli", *args], input=stdin, capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, timeout=60)  # fmt: skip


def test_set_from_a_pipe_list_path_and_delete(isolated_home):
    r = llmkit_cli("keys", "set", "openai", stdin=STORED + "\n")
    assert r.returncode == 0, r.stderr
    assert STORED not in r.stdout + r.stderr and "stored OPENAI_API_KEY" in r.stderr
    path = isolated_home / "keys.json"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert json.loads(path.read_text()) == {"OPENAI_API_KEY": STORED}  # the newline is not part of the key
    r = llmkit_cli("keys", "list")
    assert r.stdout == "OPENAI_API_KEY\n" and STORED not in r.stdout + r.stderr
    r = llmkit_cli("keys", "list", env={"OPENAI_API_KEY": ENV})
    assert "is set in the environment: that one is used" in r.stdout and ENV not in r.stdout
    assert llmkit_cli("keys", "path").stdout.strip() == str(path)
    r = llmkit_cli("keys", "delete", "OPENAI_API_KEY")  # the variable's name and the short name are one key
    assert r.returncode == 0 and json.loads(path.read_text()) == {}
    r = llmkit_cli("keys", "delete", "openai")
    assert r.returncode == 1 and "no stored key OPENAI_API_KEY" in r.stderr


def test_set_at_a_terminal_asks_without_echo(isolated_home):
    pexpect = pytest.importorskip("pexpect")
    child = pexpect.spawn(sys.executable, ["-m", "llmkit.cli", "keys", "set", "openai"], env=dict(os.environ),
                          encoding="utf-8", timeout=30)  # fmt: skip
    child.expect("OPENAI_API_KEY \\(input is hidden\\): ")
    child.sendline(STORED)
    child.expect(pexpect.EOF)
    shown = child.before
    child.close()
    assert child.exitstatus == 0, shown
    assert STORED not in shown and "stored OPENAI_API_KEY" in shown  # typed, not echoed
    assert keys.lookup("OPENAI_API_KEY") == STORED


def test_a_key_on_the_command_line_is_refused_without_echoing_it(isolated_home):
    r = llmkit_cli("keys", "set", "openai", STORED)
    assert r.returncode == 1
    assert "never given on the command line" in r.stderr and STORED not in r.stdout + r.stderr
    assert not (isolated_home / "keys.json").exists()
    r = llmkit_cli("keys", "set", "openai", stdin="")
    assert r.returncode == 1 and "the key is empty" in r.stderr
    r = llmkit_cli("keys", "set", "bad name!", stdin=STORED)
    assert r.returncode == 1 and "not a key name" in r.stderr


def test_the_file_is_owner_only_before_it_gets_its_name(isolated_home, monkeypatch):
    seen = []
    real_replace = os.replace

    def replace(src, dst):  # the mode of the finished file, just before it is renamed into place
        seen.append((os.path.basename(dst), stat.S_IMODE(os.stat(src).st_mode), open(src).read()))
        return real_replace(src, dst)

    monkeypatch.setattr(os, "replace", replace)
    keys.store("openai", STORED)
    keys.store("LOCAL_API_KEY", "local-key-1234")
    assert [(name, mode) for name, mode, _ in seen] == [("keys.json", 0o600), ("keys.json", 0o600)]
    assert json.loads(seen[-1][2]) == {"LOCAL_API_KEY": "local-key-1234", "OPENAI_API_KEY": STORED}


def test_a_stored_key_is_used_when_the_environment_has_none(isolated_home, monkeypatch, capsys):
    with OpenAICompatibleServer(api_key=STORED) as server:
        monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(b"")))
        args = ["ask", "-m", "openai:test", "-o", "base_url", server.base_url, "hi"]
        assert main(args) == 1  # no key: the server refuses
        assert "error: " in (err := capsys.readouterr().err) and "API key" in err, err
        keys.store("openai", STORED)
        assert main(args) == 0
        assert capsys.readouterr().out == "Echo: hi\n"
        assert server.requests[-1]["headers"]["authorization"] == f"Bearer {STORED}"
    files = [p for p in isolated_home.rglob("*") if p.is_file() and p.name != "keys.json"]
    assert files and not any(STORED.encode() in p.read_bytes() for p in files)  # not in the history, config, ...


def test_the_environment_wins_over_a_stored_key(monkeypatch):
    keys.store("openai", STORED)
    monkeypatch.setenv("OPENAI_API_KEY", ENV)
    with OpenAICompatibleServer(api_key=ENV) as server:
        assert llmkit.Client("openai:test", base_url=server.base_url, max_retries=0).chat("hi").text == "Echo: hi"
        assert server.requests[-1]["headers"]["authorization"] == f"Bearer {ENV}"


def test_the_official_api_takes_a_stored_key(api):
    from openai_payloads import API, chat_completion

    with pytest.raises(llmkit.ConfigurationError, match="llmkit keys set OPENAI_API_KEY"):
        llmkit.Client("openai:gpt-4o-mini")  # none anywhere: the hint names both ways
    keys.store("openai", STORED)
    route = api.post(f"{API}/chat/completions").respond(200, json=chat_completion("Hi!"))
    assert llmkit.Client("openai:gpt-4o-mini").chat("hello").text == "Hi!"
    assert route.calls.last.request.headers["authorization"] == f"Bearer {STORED}"


def test_an_endpoints_key_by_its_name_or_its_variable(isolated_home):
    isolated_home.mkdir(parents=True, exist_ok=True)
    with OpenAICompatibleServer(api_key="local-secret-key-123") as server:
        (isolated_home / "config.toml").write_text(
            f'[providers.local]\nkind = "openai"\nbase_url = "{server.base_url}"\napi_key_env = "LOCAL_API_KEY"\n')
        r = llmkit_cli("keys", "set", "local", stdin="local-secret-key-123")  # the endpoint's name
        assert r.returncode == 0 and "stored LOCAL_API_KEY" in r.stderr
        assert keys.names() == ["LOCAL_API_KEY"]
        r = llmkit_cli("ask", "-m", "local:some-model", "hi")
        assert r.returncode == 0 and r.stdout == "Echo: hi\n", r.stderr
    assert "local-secret-key-123" not in (isolated_home / "config.toml").read_text()


def test_a_stored_key_is_never_shown_in_an_error(monkeypatch):
    keys.store("openai", "abcd-not-key-shaped-but-secret")
    from llmkit.errors import _known_secrets, redact

    _known_secrets.discard("abcd-not-key-shaped-but-secret")  # as in a fresh process
    assert keys.lookup("OPENAI_API_KEY")  # reading it registers it
    assert redact("the server said: abcd-not-key-shaped-but-secret is wrong") == "the server said: *** is wrong"


def test_a_broken_keys_file_is_an_error_naming_it(isolated_home, capsys):
    isolated_home.mkdir(parents=True, exist_ok=True)
    (isolated_home / "keys.json").write_text("[1, 2]")
    assert main(["keys", "list"]) == 1
    err = capsys.readouterr().err
    assert "keys.json is not a JSON object" in err and "llmkit keys path" in err
