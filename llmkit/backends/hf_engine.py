"""The `hf` backend's engine: one loaded transformers model, generating on top of
`model.generate`, scoring and embedding texts (hf_scoring), showing attention.

- A call's SamplingParams map to generate's: temperature 0 (or n=1 greedy) ->
  do_sample=False; top_k is off unless asked for (transformers would otherwise default
  it to 50); seed seeds torch's RNG under the model's lock, so seeded calls are
  reproducible. Options a call leaves out follow what `generate` itself would do with the
  checkpoint (`author_defaults`): its generation config, or greedy decoding where that
  config does not ask for sampling (transformers' default, also for configs it derives).
- Whole answers without a grammar come from continuous batching (hf_batching: rows
  leave the batch as they end, waiting prompts take their slots). With a grammar, or a
  model whose cache cannot be merged row by row, prompts are generated together with left
  padding (`generate_many`), sorted by length and cut into groups of `batch_size`.
- Stop strings end a sequence inside generate (a StoppingCriteria that decodes each
  row's tail; generate's hooks are in hf_hooks) and the text is cut at the first stop
  string.
- Streams without a grammar step the same loop (hf_batching.stream_steps), holding the
  model's lock one step at a time. With a grammar, streaming runs generate in a worker
  thread that feeds a queue through a streamer. Either way the consumer decodes each
  row's tokens so far, holds back incomplete UTF-8 (replacement characters) and any tail
  that could still become a stop string, and sets a flag: closing the stream stops
  generation at the next token.

The loaded model (hf_loading.LoadedModel) is shared between backends; an engine is one
backend's view of it (its context window and batch size settings).
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Generator, Iterator
from typing import Any, TypeVar

import torch
from transformers import LogitsProcessorList, StoppingCriteriaList

from ..constraints import Constraint, Vocabulary
from ..errors import APIError
from ..generation import FinishReason, Generation, SamplingParams, StopMatcher, stream_ending
from ..types import StreamEvent, TokenLogprob
from .hf_hooks import Grammar, QueueStreamer, StopOnFlag, StopOnStrings
from .hf_loading import LoadedModel
from .hf_packing import generating

__all__ = ["HFEngine", "author_defaults", "config_window"]

T = TypeVar("T")

REPLACEMENT = "\ufffd"
# (prefix, suffix, middle) token spellings of fill-in-the-middle-trained tokenizers
FIM_TOKENS = [
    ("<fim_prefix>", "<fim_suffix>", "<fim_middle>"),  # StarCoder, SmolLM
    ("<|fim_prefix|>", "<|fim_suffix|>", "<|fim_middle|>"),  # Qwen2.5-Coder
    ("<｜fim▁begin｜>", "<｜fim▁hole｜>", "<｜fim▁end｜>"),  # DeepSeek-Coder (PSM: begin prefix hole suffix end)
    ("▁<PRE>", "▁<SUF>", "▁<MID>"),  # CodeLlama (its vocabulary spells them with SentencePiece's "▁")
]
_WINDOW_KEYS = ("max_position_embeddings", "n_positions", "max_sequence_length", "seq_length", "n_ctx")


AHEAD = 16  # steps a stream may be generated ahead of its reader


class HFEngine:
    """Generates with, scores and embeds through one loaded model."""

    def __init__(self, lm: LoadedModel, context_window: int | None = None, batch_size: int = 8) -> None:
        self.lm = lm
        self.model = lm.model
        self.tokenizer = lm.tokenizer
        self.name = lm.name
        self.context_window = context_window or config_window(lm.model.config)
        self.batch_size = batch_size
        gen_cfg = lm.model.generation_config
        self.sampling_defaults = author_defaults(gen_cfg)
        vocab = self.tokenizer.get_vocab()
        self.fim = next((spelling for spelling in FIM_TOKENS if all(t in vocab for t in spelling)), None)
        # End a sequence at any end token the model's config or its tokenizer knows: a chat
        # template's end-of-turn token may be missing from one of them.
        eos: list[int] = []
        for ids in (gen_cfg.eos_token_id, self.tokenizer.eos_token_id):
            for i in [ids] if isinstance(ids, int) else list(ids or []):
                if i not in eos:
                    eos.append(i)
        self.eos_ids: list[int] = eos
        pad = self.tokenizer.pad_token_id
        if pad is None:
            pad = gen_cfg.pad_token_id if gen_cfg.pad_token_id is not None else (self.eos_ids or [0])[0]
        self.pad_id: int = pad

    def vocabulary(self) -> Vocabulary:
        """The model's tokens for constrained decoding, built once per loaded model (~1 s
        for a large tokenizer) and shared by every client of it."""
        if self.lm.vocabulary is None:
            n_vocab = self.model.get_output_embeddings().weight.shape[0]
            self.lm.vocabulary = Vocabulary.from_hf(self.tokenizer, eos_ids=self.eos_ids, n_vocab=n_vocab)
        return self.lm.vocabulary

    # --- tokens, scores, embeddings, attention ---------------------------------------

    def encode(self, text: str, special: bool = False) -> list[int]:
        return self.tokenizer(text, add_special_tokens=special)["input_ids"]

    def count_tokens(self, text: str) -> int:
        return len(self.encode(text))

    # --- distributions (hf_distributions: what the compressor codes with) -------------

    def tokenize(self, text: str) -> list[int]:
        return self.encode(text)

    def detokenize(self, ids: list[int]) -> str:
        return self.tokenizer.decode(ids, skip_special_tokens=False, clean_up_tokenization_spaces=False)

    def stepper(self, batch_size: int, threads: int | None = None, adapt: Any = None) -> Any:
        from .hf_distributions import stepper

        return stepper(self, batch_size, threads, adapt)

    def iter_next_token_logprobs(self, sequences: list[list[int]], adapt: Any = None) -> Any:
        from .hf_distributions import iter_next_token_logprobs

        return iter_next_token_logprobs(self, sequences, adapt)

    def next_token_logprobs(self, sequences: list[list[int]]) -> Any:
        from .hf_distributions import next_token_logprobs

        return next_token_logprobs(self, sequences)

    def fingerprint(self) -> dict[str, Any]:
        from .hf_distributions import fingerprint

        return fingerprint(self)

    def logprobs(self, text: str, context: str | None = None) -> list[TokenLogprob]:
        from .hf_scoring import score

        return score(self, text, context=context)

    def embed(self, texts: list[str], truncate: str | None = None) -> tuple[list[list[float]], int]:
        from .hf_scoring import embed

        return embed(self, texts, truncate=truncate)

    def attention(self, text: str) -> tuple[list[str], torch.Tensor]:
        """(tokens, attention weights (layers, heads, T, T)).

        Fused attention kernels never materialise the weights, so the model runs once
        with the eager implementation, which returns them, and is switched back."""
        ids = self.encode(text)[: self.context_window or None]
        model = self.model
        with self.lm.lock, torch.no_grad():
            previous = model.config._attn_implementation
            model.set_attn_implementation("eager")
            try:
                out = model(torch.tensor([ids], device=self.lm.device), output_attentions=True)
            finally:
                model.set_attn_implementation(previous)
        maps = torch.stack([a[0].float().cpu() for a in out.attentions])
        return [self.tokenizer.decode([i]) for i in ids], maps

    # --- planning --------------------------------------------------------------------

    def _kwargs(self, p: SamplingParams, max_new: int) -> dict[str, Any]:
        kw: dict[str, Any] = {
            "max_new_tokens": max_new,
            "do_sample": not p.greedy,
            "pad_token_id": self.pad_id,
            "eos_token_id": self.eos_ids or None,
            "repetition_penalty": p.repetition_penalty,
        }
        if not p.greedy:
            kw.update(
                temperature=p.temperature,
                top_p=p.top_p if p.top_p is not None else 1.0,
                top_k=p.top_k or 0,  # 0 = off (transformers' default would be 50)
                num_return_sequences=p.n,
            )
        else:  # greedy: unset the model's sampling defaults so generate does not warn about them
            kw.update(temperature=None, top_p=None, top_k=None)
        return kw

    @staticmethod
    def _rows_per_prompt(p: SamplingParams) -> int:
        return 1 if p.greedy else p.n  # greedy n>1: one row, its answer copied n times

    def _run_generate(self, input_ids: torch.Tensor, mask: torch.Tensor, kwargs: dict[str, Any],
                      seed: int | None) -> torch.Tensor:  # fmt: skip
        return self._guarded(lambda: self.model.generate(input_ids=input_ids, attention_mask=mask, **kwargs), seed)

    def _guarded(self, work: Callable[[], T], seed: int | None) -> T:
        """`work` under the model's lock, in inference mode, with torch's RNG seeded, and
        float32 linears on their generation kernels (hf_packing)."""
        from .hf_batching import Unmergeable

        self.lm.ready()
        with self.lm.lock, torch.inference_mode(), generating():
            if seed is not None:
                torch.manual_seed(seed)
            try:
                return work()
            except Unmergeable:
                raise
            except Exception as exc:  # out of memory, a model bug: say where it happened
                raise APIError(
                    f"generation failed in hf:{self.name}: {type(exc).__name__}: {exc}",
                    hint="Lower max_tokens or batch_size, or choose another device/dtype.",
                    model=f"hf:{self.name}",
                    retryable=False,
                ) from exc

    def _pad_left(self, prompts: list[list[int]]) -> tuple[torch.Tensor, torch.Tensor]:
        width = max(len(p) for p in prompts)
        ids = torch.full((len(prompts), width), self.pad_id, dtype=torch.long)
        mask = torch.zeros((len(prompts), width), dtype=torch.long)
        for i, p in enumerate(prompts):
            if p:
                ids[i, width - len(p) :] = torch.tensor(p, dtype=torch.long)
                mask[i, width - len(p) :] = 1
        return ids.to(self.lm.device), mask.to(self.lm.device)

    # --- whole answers -------------------------------------------------------------

    def generate_many(self, prompts: list[list[int]], params: SamplingParams, stops: StopMatcher,
                      constraint: Constraint | None = None) -> list[list[Generation]]:  # fmt: skip
        """n samples for each prompt; prompts are generated `batch_size` at a time (each
        sample follows `constraint`, a grammar, when one is given). Without a grammar the
        batch is continuous (hf_batching), where the model's cache allows it."""
        if constraint is None and self.lm.mergeable is not False:
            from .hf_batching import Unmergeable, decode_continuously

            try:
                answers = self._guarded(lambda: decode_continuously(self, prompts, params, stops), params.seed)
                self.lm.mergeable = True
                return answers
            except Unmergeable:
                self.lm.mergeable = False  # this model: generate, from now on
        order = sorted(range(len(prompts)), key=lambda i: -len(prompts[i]))
        results: list[list[Generation]] = [[] for _ in prompts]
        size = max(1, self.batch_size)
        for start in range(0, len(order), size):
            group = order[start : start + size]
            group_samples = self._generate_group([prompts[i] for i in group], params, stops, constraint)
            for i, samples in zip(group, group_samples, strict=True):
                results[i] = samples
        return results

    def _generate_group(self, prompts: list[list[int]], params: SamplingParams, stops: StopMatcher,
                        constraint: Constraint | None = None) -> list[list[Generation]]:  # fmt: skip
        input_ids, mask = self._pad_left(prompts)
        width = input_ids.shape[1]
        max_new = min(params.max_new_tokens(len(p), self.context_window) for p in prompts)
        kwargs = self._kwargs(params, max_new)
        if stops:
            kwargs["stopping_criteria"] = StoppingCriteriaList([StopOnStrings(self.tokenizer, stops, width)])
        grammar = None
        if constraint is not None:
            grammar = Grammar(constraint, width, self.eos_ids, max_new)
            kwargs["logits_processor"] = LogitsProcessorList([grammar])
        out = self._run_generate(input_ids, mask, kwargs, params.seed).cpu()
        rows = self._rows_per_prompt(params)
        steered = grammar.steered if grammar is not None else set()
        results = []
        for i, prompt in enumerate(prompts):
            samples = [self._sample(out[i * rows + j, width:].tolist(), len(prompt), stops, i * rows + j in steered)
                       for j in range(rows)]  # fmt: skip
            results.append(samples if rows == params.n else samples * params.n)
        return results

    def _sample(self, generated: list[int], prompt_tokens: int, stops: StopMatcher, steered: bool = False) -> Generation:
        ended = False
        for k, tok in enumerate(generated):
            if tok in self.eos_ids:
                generated, ended = generated[: k + 1], True
                break
        else:
            while generated and generated[-1] == self.pad_id:  # rows that a stop string finished early
                generated = generated[:-1]
        text, stopped = stops.cut(self.tokenizer.decode(generated, skip_special_tokens=True))
        reason: FinishReason = "stop" if (ended or stopped) and not steered else "length"
        return Generation(text, reason, prompt_tokens, len(generated), generated)

    # --- streaming -----------------------------------------------------------------

    def stream(self, prompt: list[int], params: SamplingParams, stops: StopMatcher,
               constraint: Constraint | None = None) -> _StoppableStream:  # fmt: skip
        """StreamEvents with text deltas (index = choice), then finish reasons, then usage.
        `stop()` on the result, from any thread, ends generation at the next token."""
        flag = threading.Event()
        return _StoppableStream(self._stream(prompt, params, stops, constraint, flag), flag)

    def _stream(self, prompt: list[int], params: SamplingParams, stops: StopMatcher, constraint: Constraint | None,
                flag: threading.Event) -> Iterator[StreamEvent]:  # fmt: skip
        if constraint is None and self.lm.mergeable is not False:
            from .hf_batching import Unmergeable, stream_steps

            rows = _Rows(self, self._rows_per_prompt(params), params.n, stops)
            steps = stream_steps(self, prompt, params, stops, flag)
            try:
                tokens = next(steps)  # the prefill: Unmergeable comes before any output
            except Unmergeable:
                self.lm.mergeable = False
            else:
                yield from self._stream_rows(rows, tokens, steps, flag)
                yield from stream_ending(rows.reasons, params.n, len(prompt), rows.completion_tokens)
                return
        max_new = params.max_new_tokens(len(prompt), self.context_window)
        grammar = None if constraint is None else Grammar(constraint, len(prompt), self.eos_ids, max_new)
        rows = _Rows(self, self._rows_per_prompt(params), params.n, stops)
        pausable = rows.count == 1  # one row resumes from its own tokens; sampled rows run ahead
        run = _StreamRun(self, prompt, params, stops, grammar, flag, max_new, params.seed, pausable)
        try:
            while True:
                item = run.q.get()
                if item is _DONE:
                    break
                if item is _PAUSED:  # the reader was away: generation stopped there; go on from where it was
                    run.join()
                    left = max_new - len(rows.ids[0])
                    if rows.all_finished or left <= 0:
                        break
                    run = _StreamRun(self, prompt + rows.ids[0], params, stops, grammar, flag, left, None, True,
                                     prompt_len=len(prompt))  # fmt: skip
                    continue
                if isinstance(item, BaseException):
                    raise item
                run.taken()
                yield from rows.step(item)
                if rows.all_finished:
                    flag.set()  # every row ended: no need for generate to run on
            yield from rows.flush()
        finally:
            flag.set()  # the caller closed the stream (or it is complete): stop generating
            run.join()
        for i in grammar.steered if grammar is not None else ():
            rows.reasons[i] = "length"
        yield from stream_ending(rows.reasons, params.n, len(prompt), rows.completion_tokens)

    @staticmethod
    def _stream_rows(rows: _Rows, tokens: list[int], steps: Generator[list[int], None, None],
                     flag: threading.Event) -> Iterator[StreamEvent]:  # fmt: skip
        try:
            while True:
                yield from rows.step(tokens)
                if rows.all_finished:
                    break
                following = next(steps, None)
                if following is None:
                    break
                tokens = following
            yield from rows.flush()
        finally:
            flag.set()
            steps.close()


