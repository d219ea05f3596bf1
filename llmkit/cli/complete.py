"""`llmkit complete [FILE[:LINE[:COL]]] [-m MODEL] [--language L] [--json]`

Completes code at a cursor in a file: LINE is 1-based; COL is the 1-based column the
cursor stands before (COL = length + 1 is the end of the line; without COL, the end of
the line). The file's text before the cursor is the prefix and the rest the suffix.
A FILE without LINE puts the cursor at the end of the file; no FILE reads the prefix
from stdin. Prints the text to insert at the cursor (nothing when the model's output
was all cut away: a note on stderr says why), or the whole CodeCompletion with --json.
"""

from __future__ import annotations

import argparse
import os
import re
import sys

from .task_io import add_task_options, emit, read_input, task_client

__all__ = ["add_arguments", "cursor_of", "run"]

_TARGET = re.compile(r"^(?P<path>.+?):(?P<line>\d+)(?::(?P<col>\d+))?$")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("target", nargs="?", metavar="FILE[:LINE[:COL]]",
                   help="the file and cursor (1-based line and column; default: end of the line, or of the file); "
                        "none: the prefix comes from stdin")  # fmt: skip
    p.add_argument("-l", "--language", help="the code's language (default: from the file extension)")
    p.add_argument("--strategy", default="auto", choices=("auto", "fim", "prefix", "chat"),
                   help="how to ask the model (default: the best its capabilities allow)")  # fmt: skip
    p.add_argument("--scope", default="auto", choices=("auto", "line", "block"),
                   help="complete the line or the block (default: what an editor would at this cursor)")  # fmt: skip
    p.add_argument("--raw", action="store_true", help="the model's output without post-processing")
    add_task_options(p, json_help="print the CodeCompletion (text, strategy, raw output, rules) as JSON")


def cursor_of(text: str, line: int, col: int | None, name: str) -> int:
    """The character offset of LINE:COL (1-based) in `text`; a UsageError saying what is
    wrong for a line or column outside the text."""
    from llmkit.errors import UsageError

    lines = text.split("\n")  # a final newline leaves an empty last line the cursor may stand on
    if line < 1 or line > len(lines):
        raise UsageError(f"line {line} is beyond the end of {name} (lines 1 to {len(lines)})",
                         hint="Lines are counted from 1.")  # fmt: skip
    length = len(lines[line - 1].rstrip("\r"))
    if col is None:
        col = length + 1
    if col < 1 or col > length + 1:
        raise UsageError(f"column {col} is outside line {line} of {name} (columns 1 to {length + 1})",
                         hint="Columns are counted from 1; the last one is the end of the line.")  # fmt: skip
    return sum(len(x) + 1 for x in lines[: line - 1]) + col - 1


def _target(arg: str | None) -> tuple[str | None, int | None, int | None]:
    if arg is None or arg == "-" or os.path.exists(arg):
        return arg, None, None
    m = _TARGET.match(arg)
    if m is None:
        return arg, None, None  # read_input says that the file does not exist
    col = m.group("col")
    return m.group("path"), int(m.group("line")), int(col) if col else None


def run(args: argparse.Namespace) -> int:
    from llmkit.errors import UsageError
    from llmkit.tasks import complete_code
    from llmkit.tasks._code_check import language_of_path

    path, line, col = _target(args.target)
    text = read_input(path)
    name = path if path not in (None, "-") else "stdin"
    if line is not None:
        if path in (None, "-"):
            raise UsageError("a LINE needs a FILE")
        at = cursor_of(text, line, col, name)
    else:
        at = len(text)
    prefix, suffix = text[:at], text[at:]
    if not prefix.strip() and not suffix.strip():
        raise UsageError(f"{name} holds no code to complete", hint="Give a file with some code in it.")
    language = args.language or (language_of_path(path) if path not in (None, "-") else None)
    client = task_client(args)
    try:
        result = complete_code(prefix, suffix, language, client, strategy=args.strategy, scope=args.scope,
                               postprocess=not args.raw)  # fmt: skip
    finally:
        client.close()
    if not args.json and not result.text:
        why = ", ".join(result.rules) or "empty output"
        print(f"note: no completion ({result.strategy}: {why})", file=sys.stderr)
    if args.json:
        emit(args, result, "")
    elif result.text:  # the text as it goes at the cursor, with one line break to end the output
        print(result.text, end="" if result.text.endswith("\n") else "\n")
    return 0
