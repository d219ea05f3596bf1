"""What a file would code to, without coding it: the same chunks, the same mixing in
the same lockstep order, but the model's probabilities from one forward pass per chunk
(Client.iter_next_token_logprobs; with adapt, per chunk and segment) instead of one
step per token. The bias head reads the
model's distribution only on the tokens the file uses, so each row keeps just those
columns (rows x tokens x distinct tokens, float32) and each position's normaliser.
Equal to compress()'s ideal to float rounding (the two paths' numbers differ in the last bits), and many
times faster on a CPU: what the benchmark uses for whole files too long to code here.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from . import bytepath, segments
from .api import DEFAULT_BATCH, MAX_CHUNK_TOKENS, _adaptation, _client
from .mixing import BiasHead, NgramMixer

if TYPE_CHECKING:
    from ..adaptation import Adaptation
    from ..client import Client

__all__ = ["estimate"]


def estimate(data: bytes, model: str | Client = "mini", *, batch: int = DEFAULT_BATCH,
             chunk_tokens: int | None = None, mixing: bool = True,
             adapt: Adaptation | bool | None = None) -> dict[str, Any]:  # fmt: skip
    """{"bytes", "ideal_bits", "model_bits", "ideal_bpb", "model_bpb", "chunks", "tokens"}:
    the cross-entropy of `data` as compress() would chunk and code it (byte-path chunks
    at their coded size). With `adapt`, each batch of chunks is read by a copy of the
    model trained online as compress(adapt=...) trains it (teacher-forced: one forward
    pass per row and segment)."""
    import numpy as np

    client = _client(model)
    limit = client.token_stepper(1).max_tokens or MAX_CHUNK_TOKENS
    chunk_tokens = min(chunk_tokens or MAX_CHUNK_TOKENS, limit)
    adaptation = _adaptation(adapt, chunk_tokens)
    pieces = segments.plan(data, client.tokenize, client.detokenize, chunk_tokens)
    rows = [p.tokens for p in pieces if p.tokens is not None]
    ideal = float(sum(8 * len(bytepath.encode(p.data)[1]) for p in pieces if p.tokens is None))
    model_bits = 0.0
    mixer = NgramMixer() if mixing else None
    head = BiasHead() if mixing else None
    used = np.unique(np.fromiter((t for ids in rows for t in ids), dtype=np.int64))  # the bias head's tokens
    for start in range(0, len(rows), batch):
        group = rows[start : start + batch]
        # per row: the model's log-probability of each of its tokens; log p on the used
        # tokens and the log of each position's normaliser (what the bias head reads)
        picked = [np.zeros(len(ids)) for ids in group]
        parts = [(np.zeros((len(ids), len(used)), np.float32), np.zeros(len(ids))) for ids in group]
        for i, t, logp in client.iter_next_token_logprobs(group, adapt=adaptation):
            ids = group[i][t : t + len(logp)]
            picked[i][t : t + len(ids)] = logp[np.arange(len(ids)), ids]
            if head is not None:
                logp_used, norm = parts[i]
                logp_used[t : t + len(ids)] = logp[: len(ids), used]
                for a in range(0, len(ids), 256):  # as the coder normalises, 256 positions at a time
                    end = min(a + 256, len(ids))
                    norm[t + a : t + end] = np.log(np.exp(logp[a:end].astype(np.float64)).sum(-1))
        history: list[list[int]] = [[] for _ in group]
        for t in range(max(map(len, group))):
            step = [(i, ids[t]) for i, ids in enumerate(group) if t < len(ids)]
            base = {}
            for i, token in step:
                model_bits -= float(picked[i][t]) / math.log(2)
                if head is None:
                    base[i] = math.exp(float(picked[i][t]))
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

