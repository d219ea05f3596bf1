"""`llmkit commit [-m MODEL] [-y] [-o NAME VALUE] [-C DIR]`: a commit message for the staged changes.

    git add -p && llmkit commit                 # shows the message, asks: [y/N/e(dit)]
    llmkit commit --yes -m openai:gpt-4o-mini   # commits without asking
    llmkit commit > msg.txt                     # no terminal, no --yes: prints it, commits nothing

Design: the command reads `git diff --staged`, has the model write a message (writer.py:
chunked to fit its window), prints it on stdout, and commits only on a yes: typed at
the terminal, or `--yes`. Without a terminal to ask on and without --yes it commits
nothing and says so on stderr (exit 0), so a script can take the message from stdout.
`e` opens the message in the editor git would use (comment lines left out). The commit is
`git commit -F -` with the message on stdin (no shell; hooks run as usual), and git's own
output is passed on. Errors (not a repository, nothing staged, no model) are llmkit
UsageErrors, which the `llmkit` command prints on one line with what to do.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
import tempfile
from typing import Any

from . import git
from .writer import write_message

__all__ = ["help", "add_arguments", "run"]

help = "write a commit message for the staged changes with a model, show it, commit on yes"

QUESTION = "Commit with this message? [y/N/e(dit)] "
_EDIT_NOTE = ("\n# Edit the commit message above. Lines starting with '#' are left out;\n"
              "# an empty message commits nothing.\n")  # fmt: skip


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("-m", "--model", help="model id, e.g. openai:gpt-4o-mini (default: llmkit's default model)")
    p.add_argument("-y", "--yes", action="store_true", help="commit with the message without asking")
    p.add_argument("-o", "--option", nargs=2, action="append", default=[], metavar=("NAME", "VALUE"),
                   help="a model option or backend setting, e.g. -o temperature 0.2 (VALUE is read as JSON "
                        "when it parses)")  # fmt: skip
    p.add_argument("-C", dest="directory", default=".", metavar="DIR", help="run in DIR, as `git -C DIR` does")


def run(args: argparse.Namespace) -> int:
    root = git.repo_root(getattr(args, "directory", None) or ".")
    staged = git.staged(root)
    client = open_client(args)
    try:
        message = write_message(client, staged, progress=_say)
    finally:
        client.close()
    return confirm_and_commit(root, message, yes=bool(getattr(args, "yes", False)), tree=staged.tree)


def open_client(args: argparse.Namespace) -> Any:
    """The model: -m MODEL (llmkit's default without it), with the -o options."""
    import llmkit
    from llmkit.errors import UnknownModelError

    model = getattr(args, "model", None)
    if model is not None and not model.strip():
        raise UnknownModelError("-m was given an empty model id", hint="Name a model, or leave -m out for the default.")
    options: dict[str, Any] = {}
    for name, value in getattr(args, "option", None) or []:
        try:
            options[name] = json.loads(value)
        except json.JSONDecodeError:
            options[name] = value
    try:
        return llmkit.Client(model or None, **options)
    except UnknownModelError as exc:
        if model and " " in model.strip():  # a sentence: `git commit -m "message"` habits
            exc.hint = (f"-m names the model here, not the message (as in git commit -m): the model "
                        f"writes the message. {exc.hint or ''}").strip()  # fmt: skip
        raise


def confirm_and_commit(root: Any, message: str, *, yes: bool, tree: str = "") -> int:
    """Show the message, and commit it on a yes. `tree` is the index the message was written
    for: when the staged changes differ by the time of the commit (a `git add` while the
    model wrote), nothing is committed, since the message would describe other changes."""
    print(message, flush=True)
    if yes:
        return _commit(root, message, tree)
    if not _interactive():
        print("llmkit commit: not committed: there is no terminal to ask on; rerun with --yes to commit "
              "with this message", file=sys.stderr)  # fmt: skip
        return 0
    while True:
        answer = _ask(QUESTION).strip().lower()
        if answer in ("y", "yes"):
            return _commit(root, message, tree)
        if answer in ("e", "edit"):
            message = _edit(root, message)
            if not message:
                print("llmkit commit: not committed: the message is empty", file=sys.stderr)
                return 1
            print(f"\n{message}", flush=True)
            continue
        print("llmkit commit: not committed", file=sys.stderr)
        return 1


def _interactive() -> bool:
    return sys.stdin.isatty()


def _ask(question: str) -> str:
    """One answer from the terminal ("" at end of input)."""
    sys.stderr.write(question)
    sys.stderr.flush()
    line = sys.stdin.readline()
    if not line:
        sys.stderr.write("\n")
    return line


def _say(text: str) -> None:
    print(f"llmkit commit: {text}", file=sys.stderr, flush=True)


def _commit(root: Any, message: str, tree: str = "") -> int:
    if tree and git.index_tree(root) != tree:
        print("llmkit commit: not committed: the staged changes changed while the message was written "
              "(the message is above); run llmkit commit again", file=sys.stderr)  # fmt: skip
        return 1
    result = git.commit(root, message)
    if result.stdout:
        sys.stdout.write(result.stdout)
    if result.stderr:
        sys.stderr.write(result.stderr)
    if result.returncode != 0:
        print(f"llmkit commit: git commit failed (exit {result.returncode}); the message is above",
              file=sys.stderr)  # fmt: skip
    return result.returncode


def _edit(root: Any, message: str) -> str:
    """The message after the person edited it in git's editor (comment lines dropped)."""
    from llmkit.errors import UsageError

    command = shlex.split(git.editor(root))
    fd, path = tempfile.mkstemp(prefix="llmkit-commit-", suffix=".txt")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(message + "\n" + _EDIT_NOTE)
        try:
            code = subprocess.run([*command, path]).returncode
        except FileNotFoundError:
            raise UsageError(f"the editor {command[0] if command else '?'!r} was not found",
                             hint="Set GIT_EDITOR, core.editor, VISUAL or EDITOR to an editor you have.") from None  # fmt: skip
        if code != 0:
            raise UsageError(f"the editor exited with status {code}: nothing was committed")
        with open(path, encoding="utf-8") as f:
            text = f.read()
    finally:
        os.unlink(path)
    lines = [line.rstrip() for line in text.splitlines() if not line.startswith("#")]
    return "\n".join(lines).strip()
