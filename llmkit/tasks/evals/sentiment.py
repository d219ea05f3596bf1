"""Sentiment on real review sentences: scoring the labels by log-probability against
asking the model to write the label, on the same model and sentences.

Data: gensim's `pang_lee_polarity.cor` (200 movie-review sentences, half negative,
half positive), read from the gensim wheel at run time. With `limit`, the first
`limit // 2` of each label are used, so the set stays balanced. An item the model
could not answer counts as wrong (and is counted in `failed`).

    python -m llmkit.tasks.evals.sentiment MODEL [LIMIT]   (MODEL "smollm2": SmolLM2-135M-Instruct)
"""

from __future__ import annotations

import json
import sys
import time
from collections import Counter
from typing import Any

from ...client import Client
from ...errors import TaskError

__all__ = ["evaluate_sentiment"]

_STRATEGIES = ("logprobs", "prompted")


def _data(limit: int | None) -> list[tuple[str, str]]:
    from ._gensim import pang_lee_polarity

    rows = pang_lee_polarity()
    if limit is None:
        return rows
    half = max(1, limit // 2)
    neg = [r for r in rows if r[1] == "negative"][:half]
    pos = [r for r in rows if r[1] == "positive"][:half]
    return [r for pair in zip(neg, pos, strict=True) for r in pair]


def evaluate_sentiment(model: Client | str, limit: int | None = None) -> dict[str, Any]:
    """Accuracy of `llmkit.tasks.sentiment` with strategy="logprobs" and with
    strategy="prompted" on the Pang & Lee sentences (the model must give logprobs)."""
    from .._core import using
    from ..sentiments import sentiment

    rows = _data(limit)
    texts = [t for t, _ in rows]

    def work(client: Client) -> dict[str, Any]:
        if not client.capabilities.logprobs:
            raise TaskError(f"the sentiment eval compares logprob scoring with a generated label, and {client.model} "
                            "gives no logprobs", hint="Use a local model (hf:PATH or mini).")  # fmt: skip
        client.logprobs(" warm", context="up")  # the model loads here, not inside the first timing
        out: dict[str, Any] = {"data": "gensim pang_lee_polarity.cor", "model": client.model, "items": len(rows)}
        for strategy in _STRATEGIES:
            started = time.perf_counter()
            results = sentiment(texts, model=client, strategy=strategy, progress=False)
            seconds = time.perf_counter() - started
            labels = [getattr(r, "label", None) for r in results]
            right = sum(1 for got, (_, want) in zip(labels, rows, strict=True) if got == want)
            out[strategy] = {"accuracy": round(right / len(rows), 4), "failed": labels.count(None),
                             "predicted": dict(Counter(label or "error" for label in labels)),
                             "seconds": round(seconds, 1)}  # fmt: skip
        return out

    return using(model, work)


if __name__ == "__main__":  # the same as `llmkit eval sentiment -m MODEL [--limit N]`
    if len(sys.argv) < 2:
        sys.exit("usage: python -m llmkit.tasks.evals.sentiment MODEL [LIMIT]")
    print(json.dumps(evaluate_sentiment(sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else None), indent=2))
