"""`llmkit qa -d FILE [-d FILE...] [-m MODEL] [--json] QUESTION`

Answers QUESTION from the documents (stdin when no -d is given) and prints the answer
with its citations, one per line as `[1] FILE:START-END "quote"` (character offsets
into that file's text). When the documents do not answer it, prints "The documents do
not answer this." and exits 0: an abstention is an answer. Exit 1 on an error (a bad
file, an empty question, a model whose output did not check out).
"""

from __future__ import annotations

import argparse

from .task_io import add_task_options, emit, read_inputs, task_client

__all__ = ["ABSTAINED", "add_arguments", "run"]

ABSTAINED = "The documents do not answer this."


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("question", nargs="+", help="the question")
    p.add_argument("-d", "--document", dest="documents", action="append", default=[], metavar="FILE",
                   help="a document to answer from (repeat for several; default: stdin)")  # fmt: skip
    p.add_argument("--strategy", default="auto", choices=["auto", "extractive", "structured", "prompted"],
                   help="how the answer is found (default: extractive where the model has log-probabilities)")
    p.add_argument("--retrieval", default="bm25", choices=["bm25", "hybrid"],
                   help="how passages are ranked (hybrid: BM25 fused with the model's embeddings)")
    p.add_argument("--top-k", type=int, default=3, help="passages read (default: %(default)s)")
    add_task_options(p)


def run(args: argparse.Namespace) -> int:
    from llmkit.errors import UsageError
    from llmkit.tasks import answer

    question = " ".join(args.question).strip()
    if not question:
        raise UsageError("the question is empty", hint='e.g. llmkit qa -d notes.txt "Who wrote it?"')
    inputs = read_inputs(args.documents)
    names = [name for name, _ in inputs]
    with task_client(args) as client:
        result = answer(question, [text for _, text in inputs], model=client, strategy=args.strategy,
                        retrieval=args.retrieval, top_k=args.top_k)  # fmt: skip
    emit(args, result, _human(result, names))
    return 0


def _human(result: object, names: list[str]) -> str:
    from llmkit.tasks import Answer

    assert isinstance(result, Answer)
    if result.abstained or result.answer is None:
        return ABSTAINED
    lines = [result.answer]
    for i, c in enumerate(result.citations, 1):
        quote = " ".join(c.text.split())
        lines.append(f"[{i}] {names[c.document]}:{c.start}-{c.end} \"{quote}\"")
    return "\n".join(lines)
