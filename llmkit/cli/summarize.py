"""`llmkit summarize [FILE] [--words N | --sentences N] [--sources] [-m MODEL] [--json]`

Summarises one text (stdin when no FILE), however long: map-reduce over pieces that
fit the model's window. Prints the summary; `--sources` adds, under each sentence,
the line numbers of the source text it was traced to (`?` when none).
"""

from __future__ import annotations

import argparse
from typing import Any

from .task_io import add_task_options, emit, read_input, task_client

__all__ = ["add_arguments", "run"]


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("file", nargs="?", help="the text file (default: stdin)")
    length = p.add_mutually_exclusive_group()
    length.add_argument("--words", type=int, help="about this many words")
    length.add_argument("--sentences", type=int, help="this many sentences (default: 3)")
    p.add_argument("--sources", action="store_true", help="show where each sentence comes from")
    add_task_options(p, json_help="print the summary, its traced sentences and strategy as JSON")


def run(args: argparse.Namespace) -> int:
    from llmkit.tasks import summarize

    text = read_input(args.file)
    with task_client(args) as client:
        result = summarize(text, words=args.words, sentences=args.sentences, model=client)
    emit(args, result, _human(result, text) if args.sources else result.text)
    return 0


def _human(result: Any, text: str) -> str:
    lines = []
    for s in result.sentences:
        where = ", ".join(f"line {text.count(chr(10), 0, start) + 1}" for start, _ in s.sources) or "?"
        lines.append(f"{s.text}\n    [{where}; overlap {s.overlap:.0%}]")
    return "\n".join(lines)
