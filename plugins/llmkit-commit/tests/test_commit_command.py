"""`llmkit commit` in real git repositories: errors before any model call, --yes commits,
no terminal means no commit, the terminal's y/N/e, and the real `llmkit` CLI."""

import argparse
import json
import os
import subprocess
import sys

import pytest
from commit_fixtures import *  # noqa: F403  (the fixtures; a conftest.py would clash across plugins)
from llmkit_commit import command

import llmkit
from llmkit.errors import UsageError


def parse(*argv):
    parser = argparse.ArgumentParser(prog="llmkit commit")
    command.add_arguments(parser)
    return parser.parse_args(list(argv))


@pytest.fixture
def model(monkeypatch):
    """Script the model run() opens: model(answers...) -> the list of prompts it was sent."""
    prompts = []

    def script(*answers):
        queue = list(answers)

        def respond(messages, options):
            prompts.append(messages[-1].text)
            return queue.pop(0)

        monkeypatch.setattr(command, "open_client", lambda args: llmkit.Client("mock", responses=respond))
        return prompts

    return script


def head(repo, run_git):
    return run_git(repo, "rev-parse", "HEAD").strip()


def last_message(repo, run_git):
    return run_git(repo, "log", "-1", "--format=%B").rstrip("\n")


def stage(repo, run_git, name="parser.py", text="def parse(text):\n    return text.split()\n"):
    (repo / name).write_text(text)
    run_git(repo, "add", name)


def test_not_a_repository(tmp_path, monkeypatch):
    folder = tmp_path / "plain"
    folder.mkdir()
    monkeypatch.setattr(command, "open_client", lambda args: pytest.fail("no model before the checks"))
    with pytest.raises(UsageError, match="not inside a git work tree") as e:
        command.run(parse("-C", str(folder)))
    assert "git init" in e.value.hint


def test_nothing_staged(repo, monkeypatch):
    (repo / "README.md").write_text("# changed, but not staged\n")
    monkeypatch.setattr(command, "open_client", lambda args: pytest.fail("no model before the checks"))
    with pytest.raises(UsageError, match="nothing is staged") as e:
        command.run(parse("-C", str(repo)))
    assert "git add" in e.value.hint


def test_yes_commits_with_the_message(repo, run_git, model, capsys):
    stage(repo, run_git)
    prompts = model("Add a whitespace parser\n\nIt splits text into words.")
    assert command.run(parse("-C", str(repo), "--yes")) == 0
    assert last_message(repo, run_git) == "Add a whitespace parser\n\nIt splits text into words."
    assert "+def parse(text):" in prompts[0]  # the model read the staged diff
    out = capsys.readouterr().out
    assert out.startswith("Add a whitespace parser\n") and "1 file changed" in out  # git's own report too
    assert run_git(repo, "diff", "--staged") == ""


def test_without_a_terminal_and_without_yes_nothing_is_committed(repo, run_git, model, monkeypatch, capsys):
    stage(repo, run_git)
    before = head(repo, run_git)
    model("Add a whitespace parser")
    monkeypatch.setattr(command, "_interactive", lambda: False)
    assert command.run(parse("-C", str(repo))) == 0
    captured = capsys.readouterr()
    assert captured.out == "Add a whitespace parser\n"  # the message alone: a script can take it
    assert "not committed" in captured.err and "--yes" in captured.err
    assert head(repo, run_git) == before
    assert "parser.py" in run_git(repo, "diff", "--staged", "--name-only")  # still staged


def test_fences_and_preambles_are_taken_off_before_committing(repo, run_git, model):
    stage(repo, run_git)
    model('Sure! Here is a commit message:\n\n```\n"Add a whitespace parser."\n\nIt splits text into words.\n```')
    assert command.run(parse("-C", str(repo), "-y")) == 0
    assert last_message(repo, run_git) == "Add a whitespace parser\n\nIt splits text into words."


def test_the_message_reaches_git_verbatim_never_through_a_shell(repo, run_git, model, tmp_path):
    stage(repo, run_git)
    marker = tmp_path / "pwned"
    text = (f"Quote $(id) and `id`; \"it's\" $HOME & more\n\n$(touch {marker}) `touch {marker}` ; "
            f"touch {marker}\n--amend -m x")
    model(text)
    assert command.run(parse("-C", str(repo), "--yes")) == 0
    assert last_message(repo, run_git) == text
    assert not marker.exists()


@pytest.mark.parametrize("answers, committed, code", [
    (["y\n"], True, 0),
    (["yes\n"], True, 0),
    (["n\n"], False, 1),
    (["\n"], False, 1),   # the default is no
    ([""], False, 1),     # end of input
])
def test_the_terminal_question(repo, run_git, model, monkeypatch, capsys, answers, committed, code):
    stage(repo, run_git)
    before = head(repo, run_git)
    model("Add a whitespace parser")
    asked = []
    monkeypatch.setattr(command, "_interactive", lambda: True)
    monkeypatch.setattr(command, "_ask", lambda q: (asked.append(q), answers.pop(0))[1])
    assert command.run(parse("-C", str(repo))) == code
    assert asked == ["Commit with this message? [y/N/e(dit)] "]
    assert (head(repo, run_git) != before) is committed
    if not committed:
        assert "not committed" in capsys.readouterr().err


