"""Adaptive mixing: the model's distribution blended with an n-gram model learned on
the fly from the tokens already coded (as Nacrith and the context-mixing compressors
do), identical in encoder and decoder by construction.

The n-gram model counts, over the whole file so far, which token followed each
context of the last 1 and 2 tokens. Rows run in lockstep, so at step t every row's
tokens before t are known to the decoder too: all rows share one table, updated after
each step in row order (the encoder does the same). The prediction q comes from the
longest context seen, and is blended in with a weight learned online:

    p = (1 - w) * p_model + w * q,   w = weights[order, bucket(n)]

where n is how often the context was seen (buckets 1, 2-3, 4-7, 8-15, 16+). After
each token, its weight takes a gradient step on the coding cost -ln p(token), and a
weight is used only while mixing with it has cost less, so far in this file, than the
model alone (each key keeps the running difference, used or not): a model that
already predicts well (SmolLM2 on fresh prose) codes as if there were no mixing, a
weak or short-sighted one (mini: 256 tokens of context) gains where text repeats.
All arithmetic is float64 in a fixed order: the decoder computes the same bits.
"""

from __future__ import annotations

import math
from collections import defaultdict
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np

__all__ = ["NgramMixer", "W_MAX", "RATE"]

W_MAX = 0.6  # at most this much weight on the n-gram model
W_START = 0.05  # where each weight starts
RATE = 0.01  # gradient step on -ln p per token (0.01 beat 0.02 and 0.05 with mini)
ORDERS = (2, 1)  # longest context first
BUCKETS = 5


def _bucket(n: int) -> int:
    return min(n.bit_length() - 1, BUCKETS - 1)  # 1 -> 0, 2-3 -> 1, 4-7 -> 2, 8-15 -> 3, 16+ -> 4


class NgramMixer:
    """One table and one set of weights shared by every row of a file; `history` is a
    row's own tokens so far."""

    def __init__(self) -> None:
        self.tables: dict[int, dict[tuple[int, ...], dict[int, int]]] = {k: defaultdict(dict) for k in ORDERS}
        self.totals: dict[int, dict[tuple[int, ...], int]] = {k: defaultdict(int) for k in ORDERS}
        self.weights = {(k, b): W_START for k in ORDERS for b in range(BUCKETS)}
        self.gains = {(k, b): 0.0 for k in ORDERS for b in range(BUCKETS)}  # nats mixing saved so far

    def _weight(self, k: int, n: int) -> float:
        key = (k, _bucket(n))
        return self.weights[key] if self.gains[key] > 0.0 else 0.0

    def _context(self, history: list[int]) -> tuple[int, tuple[int, ...], int] | None:
        """(order, context, times seen) of the longest context seen before, or None."""
        for k in ORDERS:
            if len(history) >= k:
                context = tuple(history[-k:])
                n = self.totals[k].get(context, 0)
                if n:
                    return k, context, n
        return None

    def mix(self, p: np.ndarray, history: list[int]) -> np.ndarray:
        """`p` (float64, summing to 1) blended with the n-gram prediction after `history`."""
        found = self._context(history)
        if found is None:
            return p
        import numpy as np

        k, context, n = found
        w = self._weight(k, n)
        if w == 0.0:
            return p
        seen = self.tables[k][context]
        ids = np.fromiter(seen.keys(), dtype=np.int64, count=len(seen))
        counts = np.fromiter(seen.values(), dtype=np.float64, count=len(seen))
        out = p * (1.0 - w)
        out[ids] += counts * (w / n)
        return out

    def prob(self, p_token: float, history: list[int], token: int) -> float:
        """The mixed probability of `token` alone, given the model's `p_token`: what
        `mix` gives it (q is normalised), without a whole distribution."""
        found = self._context(history)
        if found is None:
            return p_token
        k, context, n = found
        w = self._weight(k, n)
        return p_token * (1.0 - w) + self.tables[k][context].get(token, 0) * (w / n)

    def update(self, history: list[int], token: int, p_token: float) -> None:
        """Learn from `token` (coded after `history`, the model having given it
        `p_token`): a gradient step on the weight used, then count it."""
        found = self._context(history)
        if found is not None:
            k, context, n = found
            key = (k, _bucket(n))
            w = self.weights[key]
            q = self.tables[k][context].get(token, 0) / n
            mixed = max(p_token * (1.0 - w) + q * w, 1e-300)
            self.gains[key] += math.log(mixed) - math.log(max(p_token, 1e-300))
            self.weights[key] = min(max(w + RATE * (q - p_token) / mixed, 0.0), W_MAX)
        for k in ORDERS:
            if len(history) >= k:
                context = tuple(history[-k:])
                table = self.tables[k][context]
                table[token] = table.get(token, 0) + 1
                self.totals[k][context] += 1
