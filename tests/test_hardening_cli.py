"""Hostile input at the terminal (issue 14): endless files, bytes that are not text, a
history that cannot be written, empty arguments, damaged conversation files. Each ends
in one clear line, and an answer is still given where one can be."""

import io
import json
import os
import subprocess
import sys
import time

import pytest

import llmkit
from llmkit.cli import main
from llmkit.conversation import files
from llmkit.repl import attach

pytestmark = pytest.mark.skipif(not os.path.exists("/dev/zero"), reason="needs /dev/zero")


def llmkit_cli(*args, stdin=b"", env=None):
    full_env = {**os.environ, **(env or {})}
    return subprocess.run([sys.executable, "-m", "llmkit.cli", *args], input=stdin, capture_output=True,
                          env=full_env, timeout=60)  # fmt: skip


# --- D1: files that never end --------------------------------------------------------------


def _quickly(fn, error=llmkit.UsageError):
    started = time.monotonic()
    with pytest.raises(error) as info:
        fn()
    assert time.monotonic() - started < 5
    return info.value


def test_attaching_an_endless_file_is_refused_at_the_limit():
    error = _quickly(lambda: attach.read_attachment("/dev/zero"))
    assert "limit" in error.message and "200,000" in error.message


def test_loading_an_endless_file_is_refused(tmp_path):
    (tmp_path / "chat.json").symlink_to("/dev/zero")
    _quickly(lambda: files.load(str(tmp_path / "chat.json")))


def test_an_endless_config_file_is_refused(isolated_home):
    isolated_home.mkdir(parents=True)
    (isolated_home / "config.toml").symlink_to("/dev/zero")
    llmkit.clear_caches()
    _quickly(llmkit.config.load, llmkit.ConfigurationError)


def test_a_config_file_that_is_a_directory_is_a_configuration_error(isolated_home):
    (isolated_home / "config.toml").mkdir(parents=True)
    llmkit.clear_caches()
    with pytest.raises(llmkit.ConfigurationError):
        llmkit.Client("mock:echo")


# --- D9: stdin and arguments that are not UTF-8 ------------------------------------------------


def test_ask_with_non_utf8_stdin_answers_and_records_the_turn():
    r = llmkit_cli("ask", "-m", "mock:echo", stdin=b"caf\xe9 au lait")
    assert r.returncode == 0, r.stderr
    assert r.stdout.decode() == "caf\ufffd au lait\n"
    assert b"not valid UTF-8" in r.stderr
    logs = json.loads(llmkit_cli("logs", "--json").stdout)
    assert logs[-1]["prompt"] == "caf\ufffd au lait" and logs[-1]["response"] == "caf\ufffd au lait"


def test_ask_with_non_utf8_arguments_answers():
    r = llmkit_cli("ask", "-m", "mock:echo", os.fsdecode(b"na\xefve"))
    assert r.returncode == 0, r.stderr
    assert r.stdout.decode() == "na\ufffdve\n"


def test_ask_with_binary_stdin_says_so():
    r = llmkit_cli("ask", "-m", "mock:echo", "what is this", stdin=bytes(range(256)) * 4)
    assert r.returncode == 2 and b"binary" in r.stderr and b"Traceback" not in r.stderr


# --- D16: a history that cannot be written ------------------------------------------------------


def test_ask_answers_when_the_history_file_is_a_directory(isolated_home):
    (isolated_home / "logs.db").mkdir(parents=True)
    r = llmkit_cli("ask", "-m", "mock:echo", "still", "answered")
    assert r.returncode == 0, r.stderr
    assert r.stdout.decode() == "still answered\n" and b"not recording in the history" in r.stderr


def _read_only(monkeypatch, path):
    real_open = os.open

    def fake(file, flags, *args):  # a file the user may only read (root ignores chmod)
        if os.fspath(file) == os.fspath(path) and flags & (os.O_RDWR | os.O_WRONLY):
            raise PermissionError(13, "Permission denied", os.fspath(file))
        return real_open(file, flags, *args)

    monkeypatch.setattr(os, "open", fake)


@pytest.fixture
def no_stdin(monkeypatch):
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(b"")))


def test_ask_answers_and_logs_reads_when_the_history_is_read_only(isolated_home, monkeypatch, capsys, no_stdin):
    assert main(["ask", "-m", "mock:echo", "first"]) == 0
    capsys.readouterr()
    _read_only(monkeypatch, isolated_home / "logs.db")
    assert main(["ask", "-m", "mock:echo", "second"]) == 0
    out = capsys.readouterr()
    assert out.out == "second\n" and "not recording in the history" in out.err
    assert main(["logs", "--json"]) == 0
    assert [t["prompt"] for t in json.loads(capsys.readouterr().out)] == ["first"]


def test_ask_warns_when_the_history_stops_taking_writes(isolated_home, monkeypatch, capsys, no_stdin):
    from llmkit.logs import History

    def refuse(*args, **kwargs):
        raise llmkit.HistoryError("could not write the history: attempt to write a readonly database")

    monkeypatch.setattr(History, "add_turn", refuse)
    assert main(["ask", "-m", "mock:echo", "--no-stream", "kept", "anyway"]) == 0
    out = capsys.readouterr()
    assert out.out == "kept anyway\n" and "not recorded in the history" in out.err


# --- empty arguments ---------------------------------------------------------------------------


@pytest.mark.parametrize("command", [["ask", "-m", "", "hi"], ["chat", "-m", ""]])
def test_an_empty_model_id_is_an_error_not_the_default(command):
    r = llmkit_cli(*command, env={"LLMKIT_MODEL": "mock:echo"})
    assert r.returncode == 1 and b"empty model id" in r.stderr


def test_attention_of_an_empty_text_is_an_error():
    r = llmkit_cli("attention", "")
    assert r.returncode == 1 and b"the text is empty" in r.stderr and r.stdout == b""


# --- /load of a damaged conversation file -----------------------------------------------------------


@pytest.mark.parametrize("data, problem", [
    ({"llmkit": 1, "turns": [{"user": "hi", "assistant": "yo", "usage": {"cost": 1e999}}]}, "usage"),
    ({"llmkit": 1, "turns": [{"user": "hi", "assistant": "yo", "usage": {"input_tokens": -3}}]}, "usage"),
    ({"llmkit": 1, "turns": [{"user": "\ud800", "assistant": "yo"}]}, "surrogate"),
    ([{"role": "user", "content": 123}], "message #0"),
    ([{"role": "user", "content": "ok"}, "hi"], "message #1"),
    ([{"role": "assistant", "content": "", "tool_calls": "abc"}], "message #0"),
])  # fmt: skip
def test_load_refuses_damaged_files_and_keeps_the_conversation(tmp_path, data, problem):
    from test_repl import make_app

    path = tmp_path / "chat.json"
    path.write_text(json.dumps(data).replace("1e+999", "1e999"))
    app, buf = make_app("before", f"/load {path}", history=False)
    app.run()
    assert problem in buf.getvalue() and [t.text for t in app.conversation.turns] == ["before"]


# --- piped chat ---------------------------------------------------------------------------------------


def test_piped_chat_says_when_a_multiline_block_is_not_closed():
    r = llmkit_cli("chat", "-m", "mock:echo", "--no-log", stdin=b'"""\nline one\nline two\n')
    assert r.returncode == 0, r.stderr
    assert b"line one\nline two" in r.stdout  # sent, and echoed back
    assert b'ended inside a """ block' in r.stderr
