"""Scoring given texts with a Hugging Face model: log-probabilities (`client.logprobs`)
and embeddings (`client.embed`).

Every token of the text is scored, so that `Logprobs.bits_per_byte` is the ideal
compressed size of the whole text. The first token is conditioned on the tokenizer's
BOS token; a tokenizer without one conditions on its EOS token instead (documents are
separated by EOS in training, GPT-2 style), and one with neither scores the first token
as uniform over the vocabulary. Texts longer than the window are scored in windows that
start every half window (llmkit.generation.score_windows, as the bundled model does):
each token sees at least half a window of context.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import torch

from ..generation import fit_tokens, pooled_embeddings, score_windows
from ..types import TokenLogprob

if TYPE_CHECKING:
    from .hf_engine import HFEngine

__all__ = ["score", "embed", "MAX_WINDOW"]

MAX_WINDOW = 1024  # bounds memory: the logits of a window are window x vocabulary floats


def _conditioning_token(engine: HFEngine) -> int | None:
    tok = engine.tokenizer
    return tok.bos_token_id if tok.bos_token_id is not None else tok.eos_token_id


def score(engine: HFEngine, text: str, context: str | None = None) -> list[TokenLogprob]:
    """Natural-log probability of each token of `text` (no special tokens added), after
    `context` when given (tokenized on its own; its tokens are scored but not returned)."""
    ids = engine.encode(text)
    if not ids:
        return []
    before = engine.encode(context) if context else []
    cond = _conditioning_token(engine)
    seq = ([cond] if cond is not None else []) + before + ids
    values: list[float] = []
    if cond is None:  # nothing to condition the first token on: uniform
        values.append(-math.log(len(engine.tokenizer)))
    width = max(2, min(engine.context_window or MAX_WINDOW, MAX_WINDOW))
    with engine.lm.lock, torch.inference_mode():
        for begin, end, first, stop in score_windows(len(seq), width):
            inputs = torch.tensor([seq[begin:end]], dtype=torch.long, device=engine.lm.device)
            logits = engine.model(input_ids=inputs).logits[0].float()
            rows = logits[first - 1 - begin : stop - 1 - begin]  # row r predicts seq[begin + r + 1]
            targets = torch.tensor(seq[first:stop], dtype=torch.long, device=rows.device)
            picked = rows.gather(1, targets[:, None])[:, 0] - torch.logsumexp(rows, dim=-1)
            values.extend(picked.tolist())
    pieces = engine.tokenizer.batch_decode([[t] for t in ids], skip_special_tokens=False)
    return [TokenLogprob(p, v) for p, v in zip(pieces, values[len(before) :], strict=True)]


def embed(engine: HFEngine, texts: list[str], truncate: str | None = None) -> tuple[list[list[float]], int]:
    """(one unit-length vector per text, tokens read): the mean of the base model's last
    hidden states over the text's tokens, each text conditioned on BOS (else EOS) as in
    `score`, which is left out of the mean (llmkit.generation.pooled_embeddings)."""
    tok = engine.tokenizer
    cond = _conditioning_token(engine)
    room = (engine.context_window or 1 << 30) - (cond is not None)
    rows = []
    for text in texts:
        ids = engine.encode(text)
        if not ids and cond is None:
            ids = [tok.eos_token_id or 0]  # nothing at all to pool over otherwise
        rows.append(([cond] if cond is not None else []) + fit_tokens(ids, room, truncate))
    skip = 1 if cond is not None else 0
    pad = tok.pad_token_id if tok.pad_token_id is not None else (tok.eos_token_id or 0)
    base = engine.model.base_model  # the transformer without its LM head: last_hidden_state is normalised
    device = engine.lm.device
    with engine.lm.lock, torch.inference_mode():
        vectors = pooled_embeddings(
            rows, pad_id=pad, skip=skip, batch_size=engine.batch_size,
            hidden=lambda x, mask: base(input_ids=x.to(device), attention_mask=mask.to(device)).last_hidden_state,
        )  # fmt: skip
    return vectors, sum(len(r) - skip for r in rows)
