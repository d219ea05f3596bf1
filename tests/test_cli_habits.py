"""Everyday habits of `llm` users at the llmkit command line (issue 13, item 6): the
default command, -x, -u, -a, -n, stdin before the prompt, --debug after the command,
and `logs -m` / `logs -r`. Through the real CLI: `main([...])` in-process, and a
subprocess where the program's own argv matters."""

import base64
import io
import json
import os
import subprocess
import sys

import pytest

import llmkit
from llmkit.cli import main

PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="
)


@pytest.fixture
def stdin(monkeypatch):
    """Set what `ask` reads from stdin (b"" by default: nothing piped)."""

    def pipe(data: bytes = b"") -> None:
        monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(data)))

    pipe()
    return pipe


def run(*args, stdin="", env=None):
    return subprocess.run([sys.executable, "-m", "llmkit.cli", *args], input=stdin, capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, timeout=60)  # fmt: skip


# --- the default command -------------------------------------------------------------------------


def test_a_question_without_a_command_is_asked():
    r = run("-m", "mock:echo", "What is the capital of France?")
    assert r.returncode == 0, r.stderr
    assert r.stdout == "What is the capital of France?\n"
    r = run("hello there", env={"LLMKIT_MODEL": "mock:echo"})  # no option at all: the first word is not a command
    assert r.returncode == 0 and r.stdout == "hello there\n", r.stderr


def test_help_version_and_no_arguments_are_not_questions():
    r = run()
    assert r.returncode == 0 and r.stdout.startswith("usage: llmkit") and 'llmkit "a question"' in r.stdout
    r = run("--help")
    assert r.returncode == 0 and "COMMAND" in r.stdout and "templates" in r.stdout
    r = run("--version")
    assert r.returncode == 0 and r.stdout.startswith("llmkit ")
    r = run("--debug")  # a global flag alone is not a question either
    assert r.returncode == 0 and r.stdout.startswith("usage: llmkit")


def test_commands_still_win_and_a_near_miss_is_a_typo(capsys, stdin):
    assert main(["logs"]) == 0  # a command, not the question "logs"
    assert "no history yet" in capsys.readouterr().out
    with pytest.raises(SystemExit) as exc:
        main(["chta"])
    assert exc.value.code == 2
    assert "unknown command 'chta': did you mean 'chat'?" in capsys.readouterr().err
    assert main(["-m", "mock:echo", "chta"]) == 0  # with an option it is a question
    assert capsys.readouterr().out == "chta\n"


def test_debug_is_taken_after_the_command_too(capsys, stdin):
    assert main(["ask", "-m", "nosuch:model", "hi"]) == 1
    assert capsys.readouterr().err.startswith("error: unknown model")
    with pytest.raises(llmkit.UnknownModelError):  # --debug: the error is raised, for its traceback
        main(["ask", "-m", "nosuch:model", "hi", "--debug"])
    with pytest.raises(llmkit.UnknownModelError):
        main(["-m", "nosuch:model", "--debug", "hi"])  # the default command too
    assert main(["ask", "-m", "mock:echo", "--", "--debug"]) == 0  # after --, it is text
    assert capsys.readouterr().out == "--debug\n"


# --- ask's flags -----------------------------------------------------------------------------------


def test_piped_stdin_comes_before_the_prompt(capsys, stdin):
    stdin(b"def add(a, b):\n    return a + b\n")
    assert main(["ask", "-m", "mock:echo", "--no-stream", "Explain this code"]) == 0
    assert capsys.readouterr().out == "def add(a, b):\n    return a + b\n\nExplain this code\n"
    stdin(b"only stdin")
    assert main(["ask", "-m", "mock:echo"]) == 0
    assert capsys.readouterr().out == "only stdin\n"


REPLY = "Here you go:\n\n```python\ndef add(a, b):\n    return a + b\n```\n\nand a second:\n```\nx = 1\n```\n"


