"""Lossless compression with any local model ("compression is intelligence").

    >>> import llmkit
    >>> blob = llmkit.compress(b"def add(a, b):\\n    return a + b\\n", model="mini")
    >>> llmkit.decompress(blob)
    b'def add(a, b):\\n    return a + b\\n'

A language model that predicts the next token well is a good compressor: arithmetic
coding spends -log2 p bits on a token the model gave probability p, so a file codes to
about its cross-entropy under the model (measured in bits per byte, as in "Language
Modeling Is Compression", Deletang et al. 2024, and Bellard's ts_zip).

How (one small module each):
  segments   the input cut into chunks: text the model codes (bounded context, cut at
             line starts), and bytes it cannot (not UTF-8, binary) for the byte path
  coder      lockstep arithmetic coding of a batch of chunks with the model's
             distributions: encoder and decoder call one step function
  mixing     the optional n-gram model learned on the fly and mixed in
  bytepath   the byte-level path: the smallest of stored, xz, zlib, bz2
  container  the file layout: magic, version, model fingerprint, settings, chunk table,
             checksums
  api        compress(), decompress(), measure(), inspect(); classic.py: the classic
             compressors `llmkit bpb` compares with
Everything runs on the public Client (capability `distributions`): tokenize,
detokenize, token_stepper, fingerprint. Nothing heavy is imported until used.
"""

from __future__ import annotations

import sys
import types
from typing import Any

from .api import (
    DEFAULT_BATCH,
    MAX_CHUNK_TOKENS,
    CompressionStats,
    compress,
    compress_with_stats,
    decompress,
    inspect,
    measure,
)

__all__ = ["compress", "compress_with_stats", "decompress", "measure", "inspect", "CompressionStats", "DEFAULT_BATCH", "MAX_CHUNK_TOKENS"]


class _CallableModule(types.ModuleType):
    """`llmkit.compress` is this package once it is imported (Python sets the
    attribute), and the function otherwise: calling either compresses."""

    def __call__(self, data: bytes, model: Any = "mini", **options: Any) -> bytes:
        return compress(data, model, **options)


sys.modules[__name__].__class__ = _CallableModule
