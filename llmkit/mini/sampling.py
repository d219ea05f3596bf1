"""Sampling a next token from logits, and turning sampled tokens into clean text.

`sample_next` implements greedy / temperature / top-k / top-p sampling from a seeded
generator. `TextAssembler` accumulates one sample's output bytes and hands out text
deltas that never split a UTF-8 character and never reveal a stop string, even one that
spans several tokens: text that could still become a stop string is held back.
"""

from __future__ import annotations

import codecs
from collections.abc import Sequence

import torch

from llmkit.generation import FinishReason, StopMatcher

__all__ = ["sample_next", "TextAssembler"]


def sample_next(logits: torch.Tensor, *, temperature: float, top_k: int | None, top_p: float | None,
                generator: torch.Generator) -> torch.Tensor:
    """logits (B, V) float32 -> token ids (B,). temperature 0 means greedy (argmax)."""
    if temperature == 0:
        return logits.argmax(dim=-1)
    logits = logits / temperature
    if top_k is not None and top_k < logits.shape[-1]:
        kth = torch.topk(logits, top_k, dim=-1).values[:, -1:]
        logits = logits.masked_fill(logits < kth, float("-inf"))
    if top_p is not None and top_p < 1.0:
        sorted_logits, order = torch.sort(logits, dim=-1, descending=True)
        probs = torch.softmax(sorted_logits, dim=-1)
        # Drop a token when the tokens ranked above it already cover top_p: the most
        # likely token is therefore always kept.
        drop = (torch.cumsum(probs, dim=-1) - probs) >= top_p
        sorted_logits = sorted_logits.masked_fill(drop, float("-inf"))
        logits = torch.full_like(logits, float("-inf")).scatter(-1, order, sorted_logits)
    probs = torch.softmax(logits, dim=-1)
    return torch.multinomial(probs, 1, generator=generator).squeeze(-1)


class TextAssembler:
    """Collects the output of one sample and releases text that is safe to show.

    `strip` bytes are dropped from the start of the output: with token healing the first
    generated token re-creates the end of the prompt, which the caller already has.
    """

    def __init__(self, stop: Sequence[str], strip: int = 0) -> None:
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._stops = StopMatcher(stop)
        self._strip = strip
        self.text = ""
        self.emitted = 0  # text[:emitted] has been handed out
        self.token_ids: list[int] = []
        self.finish_reason: FinishReason | None = None

    @property
    def done(self) -> bool:
        return self.finish_reason is not None

    def feed(self, token_id: int, data: bytes) -> None:
        """Add one generated token's bytes; may finish the sample with a stop string."""
        self.token_ids.append(token_id)
        if self._strip:
            cut = min(self._strip, len(data))
            data, self._strip = data[cut:], self._strip - cut
        self.text += self._decoder.decode(data)
        self._check_stop()

    def finish(self, reason: FinishReason) -> None:
        """End the sample (end-of-text token or length); flushes a dangling partial character."""
        if self.done:
            return
        self.text += self._decoder.decode(b"", final=True)
        self._check_stop()
        if not self.done:
            self.finish_reason = reason

    def take(self) -> str:
        """The text that became safe to show since the last call."""
        end = len(self.text) if self.done else len(self.text) - self._holdback()
        if end <= self.emitted:
            return ""
        delta = self.text[self.emitted:end]
        self.emitted = end
        return delta

    def _check_stop(self) -> None:
        # A stop string cannot start before `emitted`: any text that could begin one was
        # held back, so searching from there is enough (and keeps this linear).
        self.text, stopped = self._stops.cut(self.text, self.emitted)
        if stopped:
            self.finish_reason = "stop"

    def _holdback(self) -> int:
        """Length of the longest tail of the text that is a proper prefix of a stop string."""
        return self._stops.holdback(self.text, self.emitted)