def test_extract_prints_only_the_first_code_block(capsys, stdin):
    assert main(["ask", "-m", "mock", "-o", "responses", json.dumps([REPLY]), "-x", "write add"]) == 0
    assert capsys.readouterr().out == "def add(a, b):\n    return a + b\n"
    assert main(["ask", "-m", "mock", "-o", "responses", json.dumps(["no code here"]), "--extract", "hi"]) == 0
    assert capsys.readouterr().out == "no code here\n"  # nothing to extract: the whole reply
    assert main(["ask", "-m", "mock", "-o", "responses", json.dumps([REPLY]), "-x", "--json", "again"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["code"] == "def add(a, b):\n    return a + b\n" and data["text"] == REPLY
    assert main(["logs", "-r"]) == 0  # the history keeps the whole reply
    assert capsys.readouterr().out == REPLY + "\n"


def test_usage_goes_to_stderr(capsys, stdin):
    assert main(["ask", "-m", "mock:echo", "-u", "three little words"]) == 0
    out = capsys.readouterr()
    assert out.out == "three little words\n"
    assert out.err.strip() == "usage: 3 input, 3 output tokens (estimated)"
    assert main(["ask", "-m", "mock:echo", "--no-stream", "hi"]) == 0
    assert capsys.readouterr().err == ""  # only when asked


def test_no_log_has_a_short_form(capsys, stdin):
    assert main(["ask", "-m", "mock:echo", "-n", "secret stuff"]) == 0
    assert main(["ask", "-m", "mock:echo", "kept"]) == 0
    capsys.readouterr()
    assert main(["logs", "--json"]) == 0
    assert [t["prompt"] for t in json.loads(capsys.readouterr().out)] == ["kept"]


def test_attach_text_files(tmp_path, capsys, stdin):
    notes = tmp_path / "notes.md"
    notes.write_text("# Notes\nbuy milk\n")
    code = tmp_path / "add.py"
    code.write_text("def add(a, b):\n    return a + b\n")
    assert main(["ask", "-m", "mock:echo", "-a", str(notes), "--attach", str(code), "summarise"]) == 0
    out = capsys.readouterr().out
    assert out == (f"summarise\n\nFile: {notes}\n```md\n# Notes\nbuy milk\n```\n\n"
                   f"File: {code}\n```py\ndef add(a, b):\n    return a + b\n```\n")  # fmt: skip
    assert main(["ask", "-m", "mock:echo", "-a", str(tmp_path / "missing.txt"), "hi"]) == 1
    assert "no such file" in capsys.readouterr().err
    binary = tmp_path / "data.bin"
    binary.write_bytes(b"\0\1\2")
    assert main(["ask", "-m", "mock:echo", "-a", str(binary), "hi"]) == 1
    assert "binary file" in capsys.readouterr().err


def test_an_image_on_a_text_only_model_is_a_clear_error(tmp_path, capsys, stdin):
    image = tmp_path / "cat.png"
    image.write_bytes(PNG)
    assert main(["ask", "-m", "mock:echo", "-a", str(image), "what is this?"]) == 1
    err = capsys.readouterr().err
    assert f"mock:echo does not take images ({image})" in err and "openai:gpt-4o-mini" in err
    fake = tmp_path / "fake.jpg"
    fake.write_text("not an image")
    assert main(["ask", "-m", "mock:echo", "-a", str(fake), "hi"]) == 1
    assert "named like an image but is not" in capsys.readouterr().err


def test_images_go_to_a_model_that_takes_them_as_content_parts(tmp_path, capsys, stdin, server):
    image = tmp_path / "cat.png"
    image.write_bytes(PNG)
    notes = tmp_path / "notes.txt"
    notes.write_text("a note")
    assert main(["ask", "-m", "openai:test", "-o", "base_url", server.base_url, "-a", str(image), "-a", str(notes),
                 "-a", "https://example.com/dog.jpg", "describe"]) == 0  # fmt: skip
    capsys.readouterr()
    content = server.requests[-1]["body"]["messages"][-1]["content"]
    assert content == [
        {"type": "text", "text": f"describe\n\nFile: {notes}\n```txt\na note\n```"},
        {"type": "image_url", "image_url": {"url": "data:image/png;base64," + base64.b64encode(PNG).decode()}},
        {"type": "image_url", "image_url": {"url": "https://example.com/dog.jpg"}},
    ]
    assert main(["logs", "--json"]) == 0  # the history keeps the text, not the image
    assert json.loads(capsys.readouterr().out)[0]["prompt"].startswith("describe\n\nFile:")


# --- logs -m and -r ----------------------------------------------------------------------------------


def test_logs_by_model_and_the_last_reply(capsys, stdin, isolated_home):
    isolated_home.mkdir(parents=True, exist_ok=True)
    (isolated_home / "config.toml").write_text('[aliases]\necho = "mock:echo"\n')
    assert main(["ask", "-m", "mock:echo", "first"]) == 0
    assert main(["ask", "-m", "mock", "-o", "responses", '["scripted answer"]', "second"]) == 0
    assert main(["ask", "-m", "echo", "third"]) == 0
    capsys.readouterr()
    for model in ("mock:echo", "echo"):  # an alias names the model it points at
        assert main(["logs", "-m", model, "--json"]) == 0
        assert [t["prompt"] for t in json.loads(capsys.readouterr().out)] == ["first", "third"]
    assert main(["logs", "-m", "mock", "--json"]) == 0
    assert [t["prompt"] for t in json.loads(capsys.readouterr().out)] == ["second"]
    assert main(["logs", "-m", "mini"]) == 0
    assert "no exchanges" in capsys.readouterr().err
    assert main(["logs", "-r"]) == 0
    assert capsys.readouterr().out == "third\n"  # the reply alone, nothing else
    assert main(["logs", "-r", "-m", "mock"]) == 0
    assert capsys.readouterr().out == "scripted answer\n"
    assert main(["logs", "-r", "-q", "nothing-like-this"]) == 1
    assert "no reply matches" in capsys.readouterr().err
    assert main(["logs", "-r", "--json"]) == 0
    assert [t["response"] for t in json.loads(capsys.readouterr().out)] == ["third"]


def test_logs_r_without_a_history_says_so(capsys):
    assert main(["logs", "-r"]) == 1
    assert "no history yet" in capsys.readouterr().err
