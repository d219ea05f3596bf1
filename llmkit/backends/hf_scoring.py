"""Log-probabilities of a given text under a Hugging Face model (`client.logprobs`).

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

from ..types import TokenLogprob

MAX_WINDOW = 1024  # bounds memory: the logits of a window are window x vocabulary floats


def score(model: Any, tokenizer: Any, text: str, device: torch.device, window: int | None,
          lock: Any) -> list[TokenLogprob]:  # fmt: skip
    """Natural-log probability of each token of `text` (no special tokens added)."""
    ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    if not ids:
        return []
    cond = tokenizer.bos_token_id if tokenizer.bos_token_id is not None else tokenizer.eos_token_id
    seq = ([cond] if cond is not None else []) + ids
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
    return [TokenLogprob(p, v) for p, v in zip(pieces, values, strict=True)]
