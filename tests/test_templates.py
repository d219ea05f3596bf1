"""Templates (`ask --save`, `-T`, `llmkit templates`) and per-model default options
(`llmkit models options`), issue 13 item 7, through the real CLI."""

import io
import json
import os
import stat
import subprocess
import sys

import pytest

from llmkit.cli import main
from llmkit.logs import History


@pytest.fixture(autouse=True)
def no_stdin(monkeypatch):
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(b"")))


def last_turn(capsys):
    capsys.readouterr()
    assert main(["logs", "--json", "-n", "1"]) == 0
    return json.loads(capsys.readouterr().out)[-1]


def test_save_then_use_a_template(capsys, isolated_home):
    assert main(["ask", "-m", "mock:echo", "-s", "Answer in one sentence.", "-t", "0", "--max-tokens", "50",
                 "-o", "top_p", "0.5", "--save", "brief"]) == 0  # fmt: skip
    err = capsys.readouterr().err
    assert "saved template brief" in err and "llmkit ask -T brief" in err
    path = isolated_home / "templates" / "brief.toml"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert not (isolated_home / "logs.db").exists()  # --save asks nothing
    assert main(["ask", "-T", "brief", "Why is the sky blue?"]) == 0
    assert capsys.readouterr().out == "Why is the sky blue?\n"
    turn = last_turn(capsys)
    assert turn["model"] == "mock:echo" and turn["system"] == "Answer in one sentence."
    assert turn["options"] == {"temperature": 0, "max_tokens": 50, "top_p": 0.5}


def test_what_is_given_on_the_command_line_wins_over_the_template(capsys):
    assert main(["ask", "-m", "mock:echo", "-s", "from the template", "-t", "0", "--save", "t"]) == 0
    assert main(["ask", "-T", "t", "-m", "mock", "-o", "responses", '["scripted"]', "-s", "mine", "-t", "0.7",
                 "hi"]) == 0  # fmt: skip
    assert capsys.readouterr().out == "scripted\n"  # -m: the scripted mock, not the template's echo
    turn = last_turn(capsys)
    assert turn["model"] == "mock" and turn["system"] == "mine" and turn["options"] == {"temperature": 0.7}


def test_a_template_prompt_takes_the_input(capsys):
    assert main(["ask", "-m", "mock:echo", "--save", "summarise", "Summarise this: $input"]) == 0
    assert main(["ask", "-m", "mock:echo", "--save", "prefix", "Translate to French:"]) == 0
    capsys.readouterr()
    assert main(["ask", "-T", "summarise", "the notes"]) == 0
    assert capsys.readouterr().out == "Summarise this: the notes\n"
    assert main(["ask", "-T", "prefix", "good morning"]) == 0
    assert capsys.readouterr().out == "Translate to French:\n\ngood morning\n"
    assert main(["ask", "-T", "prefix"]) == 0  # the template's prompt is a prompt on its own
    assert capsys.readouterr().out == "Translate to French:\n"


