"""Continuous batching: the `hf` backend's whole answers (chat, complete, chat_batch,
complete_batch without a grammar) come from a decode loop of llmkit's own over the
model's forward pass and a KV cache that appends in place (hf_cache), instead of
`model.generate` on fixed groups.

- Up to `batch_size` rows decode together, one token per row per step. A row that ends
  (an end token, a stop string, its own max_tokens) leaves the batch at once and the next
  waiting prompt takes its slot: the batch never waits for its longest member, and each
  prompt gets its own max_tokens (a fixed group had to use the smallest one).
- Prompts that take free slots at the same moment are prefilled together, left-padded
  (one prompt alone: the shapes of a one-by-one call), and their cache is merged in: rows
  are left-padded in the cache to one length, with an attention mask and per-row
  position ids. Columns that have become padding in every row are cut off the cache's
  left. In float32, greedy batched answers equal one-by-one answers
  (benchmarks/hf_batch_throughput.py counts them); in bfloat16 the rounding depends on
  the batch's shape, so a near-tie between two tokens can break either way.
- Sampling applies what `generate` applies, in its order: repetition penalty (over the
  row's own tokens), temperature, top-k, top-p, then one multinomial draw per row from
  torch's RNG, seeded under the model's lock by a call's `seed`: a seeded call of one
  sample draws what `generate` would draw.

Streams (`stream_steps`) run the same loop for one prompt's rows, a step at a time.

Models whose cache is not plain per-layer keys and values (sliding-window or recurrent
layers) cannot be merged this way: `Unmergeable` is raised before any output, and the
engine generates with `generate` instead.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Generator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import torch
from transformers import DynamicCache, TemperatureLogitsWarper, TopKLogitsWarper, TopPLogitsWarper

from ..generation import Generation, SamplingParams, StopMatcher
from .hf_cache import GrowingLayer, growing_cache
from .hf_loading import forward_arguments

if TYPE_CHECKING:
    from .hf_engine import HFEngine

__all__ = ["Unmergeable", "decode_continuously", "stream_steps"]


class Unmergeable(Exception):
    """This model's cache cannot be merged row by row (raised before any generation)."""


@dataclass(eq=False)  # rows are compared by identity: copies of one prompt start equal
class _Row:
    prompt: int  # index of its prompt
    prompt_ids: list[int]
    max_new: int
    generated: list[int] = field(default_factory=list)

    def done(self, engine: HFEngine, stops: StopMatcher, window: int) -> bool:
        if self.generated[-1] in engine.eos_ids or len(self.generated) >= self.max_new:
            return True
        if stops:
            tail = engine.tokenizer.decode(self.generated[-window:], skip_special_tokens=True)
            return stops.find(tail) >= 0
        return False


class _Chooser:
    """Next tokens for a batch of rows from their last logits, as `generate` picks them."""

    def __init__(self, params: SamplingParams) -> None:
        self.params = params
        self.warpers: list[Any] = []
        if not params.greedy:
            if params.temperature != 1.0:
                self.warpers.append(TemperatureLogitsWarper(params.temperature))
            if params.top_k:
                self.warpers.append(TopKLogitsWarper(params.top_k))
            if params.top_p is not None and params.top_p < 1.0:
                self.warpers.append(TopPLogitsWarper(params.top_p))

    def __call__(self, logits: torch.Tensor, rows: list[_Row]) -> list[int]:
        scores = logits.float()
        penalty = self.params.repetition_penalty
        if penalty != 1.0:  # as RepetitionPenaltyLogitsProcessor, over each row's own tokens
            for i, row in enumerate(rows):
                seen = torch.tensor(row.prompt_ids + row.generated, dtype=torch.long, device=scores.device)
                picked = scores[i].gather(0, seen)
                scores[i].scatter_(0, seen, torch.where(picked < 0, picked * penalty, picked / penalty))
        if self.params.greedy:
            return scores.argmax(dim=-1).tolist()
        for warp in self.warpers:
            scores = warp(None, scores)
        probs = torch.softmax(scores, dim=-1)
        return torch.multinomial(probs, num_samples=1).squeeze(1).tolist()


