"""Scoring given texts with a Hugging Face model: log-probabilities (`client.logprobs`)
and embeddings (`client.embed`).

Every token of the text is scored, so that `Logprobs.bits_per_byte` is the ideal
compressed size of the whole text. The first token is conditioned on the tokenizer's
BOS token; a tokenizer without one conditions on its EOS token instead (documents are
separated by EOS in training, GPT-2 style), and one with neither scores the first token
as uniform over the vocabulary. Texts longer than the window are scored in overlapping
windows: each token sees at least half a window of context.
"""

from __future__ import annotations

import math
from typing import Any

import torch

from ..errors import ContextLengthError
from ..types import TokenLogprob

MAX_WINDOW = 1024  # bounds memory: the logits of a window are window x vocabulary floats


def score(model: Any, tokenizer: Any, text: str, device: torch.device, window: int | None,
          lock: Any, context: str | None = None) -> list[TokenLogprob]:  # fmt: skip
    """Natural-log probability of each token of `text` (no special tokens added), after
    `context` when given (tokenized on its own; its tokens are scored but not returned)."""
    ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    if not ids:
        return []
    before = tokenizer(context, add_special_tokens=False)["input_ids"] if context else []
    cond = tokenizer.bos_token_id if tokenizer.bos_token_id is not None else tokenizer.eos_token_id
    seq = ([cond] if cond is not None else []) + before + ids
    width = max(2, min(window or MAX_WINDOW, MAX_WINDOW))
    stride = max(1, width // 2)
    values: list[float] = []
    if cond is None:  # nothing to condition the first token on: uniform
        values.append(-math.log(len(tokenizer)))
    with lock, torch.inference_mode():
        start = 1  # targets are seq[1:]: the whole text, or all but its first token when unconditioned
        while start < len(seq):
            end = min(start + stride, len(seq)) if len(seq) > width else len(seq)
            begin = max(0, end - width)
            inputs = torch.tensor([seq[begin:end]], dtype=torch.long, device=device)
            logits = model(input_ids=inputs).logits[0].float()
            rows = logits[start - 1 - begin : end - 1 - begin]  # row k predicts seq[begin + k + 1]
            targets = torch.tensor(seq[start:end], dtype=torch.long, device=rows.device)
            picked = rows.gather(1, targets[:, None])[:, 0] - torch.logsumexp(rows, dim=-1)
            values.extend(picked.tolist())
            start = end
    pieces = tokenizer.batch_decode([[t] for t in ids], skip_special_tokens=False)
    return [TokenLogprob(p, v) for p, v in zip(pieces, values[len(before) :], strict=True)]


def embed(model: Any, tokenizer: Any, texts: list[str], device: torch.device, window: int | None, lock: Any,
          truncate: str | None = None, batch_size: int = 8, model_id: str = "") -> tuple[list[list[float]], int]:  # fmt: skip
    """(one unit-length vector per text, tokens read): the mean of the base model's last
    hidden states over the text's tokens. Each text is conditioned on BOS (else EOS), as
    in `score`, which is left out of the mean: a causal model's first position carries
    huge activations that would pull every text towards the same vector."""
    cond = tokenizer.bos_token_id if tokenizer.bos_token_id is not None else tokenizer.eos_token_id
    room = (window or 1 << 30) - (cond is not None)
    rows = []
    for text in texts:
        ids = tokenizer(text, add_special_tokens=False)["input_ids"]
        if not ids and cond is None:
            ids = [tokenizer.eos_token_id or 0]  # nothing at all to pool over otherwise
        if len(ids) > room:
            if truncate not in ("left", "right"):
                raise ContextLengthError(
                    f"a text of {len(ids)} tokens exceeds the {room} tokens {model_id or 'the model'} can embed "
                    "at once (its window, less the token the text is conditioned on)",
                    hint='Split the text, or pass truncate="left" (keep its end) or "right" (keep its start).',
                    model=model_id or None,
                )
            ids = ids[-room:] if truncate == "left" else ids[:room]
        rows.append(([cond] if cond is not None else []) + ids)
    skip = 1 if cond is not None else 0
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else (tokenizer.eos_token_id or 0)
    base = model.base_model  # the transformer without its LM head: last_hidden_state is normalised
    vectors: list[list[float] | None] = [None] * len(rows)
    with lock, torch.inference_mode():
        for group in _groups(rows, batch_size):
            width = max(len(rows[i]) for i in group)
            x = torch.full((len(group), width), pad, dtype=torch.long)
            attend = torch.zeros(len(group), width, dtype=torch.long)
            for row, i in enumerate(group):  # right padding: causal attention never looks ahead
                x[row, : len(rows[i])] = torch.tensor(rows[i], dtype=torch.long)
                attend[row, : len(rows[i])] = 1
            hidden = base(input_ids=x.to(device), attention_mask=attend.to(device)).last_hidden_state.float().cpu()
            pool = attend.float()
            pool[:, :skip] = 0.0
            pool[pool.sum(1) == 0, 0] = 1.0  # an empty text: the conditioning token's state
            pooled = (hidden * pool[..., None]).sum(1) / pool.sum(1, keepdim=True)
            for row, vector in zip(group, torch.nn.functional.normalize(pooled, dim=-1).tolist(), strict=True):
                vectors[row] = vector
    return vectors, sum(len(r) - skip for r in rows)  # type: ignore[return-value]


TOKEN_BUDGET = 8192  # tokens per forward pass when embedding: bounds memory for long texts


def _groups(rows: list[list[int]], batch_size: int) -> list[list[int]]:
    """Indices of `rows` in batches of similar length (little padding), each within
    batch_size texts and TOKEN_BUDGET padded tokens (a longer text goes alone)."""
    order = sorted(range(len(rows)), key=lambda i: len(rows[i]))
    groups: list[list[int]] = []
    for i in order:
        if groups and len(groups[-1]) < batch_size and len(rows[i]) * (len(groups[-1]) + 1) <= TOKEN_BUDGET:
            groups[-1].append(i)  # sorted: rows[i] is the longest in the group so far
        else:
            groups.append([i])
    return groups
