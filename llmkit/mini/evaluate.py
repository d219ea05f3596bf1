r"""Held-out quality in bits per byte: the model's ideal code length against bz2 and xz.

A language model's cross-entropy on text it never saw is the size an arithmetic coder
driven by it would reach, so it compares directly with general-purpose compressors on
the same bytes ("compression is intelligence").

`check_completion` is the model card's test of a greedy completion: no repeated line,
and code that `ast.parse`s (as an editor would take it when the token cap cut it off).

    >>> check_completion("def f(x):\n", "    y = x + 1\n    return y\n").ok
    True
    >>> check_completion("def f(x):\n", "    return x.value.item\n    return x.value.item\n").repeated
    'return x.value.item'
"""

from __future__ import annotations

import ast
import bz2
import lzma
import math
import textwrap
from dataclasses import dataclass

from llmkit.mini.corpus import Document

__all__ = ["Scores", "Check", "check_completion", "score_documents", "compressor_bits"]


@dataclass
class Scores:
    documents: int
    bytes: int
    model_bpb: float
    bz2_bpb: float
    xz_bpb: float


def compressor_bits(data: bytes) -> tuple[int, int]:
    """(bz2 -9 bits, xz -9e bits) for one document, each compressed on its own."""
    return len(bz2.compress(data, 9)) * 8, len(lzma.compress(data, preset=9 | lzma.PRESET_EXTREME)) * 8


def score_documents(engine, documents: list[Document], max_bytes: int | None = None) -> Scores:
    """Each document scored alone (from <|endoftext|>), as the compressors see it alone."""
    model_bits = bz2_bits = xz_bits = 0.0
    n_bytes = n_docs = 0
    for doc in documents:
        data = doc.text.encode("utf-8")
        if max_bytes is not None and n_bytes + len(data) > max_bytes and n_docs:
            break
        nats = -sum(t.logprob for t in engine.logprobs(doc.text))
        model_bits += nats / math.log(2)
        b, x = compressor_bits(data)
        bz2_bits, xz_bits = bz2_bits + b, xz_bits + x
        n_bytes += len(data)
        n_docs += 1
    n = max(n_bytes, 1)
    return Scores(n_docs, n_bytes, model_bits / n, bz2_bits / n, xz_bits / n)


MIN_REPEAT_CHARS = 8  # shorter lines ("else:", "pass", ")") repeat in good code


@dataclass
class Check:
    repeated: str | None  # the first non-trivial line that appears twice, stripped
    parses: bool
    error: str = ""  # why it does not parse

    @property
    def ok(self) -> bool:
        return self.repeated is None and self.parses


def check_completion(prompt: str, completion: str, suffix: str = "", *, cut: bool = True) -> Check:
    """Whether `completion` repeats a line (of its own, MIN_REPEAT_CHARS or longer) and whether
    prompt + completion + suffix parses as Python. `cut`: the completion ended at the token cap,
    so a last line it did not finish is dropped and a block it just opened gets a `pass`, which
    is how an editor would take it. An indented fragment is dedented first."""
    seen: set[str] = set()
    repeated = None
    for line in completion.splitlines():
        key = line.strip()
        if len(key) >= MIN_REPEAT_CHARS and key in seen:
            repeated = key
            break
        seen.add(key)
    candidates = [completion]
    if cut and not suffix:
        whole = completion[: completion.rfind("\n") + 1] if "\n" in completion else completion
        candidates += [whole, whole + " " * (_indent_after(prompt + whole) or 4) + "pass\n"]
    error = ""
    for text in candidates:
        try:
            ast.parse(textwrap.dedent(prompt + text + suffix))
            return Check(repeated, True)
        except SyntaxError as exc:
            error = error or f"{exc.msg} (line {exc.lineno})"
    return Check(repeated, False, error)


def _indent_after(code: str) -> int:
    """The indentation a block opened by the last non-blank line of `code` takes."""
    lines = [line for line in code.splitlines() if line.strip()]
    if not lines:
        return 0
    last = lines[-1]
    return len(last) - len(last.lstrip()) + 4
