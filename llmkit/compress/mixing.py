"""Adaptive mixing: the model's distribution corrected by a bias head and blended with
an n-gram model, both learned on the fly from the tokens already coded (as Nacrith and
the context-mixing compressors do), identical in encoder and decoder by construction.

The bias head (Nacrith's adaptive bias, one per file, shared by all rows) adds a
learned bias b to the model's log-probabilities over the tokens the file has used,
p' = softmax(log p + b), and after each token takes a gradient step on its coding
cost, b -= BIAS_RATE * (p' - onehot(token)): the words this text uses more than the
model expects gain, the rest lose. It is used only while it has cost less, so far in
this file, than the model alone (learning goes on either way). Measured on alice29
with SmolLM2 (4096-token chunks, the model alone 1.121 bits per byte): a bias per row
1.088 with the n-gram model; shared by the rows, lower again (README, Compression).

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

__all__ = ["NgramMixer", "BiasHead", "W_MAX", "RATE", "BIAS_RATE", "MIXINGS"]

W_MAX = 0.6  # at most this much weight on the n-gram model
W_START = 0.05  # where each weight starts
RATE = 0.01  # gradient step on -ln p per token (0.01 beat 0.02 and 0.05 with mini)
ORDERS = (2, 1)  # longest context first
BUCKETS = 5
BIAS_RATE = 0.2  # SGD step of the bias head (alice29, SmolLM2, first 4 chunks: 0.05 0.4079, 0.1 0.4058, 0.2 0.4044, 0.35 ~, 0.5 worse)
MIXINGS = ("none", "ngram", "bias+ngram")  # the container's names of what is mixed in, by number


class BiasHead:
    """The file's online log-space bias over the tokens it has used, shared by every row
    like the n-gram table (float64 throughout: the same numbers in encoder and decoder).

    p'(v) = p(v) exp(b_v) / Z, with b_v = 0 for a token the file has not used yet, so Z
    needs p only on the tokens used: Z = (1 - sum p[used]) + sum p[used] exp(b[used]).
    Within a step every row is given the same bias (`apply(row, p)` for each row), then
    `update(row, token)` learns from each row's token, in row order: a gradient step of
    `rate` on -ln p'(token). The bias is used while it has saved bits in this file so far.
    """

    def __init__(self, rate: float = BIAS_RATE) -> None:
        self.rate = rate
        self.index: dict[int, int] = {}  # token -> its slot in ids / b, in order of first use
        self.ids: np.ndarray | None = None
        self.b: np.ndarray | None = None
        self.gain = 0.0  # nats the bias has saved in this file so far, used or not
        self._pending: dict[int, tuple[np.ndarray, np.ndarray, float]] = {}  # row -> (p, q[ids], Z) when applied

    def apply(self, row: int, p: np.ndarray) -> np.ndarray:
        """The distribution to code `row`'s next token with, given the model's `p` (float64,
        summing to 1); only p[ids] and p[token] are read, so the zeros elsewhere in a
        partial `p` (llmkit.compress.estimate) do not matter."""
        import numpy as np

        if self.ids is None or self.b is None:
            self.ids, self.b = np.zeros(0, dtype=np.int64), np.zeros(0)
        used = p[self.ids]
        weighted = used * np.exp(self.b)
        z = max(1.0 - float(used.sum()), 0.0) + float(weighted.sum())
        self._pending[row] = (p, weighted / z, z)
        if self.gain <= 0.0:
            return p
        q = p / z
        q[self.ids] = weighted / z
        return q

    def update(self, row: int, token: int) -> None:
        import numpy as np

        p, q_used, z = self._pending.pop(row)
        assert self.ids is not None and self.b is not None, "update() follows apply()"
        slot = self.index.get(token)
        known = slot is not None and slot < len(q_used)  # used before this row was applied
        q_token = float(q_used[slot]) if known else float(p[token]) / z
        self.gain += math.log(max(q_token, 1e-300)) - math.log(max(float(p[token]), 1e-300))
        self.b[: len(q_used)] -= self.rate * q_used
        if known:
            self.b[slot] += self.rate
            return
        if slot is None:
            slot = self.index[token] = len(self.ids)
            self.ids = np.append(self.ids, token)
            self.b = np.append(self.b, 0.0)
        self.b[slot] += self.rate * (1.0 - q_token)


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
