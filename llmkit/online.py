"""Dynamic evaluation for the local backends: a private copy of a model trained online
on the token rows it reads (llmkit.adaptation.Adaptation says how).

Two drivers share one OnlineLearner, so their arithmetic is the same:

- CachedStepper (llmkit.generation), one token per row per step, is what a
  compressor codes with. When its position reaches the end of a segment, it hands
  the learner each row's segment (the inputs fed at positions a..a+n-1, whose targets
  are the tokens fed at a+1..a+n); the backend runs each row again over those inputs,
  with gradients, on the cached past of positions < a. One Adam step, and the step
  goes on with the new weights.
- `adapted_logprobs` runs the same segments teacher-forced (one forward pass per row
  and segment, whose log-probabilities are the distributions): what
  `Client.iter_next_token_logprobs(adapt=...)` gives, and llmkit.compress.estimate
  uses, equal to the stepper's numbers to float rounding.

A row's targets count while its sequence lasts; rows are run one at a time (the
backward pass of a long cached past is large) and their gradients add up before the
single step: the loss is the mean over every counted target of the batch.
Adam runs its plain per-parameter loop (foreach=False, fused=False): the same
arithmetic whatever the weights' memory layout, in every process.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING

from .errors import ContextLengthError, InvalidOptionError

if TYPE_CHECKING:
    import numpy
    import torch

    from .adaptation import Adaptation

__all__ = ["OnlineLearner", "trainable_parameters", "adapted_logprobs", "whole_rows", "check_rows_fit"]

# a block's parameters: "model.layers.3.mlp...", "transformer.h.3...", "blocks.3..."
_BLOCK = re.compile(r"(?:^|\.)(?:layers|h|blocks)\.(\d+)\.")
_FINAL_NORM = re.compile(r"(?:^|\.)(?:norm|ln_f|final_layernorm|final_norm)\.")


def trainable_parameters(model: torch.nn.Module, layers: int | None) -> list[torch.nn.Parameter]:
    """Every parameter (layers=None), or those of the last `layers` blocks and the final
    norm; the others are frozen (requires_grad False)."""
    named = list(model.named_parameters())
    if layers is None:
        chosen = [p for _, p in named]
    else:
        blocks = {int(m.group(1)) for name, _ in named if (m := _BLOCK.search(name))}
        if not blocks:
            raise InvalidOptionError("this model's blocks cannot be told apart by name: adapt with layers=None",
                                     hint="Train every weight (the default).")  # fmt: skip
        if layers > len(blocks):
            raise InvalidOptionError(f"layers={layers} is more than the model's {len(blocks)} blocks",
                                     hint=f"Use at most {len(blocks)}, or None for every weight.")  # fmt: skip
        first = max(blocks) + 1 - layers

        def wanted(name: str) -> bool:
            m = _BLOCK.search(name)
            return int(m.group(1)) >= first if m else bool(_FINAL_NORM.search(name))

        chosen = [p for name, p in named if wanted(name)]
    keep = {id(p) for p in chosen}
    for _, p in named:
        p.requires_grad_(id(p) in keep)
    return chosen


class OnlineLearner:
    """One Adam step per segment on the rows' mean loss. Owns the optimizer's state."""

    def __init__(self, parameters: list[torch.nn.Parameter], adaptation: Adaptation) -> None:
        import torch

        self.adaptation = adaptation
        self.segment = adaptation.segment
        self.optimizer = torch.optim.Adam(parameters, lr=adaptation.lr, foreach=False, fused=False)
        self.steps = 0

    def learn(self, rows: Sequence[tuple[Callable[[], torch.Tensor], Sequence[int]]], train: bool = True,
              keep: bool = False) -> list[torch.Tensor]:  # fmt: skip
        """rows: (forward, targets) each; forward() runs the row's segment and returns
        its logits (n, vocab), targets its n next tokens. With `train`, one Adam step on
        the mean loss of all the targets; `keep`: return each row's log-probabilities
        (n, vocab) float32, detached (else an empty list)."""
        import torch

        total = sum(len(targets) for _, targets in rows)
        kept: list[torch.Tensor] = []
        train = train and total > 0
        with torch.enable_grad() if train else torch.no_grad():
            for forward, targets in rows:
                logp = torch.log_softmax(forward().float(), dim=-1)
                if keep:
                    kept.append(logp.detach())
                if train:
                    index = torch.tensor(targets, dtype=torch.long, device=logp.device)[:, None]
                    loss = -logp.gather(1, index).sum() / total
                    loss.backward()
                del logp
        if train:
            self.optimizer.step()
            self.optimizer.zero_grad(set_to_none=True)
            self.steps += 1
        return kept

    def close(self) -> None:
        self.optimizer.state.clear()


def adapted_logprobs(sequences: Sequence[Sequence[int]], start: int, learner: OnlineLearner,
                     forward: Callable[[int, list[int]], torch.Tensor],
                     after: Callable[[int], None]) -> Iterator[tuple[int, int, numpy.ndarray]]:  # fmt: skip
    """Teacher-forced dynamic evaluation of `sequences` read together as one lockstep
    batch: yields (row, t, logp), logp (n, vocab) float32 the distributions of
    sequences[row][t:t + n]. `forward(row, inputs)` runs a row's next inputs on its own
    cache (extending it), with gradients; `after(row)` detaches that cache."""
    segment = learner.segment
    rows = [[start, *map(int, ids)] for ids in sequences]
    longest = max((len(s) for s in sequences), default=0)
    for a in range(0, longest, segment):
        work = []
        for i, seq in enumerate(rows):
            n = min(a + segment, len(seq) - 1) - a  # inputs a..a+n-1 have a target in the row
            if n > 0:
                work.append((i, seq[a : a + n], seq[a + 1 : a + n + 1]))
        # the stepper trains on this segment when it is fed a position after it
        kept = learner.learn([(_bind(forward, i, inputs), targets) for i, inputs, targets in work],
                             train=a + segment < longest, keep=True)  # fmt: skip
        for (i, _, _), logp in zip(work, kept, strict=True):
            after(i)
            yield i, a, logp.cpu().numpy()


def _bind(forward: Callable[[int, list[int]], torch.Tensor], row: int, inputs: list[int]) -> Callable[[], torch.Tensor]:
    return lambda: forward(row, inputs)


def whole_rows(score: Callable[[list[int]], numpy.ndarray],
               sequences: Sequence[list[int]]) -> Iterator[tuple[int, int, numpy.ndarray]]:  # fmt: skip
    """iter_next_token_logprobs without adapt: one block per (non-empty) row, `score(ids)`
    being its (len(ids), vocab) distributions."""
    for i, ids in enumerate(sequences):
        if ids:
            yield i, 0, score(ids)


def check_rows_fit(sequences: Sequence[Sequence[int]], window: int | None) -> None:
    """Adapting reads each row in one window (its segments share the cache): refuse longer rows."""
    if window is not None and max(map(len, sequences), default=0) > window:
        raise ContextLengthError(f"a row is longer than the {window} positions the model attends to: it cannot adapt",
                                 hint="Cut the rows into chunks that fit the window.")  # fmt: skip
