"""Held-out quality in bits per byte: the model's ideal code length against bz2 and xz.

A language model's cross-entropy on text it never saw is the size an arithmetic coder
driven by it would reach, so it compares directly with general-purpose compressors on
the same bytes ("compression is intelligence").
"""

from __future__ import annotations

import bz2
import lzma
import math
from dataclasses import dataclass

from llmkit.mini.corpus import Document

__all__ = ["Scores", "score_documents", "compressor_bits"]


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