def test_save_on_top_of_a_template(capsys):
    assert main(["ask", "-m", "mock:echo", "-s", "base", "-t", "0", "--save", "a"]) == 0
    assert main(["ask", "-T", "a", "--max-tokens", "9", "--save", "b"]) == 0
    assert "saved template b" in capsys.readouterr().err
    assert main(["templates", "show", "b", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert (data["model"], data["system"], data["options"]) == ("mock:echo", "base", {"temperature": 0, "max_tokens": 9})
    assert main(["ask", "-m", "mock", "--save", "b"]) == 0
    assert "replaced template b" in capsys.readouterr().err


def test_credentials_never_go_in_a_template(capsys, isolated_home):
    secret = "sk-test-never-in-a-template-123456"
    assert main(["ask", "-m", "mock:echo", "-o", "api_key", secret, "--save", "leaky"]) == 1
    err = capsys.readouterr().err
    assert "api_key cannot go in a template" in err and secret not in err
    assert not (isolated_home / "templates" / "leaky.toml").exists()


def test_templates_list_show_delete_and_path(capsys, isolated_home):
    assert main(["templates"]) == 0
    assert "no templates yet" in capsys.readouterr().err
    assert main(["ask", "-m", "mock:echo", "-s", "Be brief.", "--save", "brief"]) == 0
    assert main(["ask", "-t", "0", "--save", "cold"]) == 0
    capsys.readouterr()
    assert main(["templates", "list"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in lines] == ["brief", "cold"]
    assert "model mock:echo" in lines[0] and "system: Be brief." in lines[0] and "temperature=0" in lines[1]
    assert main(["templates", "--json"]) == 0
    assert [t["name"] for t in json.loads(capsys.readouterr().out)] == ["brief", "cold"]
    assert main(["templates", "show", "brief"]) == 0
    assert 'system = "Be brief."' in capsys.readouterr().out
    assert main(["templates", "path"]) == 0
    assert capsys.readouterr().out.strip() == str(isolated_home / "templates")
    assert main(["templates", "delete", "brief"]) == 0
    assert main(["templates", "delete", "brief"]) == 1
    assert "no template 'brief'" in capsys.readouterr().err
    assert main(["ask", "-T", "brief", "hi"]) == 1
    assert "Saved templates: cold" in capsys.readouterr().err
    assert main(["ask", "-m", "mock:echo", "--save", "../escape"]) == 1
    assert "not a template name" in capsys.readouterr().err


EDITOR = """
import sys
path = sys.argv[-1]  # the editor's own arguments, then the file
with open(path, "a") as f:
    f.write(sys.argv[1] if len(sys.argv) > 2 else 'system = "edited"\\nmodel = "mock:echo"\\n')
"""


def test_edit_opens_the_editor_and_checks_the_result(tmp_path, capsys, monkeypatch):
    editor = tmp_path / "editor.py"
    editor.write_text(EDITOR)
    monkeypatch.delenv("VISUAL", raising=False)
    monkeypatch.setenv("EDITOR", f"{sys.executable} {editor}")
    assert main(["templates", "edit", "fresh"]) == 0  # a new template: the commented skeleton, then the edit
    assert "saved template fresh" in capsys.readouterr().err
    assert main(["ask", "-T", "fresh", "hello"]) == 0
    assert capsys.readouterr().out == "hello\n"
    assert last_turn(capsys)["system"] == "edited"
    monkeypatch.setenv("EDITOR", f"{sys.executable} {editor} 'colour = 1\n'")
    assert main(["templates", "edit", "fresh"]) == 1
    assert "unknown key(s) colour" in capsys.readouterr().err
    assert main(["ask", "-T", "fresh", "hello"]) == 1  # a broken template is an error naming it, not ignored
    assert "fresh.toml" in capsys.readouterr().err


def test_chat_takes_a_template(isolated_home):
    env = {**os.environ}
    r = subprocess.run([sys.executable, "-m", "llmkit.cli", "ask", "-m", "mock:echo", "-s", "Be brief.", "-t", "0",
                        "--save", "brief"], capture_output=True, text=True, env=env, timeout=60)  # fmt: skip
    assert r.returncode == 0, r.stderr
    r = subprocess.run([sys.executable, "-m", "llmkit.cli", "chat", "-T", "brief"], input="hello there\n/exit\n",
                       capture_output=True, text=True, env=env, timeout=60)  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert "hello there" in r.stdout and "from the template brief" in r.stdout
    (cid, turn), *_ = History().find_turns()
    assert turn.model == "mock:echo" and turn.options == {"temperature": 0}
    assert History().conversation(cid)["system"] == "Be brief."


# --- per-model default options ---------------------------------------------------------------------


def test_model_options_are_applied_and_explicit_ones_win(capsys, isolated_home):
    assert main(["models", "options", "set", "mock:echo", "temperature", "0.25"]) == 0
    assert main(["models", "options", "set", "mock:echo", "stop", '["END"]']) == 0
    capsys.readouterr()
    assert main(["ask", "-m", "mock:echo", "hi"]) == 0
    assert last_turn(capsys)["options"] == {"temperature": 0.25, "stop": ["END"]}
    assert main(["ask", "-m", "mock:echo", "-t", "1", "hi"]) == 0  # given here: wins
    assert last_turn(capsys)["options"] == {"temperature": 1.0, "stop": ["END"]}
    assert main(["ask", "-m", "mock:echo", "-t", "0.5", "--save", "warm"]) == 0
    assert main(["ask", "-T", "warm", "hi"]) == 0  # a template's options win over the model's defaults
    assert last_turn(capsys)["options"] == {"temperature": 0.5, "stop": ["END"]}
    assert main(["ask", "-m", "mock", "-o", "responses", '["x"]', "hi"]) == 0  # another model: not its options
    assert last_turn(capsys)["options"] == {}
    data = json.loads((isolated_home / "model_options.json").read_text())
    assert data == {"mock:echo": {"temperature": 0.25, "stop": ["END"]}}


def test_model_options_follow_the_model_an_alias_names(capsys, isolated_home):
    isolated_home.mkdir(parents=True, exist_ok=True)
    (isolated_home / "config.toml").write_text('default_model = "echo"\n[aliases]\necho = "mock:echo"\n')
    assert main(["models", "options", "set", "echo", "temperature", "0"]) == 0
    assert "mock:echo: temperature = 0" in capsys.readouterr().err
    assert main(["ask", "hi"]) == 0  # the default model, through the alias
    assert last_turn(capsys)["options"] == {"temperature": 0}
    assert main(["models", "options", "list", "mock:echo"]) == 0
    assert capsys.readouterr().out == "mock:echo  temperature = 0\n"


def test_model_options_list_clear_and_refusals(capsys, isolated_home):
    assert main(["models", "options", "list"]) == 0
    assert "no default options" in capsys.readouterr().err
    assert main(["models", "options", "set", "mock:echo", "temperature", "hot"]) == 1
    assert "temperature='hot' is invalid" in capsys.readouterr().err
    assert main(["models", "options", "set", "mock:echo", "colour", "1"]) == 1
    assert "unknown option 'colour'" in capsys.readouterr().err
    assert main(["models", "options", "set", "mock:echo", "responses", "[]"]) == 1  # a backend setting
    assert "backend setting" in capsys.readouterr().err
    assert main(["models", "options", "set", "nosuch:model", "temperature", "0"]) == 1
    assert "unknown model" in capsys.readouterr().err
    assert not (isolated_home / "model_options.json").exists()
    assert main(["models", "options", "set", "mock:echo", "temperature", "0"]) == 0
    assert main(["models", "options", "set", "mock:echo", "seed", "7"]) == 0
    assert main(["models", "options", "list", "--json"]) == 0
    capsys.readouterr()
    assert main(["models", "options", "clear", "mock:echo", "seed"]) == 0
    assert main(["models", "options", "clear", "mock:echo", "seed"]) == 1
    assert "has no default option 'seed'" in capsys.readouterr().err
    assert main(["models", "options", "list", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == {"mock:echo": {"temperature": 0}}
    assert main(["models", "options", "clear", "mock:echo"]) == 0
    assert main(["models", "options", "list", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == {}
    assert main(["models", "--json"]) == 0  # `llmkit models` itself is as it was
    assert "providers" in json.loads(capsys.readouterr().out)


def test_chat_model_switch_applies_the_new_models_defaults(isolated_home):
    assert main(["models", "options", "set", "mock:echo", "seed", "3"]) == 0
    r = subprocess.run([sys.executable, "-m", "llmkit.cli", "chat", "-m", "mock", "-o", "responses", '["a"]',
                        "-t", "0"], input="first\n/model mock:echo\nsecond\n/exit\n", capture_output=True, text=True,
                       timeout=60)  # fmt: skip
    assert r.returncode == 0, r.stderr
    turns = [t for _, t in History().find_turns()]
    assert [(t.model, t.options) for t in turns] == [("mock", {"temperature": 0}),
                                                      ("mock:echo", {"seed": 3, "temperature": 0})]


def test_save_keeps_no_attachments(tmp_path, capsys, isolated_home):
    notes = tmp_path / "notes.md"
    notes.write_text("x")
    assert main(["ask", "-m", "mock:echo", "-a", str(notes), "--save", "withfile"]) == 1
    assert "not attachments" in capsys.readouterr().err
    assert not (isolated_home / "templates" / "withfile.toml").exists()