_DONE, _PAUSED = object(), object()  # a stream run's last item: generation ended, or paused for its reader


class _StreamRun:
    """One `generate` call feeding a stream, in a worker thread. A stream is one run, or
    several when its reader went away for a while (each run continues the last one's
    tokens; the grammar, shared between them, continues from its state)."""

    def __init__(self, engine: HFEngine, ids: list[int], params: SamplingParams, stops: StopMatcher,
                 grammar: Grammar | None, flag: threading.Event, max_new: int, seed: int | None, pausable: bool,
                 prompt_len: int | None = None) -> None:  # fmt: skip
        prompt_len = len(ids) if prompt_len is None else prompt_len  # where the reply starts
        input_ids, mask = engine._pad_left([ids])
        kwargs = engine._kwargs(params, max_new)
        if grammar is not None:
            kwargs["logits_processor"] = LogitsProcessorList([grammar])
        self.q: queue.SimpleQueue = queue.SimpleQueue()
        self.room = threading.Semaphore(AHEAD) if pausable else None
        paused = threading.Event()
        criteria = [StopOnFlag(flag, paused)] + ([StopOnStrings(engine.tokenizer, stops, prompt_len)] if stops else [])
        kwargs.update(stopping_criteria=StoppingCriteriaList(criteria), streamer=QueueStreamer(self.q, self.room, paused))

        def work() -> None:
            end = _DONE
            try:
                engine._run_generate(input_ids, mask, kwargs, seed)
                if paused.is_set() and not flag.is_set():
                    end = _PAUSED
            except BaseException as exc:  # handed to the consumer, raised there
                self.q.put(exc)
            finally:
                self.q.put(end)

        self.worker = threading.Thread(target=work, name=f"llmkit-hf-stream-{engine.name}", daemon=True)
        self.worker.start()

    def taken(self) -> None:
        if self.room is not None:
            self.room.release()

    def join(self) -> None:
        if self.worker is not threading.current_thread():  # a stream collected in its own worker: nothing to wait for
            self.worker.join()


