"""`llmkit keys`: API keys stored in llmkit's home, for when exporting a variable in
every shell is a chore.

    llmkit keys set openai          asks for the key (hidden), or reads it from stdin when piped
    llmkit keys list                the names of the stored keys (never the keys)
    llmkit keys path                where they are: $LLMKIT_HOME/keys.json, readable by you only
    llmkit keys delete openai

A stored key is used only when its environment variable is not set (the environment
wins). The key is never a command-line argument: arguments show in `ps` and in the
shell's history, so one given there is refused without being echoed back.
"""

from __future__ import annotations

import argparse
import os
import sys

__all__ = ["add_arguments", "run"]


def add_arguments(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="action", metavar="ACTION")
    s = sub.add_parser("set", help="store a key: typed at a hidden prompt, or piped in (never an argument)",
                       description="Store a key: typed at a hidden prompt, or piped in on stdin.")  # fmt: skip
    s.add_argument("name", help="OPENAI_API_KEY (or 'openai'), an endpoint's api_key_env, or its name")
    s.add_argument("value", nargs="*", help=argparse.SUPPRESS)  # caught, to refuse it without echoing it
    sub.add_parser("list", help="the names of the stored keys (never the keys)")
    sub.add_parser("path", help="print the keys file's path")
    d = sub.add_parser("delete", help="remove a stored key")
    d.add_argument("name")


def run(args: argparse.Namespace) -> int:
    from llmkit import keys
    from llmkit.errors import UsageError

    if args.action == "path":
        print(keys.path())
        return 0
    if args.action == "set":
        if args.value:
            raise UsageError("a key is never given on the command line (it would show in `ps` and your shell's "
                             "history; it was not stored)",
                             hint=f"Run `llmkit keys set {args.name}` and paste it when asked, or pipe it in: "
                                  f"`llmkit keys set {args.name} < key.txt`.")  # fmt: skip
        name = keys.normalize(args.name)  # a bad name is said before the key is asked for
        stored = keys.store(name, _read_key(name))
        where = f"; ${stored} is set in this environment and wins over it" if os.environ.get(stored) else ""
        print(f"stored {stored} in {keys.path()}{where}", file=sys.stderr)
        return 0
    if args.action == "delete":
        if not keys.delete(args.name):
            print(f"error: no stored key {keys.normalize(args.name)} (`llmkit keys list` shows them)", file=sys.stderr)
            return 1
        print(f"deleted {keys.normalize(args.name)}", file=sys.stderr)
        return 0
    names = keys.names()  # list, the default
    if not names:
        print(f"no stored keys ({keys.path()}); `llmkit keys set openai` stores one", file=sys.stderr)
    for name in names:
        print(name + (f"  (${name} is set in the environment: that one is used)" if os.environ.get(name) else ""))
    return 0


def _read_key(name: str) -> str:
    """The key: from a hidden prompt on a terminal, else all of stdin."""
    if sys.stdin is not None and sys.stdin.isatty():
        import getpass

        try:
            return getpass.getpass(f"{name} (input is hidden): ")
        except EOFError:
            return ""
    return sys.stdin.read() if sys.stdin is not None else ""