def test_edit_opens_gits_editor_then_asks_again(repo, run_git, model, monkeypatch, tmp_path):
    stage(repo, run_git)
    editor = tmp_path / "editor.py"
    editor.write_text("import sys\np = sys.argv[1]\ntext = open(p).read()\n"
                      "open(p, 'w').write(text.replace('Add a parser', 'Add a whitespace parser') + '# a comment\\n')\n")
    monkeypatch.setenv("GIT_EDITOR", f"{sys.executable} {editor}")
    model("Add a parser\n\nIt splits text.")
    answers = ["e\n", "y\n"]
    monkeypatch.setattr(command, "_interactive", lambda: True)
    monkeypatch.setattr(command, "_ask", lambda q: answers.pop(0))
    assert command.run(parse("-C", str(repo))) == 0
    assert last_message(repo, run_git) == "Add a whitespace parser\n\nIt splits text."  # no '#' lines


def test_an_edit_that_empties_the_message_commits_nothing(repo, run_git, model, monkeypatch, tmp_path):
    stage(repo, run_git)
    before = head(repo, run_git)
    editor = tmp_path / "empty.py"
    editor.write_text("import sys\nopen(sys.argv[1], 'w').write('# nothing\\n')\n")
    monkeypatch.setenv("GIT_EDITOR", f"{sys.executable} {editor}")
    model("Add a parser")
    monkeypatch.setattr(command, "_interactive", lambda: True)
    monkeypatch.setattr(command, "_ask", lambda q: "e\n")
    assert command.run(parse("-C", str(repo))) == 1
    assert head(repo, run_git) == before


def test_a_failing_commit_hook_is_reported(repo, run_git, model, capsys):
    stage(repo, run_git)
    hook = repo / ".git" / "hooks" / "pre-commit"
    hook.write_text("#!/bin/sh\necho 'hook says no' >&2\nexit 1\n")
    hook.chmod(0o755)
    model("Add a parser")
    assert command.run(parse("-C", str(repo), "--yes")) == 1
    err = capsys.readouterr().err
    assert "hook says no" in err and "git commit failed" in err


def test_a_large_diff_through_the_command(repo, run_git, monkeypatch):
    for i in range(12):
        (repo / f"mod{i}.py").write_text("".join(f"value_{i}_{j} = {j} * {j} + {i}\n" for j in range(40)))
    run_git(repo, "add", ".")
    calls = []

    def respond(messages, options):
        calls.append((messages, options))
        return "- part" if messages[-1].text.startswith(("This is part", "These are")) else "Add twelve modules"

    client = llmkit.Client("mock", responses=respond, context_window=800)
    monkeypatch.setattr(command, "open_client", lambda args: client)
    assert command.run(parse("-C", str(repo), "--yes")) == 0
    assert last_message(repo, run_git) == "Add twelve modules"
    assert len(calls) > 2
    for messages, options in calls:
        assert client.count_tokens(messages) + options["max_tokens"] <= 800
    final = calls[-1][0][-1].text
    assert all(f"mod{i}.py (+40 -0)" in final for i in range(12))  # the file list names every file


def test_model_options_reach_the_client():
    client = command.open_client(parse("-m", "mock", "-o", "responses", '["hi"]', "-o", "context_window", "300"))
    assert client.context_window() == 300 and client.chat("x").text == "hi"
    with pytest.raises(llmkit.UnknownModelError):
        command.open_client(parse("-m", " "))


# --- the real `llmkit` command, with plugins found as installed (LLMKIT_PLUGINS unset) ---------------


def llmkit_cli(*args, cwd, **kw):
    env = {k: v for k, v in os.environ.items() if k != "LLMKIT_PLUGINS"}
    return subprocess.run([sys.executable, "-m", "llmkit", *args], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=120, stdin=subprocess.DEVNULL, **kw)


def test_llmkit_help_lists_the_command(tmp_path):
    r = llmkit_cli("--help", cwd=tmp_path)
    assert r.returncode == 0 and "commit" in r.stdout and "[llmkit-commit]" in r.stdout
    r = llmkit_cli("commit", "--help", cwd=tmp_path)
    assert r.returncode == 0 and "--yes" in r.stdout and "-m MODEL" in r.stdout


def test_llmkit_commit_yes_commits(repo, run_git):
    stage(repo, run_git)
    answer = json.dumps(["```\nAdd a whitespace parser\n\nIt splits text into words.\n```"])
    r = llmkit_cli("commit", "-m", "mock", "-o", "responses", answer, "--yes", cwd=repo)
    assert r.returncode == 0, r.stderr
    assert last_message(repo, run_git) == "Add a whitespace parser\n\nIt splits text into words."


def test_llmkit_commit_without_a_terminal_only_prints(repo, run_git):
    stage(repo, run_git)
    before = head(repo, run_git)
    r = llmkit_cli("commit", "-m", "mock", "-o", "responses", '["Add a whitespace parser"]', cwd=repo)
    assert r.returncode == 0, r.stderr
    assert r.stdout == "Add a whitespace parser\n" and "not committed" in r.stderr
    assert head(repo, run_git) == before