def _pad_left(x: torch.Tensor, width: int, dim: int) -> torch.Tensor:
    if width == 0:
        return x
    shape = list(x.shape)
    shape[dim] = width
    return torch.cat([x.new_zeros(shape), x], dim=dim)


class _Batch:
    """The rows decoding together: one cache, left-padded to one length."""

    def __init__(self, engine: HFEngine) -> None:
        self.engine = engine
        self.cache_key, self.last_only = forward_arguments(engine.model)
        self.rows: list[_Row] = []
        self.cache: DynamicCache | None = None
        self.mask = torch.zeros((0, 0), dtype=torch.long)
        self.positions = torch.zeros(0, dtype=torch.long)  # each row's next position id

    def _forward(self, ids: torch.Tensor, mask: torch.Tensor, positions: torch.Tensor, cache: DynamicCache) -> torch.Tensor:
        device = self.engine.lm.device
        out = self.engine.model(input_ids=ids.to(device), attention_mask=mask.to(device),
                                position_ids=positions.to(device), use_cache=True, **{self.cache_key: cache}, **self.last_only)  # fmt: skip
        return out.logits[:, -1, :]

    def join(self, rows: list[_Row], copies: int) -> torch.Tensor:
        """Prefill the prompts of `rows` (`copies` consecutive rows per prompt) together,
        left-padded, and merge their cache into the batch's; their last logits. A single
        prompt is prefilled alone, exactly as a one-by-one call."""
        prompts = [row.prompt_ids for row in rows[::copies]]
        width = max(len(p) for p in prompts)
        ids = torch.full((len(prompts), width), self.engine.pad_id, dtype=torch.long)
        mask = torch.zeros((len(prompts), width), dtype=torch.long)
        for i, p in enumerate(prompts):
            ids[i, width - len(p) :], mask[i, width - len(p) :] = torch.tensor(p, dtype=torch.long), 1
        cache = growing_cache()
        logits = self._forward(ids, mask, (mask.cumsum(1) - 1).clamp(min=0), cache)
        if not all(type(layer) is GrowingLayer for layer in cache.layers):
            raise Unmergeable(type(cache.layers[0]).__name__ if cache.layers else "no layers")
        lengths = torch.tensor([len(p) for p in prompts], dtype=torch.long)
        if copies > 1:
            cache.batch_repeat_interleave(copies)
            mask, logits, lengths = (t.repeat_interleave(copies, 0) for t in (mask, logits, lengths))
        if self.cache is None or not self.rows:
            self.cache, self.mask = cache, mask
        else:
            both = max(self.mask.shape[1], width)
            old_pad, new_pad = both - self.mask.shape[1], both - width
            for mine, theirs in zip(_layers(self.cache), _layers(cache), strict=True):
                mine.keys = torch.cat([_pad_left(mine.keys, old_pad, 2), _pad_left(theirs.keys, new_pad, 2)])
                mine.values = torch.cat([_pad_left(mine.values, old_pad, 2), _pad_left(theirs.values, new_pad, 2)])
            self.mask = torch.cat([_pad_left(self.mask, old_pad, 1), _pad_left(mask, new_pad, 1)])
        self.rows.extend(rows)
        self.positions = torch.cat([self.positions, lengths])
        return logits

    def step(self) -> torch.Tensor:
        """Feed every row's last token; the next logits, one row each."""
        assert self.cache is not None
        last = torch.tensor([[row.generated[-1]] for row in self.rows], dtype=torch.long)
        self.mask = torch.cat([self.mask, torch.ones((len(self.rows), 1), dtype=torch.long)], dim=1)
        logits = self._forward(last, self.mask, self.positions.unsqueeze(1), self.cache)
        self.positions = self.positions + 1
        return logits

    def keep(self, keep: list[int]) -> None:
        """Only rows `keep` go on; padding columns no row needs any more are dropped."""
        if len(keep) == len(self.rows):
            return
        self.rows = [self.rows[i] for i in keep]
        if not keep:
            self.cache, self.mask, self.positions = None, torch.zeros((0, 0), dtype=torch.long), self.positions[:0]
            return
        assert self.cache is not None
        index = torch.tensor(keep, dtype=torch.long)
        self.mask, self.positions = self.mask[index], self.positions[index]
        self.cache.batch_select_indices(index.to(self.engine.lm.device))
        unused = int(self.mask.any(dim=0).long().argmax())  # leading columns that are padding in every row
        if unused:
            self.mask = self.mask[:, unused:]
            for layer in _layers(self.cache):
                layer.keys, layer.values = layer.keys[:, :, unused:], layer.values[:, :, unused:]


