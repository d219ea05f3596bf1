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

import dataclasses
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import torch

from llmkit.constraints import Constraint, Vocabulary
from llmkit.errors import ContextLengthError, InvalidOptionError
from llmkit.generation import (
    DEFAULT_MAX_TOKENS,
    SAMPLING_DEFAULT_KEYS,
    FinishReason,
    Generation,
    SamplingParams,
    check_truncate,
    fit_tokens,
    pooled_embeddings,
    score_windows,
)
from llmkit.mini.checkpoint import Checkpoint, load_checkpoint
from llmkit.mini.healing import TokenHealer
from llmkit.mini.model import GPT, Decoder, KVCache
from llmkit.mini.sampling import TextAssembler, sample_next
from llmkit.mini.tokenizer import MiniTokenizer
from llmkit.types import TokenLogprob

__all__ = ["GenerationStream", "MiniEngine"]


@dataclass
class _Plan:
    """A validated request: model input ids, how many tokens to make, how to sample."""

    ids: list[int]  # starts with <|endoftext|>
    prompt_tokens: int
    max_tokens: int
    params: SamplingParams
    heal: bytes = b""
    constraint: Constraint | None = None  # a grammar the output must follow (structured output)


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
        return self._state.finish_reason

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
        close = getattr(self._steps, "close", None)
        if close is not None:
            close()