def test_llmkit_commit_errors_are_one_line(repo, tmp_path):
    r = llmkit_cli("commit", "-m", "mock:echo", cwd=repo)
    assert r.returncode == 1 and r.stderr.startswith("error: nothing is staged") and r.stderr.count("\n") == 1
    plain = tmp_path / "plain"
    plain.mkdir()
    r = llmkit_cli("commit", "-m", "mock:echo", cwd=plain)
    assert r.returncode == 1 and r.stderr.startswith("error: not inside a git work tree")


def test_llmkit_commit_asks_on_a_terminal(repo, run_git):
    pexpect = pytest.importorskip("pexpect")
    stage(repo, run_git)
    env = {k: v for k, v in os.environ.items() if k != "LLMKIT_PLUGINS"}
    child = pexpect.spawn(sys.executable, ["-m", "llmkit", "commit", "-m", "mock", "-o", "responses",
                                           '["Add a whitespace parser"]'],
                          cwd=str(repo), env=env, encoding="utf-8", timeout=60)
    child.expect_exact("Add a whitespace parser")
    child.expect_exact("Commit with this message? [y/N/e(dit)] ")
    child.sendline("y")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0, child.before
    assert last_message(repo, run_git) == "Add a whitespace parser"


def test_the_staged_changes_as_read_from_git(repo, run_git):
    from llmkit_commit import git

    (repo / "logo.png").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)))
    run_git(repo, "mv", "README.md", "READ ME ü.md")
    stage(repo, run_git)
    assert git.repo_root(repo / ".git" / "..") == repo.resolve()
    run_git(repo, "add", "logo.png")
    staged = git.staged(repo)
    assert "Binary files /dev/null and b/logo.png differ" in staged.diff
    assert "rename to READ ME ü.md" in staged.diff  # renames found, names not quoted
    assert staged.stat.splitlines() == ["README.md => READ ME ü.md (+0 -0)", "logo.png (binary)",
                                        "parser.py (+2 -0)", "3 files changed, 2 insertions(+), 0 deletions(-)"]
    assert not staged.cut


def test_the_first_commit_of_a_new_repository(tmp_path, run_git, model):
    fresh = tmp_path / "fresh"
    fresh.mkdir()
    run_git(fresh, "init", "-q")
    stage(fresh, run_git)
    model("Add a whitespace parser")
    assert command.run(parse("-C", str(fresh), "--yes")) == 0
    assert last_message(fresh, run_git) == "Add a whitespace parser"


def test_each_test_has_its_own_llmkit_home_and_git_config(tmp_path):
    """The autouse fixture of commit_fixtures.py is in force (taken by import *)."""
    assert os.environ["LLMKIT_HOME"] == str(tmp_path / "llmkit-home")
    assert os.environ["GIT_CONFIG_GLOBAL"] == str(tmp_path / "home" / ".gitconfig")
    assert "OPENAI_API_KEY" not in os.environ


def test_changes_staged_while_the_message_is_written_are_not_committed_under_it(repo, run_git, monkeypatch, capsys):
    """The message describes the diff that was read; a `git add` during the model's call
    (minutes on a small local model) would have been committed under it, undescribed."""
    stage(repo, run_git)
    before = head(repo, run_git)

    def respond(messages, options):
        stage(repo, run_git, name="secrets.env", text="TOKEN=abc\n")  # staged meanwhile
        return "Add a whitespace parser"

    monkeypatch.setattr(command, "open_client", lambda args: llmkit.Client("mock", responses=respond))
    assert command.run(parse("-C", str(repo), "--yes")) == 1
    assert head(repo, run_git) == before
    assert "the staged changes changed while the message was written" in capsys.readouterr().err


def test_file_names_with_spaces_dashes_and_binary_content_reach_the_model(repo, run_git, model):
    (repo / "-n").write_text("x\n")
    (repo / "a file.txt").write_text("hi\n")
    (repo / "blob.bin").write_bytes(bytes(range(256)) * 4)
    run_git(repo, "mv", "README.md", "READ ME.md")
    run_git(repo, "add", "--", "-n", "a file.txt", "blob.bin")
    prompts = model("Add sample files")
    assert command.run(parse("-C", str(repo), "--yes")) == 0
    assert last_message(repo, run_git) == "Add sample files"
    assert "+++ b/-n" in prompts[0] and "+++ b/a file.txt" in prompts[0]
    assert "Binary files /dev/null and b/blob.bin differ" in prompts[0] and "rename to READ ME.md" in prompts[0]
    assert run_git(repo, "status", "--porcelain") == ""


def test_a_message_given_to_m_as_with_git_says_that_m_is_the_model(repo, run_git, capsys):
    from llmkit.cli import main

    stage(repo, run_git)
    assert main(["commit", "-C", str(repo), "-m", "Fix the typo in the parser"]) == 1
    err = capsys.readouterr().err
    assert "unknown model 'Fix the typo in the parser'" in err and "-m names the model here, not the message" in err
