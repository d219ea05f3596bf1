"""Sentiment: one label per text, from labels the caller names.

Strategy, chosen by what the model can do and reported on each result:
- "logprobs" (local backends): no generation. Each label is scored as the continuation
  of a short prompt and the scores are calibrated by the same labels after a
  content-free text ("N/A"), which removes the model's prior for one label word
  (Zhao et al., 2021, "Calibrate Before Use"). `score` is the label's probability
  among the labels.
- "structured": the label as JSON constrained to the labels (`response_format`).
- "prompted": the label asked for in words, parsed, re-asked once, then an error.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, overload

from ..client import Client
from ..errors import LLMKitError, TaskError
from ._core import Score, Task, ask_parsed, ask_structured, run_many, run_one, using
from ._text import budget, check_text, client_split

__all__ = ["Sentiment", "sentiment"]

_CONTENT_FREE = "N/A"


@dataclass
class Sentiment:
    """The label of one text. `scores` maps each label to its probability (logprobs
    strategy; empty otherwise) and `score` is the chosen label's."""

    text: str
    label: str
    score: float | None
    strategy: str
    scores: dict[str, float] = field(default_factory=dict)


@overload
def sentiment(  # type: ignore[overload-overlap]  # a str is a Sequence[str]: this one wins
    texts: str, labels: Sequence[str] = ..., model: Client | str | None = ..., *, strategy: str = ...,
    concurrency: int = ..., progress: bool | None = ...,
) -> Sentiment: ...
@overload
def sentiment(
    texts: Sequence[str], labels: Sequence[str] = ..., model: Client | str | None = ..., *, strategy: str = ...,
    concurrency: int = ..., progress: bool | None = ...,
) -> list[Sentiment | LLMKitError]: ...
def sentiment(
    texts: str | Sequence[str],
    labels: Sequence[str] = ("negative", "positive"),
    model: Client | str | None = None,
    *,
    strategy: str = "auto",
    concurrency: int = 8,
    progress: bool | None = None,
) -> Sentiment | list[Sentiment | LLMKitError]:
    """The sentiment of one text (a Sentiment, or a TaskError raised), or of a list of
    texts (a list in the same order, a failed item holding its error).

    `strategy`: "auto" (logprobs where the model has them, else structured, else
    prompted), or one of "logprobs", "structured", "prompted"."""
    labels = _check_labels(labels)

    def work(client: Client) -> Any:
        how = _strategy(client, strategy)
        prior = _prior(client, labels) if how == "logprobs" else None
        if isinstance(texts, str):
            return run_one(_one(client, texts, labels, how, prior), client)
        items = list(texts)
        tasks = [_one(client, t, labels, how, prior) for t in items]
        return run_many(tasks, client, concurrency=concurrency, progress=progress, label="sentiment")

    return using(model, work)


def _check_labels(labels: Sequence[str]) -> list[str]:
    if isinstance(labels, str) or len(labels) < 2:
        raise TaskError("sentiment needs at least two labels", hint='e.g. labels=("negative", "positive")')
    out = [str(label).strip() for label in labels]
    if len(set(out)) != len(out) or not all(out):
        raise TaskError(f"sentiment labels must be distinct and non-empty, not {list(labels)!r}")
    return out


def _strategy(client: Client, asked: str) -> str:
    caps = client.capabilities
    if asked == "auto":
        return "logprobs" if caps.logprobs else "structured" if caps.structured_output else "prompted"
    if asked not in ("logprobs", "structured", "prompted"):
        raise TaskError(f"unknown sentiment strategy {asked!r}", hint="Use auto, logprobs, structured or prompted.")
    return asked


def _context(text: str) -> str:
    # a sentence the label word ends, not a form to fill: on SmolLM2-135M (Pang & Lee
    # sentences) 0.705 accuracy against 0.62 for "Text: ...\nSentiment (negative, positive):"
    return f"Text: {text}\nThe sentiment of this text is"


def _prior(client: Client, labels: list[str]) -> dict[str, float]:
    """Each label's log-probability after a content-free text: the model's bias."""
    context = _context(_CONTENT_FREE)
    return {label: client.logprobs(" " + label, context=context).total for label in labels}


def _one(client: Client, text: str, labels: list[str], how: str, prior: dict[str, float] | None) -> Task[Sentiment]:
    text = check_text(text)
    if how == "logprobs":
        assert prior is not None
        return (yield from _by_logprobs(client, text, labels, prior))
    prompt = (f"What is the sentiment of this text? Answer with one of: {', '.join(labels)}.\n\n"
              f"Text: {text}")  # fmt: skip
    if how == "structured":
        schema = {"type": "object", "properties": {"label": {"enum": labels}}, "required": ["label"],
                  "additionalProperties": False}  # fmt: skip
        value = yield from ask_structured(prompt, schema, {"temperature": 0}, "sentiment")
        return Sentiment(text, value["label"], None, "structured")
    label = yield from ask_parsed(prompt, lambda answer: _label_in(answer, labels), {"temperature": 0, "max_tokens": 16},
                                  "sentiment")  # fmt: skip
    return Sentiment(text, label, None, "prompted")


def _by_logprobs(client: Client, text: str, labels: list[str], prior: dict[str, float]) -> Task[Sentiment]:
    room = budget(client, reserve=32 + 8 * len(labels))
    pieces = client_split(client, text, room)
    totals = dict.fromkeys(labels, 0.0)
    for piece in pieces:  # a long text: the mean of its pieces' probabilities
        context = _context(piece.text)
        scored = {}
        for label in labels:
            scored[label] = (yield Score(" " + label, context)) - prior[label]
        for label, p in _softmax(scored).items():
            totals[label] += p / len(pieces)
    best = max(labels, key=lambda label: totals[label])
    return Sentiment(text, best, totals[best], "logprobs", totals)


def _softmax(scores: dict[str, float]) -> dict[str, float]:
    top = max(scores.values())
    exp = {k: math.exp(v - top) for k, v in scores.items()}
    total = sum(exp.values())
    return {k: v / total for k, v in exp.items()}


def _label_in(answer: str, labels: list[str]) -> str:
    """The one label named in a free-text answer (ValueError when none or several)."""
    words = answer.lower()
    found = [label for label in labels if label.lower() in words]
    found = [label for label in found if not any(label != o and label.lower() in o.lower() for o in found)]
    if len(found) != 1:
        raise ValueError(f"answer with exactly one of {', '.join(labels)}")
    return found[0]
