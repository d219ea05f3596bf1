"""MiniEngine: what the `mini` backend calls to use a trained checkpoint.

Prompts are conditioned on a leading <|endoftext|> (documents follow one in training),
so one of the model's `block_size` positions is reserved for it: `context_window` is
`block_size - 1` prompt-plus-completion tokens.

Context overflow raises ContextLengthError unless `truncate="left"` is passed, which
drops the oldest prompt tokens until prompt + max_tokens fits.

Token healing (on by default): a prompt that ends in the middle of what training data
tokenizes as one token, typically trailing whitespace ("\n    " before a code line,
where training text has "\n   " + " return"), puts the model off its training
distribution. The engine removes the prompt's last token (and the whitespace-only
tokens just before it, when that token is whitespace too) and constrains generation to
re-create the removed bytes: each early token must either start with the remaining
removed bytes or be a prefix of them. The model thus picks the natural tokenization; the
re-created bytes are not repeated in the output.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import torch

from llmkit.errors import ContextLengthError, InvalidOptionError
from llmkit.mini.checkpoint import Checkpoint, load_checkpoint
from llmkit.mini.model import GPT, KVCache
from llmkit.mini.sampling import TextAssembler, sample_next
from llmkit.mini.tokenizer import MiniTokenizer

__all__ = ["Generation", "GenerationStream", "MiniEngine", "DEFAULT_MAX_TOKENS"]

DEFAULT_MAX_TOKENS = 256
FinishReason = Literal["stop", "length"]


@dataclass
class Generation:
    text: str
    finish_reason: FinishReason
    prompt_tokens: int
    completion_tokens: int
    token_ids: list[int] = field(default_factory=list, repr=False)


@dataclass
class _Plan:
    """A validated request: model input ids and sampling settings."""

    ids: list[int]  # starts with <|endoftext|>
    prompt_tokens: int
    max_tokens: int
    temperature: float
    top_k: int | None
    top_p: float | None
    stop: list[str]
    seed: int | None
    n: int
    heal: bytes = b""


class GenerationStream:
    """Iterator of text deltas; after exhaustion `finish_reason` and the counts are set.

    Stopping early is fine: abandon it or call `close()`; no further work is done.
    """

    def __init__(self, steps: Iterator[None], state: TextAssembler, prompt_tokens: int) -> None:
        self._steps = steps
        self._state = state
        self.prompt_tokens = prompt_tokens
        self._exhausted = False

    @property
    def finish_reason(self) -> FinishReason | None:
        return self._state.finish_reason  # type: ignore[return-value]

    @property
    def completion_tokens(self) -> int:
        return len(self._state.token_ids)

    @property
    def text(self) -> str:
        """The text yielded so far."""
        return self._state.text[:self._state.emitted]

    def __iter__(self) -> GenerationStream:
        return self

    def __next__(self) -> str:
        while True:
            delta = self._state.take()
            if delta:
                return delta
            if self._state.done or self._exhausted:
                raise StopIteration
            try:
                next(self._steps)
            except StopIteration:
                self._exhausted = True

    def close(self) -> None:
        self._steps.close()  # type: ignore[attr-defined]


class MiniEngine:
    def __init__(self, checkpoint: Checkpoint, *, name: str | None = None, threads: int | None = None) -> None:
        if threads is not None:
            if threads < 1:
                raise InvalidOptionError(f"threads must be >= 1, got {threads}")
            torch.set_num_threads(threads)  # process-wide: only when asked for explicitly
        self.model: GPT = checkpoint.model.eval()
        self.tokenizer: MiniTokenizer = checkpoint.tokenizer
        self.config = checkpoint.config
        self.metadata: dict[str, Any] = checkpoint.metadata
        self.path = checkpoint.path
        self.name = name or (checkpoint.path.name if checkpoint.path else "mini")
        self.context_window = self.config.block_size - 1
        self.threads = torch.get_num_threads()
        tok = self.tokenizer
        # Never sample FIM markers or ids the tokenizer does not know (padding rows).
        banned = [tok.fim_prefix_id, tok.fim_suffix_id, tok.fim_middle_id]
        banned += list(range(tok.vocab_size, self.config.vocab_size))
        self._banned = torch.tensor(banned, dtype=torch.long)
        self._heal_cache: dict[bytes, torch.Tensor] = {}

    @classmethod
    def load(cls, path: str | os.PathLike[str], threads: int | None = None) -> MiniEngine:
        return cls(load_checkpoint(Path(path)), threads=threads)

    # --- counting and scoring -----------------------------------------------------------

    def count_tokens(self, text: str | bytes) -> int:
        return len(self.tokenizer.encode(text))

    @torch.inference_mode()
    def score(self, ids: list[int]) -> torch.Tensor:
        """Log-probabilities (len(ids), vocab), float32: row j is the distribution of
        ids[j] given <|endoftext|> + ids[:j].

        The one scoring function (the compressor relies on it): every forward pass has the
        same shape (1, block_size), inputs padded at the end, without a KV cache. Texts
        longer than the window are scored in windows that step by half a window, so every
        token sees at least half a window of context. Row j depends only on ids[:j]:
        scoring a prefix gives bit-identical rows (at a fixed thread count).
        """
        block = self.config.block_size
        eot = self.tokenizer.eot_id
        seq = [eot, *ids]
        out = torch.empty(len(ids), self.config.vocab_size, dtype=torch.float32)
        stride = max(1, block // 2)
        start, done = 0, 0  # done: rows of `out` filled so far
        while done < len(ids):
            window = seq[start:start + block]
            x = torch.full((1, block), eot, dtype=torch.long)
            x[0, :len(window)] = torch.tensor(window, dtype=torch.long)
            logits, _ = self.model(x)
            logp = torch.log_softmax(logits[0].float(), dim=-1)
            # Output position i predicts seq[start + i + 1] = ids[start + i].
            first = done - start
            last = min(len(window), len(ids) - start)
            out[done:start + last] = logp[first:last]
            done = start + last
            start += stride
        return out

    def logprobs(self, text: str | bytes, context: str | bytes | None = None) -> list[tuple[str, float]]:
        """Per-token natural-log probabilities of `text`, conditioned on <|endoftext|> and
        then `context` (tokenized on its own), whose tokens are not returned."""
        ids = self.tokenizer.encode(text)
        if not ids:
            return []
        before = self.tokenizer.encode(context) if context else []
        logp = self.score(before + ids)[len(before):]
        picked = logp.gather(1, torch.tensor(ids).unsqueeze(1)).squeeze(1).tolist()
        return [(self.tokenizer.token_str(i), lp) for i, lp in zip(ids, picked, strict=True)]

    @torch.inference_mode()
    def embed(self, texts: list[str], *, truncate: Literal["left", "right"] | None = None,
              batch_size: int = 16) -> tuple[list[list[float]], int]:
        """(one unit-length vector per text, tokens read): the mean of the final hidden
        states over the text's tokens, each text conditioned on <|endoftext|> as in
        training (left out of the mean; an empty text gets its state). Right padding is
        exact here: attention is causal, so no real token sees the padding."""
        eot = self.tokenizer.eot_id
        rows = []
        for text in texts:
            ids = self.tokenizer.encode(text)
            if len(ids) > self.context_window:
                if truncate not in ("left", "right"):
                    raise ContextLengthError(
                        f"a text of {len(ids)} tokens exceeds the context window of {self.context_window} tokens",
                        hint='Split the text, or pass truncate="left" (keep its end) or "right" (keep its start).')
                ids = ids[-self.context_window:] if truncate == "left" else ids[:self.context_window]
            rows.append([eot, *ids])
        vectors: list[list[float]] = []
        for start in range(0, len(rows), batch_size):
            group = rows[start:start + batch_size]
            width = max(len(r) for r in group)
            x = torch.full((len(group), width), eot, dtype=torch.long)
            pool = torch.zeros(len(group), width, 1)
            for i, ids in enumerate(group):
                x[i, :len(ids)] = torch.tensor(ids, dtype=torch.long)
                pool[i, 1:len(ids)] = 1.0
                if len(ids) == 1:
                    pool[i, 0] = 1.0
            hidden = self.model.hidden_states(x).float()
            pooled = (hidden * pool).sum(1) / pool.sum(1)
            vectors.extend(torch.nn.functional.normalize(pooled, dim=-1).tolist())
        return vectors, sum(len(r) - 1 for r in rows)

    # --- generation ---------------------------------------------------------------------

    def generate(self, prompt: str | list[int], *, max_tokens: int | None = None, temperature: float = 1.0,
                 top_k: int | None = None, top_p: float | None = None, stop: list[str] | str | None = None,
                 seed: int | None = None, n: int = 1, truncate: Literal["left"] | None = None,
                 token_healing: bool = True) -> list[Generation]:
        """Sample `n` continuations of `prompt` as one batch.

        temperature 0 is greedy. `seed` makes sampling reproducible (for a given n).
        `stop` strings end a sample and are not included in its text. `max_tokens=None`
        means up to DEFAULT_MAX_TOKENS, within what the context window leaves.
        A prompt that does not fit with max_tokens raises ContextLengthError, unless
        `truncate="left"` (opt-in) drops its oldest tokens. `token_healing` (see the
        module docstring) applies to str and token-id prompts alike.
        """
        plan = self._plan(self._prompt_ids(prompt), max_tokens=max_tokens, temperature=temperature,
                          top_k=top_k, top_p=top_p, stop=stop, seed=seed, n=n, truncate=truncate,
                          heal=token_healing)
        return self._collect(plan)

    def stream(self, prompt: str | list[int], *, max_tokens: int | None = None, temperature: float = 1.0,
               top_k: int | None = None, top_p: float | None = None, stop: list[str] | str | None = None,
               seed: int | None = None, n: int = 1, truncate: Literal["left"] | None = None,
               token_healing: bool = True) -> GenerationStream:
        """Like `generate` with n=1, yielding text deltas as tokens arrive.

        Options are checked (and ContextLengthError raised) here, before iteration.
        """
        if n != 1:
            raise InvalidOptionError(f"stream supports n=1 only, got n={n}", hint="Use generate() for n > 1.")
        plan = self._plan(self._prompt_ids(prompt), max_tokens=max_tokens, temperature=temperature,
                          top_k=top_k, top_p=top_p, stop=stop, seed=seed, n=1, truncate=truncate,
                          heal=token_healing)
        state = TextAssembler(plan.stop, strip=len(plan.heal))
        return GenerationStream(self._decode(plan, [state]), state, plan.prompt_tokens)

    def infill(self, prefix: str, suffix: str, *, max_tokens: int | None = None, temperature: float = 1.0,
               top_k: int | None = None, top_p: float | None = None, stop: list[str] | str | None = None,
               seed: int | None = None, n: int = 1, truncate: Literal["left"] | None = None) -> list[Generation]:
        """Fill in the middle between `prefix` and `suffix` (PSM order, as in training).

        With truncate="left", the prefix loses tokens from its start and then the suffix
        from its end until the prompt fits.
        """
        tok = self.tokenizer
        pre, suf = tok.encode(prefix), tok.encode(suffix)
        if truncate == "left":
            budget = max(0, self.context_window - 3 - self._room_needed(max_tokens))
            excess = len(pre) + len(suf) - budget
            if excess > 0:  # the start of the prefix matters least, then the end of the suffix
                cut = min(excess, len(pre))
                pre, excess = pre[cut:], excess - cut
                suf = suf[:len(suf) - excess]
        ids = [tok.fim_prefix_id, *pre, tok.fim_suffix_id, *suf, tok.fim_middle_id]
        plan = self._plan(ids, max_tokens=max_tokens, temperature=temperature, top_k=top_k, top_p=top_p,
                          stop=stop, seed=seed, n=n, truncate=None, heal=False)
        return self._collect(plan)

    # --- internals ----------------------------------------------------------------------

    def _prompt_ids(self, prompt: str | list[int]) -> list[int]:
        if isinstance(prompt, str | bytes):
            return self.tokenizer.encode(prompt)
        ids = [int(i) for i in prompt]
        bad = [i for i in ids if not 0 <= i < self.tokenizer.vocab_size]
        if bad:
            raise InvalidOptionError(f"prompt token ids out of range: {bad[:5]}",
                                     hint=f"Ids must be in 0..{self.tokenizer.vocab_size - 1}.")
        return ids

    def _room_needed(self, max_tokens: int | None) -> int:
        return max_tokens if max_tokens is not None else min(DEFAULT_MAX_TOKENS, max(1, self.context_window // 4))

    def _plan(self, ids: list[int], *, max_tokens: int | None, temperature: float, top_k: int | None,
              top_p: float | None, stop: list[str] | str | None, seed: int | None, n: int,
              truncate: str | None, heal: bool) -> _Plan:
        _check_options(max_tokens=max_tokens, temperature=temperature, top_k=top_k, top_p=top_p, n=n,
                       truncate=truncate)
        stops = [stop] if isinstance(stop, str) else list(stop or [])
        if not all(isinstance(s, str) and s for s in stops):
            raise InvalidOptionError("stop must be a non-empty string or a list of non-empty strings")
        eot = self.tokenizer.eot_id
        if ids and ids[0] == eot:
            ids = ids[1:]  # re-added below; counted once
        window = self.context_window
        if max_tokens is None:  # as much as fits, up to DEFAULT_MAX_TOKENS
            room = window - len(ids)
            max_tokens = min(DEFAULT_MAX_TOKENS, room) if room > 0 else self._room_needed(None)
        if max_tokens > window:
            raise ContextLengthError(
                f"max_tokens={max_tokens} exceeds the context window of {window} tokens",
                hint=f"Use max_tokens <= {window}.")
        if len(ids) + max_tokens > window:
            if truncate != "left":
                raise ContextLengthError(
                    f"prompt of {len(ids)} tokens + max_tokens {max_tokens} = {len(ids) + max_tokens} tokens "
                    f"exceeds the context window of {window} tokens",
                    hint="Shorten the prompt, lower max_tokens, or pass truncate='left' to drop the oldest "
                         "prompt tokens.")
            ids = ids[len(ids) + max_tokens - window:]
        prompt_tokens = len(ids)
        heal_bytes = b""
        if heal:
            ids, heal_bytes = self._back_up(ids)
        return _Plan(ids=[eot, *ids], prompt_tokens=prompt_tokens, max_tokens=max_tokens,
                     temperature=float(temperature), top_k=top_k, top_p=top_p, stop=stops, seed=seed, n=n,
                     heal=heal_bytes)

    def _collect(self, plan: _Plan) -> list[Generation]:
        states = [TextAssembler(plan.stop, strip=len(plan.heal)) for _ in range(plan.n)]
        for _ in self._decode(plan, states):
            pass
        return [Generation(text=s.text, finish_reason=s.finish_reason or "length",  # type: ignore[arg-type]
                           prompt_tokens=plan.prompt_tokens, completion_tokens=len(s.token_ids),
                           token_ids=list(s.token_ids)) for s in states]

    def _back_up(self, ids: list[int], max_tokens: int = 3) -> tuple[list[int], bytes]:
        """Remove the tokens token healing regenerates; return (kept ids, removed bytes).

        The last token always goes; earlier ones too while everything removed is
        whitespace (a run like "\n    " is split unlike in training, across tokens).
        """
        tok = self.tokenizer
        removed = b""
        while ids and ids[-1] not in tok.special_ids:
            data = tok.token_bytes(ids[-1])
            if removed and (not data.isspace() or not removed.isspace() or max_tokens <= 0):
                break
            removed = data + removed
            ids = ids[:-1]
            max_tokens -= 1
        return ids, removed

    def _heal_mask(self, rest: bytes) -> torch.Tensor:
        """True for the tokens that can start the `rest` still to be re-created: those
        that begin with all of it, or are a (non-empty) prefix of it."""
        mask = self._heal_cache.get(rest)
        if mask is None:
            tok = self.tokenizer
            mask = torch.zeros(self.config.vocab_size, dtype=torch.bool)
            allowed = []
            for i in range(tok.vocab_size):
                data = tok.token_bytes(i)
                if i not in tok.special_ids and data and (data.startswith(rest) or rest.startswith(data)):
                    allowed.append(i)
            mask[allowed] = True
            if len(self._heal_cache) > 1024:
                self._heal_cache.clear()
            self._heal_cache[rest] = mask
        return mask

    @torch.inference_mode()
    def _forward_last(self, idx: torch.Tensor, cache: KVCache) -> torch.Tensor:
        logits, _ = self.model(idx, kv_cache=cache)
        return logits[:, -1, :].float()

    def _decode(self, plan: _Plan, states: list[TextAssembler]) -> Iterator[None]:
        """Run the sampling loop, feeding tokens to `states`; yields after every step.

        Grad mode is switched off per forward pass, not around the yields, so a caller
        iterating a stream keeps its own autograd state between tokens.
        """
        tok = self.tokenizer
        generator = torch.Generator()
        if plan.seed is None:
            generator.seed()  # fresh entropy: unseeded calls differ
        else:
            generator.manual_seed(plan.seed)
        cache = self.model.new_cache(1, max_len=len(plan.ids) + plan.max_tokens - 1)
        logits = self._forward_last(torch.tensor([plan.ids]), cache)
        if plan.n > 1:  # prefill once, then decode the n samples as one batch
            cache = cache.expand(plan.n)
            logits = logits.expand(plan.n, -1)
        rest = [plan.heal] * plan.n  # bytes each sample must still re-create (token healing)
        everything = torch.ones(self.config.vocab_size, dtype=torch.bool)
        for step in range(plan.max_tokens):
            logits = logits.index_fill(1, self._banned, float("-inf"))
            if any(rest):
                allowed = torch.stack([self._heal_mask(r) if r else everything for r in rest])
                logits = logits.masked_fill(~allowed, float("-inf"))
            next_ids = sample_next(logits, temperature=plan.temperature, top_k=plan.top_k, top_p=plan.top_p,
                                   generator=generator)
            last_step = step == plan.max_tokens - 1
            for i, (state, token) in enumerate(zip(states, next_ids.tolist(), strict=True)):
                if rest[i]:
                    data = tok.token_bytes(token)
                    rest[i] = b"" if data.startswith(rest[i]) else rest[i][len(data):]
                if state.done:
                    continue
                if token == tok.eot_id:
                    state.token_ids.append(token)
                    state.finish("stop")
                    continue
                state.feed(token, tok.token_bytes(token))
                if last_step:
                    state.finish("length")
            yield
            if last_step or all(s.done for s in states):
                return
            logits = self._forward_last(next_ids.unsqueeze(1), cache)


def _check_options(*, max_tokens: int | None, temperature: float, top_k: int | None, top_p: float | None,
                   n: int, truncate: str | None) -> None:
    if max_tokens is not None and (not isinstance(max_tokens, int) or max_tokens < 1):
        raise InvalidOptionError(f"max_tokens must be a positive integer, got {max_tokens!r}")
    if not isinstance(temperature, int | float) or temperature < 0:
        raise InvalidOptionError(f"temperature must be >= 0 (0 = greedy), got {temperature!r}")
    if top_k is not None and (not isinstance(top_k, int) or top_k < 1):
        raise InvalidOptionError(f"top_k must be a positive integer, got {top_k!r}")
    if top_p is not None and not 0 < top_p <= 1:
        raise InvalidOptionError(f"top_p must be in (0, 1], got {top_p!r}")
    if not isinstance(n, int) or n < 1:
        raise InvalidOptionError(f"n must be a positive integer, got {n!r}")
    if truncate not in (None, "left"):
        raise InvalidOptionError(f"truncate must be None or 'left', got {truncate!r}")
