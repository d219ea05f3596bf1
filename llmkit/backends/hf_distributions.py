"""A Hugging Face model's next-token distributions for `Client.token_stepper`,
`Client.next_token_logprobs` and `Client.fingerprint` (capability `distributions`).

The stepper runs the model on one new token per row with a DynamicCache: every row
has the same length at every step (rows start together on the start token), so no
padding or attention mask is needed and each step's shapes depend only on the step
number and the batch size; an encoder and a decoder that replay the same steps see
bit-identical numbers. Full-sequence scores use the windows of hf_scoring (every
token sees at least half a window of context); they agree with the stepper to float
rounding, not bit for bit. With `adapt` (llmkit.online), the stepper and the
teacher-forced iter_next_token_logprobs run a float32 private copy trained online; a
row's segment is rerun over a view of its cached past (the first `past` positions).
"""

from __future__ import annotations

import copy
import json
import math
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from ..errors import InvalidOptionError
from ..generation import CachedStepper, fingerprint_of, score_windows
from ..online import OnlineLearner, adapted_logprobs, check_rows_fit, trainable_parameters, whole_rows
from .hf_loading import forward_arguments
from .hf_scoring import MAX_WINDOW, _conditioning_token

if TYPE_CHECKING:
    from ..adaptation import Adaptation
    from .hf_engine import HFEngine

__all__ = ["stepper", "next_token_logprobs", "iter_next_token_logprobs", "fingerprint"]


def _vocab_size(engine: HFEngine) -> int:
    return int(engine.model.get_output_embeddings().weight.shape[0])


def stepper(engine: HFEngine, batch_size: int, threads: int | None = None,
            adapt: Adaptation | None = None) -> CachedStepper:  # fmt: skip
    from transformers import DynamicCache

    model, device = engine.model, engine.lm.device
    learner = None
    if adapt is not None:
        model, learner = _private_copy(engine, adapt)
    cache = DynamicCache()
    key, _ = forward_arguments(model)

    def forward(x: torch.Tensor) -> torch.Tensor:
        return model(input_ids=x.to(device), use_cache=True, **{key: cache}).logits[:, -1, :]

    def segment_forward(row: int, inputs: list[int], past: int) -> torch.Tensor:
        """The row's inputs again, on its first `past` cached positions (the cache itself unchanged)."""
        view = DynamicCache()
        for index, layer in enumerate(_full_layers(cache)):
            view.update(layer.keys[row : row + 1, :, :past], layer.values[row : row + 1, :, :past], index)
        x = torch.tensor([inputs], dtype=torch.long, device=device)
        return model(input_ids=x, use_cache=True, **{key: view}).logits[0]

    dtype = str(next(model.parameters()).dtype).removeprefix("torch.")
    settings = {"batch_size": batch_size, "threads": threads or torch.get_num_threads(), "dtype": dtype,
                "device": str(device), "adapt": adapt.spelled if adapt else "none"}  # fmt: skip
    return CachedStepper(forward, batch_size=batch_size, vocab_size=_vocab_size(engine),
                        start=_conditioning_token(engine), max_positions=engine.context_window,
                        settings=settings, lock=engine.lm.lock, learner=learner,
                        segment_forward=segment_forward if learner else None)  # fmt: skip


def _private_copy(engine: HFEngine, adapt: Adaptation) -> tuple[Any, OnlineLearner]:
    """A float32 copy of the model to train (a deep copy runs unpacked: hf_packing) and its learner."""
    if _conditioning_token(engine) is None:
        raise InvalidOptionError(f"{engine.name} has no BOS or EOS token to start rows with: it cannot adapt",
                                 hint="Compress without adapt.")  # fmt: skip
    engine.lm.ready()  # no layer is being packed while it is copied
    model = copy.deepcopy(engine.model).float().eval()
    return model, OnlineLearner(trainable_parameters(model, adapt.layers), adapt)


def _full_layers(cache: Any) -> list[Any]:
    """The cache's layers, each holding every position's keys and values (what adapting
    slices); a sliding-window or linear-attention layer does not, and is refused."""
    layers = list(cache.layers)
    other = {type(layer).__name__ for layer in layers} - {"DynamicLayer"}
    if other:
        raise InvalidOptionError(f"adapt needs a cache of every position; this model's has {', '.join(sorted(other))}",
                                 hint="Compress this model without adapt.")  # fmt: skip
    return layers


def iter_next_token_logprobs(engine: HFEngine, sequences: list[list[int]],
                             adapt: Adaptation | None = None) -> Iterator[tuple[int, int, np.ndarray]]:  # fmt: skip
    """(row, t, logp (n, vocab)): the distributions of sequences[row][t:t + n], block by
    block; with `adapt`, the rows read together by a private copy trained online
    (llmkit.online.adapted_logprobs: the numbers of a stepper of len(sequences) rows)."""
    if adapt is None:
        yield from whole_rows(lambda ids: next_token_logprobs(engine, [ids])[0], sequences)
        return
    from transformers import DynamicCache

    check_rows_fit(sequences, engine.context_window)
    model, learner = _private_copy(engine, adapt)
    key, _ = forward_arguments(model)
    caches = [DynamicCache() for _ in sequences]

    def forward(row: int, inputs: list[int]) -> torch.Tensor:
        x = torch.tensor([inputs], dtype=torch.long, device=engine.lm.device)
        return model(input_ids=x, use_cache=True, **{key: caches[row]}).logits[0]

    def after(row: int) -> None:
        for layer in _full_layers(caches[row]):  # the past as it was computed, out of the graph
            layer.keys, layer.values = layer.keys.detach(), layer.values.detach()

    try:
        yield from adapted_logprobs(sequences, int(_conditioning_token(engine)), learner, forward, after)  # type: ignore[arg-type]
    finally:
        learner.close()


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