class _StoppableStream(Iterator[StreamEvent]):
    """A stream's events; `stop()` is safe from any thread (a cancelled async reader's),
    where closing a generator that another thread is inside would fail."""

    def __init__(self, events: Iterator[StreamEvent], flag: threading.Event) -> None:
        self._events, self._flag = events, flag

    def __next__(self) -> StreamEvent:
        return next(self._events)

    def stop(self) -> None:
        self._flag.set()

    def close(self) -> None:
        self._flag.set()
        close = getattr(self._events, "close", None)
        if close is not None:
            close()


class _Rows:
    """Per-row decoding state while streaming (one row per sampled choice)."""

    def __init__(self, engine: HFEngine, count: int, n: int, stops: StopMatcher) -> None:
        self.engine = engine
        self.count = count
        self.n = n
        self.stops = stops
        self.ids: list[list[int]] = [[] for _ in range(count)]
        self.shown: list[str] = [""] * count
        self.reasons: list[str] = ["length"] * count
        self.finished = [False] * count

    @property
    def all_finished(self) -> bool:
        return all(self.finished)

    @property
    def completion_tokens(self) -> int:
        return sum(len(t) for t in self.ids) * (self.n // self.count)

    def step(self, tokens: list[int]) -> Iterator[StreamEvent]:
        for i, tok in enumerate(tokens[: self.count]):
            if self.finished[i]:
                continue
            self.ids[i].append(tok)
            if tok in self.engine.eos_ids:
                self.finished[i], self.reasons[i] = True, "stop"
                yield from self._emit(i, final=True)
            else:
                yield from self._emit(i, final=False)

    def flush(self) -> Iterator[StreamEvent]:
        for i in range(self.count):
            if not self.finished[i]:
                yield from self._emit(i, final=True)

    def _emit(self, i: int, final: bool) -> Iterator[StreamEvent]:
        text, stopped = self.stops.cut(self.engine.tokenizer.decode(self.ids[i], skip_special_tokens=True))
        if stopped:
            self.finished[i], self.reasons[i], final = True, "stop", True
        end = len(text) if final else self._safe_length(text)
        if end > len(self.shown[i]) and text.startswith(self.shown[i]):
            delta = text[len(self.shown[i]) : end]
            self.shown[i] += delta
            for index in range(i, self.n, self.count):  # greedy n>1: one row's text for every choice
                yield StreamEvent(text=delta, index=index)

    def _safe_length(self, text: str) -> int:
        """How much of `text` can be shown now: not a trailing replacement character (half
        of a multi-byte character) nor a tail that could still become a stop string."""
        end = len(text)
        while end and text[end - 1] == REPLACEMENT:
            end -= 1
        return end - self.stops.holdback(text[:end])


def config_window(config: Any) -> int | None:
    """The context window from a model config (multimodal ones keep it in text_config)."""
    for cfg in (config, getattr(config, "text_config", None)):
        for key in _WINDOW_KEYS:
            value = getattr(cfg, key, None) if cfg is not None else None
            if isinstance(value, int) and value > 0:
                return value
    return None


def author_defaults(config: Any) -> dict[str, Any]:
    """What `model.generate` would do with this checkpoint for a call that sets nothing, as
    llmkit options: the model's generation config, including one transformers derived from
    the model config itself (`_from_model_config`, e.g. a converted GGUF: then do_sample is
    False and generate decodes greedily). Greedy -> temperature 0; sampling -> the config's
    temperature, top_p and top_k. A repetition penalty other than 1 is kept either way."""
    if config is None:
        return {}
    out: dict[str, Any] = {}
    penalty = getattr(config, "repetition_penalty", None)
    if isinstance(penalty, int | float) and not isinstance(penalty, bool) and penalty != 1.0:
        out["repetition_penalty"] = penalty
    if not getattr(config, "do_sample", False):
        return {**out, "temperature": 0}  # generate's own default: greedy decoding
    for name in ("temperature", "top_p", "top_k"):
        value = getattr(config, name, None)
        if isinstance(value, int | float) and not isinstance(value, bool):
            out[name] = value
    return out
