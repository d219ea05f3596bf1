"""What the `hf` engine hands transformers' `model.generate`, where its own decode loop
(hf_batching) does not run: a grammar or a model whose cache cannot be merged.

- `StopOnStrings` and `StopOnFlag` (StoppingCriteria): a row ends at a stop string in
  its decoded tail; every row ends once a flag is set (a stream closed or paused).
- `Grammar` (LogitsProcessor): constrained decoding, one matcher per row.
- `QueueStreamer` (BaseStreamer): each step's tokens to the thread reading a stream,
  pausing generation when the reader stays away.
"""

from __future__ import annotations

import queue
import threading
from typing import Any

import torch
from transformers import LogitsProcessor, StoppingCriteria
from transformers.generation.streamers import BaseStreamer

from ..constraints import Constraint, Matcher
from ..generation import StopMatcher

__all__ = ["IDLE", "Grammar", "QueueStreamer", "StopOnFlag", "StopOnStrings"]


class StopOnStrings(StoppingCriteria):
    """Finish a row once its generated tail contains a stop string."""

    def __init__(self, tokenizer: Any, stops: StopMatcher, prompt_len: int) -> None:
        self.tokenizer = tokenizer
        self.stops = stops
        self.prompt_len = prompt_len
        # a stop string of k characters spans at most ~4k byte-level tokens (+ a partial one)
        self.window = 4 * stops.longest + 4

    def __call__(self, input_ids: torch.LongTensor, scores: Any, **kwargs: Any) -> torch.BoolTensor:
        tail = input_ids[:, self.prompt_len :][:, -self.window :]
        texts = self.tokenizer.batch_decode(tail, skip_special_tokens=True)
        return torch.tensor([self.stops.find(t) >= 0 for t in texts], device=input_ids.device)  # type: ignore[return-value]


class StopOnFlag(StoppingCriteria):
    """Finish every row once a flag is set (the stream was closed, is complete, or its
    reader went away)."""

    def __init__(self, *flags: threading.Event) -> None:
        self.flags = flags

    def __call__(self, input_ids: torch.LongTensor, scores: Any, **kwargs: Any) -> torch.BoolTensor:
        stop = any(flag.is_set() for flag in self.flags)
        return torch.full((input_ids.shape[0],), stop, dtype=torch.bool, device=input_ids.device)  # type: ignore[return-value]


class Grammar(LogitsProcessor):
    """Constrained decoding inside `generate`: each row (sample) has its own matcher; a
    row's last token advances it, and only the tokens it allows keep their logits. Once
    a row's output is complete, only an end token may follow."""

    def __init__(self, constraint: Constraint, prompt_len: int, eos_ids: list[int], max_new: int) -> None:
        self.constraint = constraint
        self.prompt_len = prompt_len
        self.eos_ids = eos_ids
        self.max_new = max_new
        self.matchers: list[Matcher] = []
        self.ended: list[bool] = []
        self.steered: set[int] = set()  # rows closed early because max_new was near: they end "length"

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        rows, vocab = scores.shape
        if not self.matchers:
            self.matchers = [self.constraint.matcher() for _ in range(rows)]
            self.ended = [False] * rows
        elif input_ids.shape[1] > self.prompt_len:
            for i, last in enumerate(input_ids[:, -1].tolist()):
                if self.ended[i]:
                    continue
                if last in self.eos_ids or self.matchers[i].done:
                    self.ended[i] = True
                else:
                    self.matchers[i].advance(last)
        allowed = torch.ones(rows, vocab, dtype=torch.bool)
        closing = self.max_new - (input_ids.shape[1] - self.prompt_len) <= self.constraint.reserve
        for i, m in enumerate(self.matchers):
            if self.ended[i]:
                continue
            allowed[i] = False
            if m.done:
                allowed[i, self.eos_ids] = True
                continue
            row = m.allowed()
            choice = m.closing(row) if closing else None
            if choice is not None:  # few tokens left: steer the row to a complete value
                allowed[i, choice] = True
                self.steered.add(i)
            else:
                allowed[i, : row.shape[0]] = row
        return scores.masked_fill(~allowed.to(scores.device), float("-inf"))  # type: ignore[return-value]


IDLE = 0.5  # seconds a reader may leave its AHEAD steps (hf_engine) unread before the model is given back


class QueueStreamer(BaseStreamer):
    """Hands each step's new tokens (one per row) to the consuming thread. With `room`
    (a semaphore of AHEAD slots the reader gives back), a reader that leaves AHEAD steps
    unread for IDLE seconds sets `paused`: generation stops there and frees the model's
    lock for other callers, and the stream goes on from there when it is read again."""

    def __init__(self, q: queue.SimpleQueue, room: threading.Semaphore | None = None,
                 paused: threading.Event | None = None) -> None:  # fmt: skip
        self.q = q
        self.room, self.paused = room, paused
        self.prompt_seen = False

    def put(self, value: torch.Tensor) -> None:
        if not self.prompt_seen:  # generate first passes the prompt itself
            self.prompt_seen = True
            return
        self.q.put(value.reshape(-1).tolist())
        if self.room is not None and self.paused is not None and not self.room.acquire(timeout=IDLE):
            self.paused.set()

    def end(self) -> None:
        pass  # the worker signals the end itself, also when generate raises
