"""What a file would code to, without coding it: the same chunks, the same mixing in
the same lockstep order, but the model's probabilities from one forward pass per chunk
(Client.next_token_logprobs) instead of one step per token. The bias head reads the
model's distribution only on the tokens the file uses, so each row keeps just those
columns (rows x tokens x distinct tokens, float32) and each position's normaliser.
Equal to compress()'s ideal to float rounding (the two paths' numbers differ in the last bits), and many
times faster on a CPU: what the benchmark uses for whole files too long to code here.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from . import bytepath, segments
from .api import DEFAULT_BATCH, MAX_CHUNK_TOKENS, _client
from .mixing import BiasHead, NgramMixer

if TYPE_CHECKING:
    from ..client import Client

__all__ = ["estimate"]


def estimate(data: bytes, model: str | Client = "mini", *, batch: int = DEFAULT_BATCH,
             chunk_tokens: int | None = None, mixing: bool = True) -> dict[str, Any]:  # fmt: skip
    """{"bytes", "ideal_bits", "model_bits", "ideal_bpb", "model_bpb", "chunks", "tokens"}:
    the cross-entropy of `data` as compress() would chunk and code it (byte-path chunks
    at their coded size)."""
    import numpy as np

    client = _client(model)
    limit = client.token_stepper(1).max_tokens or MAX_CHUNK_TOKENS
    chunk_tokens = min(chunk_tokens or MAX_CHUNK_TOKENS, limit)
    pieces = segments.plan(data, client.tokenize, client.detokenize, chunk_tokens)
    rows = [p.tokens for p in pieces if p.tokens is not None]
    ideal = float(sum(8 * len(bytepath.encode(p.data)[1]) for p in pieces if p.tokens is None))
    model_bits = 0.0
    mixer = NgramMixer() if mixing else None
    head = BiasHead() if mixing else None
    used = np.unique(np.fromiter((t for ids in rows for t in ids), dtype=np.int64))  # the bias head's tokens
    for start in range(0, len(rows), batch):
        group = rows[start : start + batch]
        picked = []  # per row: the model's log-probability of each of its tokens
        parts = []  # per row: (log p on the used tokens, log of each position's normaliser)
        for ids in group:
            logp = client.next_token_logprobs([ids])[0][: len(ids)]
            picked.append([float(logp[t, tok]) for t, tok in enumerate(ids)])
            if head is not None:
                norm = np.concatenate([np.log(np.exp(logp[a : a + 256].astype(np.float64)).sum(-1))  # as the coder
                                       for a in range(0, len(ids), 256)])  # normalises, 256 positions at a time
                parts.append((logp[:, used], norm))
        history: list[list[int]] = [[] for _ in group]
        for t in range(max(map(len, group))):
            step = [(i, ids[t]) for i, ids in enumerate(group) if t < len(ids)]
            base = {}
            for i, token in step:
                model_bits -= picked[i][t] / math.log(2)
                if head is None:
                    base[i] = math.exp(picked[i][t])
                    continue
                logp_used, norm = parts[i]
                p_used = np.zeros(int(used[-1]) + 1)  # p on the tokens the head reads (a row's own: it keeps it)
                p_used[used] = np.exp(logp_used[t].astype(np.float64) - norm[t])
                base[i] = float(head.apply(i, p_used)[token])
            for i, token in step:
                p = base[i]
                ideal -= math.log2(max(mixer.prob(p, history[i], token) if mixer else p, 1e-300))
            for i, token in step:  # after the step, in row order, as the coder does
                if head is not None:
                    head.update(i, token)
                if mixer is not None:
                    mixer.update(history[i], token, base[i])
                history[i].append(token)
    n = max(len(data), 1)
    return {"bytes": len(data), "ideal_bits": ideal, "model_bits": model_bits, "ideal_bpb": ideal / n,
            "model_bpb": model_bits / n, "chunks": len(pieces), "tokens": sum(map(len, rows))}  # fmt: skip