def _layers(cache: DynamicCache) -> list[Any]:
    """A cache's layers, GrowingLayers (join() checked): keys and values (rows, heads, T, dim)."""
    return list(cache.layers)


def _require_mergeable(engine: HFEngine) -> None:
    supports = getattr(engine.model, "_supports_default_dynamic_cache", None)
    if supports is None or not supports():  # recurrent or custom caches (RWKV, xLSTM, ...)
        raise Unmergeable(type(engine.model).__name__)


def _copies(params: SamplingParams) -> int:
    return 1 if params.greedy else params.n  # greedy n > 1: one row, its answer copied


def _stop_window(stops: StopMatcher) -> int:
    return 4 * stops.longest + 4 if stops else 0  # tokens a stop string can span (~4 per character)


def decode_continuously(engine: HFEngine, prompts: list[list[int]], params: SamplingParams,
                        stops: StopMatcher) -> list[list[Generation]]:  # fmt: skip
    """n samples for each prompt, `engine.batch_size` rows at a time (greedy n > 1: one
    row, its answer copied). The caller holds the model's lock, in inference mode."""
    _require_mergeable(engine)
    copies, window = _copies(params), _stop_window(stops)
    size = max(1, engine.batch_size)
    choose = _Chooser(params)
    batch = _Batch(engine)
    # longest first: the widest caches join while the batch is still empty
    waiting = deque(sorted(range(len(prompts)), key=lambda i: -len(prompts[i])))
    finished: list[list[_Row]] = [[] for _ in prompts]
    while waiting or batch.rows:
        joining: list[int] = []  # prompts that take free slots now, prefilled together
        while waiting and (len(batch.rows) + copies * (len(joining) + 1) <= size or not (batch.rows or joining)):
            joining.append(waiting.popleft())
        if joining:
            rows = [_Row(i, prompts[i], params.max_new_tokens(len(prompts[i]), engine.context_window))
                    for i in joining for _ in range(copies)]  # fmt: skip
            logits = batch.join(rows, copies)
        else:
            rows, logits = batch.rows, batch.step()
        for row, token in zip(rows, choose(logits, rows), strict=True):
            row.generated.append(token)
        keep = []
        for k, row in enumerate(batch.rows):
            if row.done(engine, stops, window):
                finished[row.prompt].append(row)
            else:
                keep.append(k)
        batch.keep(keep)
    results = []
    for i, rows in enumerate(finished):
        samples = [engine._sample(row.generated, len(prompts[i]), stops) for row in rows]
        results.append(samples if copies == params.n else samples * params.n)
    return results


def stream_steps(engine: HFEngine, prompt: list[int], params: SamplingParams, stops: StopMatcher,
                 flag: Any) -> Generator[list[int], None, None]:  # fmt: skip
    """One prompt's rows (n samples; greedy: one), a token each per step, for a stream.
    The model's lock is held for each step only, so a reader that stops reading holds
    nothing; `flag` (a threading.Event) set ends the stream at the next step."""
    copies, window = _copies(params), _stop_window(stops)
    choose = _Chooser(params)
    batch = _Batch(engine)
    rows = [_Row(0, prompt, params.max_new_tokens(len(prompt), engine.context_window)) for _ in range(copies)]

    def first() -> list[int]:
        _require_mergeable(engine)
        return choose(batch.join(rows, copies), rows)

    tokens = engine._guarded(first, params.seed)
    while True:
        for row, token in zip(rows, tokens, strict=True):
            row.generated.append(token)
        yield tokens
        if flag.is_set() or all(row.done(engine, stops, window) for row in rows):
            return
        tokens = engine._guarded(lambda: choose(batch.step(), rows), None)
