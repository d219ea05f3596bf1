"""`llmkit topics FILE... [-k K] [--split file|paragraph|line] [-m MODEL] [--json]`

What a document is: with several FILEs, each file is one document; with one FILE (or
stdin), each blank-line-separated paragraph is one. `--split` says it outright
(`line`: every non-empty line of every file). No model is used unless `-m` is given,
and then only to label (and merge) the topics the statistics found.
"""

from __future__ import annotations

import argparse
import re
from typing import Any

from .ask import add_model_options
from .task_io import emit, read_inputs, task_client

__all__ = ["add_arguments", "run", "documents"]

_PARAGRAPH = re.compile(r"\n\s*\n")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("files", nargs="*", help="text files (default: stdin)")
    p.add_argument("-k", type=int, help="number of topics (default: chosen by coherence)")
    p.add_argument("--split", choices=["file", "paragraph", "line"],
                   help="what one document is (default: a file when several are given, else a paragraph)")  # fmt: skip
    p.add_argument("--top", type=int, default=10, help="keywords per topic (default: %(default)s)")
    p.add_argument("-m", "--model", help="a model to label the topics (default: none; keyword labels)")
    add_model_options(p)
    p.add_argument("--json", action="store_true", help="print the topics as JSON")


def documents(inputs: list[tuple[str, str]], split: str | None) -> tuple[list[str], list[str]]:
    """(names, texts) of the documents in the inputs, cut as `split` says."""
    split = split or ("file" if len(inputs) > 1 else "paragraph")
    names, texts = [], []
    for name, text in inputs:
        if split == "file":
            parts = [text]
        elif split == "line":
            parts = [line for line in text.splitlines() if line.strip()]
        else:
            parts = [p for p in _PARAGRAPH.split(text) if p.strip()]
        for i, part in enumerate(parts, 1):
            names.append(name if split == "file" else f"{name}:{i}")
            texts.append(part)
    return names, texts


def run(args: argparse.Namespace) -> int:
    from llmkit.tasks import extract_topics

    names, texts = documents(read_inputs(args.files), args.split)
    if args.model:
        with task_client(args) as client:
            result = extract_topics(texts, k=args.k, model=client, top_n=args.top)
    else:
        result = extract_topics(texts, k=args.k, top_n=args.top)
    payload: dict[str, Any] = {"documents": names, "result": result}
    emit(args, payload, _human(result, names))
    return 0


def _human(result: Any, names: list[str]) -> str:
    lines = [f"{result.k} topics in {len(names)} documents (k {result.k_by}, labels by {result.labels_by}): "
             f"NPMI {result.coherence:.3f}, diversity {result.diversity:.2f}"]  # fmt: skip
    for i, t in enumerate(result.topics, 1):
        lines.append(f"{i:2}. {t.label}  ({t.size} documents, NPMI {t.coherence:.2f})")
        lines.append("    " + ", ".join(f"{w} {weight:.3f}" for w, weight in t.keywords))
        if t.documents:
            lines.append("    e.g. " + ", ".join(names[d] for d in t.documents))
    lines.extend(f"note: {n}" for n in result.notes)
    return "\n".join(lines)
