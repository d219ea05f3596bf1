"""The bundled GPT's next-token distributions for `Client.token_stepper`,
`Client.next_token_logprobs` and `Client.fingerprint` (capability `distributions`).

The stepper feeds one token per row through a preallocated KV cache (one buffer of the
window's length, so every step has the same cache shape whatever the row's history);
the full-sequence scores come from `MiniEngine.score`, whose windows and padding keep
every row bit-stable for prefixes. The two agree to float32 rounding, not bit for bit:
a compressor codes with one of them only (the stepper), in encoder and decoder alike.
With `adapt` (llmkit.online), both run a private copy of the model trained online.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from llmkit.generation import CachedStepper, fingerprint_of
from llmkit.mini.model import GPT, Decoder
from llmkit.online import OnlineLearner, adapted_logprobs, check_rows_fit, trainable_parameters, whole_rows

if TYPE_CHECKING:
    from llmkit.adaptation import Adaptation
    from llmkit.mini.engine import MiniEngine

__all__ = ["stepper", "next_token_logprobs", "iter_next_token_logprobs", "fingerprint"]


def stepper(engine: MiniEngine, batch_size: int, threads: int | None = None,
            adapt: Adaptation | None = None) -> CachedStepper:  # fmt: skip
    block = engine.config.block_size
    model, decoder, learner = engine.model, engine.decoder, None
    if adapt is not None:
        model, learner = _private_copy(engine, adapt)
        decoder = Decoder(model)
    cache = model.new_cache(batch_size, max_len=block)

    def forward(x: torch.Tensor) -> torch.Tensor:
        return decoder(x, cache)  # bit-identical to the full forward pass's last position

    def segment_forward(row: int, inputs: list[int], past: int) -> torch.Tensor:
        """The row's inputs again, on a copy of its first `past` cached positions."""
        view = model.new_cache(1, max_len=past + len(inputs))
        for mine, theirs in zip(view.k + view.v, cache.k + cache.v, strict=True):
            mine[:, :, :past] = theirs[row : row + 1, :, :past]
        view.length = past
        return model(torch.tensor([inputs], dtype=torch.long), kv_cache=view)[0][0]

    settings = {"batch_size": batch_size, "threads": threads or torch.get_num_threads(), "dtype": "float32",
                "device": "cpu", "adapt": adapt.spelled if adapt else "none"}  # fmt: skip
    return CachedStepper(forward, batch_size=batch_size, vocab_size=engine.config.vocab_size,
                        start=engine.tokenizer.eot_id, max_positions=block, settings=settings,
                        learner=learner, segment_forward=segment_forward if learner else None)  # fmt: skip


def _private_copy(engine: MiniEngine, adapt: Adaptation) -> tuple[GPT, OnlineLearner]:
    """A copy of the model to train (its inference layout kept: Adam's plain loop does not
    mind it) and its learner."""
    model = copy.deepcopy(engine.model).eval()
    return model, OnlineLearner(trainable_parameters(model, adapt.layers), adapt)


def iter_next_token_logprobs(engine: MiniEngine, sequences: list[list[int]],
                             adapt: Adaptation | None = None) -> Iterator[tuple[int, int, np.ndarray]]:  # fmt: skip
    """Client.iter_next_token_logprobs: whole rows, or with `adapt` the segments of
    llmkit.online.adapted_logprobs, each row on a cache of its own."""
    if adapt is None:
        yield from whole_rows(lambda ids: next_token_logprobs(engine, [ids])[0], sequences)
        return
    check_rows_fit(sequences, engine.config.block_size)
    model, learner = _private_copy(engine, adapt)
    caches = [model.new_cache(1, max_len=len(ids) + 1) for ids in sequences]

    def forward(row: int, inputs: list[int]) -> torch.Tensor:
        return model(torch.tensor([inputs], dtype=torch.long), kv_cache=caches[row])[0][0]

    def after(row: int) -> None:  # the past as it was computed, out of the graph
        caches[row].k = [k.detach() for k in caches[row].k]
        caches[row].v = [v.detach() for v in caches[row].v]

    try:
        yield from adapted_logprobs(sequences, engine.tokenizer.eot_id, learner, forward, after)
    finally:
        learner.close()


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