class MiniEngine:
    def __init__(self, checkpoint: Checkpoint, *, name: str | None = None, threads: int | None = None) -> None:
        if threads is not None:
            if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
                also = " (threads='auto', measured, is for hf: models)" if threads == "auto" else ""
                raise InvalidOptionError(f"threads must be an int >= 1, got {threads!r}{also}")
            torch.set_num_threads(threads)  # process-wide: only when asked for explicitly
        self.model: GPT = checkpoint.model.eval().inference_layout()  # column-major weights: faster decoding
        self.decoder = Decoder(self.model)  # the cached-decoding fast path (generation, the stepper)
        self.tokenizer: MiniTokenizer = checkpoint.tokenizer
        self.config = checkpoint.config
        self.metadata: dict[str, Any] = checkpoint.metadata
        self.path = checkpoint.path
        self.name = name or (checkpoint.path.name if checkpoint.path else "mini")
        self.context_window = self.config.block_size - 1
        self.threads = torch.get_num_threads()
        # the checkpoint's own sampling defaults (metadata "generation", like generation_config.json)
        generation = self.metadata.get("generation") or {}
        self.sampling_defaults = {k: v for k, v in generation.items() if k in SAMPLING_DEFAULT_KEYS}
        tok = self.tokenizer
        # Never sample FIM markers or ids the tokenizer does not know (padding rows).
        banned = [tok.fim_prefix_id, tok.fim_suffix_id, tok.fim_middle_id]
        banned += list(range(tok.vocab_size, self.config.vocab_size))
        self._banned = torch.tensor(banned, dtype=torch.long)
        self._healer = TokenHealer(tok, self.config.vocab_size)
        self._vocabulary: Vocabulary | None = None

    def vocabulary(self) -> Vocabulary:
        """This model's tokens for constrained decoding (built on first use, then kept)."""
        if self._vocabulary is None:
            tok = self.tokenizer
            self._vocabulary = Vocabulary.from_bytes(
                [tok.token_bytes(i) for i in range(tok.vocab_size)], eos_ids=[tok.eot_id],
                special_ids=sorted(tok.special_ids), n_vocab=self.config.vocab_size, encode=tok.encode,
            )  # fmt: skip
        return self._vocabulary

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
        for begin, end, first, stop in score_windows(len(seq), block):
            x = torch.full((1, block), eot, dtype=torch.long)  # one shape for every pass: bit-stable rows
            x[0, : end - begin] = torch.tensor(seq[begin:end], dtype=torch.long)
            logits, _ = self.model(x)
            logp = torch.log_softmax(logits[0].float(), dim=-1)
            out[first - 1 : stop - 1] = logp[first - 1 - begin : stop - 1 - begin]  # row j: ids[j] = seq[j + 1]
        return out

    def logprobs(self, text: str | bytes, context: str | bytes | None = None) -> list[TokenLogprob]:
        """Per-token natural-log probabilities of `text`, conditioned on <|endoftext|> and
        then `context` (tokenized on its own), whose tokens are not returned."""
        ids = self.tokenizer.encode(text)
        if not ids:
            return []
        before = self.tokenizer.encode(context) if context else []
        logp = self.score(before + ids)[len(before):]
        picked = logp.gather(1, torch.tensor(ids).unsqueeze(1)).squeeze(1).tolist()
        return [TokenLogprob(self.tokenizer.token_str(i), lp) for i, lp in zip(ids, picked, strict=True)]

    # --- distributions (llmkit.mini.distributions: what the compressor codes with) -------

    def tokenize(self, text: str) -> list[int]:
        return self.tokenizer.encode(text)

    def detokenize(self, ids: list[int]) -> str:
        return self.tokenizer.decode(ids)

    def stepper(self, batch_size: int, threads: int | None = None, adapt: Any = None) -> Any:
        from llmkit.mini.distributions import stepper

        return stepper(self, batch_size, threads, adapt)

    def iter_next_token_logprobs(self, sequences: list[list[int]], adapt: Any = None) -> Any:
        from llmkit.mini.distributions import iter_next_token_logprobs

        return iter_next_token_logprobs(self, sequences, adapt)

    def next_token_logprobs(self, sequences: list[list[int]]) -> Any:
        from llmkit.mini.distributions import next_token_logprobs

        return next_token_logprobs(self, sequences)

    def fingerprint(self) -> dict[str, Any]:
        from llmkit.mini.distributions import fingerprint

        return fingerprint(self)

    def attention(self, text: str) -> tuple[list[str], torch.Tensor]:
        """(tokens, attention weights (layers, heads, T, T)) of `text`, recomputed from hooks."""
        from llmkit.mini.attention_maps import attention_maps

        ids = self.tokenizer.encode(text)[: self.context_window]
        return [self.tokenizer.token_str(i) for i in ids], attention_maps(self.model, ids)

    @torch.inference_mode()
    def embed(self, texts: list[str], *, truncate: Literal["left", "right"] | None = None,
              batch_size: int = 16) -> tuple[list[list[float]], int]:
        """(one unit-length vector per text, tokens read): the mean of the final hidden
        states over the text's tokens, each text conditioned on <|endoftext|> as in
        training (left out of the mean; an empty text gets its state). Right padding is
        exact here: attention is causal, so no real token sees the padding."""
        eot = self.tokenizer.eot_id
        rows = [[eot, *fit_tokens(self.tokenizer.encode(t), self.context_window, truncate)]
                for t in texts]  # fmt: skip
        vectors = pooled_embeddings(rows, pad_id=eot, skip=1, batch_size=batch_size,
                                    hidden=lambda x, mask: self.model.hidden_states(x))  # fmt: skip
        return vectors, sum(len(r) - 1 for r in rows)

    # --- generation ---------------------------------------------------------------------

    def generate(self, prompt: str | list[int], params: SamplingParams | None = None, *,
                 truncate: Literal["left"] | None = None, token_healing: bool = True,
                 constraint: Constraint | None = None, **options: Any) -> list[Generation]:  # fmt: skip
        """Sample `params.n` continuations of `prompt` as one batch.

        `params` (or the same as keyword options: max_tokens=, temperature=, top_k=,
        top_p=, stop=, seed=, n=) says how: temperature 0 is greedy, `seed` makes sampling
        reproducible (for a given n), `stop` strings end a sample and are not included in
        its text, max_tokens None means up to DEFAULT_MAX_TOKENS within what the context
        window leaves. A prompt that does not fit raises ContextLengthError, unless
        `truncate="left"` (opt-in) drops its oldest tokens. `token_healing` (see the
        module docstring) applies to str and token-id prompts alike. With a `constraint`
        (llmkit.constraints: a grammar, e.g. from a JSON schema) every sample follows it
        and ends as soon as it is complete.
        """
        plan = self._plan(self._prompt_ids(prompt), _params(params, options), truncate=truncate,
                          heal=token_healing and constraint is None, constraint=constraint)  # fmt: skip
        return self._collect(plan)

    def stream(self, prompt: str | list[int], params: SamplingParams | None = None, *,
               truncate: Literal["left"] | None = None, token_healing: bool = True,
               constraint: Constraint | None = None, **options: Any) -> GenerationStream:  # fmt: skip
        """Like `generate` with n=1, yielding text deltas as tokens arrive.

        Options are checked (and ContextLengthError raised) here, before iteration.
        """
        params = _params(params, options)
        if params.n != 1:
            raise InvalidOptionError(f"stream supports n=1 only, got n={params.n}", hint="Use generate() for n > 1.")
        plan = self._plan(self._prompt_ids(prompt), params, truncate=truncate,
                          heal=token_healing and constraint is None, constraint=constraint)  # fmt: skip
        state = TextAssembler(plan.params.stop, strip=len(plan.heal))
        return GenerationStream(self._decode(plan, [state]), state, plan.prompt_tokens)

    def infill(self, prefix: str, suffix: str, params: SamplingParams | None = None, *,
               truncate: Literal["left"] | None = None, token_healing: bool = True,
               **options: Any) -> list[Generation]:  # fmt: skip
        """Fill in the middle between `prefix` and `suffix` (PSM order, as in training).

        With truncate="left", the prefix loses tokens from its start and then the suffix
        from its end until the prompt fits. `token_healing` backs up over the prefix's
        last token, as `generate` does: a prefix that ends at a line break ends in a bare
        "\n" token, which the tokenizer never produces before indented code (it merges
        the newline into the indentation), and without healing the model reads the
        prefix as cut mid-token and continues a word ("e = 0" where "depth -= 1" belongs).
        """
        params = _params(params, options)
        check_truncate(truncate)
        tok = self.tokenizer
        pre, suf = tok.encode(prefix), tok.encode(suffix)
        if truncate == "left":
            budget = max(0, self.context_window - 3 - self._room_needed(params.max_tokens))
            excess = len(pre) + len(suf) - budget
            if excess > 0:  # the start of the prefix matters least, then the end of the suffix
                cut = min(excess, len(pre))
                pre, excess = pre[cut:], excess - cut
                suf = suf[: len(suf) - excess]
        heal = b""
        if token_healing:  # the middle re-creates the prefix's last token (its bytes are not repeated)
            pre, heal = self._healer.back_up(pre)
        ids = [tok.fim_prefix_id, *pre, tok.fim_suffix_id, *suf, tok.fim_middle_id]
        plan = self._plan(ids, params, truncate=None, heal=False)
        return self._collect(dataclasses.replace(plan, heal=heal))

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

    def _plan(self, ids: list[int], params: SamplingParams, *, truncate: str | None, heal: bool,
              constraint: Constraint | None = None) -> _Plan:  # fmt: skip
        check_truncate(truncate)
        eot = self.tokenizer.eot_id
        if ids and ids[0] == eot:
            ids = ids[1:]  # re-added below; counted once
        window = self.context_window
        max_tokens = params.max_tokens
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
            ids, heal_bytes = self._healer.back_up(ids)
        if constraint is not None:  # the grammar decides where the output ends, not a stop string
            params = dataclasses.replace(params, stop=())
        return _Plan(ids=[eot, *ids], prompt_tokens=prompt_tokens, max_tokens=max_tokens, params=params,
                     heal=heal_bytes, constraint=constraint)

    def _collect(self, plan: _Plan) -> list[Generation]:
        states = [TextAssembler(plan.params.stop, strip=len(plan.heal)) for _ in range(plan.params.n)]
        for _ in self._decode(plan, states):
            pass
        return [Generation(text=s.text, finish_reason=s.finish_reason or "length", prompt_tokens=plan.prompt_tokens,
                           completion_tokens=len(s.token_ids), token_ids=list(s.token_ids))
                for s in states]  # fmt: skip

    @torch.inference_mode()
    def _forward_last(self, idx: torch.Tensor, cache: KVCache) -> torch.Tensor:
        return self.decoder(idx, cache).float()

    def _decode(self, plan: _Plan, states: list[TextAssembler]) -> Iterator[None]:
        """Run the sampling loop, feeding tokens to `states`; yields after every step.

        Grad mode is switched off per forward pass, not around the yields, so a caller
        iterating a stream keeps its own autograd state between tokens.
        """
        tok, p, n = self.tokenizer, plan.params, plan.params.n
        generator = torch.Generator()
        if p.seed is None:
            generator.seed()  # fresh entropy: unseeded calls differ
        else:
            generator.manual_seed(p.seed)
        cache = self.model.new_cache(1, max_len=len(plan.ids) + plan.max_tokens - 1)
        logits = self._forward_last(torch.tensor([plan.ids]), cache)
        if n > 1:  # prefill once, then decode the n samples as one batch
            cache = cache.expand(n)
            logits = logits.expand(n, -1)
        shaper = _Shaper(self, plan)
        for step in range(plan.max_tokens):
            next_ids = sample_next(shaper.apply(logits, states, plan.max_tokens - step), temperature=p.temperature,
                                   top_k=p.top_k, top_p=p.top_p, generator=generator)  # fmt: skip
            tokens = next_ids.tolist()
            shaper.update(tokens, states)
            last_step = step == plan.max_tokens - 1
            for i, (state, token) in enumerate(zip(states, tokens, strict=True)):
                if state.done:
                    continue
                ended = shaper.ending(i)  # "length" for a sample steered to its end by max_tokens
                if token == tok.eot_id:
                    state.token_ids.append(token)
                    state.finish(ended)
                    continue
                state.feed(token, tok.token_bytes(token))
                if last_step:
                    state.finish("length")
                elif shaper.complete(i):  # the grammar is satisfied: nothing may follow
                    state.finish(ended)
            yield
            if last_step or all(s.done for s in states):
                return
            logits = self._forward_last(next_ids.unsqueeze(1), cache)


