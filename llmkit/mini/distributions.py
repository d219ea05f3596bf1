"""The bundled GPT's next-token distributions for `Client.token_stepper`,
`Client.next_token_logprobs` and `Client.fingerprint` (capability `distributions`).

The stepper feeds one token per row through a preallocated KV cache (one buffer of the
window's length, so every step has the same cache shape whatever the row's history);
the full-sequence scores come from `MiniEngine.score`, whose windows and padding keep
every row bit-stable for prefixes. The two agree to float32 rounding, not bit for bit:
a compressor codes with one of them only (the stepper), in encoder and decoder alike.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from llmkit.generation import CachedStepper, fingerprint_of

if TYPE_CHECKING:
    from llmkit.mini.engine import MiniEngine

__all__ = ["stepper", "next_token_logprobs", "fingerprint"]


def stepper(engine: MiniEngine, batch_size: int, threads: int | None = None) -> CachedStepper:
    block = engine.config.block_size
    cache = engine.model.new_cache(batch_size, max_len=block)

    def forward(x: torch.Tensor) -> torch.Tensor:
        return engine.decoder(x, cache)  # bit-identical to the full forward pass's last position

    settings = {"batch_size": batch_size, "threads": threads or torch.get_num_threads(), "dtype": "float32",
                "device": "cpu"}  # fmt: skip
    return CachedStepper(forward, batch_size=batch_size, vocab_size=engine.config.vocab_size,
                        start=engine.tokenizer.eot_id, max_positions=block, settings=settings)  # fmt: skip


def next_token_logprobs(engine: MiniEngine, sequences: list[list[int]]) -> np.ndarray:
    """(rows, longest, vocab) float32: [i, t] is the distribution of sequences[i][t]
    given <|endoftext|> + sequences[i][:t]; NaN past a row's end."""
    width = max((len(s) for s in sequences), default=0)
    out = np.full((len(sequences), width, engine.config.vocab_size), np.nan, dtype=np.float32)
    for i, ids in enumerate(sequences):
        if ids:
            out[i, : len(ids)] = engine.score(list(ids)).numpy()
    return out


def fingerprint(engine: MiniEngine) -> dict[str, Any]:
    """Digests of the weights and of the tokenizer, and the model's size (computed once
    per engine)."""
    cached = getattr(engine, "_fingerprint", None)
    if cached is None:
        cached = fingerprint_of(engine.model, engine.tokenizer.to_str())
        engine._fingerprint = cached  # type: ignore[attr-defined]
    return dict(cached)
