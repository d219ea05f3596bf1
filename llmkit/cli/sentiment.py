"""`llmkit sentiment [FILE...] [--labels negative,positive] [--lines] [-m MODEL] [--json]`

Each FILE is one text (stdin when none); with `--lines`, each non-empty line is one.
Prints one line per text: the label, its probability where the model gives one, and
the start of the text. A text that failed is reported on its line and the exit code is 1.
"""

from __future__ import annotations

import argparse

from .task_io import add_task_options, emit, read_inputs, task_client

__all__ = ["add_arguments", "run"]


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("files", nargs="*", help="text files, each one text (default: stdin)")
    p.add_argument("--lines", action="store_true", help="each non-empty line is a text")
    p.add_argument("--labels", default="negative,positive", help="comma-separated labels (default: %(default)s)")
    p.add_argument("--strategy", default="auto", choices=["auto", "logprobs", "structured", "prompted"],
                   help="how the label is chosen (default: logprobs where the model has them)")  # fmt: skip
    add_task_options(p)


def run(args: argparse.Namespace) -> int:
    from llmkit.errors import LLMKitError
    from llmkit.tasks import sentiment

    texts = []
    for _, text in read_inputs(args.files):
        texts.extend([line for line in text.splitlines() if line.strip()] if args.lines else [text])
    labels = [label.strip() for label in args.labels.split(",") if label.strip()]
    with task_client(args) as client:
        results = sentiment(texts, labels=labels, model=client, strategy=args.strategy)
    lines = []
    for r in results:
        if isinstance(r, LLMKitError):
            lines.append(f"error\t{r.one_line()}")
        else:
            score = f"{r.score:.2f}" if r.score is not None else "-"
            lines.append(f"{r.label}\t{score}\t{' '.join(r.text.split())[:60]}")
    emit(args, results, "\n".join(lines))
    return 1 if any(isinstance(r, LLMKitError) for r in results) else 0