class _Shaper:
    """What changes the logits before each sampling step: ids never to sample, the
    repetition penalty, token healing's constraint on the first tokens, and a grammar
    (structured output), each sample with its own state."""

    def __init__(self, engine: MiniEngine, plan: _Plan) -> None:
        n, p = plan.params.n, plan.params
        self.banned = engine._banned
        self.healer = engine._healer
        self.rest = [plan.heal] * n  # bytes each sample must still re-create (token healing)
        self.penalty = p.repetition_penalty
        self.seen: torch.Tensor | None = None  # tokens in each sample's context (CTRL's penalty)
        if self.penalty != 1.0:
            self.seen = torch.zeros(n, engine.config.vocab_size, dtype=torch.bool)
            self.seen[:, plan.ids] = True
        self.matchers = [plan.constraint.matcher() for _ in range(n)] if plan.constraint is not None else None
        self.reserve = plan.constraint.reserve if plan.constraint is not None else None
        self.steered = [False] * n  # closed early because max_tokens was near

    def apply(self, logits: torch.Tensor, states: list[TextAssembler], remaining: int) -> torch.Tensor:
        logits = logits.index_fill(1, self.banned, float("-inf"))
        if self.seen is not None:
            penalised = torch.where(logits > 0, logits / self.penalty, logits * self.penalty)
            logits = torch.where(self.seen, penalised, logits)
        if any(self.rest):
            logits = logits.masked_fill(~self.healer.allowed(self.rest), float("-inf"))
        if self.matchers is not None:
            logits = logits.masked_fill(~self._grammar_mask(logits.shape[1], states, remaining), float("-inf"))
        return logits

    def _grammar_mask(self, vocab: int, states: list[TextAssembler], remaining: int) -> torch.Tensor:
        rows = []
        closing = self.reserve is not None and remaining <= self.reserve
        for i, (m, s) in enumerate(zip(self.matchers or [], states, strict=True)):
            allowed = torch.ones(vocab, dtype=torch.bool) if s.done else m.allowed()
            choice = m.closing(allowed) if closing and not s.done else None
            if choice is not None:  # few tokens left: steer the sample to a complete value
                allowed = torch.zeros(vocab, dtype=torch.bool)
                allowed[choice] = True
                self.steered[i] = True
            rows.append(allowed)
        return torch.stack(rows)

    def update(self, tokens: list[int], states: list[TextAssembler]) -> None:
        if self.seen is not None:
            self.seen[torch.arange(len(tokens)), torch.tensor(tokens)] = True
        for i, token in enumerate(tokens):
            if self.rest[i]:
                self.rest[i] = self.healer.remaining(self.rest[i], token)
            if self.matchers is not None and not states[i].done:
                self.matchers[i].advance(token)

    def complete(self, i: int) -> bool:
        return self.matchers is not None and self.matchers[i].done

    def ending(self, i: int) -> FinishReason:
        return "length" if self.steered[i] else "stop"


def _params(params: SamplingParams | None, options: dict[str, Any]) -> SamplingParams:
    if params is None:
        return SamplingParams.from_options(options, where="mini")
    if options:
        raise InvalidOptionError(f"pass either SamplingParams or options, not both (got {sorted(options)})")
    return params
