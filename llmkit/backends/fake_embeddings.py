"""Deterministic stand-in embeddings for tests: hashed character trigrams, unit length.

Similar texts share trigrams, so they get similar vectors: good enough to test code that
ranks or clusters by similarity, with no model. Used by the `mock` backend and the
loopback OpenAI-compatible server (llmkit.testing), which sits above the backends.
"""

from __future__ import annotations

import math
import zlib

__all__ = ["trigram_vector"]


def trigram_vector(text: str, size: int = 32) -> list[float]:
    vector = [0.0] * size
    padded = f"  {text.lower()} "
    for i in range(len(padded) - 2):
        vector[zlib.crc32(padded[i : i + 3].encode()) % size] += 1.0
    norm = math.sqrt(sum(x * x for x in vector)) or 1.0
    return [x / norm for x in vector]
