"""A Hugging Face model's next-token distributions for `Client.token_stepper`,
`Client.next_token_logprobs` and `Client.fingerprint` (capability `distributions`).

The stepper runs the model on one new token per row with a DynamicCache: every row
has the same length at every step (rows start together on the start token), so no
padding or attention mask is needed and each step's shapes depend only on the step
number and the batch size; an encoder and a decoder that replay the same steps see
bit-identical numbers. Full-sequence scores use the windows of hf_scoring (every
token sees at least half a window of context); they agree with the stepper to float
rounding, not bit for bit.
"""

from __future__ import annotations

import json
import math
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from ..generation import CachedStepper, fingerprint_of, score_windows
from .hf_loading import forward_arguments
from .hf_scoring import MAX_WINDOW, _conditioning_token

if TYPE_CHECKING:
    from .hf_engine import HFEngine

__all__ = ["stepper", "next_token_logprobs", "fingerprint"]


def _vocab_size(engine: HFEngine) -> int:
    return int(engine.model.get_output_embeddings().weight.shape[0])


def stepper(engine: HFEngine, batch_size: int, threads: int | None = None) -> CachedStepper:
    from transformers import DynamicCache

    model, device = engine.model, engine.lm.device
    cache = DynamicCache()
    key, _ = forward_arguments(model)

    def forward(x: torch.Tensor) -> torch.Tensor:
        return model(input_ids=x.to(device), use_cache=True, **{key: cache}).logits[:, -1, :]

    dtype = str(next(model.parameters()).dtype).removeprefix("torch.")
    settings = {"batch_size": batch_size, "threads": threads or torch.get_num_threads(), "dtype": dtype,
                "device": str(device)}  # fmt: skip
    return CachedStepper(forward, batch_size=batch_size, vocab_size=_vocab_size(engine),
                        start=_conditioning_token(engine), max_positions=engine.context_window,
                        settings=settings, lock=engine.lm.lock)  # fmt: skip


def next_token_logprobs(engine: HFEngine, sequences: list[list[int]]) -> np.ndarray:
    """(rows, longest, vocab) float32: [i, t] is the distribution of sequences[i][t]
    given the start token + sequences[i][:t]; NaN past a row's end."""
    vocab = _vocab_size(engine)
    width = max((len(s) for s in sequences), default=0)
    out = np.full((len(sequences), width, vocab), np.nan, dtype=np.float32)
    cond = _conditioning_token(engine)
    window = max(2, min(engine.context_window or MAX_WINDOW, MAX_WINDOW))
    with engine.lm.lock, torch.inference_mode():
        for i, ids in enumerate(sequences):
            if not ids:
                continue
            seq = ([cond] if cond is not None else []) + list(ids)
            offset = 1 if cond is not None else 0  # seq[offset + t] is ids[t]
            if cond is None:
                out[i, 0] = -math.log(vocab)
            for begin, end, first, stop in score_windows(len(seq), window):
                inputs = torch.tensor([seq[begin:end]], dtype=torch.long, device=engine.lm.device)
                logits = engine.model(input_ids=inputs).logits[0].float()
                rows = torch.log_softmax(logits[first - 1 - begin : stop - 1 - begin], dim=-1)
                out[i, first - offset : stop - offset] = rows.cpu().numpy()
    return out


def fingerprint(engine: HFEngine) -> dict[str, Any]:
    """Digests of the weights and of the tokenizer, and the model's size, computed once
    per loaded model."""
    lm = engine.lm
    cached = getattr(lm, "fingerprint", None)
    if cached is None:
        tok = engine.tokenizer
        backend = getattr(tok, "backend_tokenizer", None)
        spelled = backend.to_str() if backend is not None else json.dumps(sorted(tok.get_vocab().items()))
        cached = fingerprint_of(engine.model, spelled)
        lm.fingerprint = cached
    return dict(cached)
