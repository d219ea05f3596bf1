"""Generation for the `hf` backend, on top of transformers' `model.generate`.

- Options map to generate's: temperature 0 (or n=1 greedy) -> do_sample=False; top_k is
  off unless asked for (transformers would otherwise default it to 50); seed seeds
  torch's RNG under the model's lock, so seeded calls are reproducible. Options a call
  leaves out come from the model's generation_config.json when its authors wrote one
  (`author_defaults`), else from OpenAI's defaults.
- Several prompts are generated together with left padding (`generate_many`), sorted by
  length and cut into groups of `batch_size` so that padding stays small.
- Stop strings end a sequence inside generate (a StoppingCriteria that decodes each
  row's tail) and the text is cut at the first stop string.
- Streaming runs generate in a worker thread that feeds a queue through a streamer; the
  consumer decodes each row's tokens so far, holds back incomplete UTF-8 (replacement
  characters) and any tail that could still become a stop string, and sets a flag that a
  StoppingCriteria reads: closing the generator stops generation at the next token.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import torch
from transformers import StoppingCriteria, StoppingCriteriaList
from transformers.generation.streamers import BaseStreamer

from ..errors import APIError
from ..types import StreamEvent, Usage
from .hf_loading import LoadedModel

DEFAULT_MAX_TOKENS = 256
REPLACEMENT = "\ufffd"


@dataclass
class Sample:
    text: str
    finish_reason: str  # "stop" (end of turn or a stop string) or "length"
    prompt_tokens: int
    completion_tokens: int
    token_ids: list[int]


class _StopOnStrings(StoppingCriteria):
    """Finish a row once its generated tail contains a stop string."""

    def __init__(self, tokenizer: Any, stops: list[str], prompt_len: int) -> None:
        self.tokenizer = tokenizer
        self.stops = stops
        self.prompt_len = prompt_len
        # a stop string of k characters spans at most ~4k byte-level tokens (+ a partial one)
        self.window = 4 * max(len(s) for s in stops) + 4

    def __call__(self, input_ids: torch.LongTensor, scores: Any, **kwargs: Any) -> torch.BoolTensor:
        tail = input_ids[:, self.prompt_len :][:, -self.window :]
        texts = self.tokenizer.batch_decode(tail, skip_special_tokens=True)
        return torch.tensor([any(s in t for s in self.stops) for t in texts], device=input_ids.device)


class _StopOnFlag(StoppingCriteria):
    """Finish every row once `flag` is set (the stream was closed or is complete)."""

    def __init__(self, flag: threading.Event) -> None:
        self.flag = flag

    def __call__(self, input_ids: torch.LongTensor, scores: Any, **kwargs: Any) -> torch.BoolTensor:
        return torch.full((input_ids.shape[0],), self.flag.is_set(), dtype=torch.bool, device=input_ids.device)


class _QueueStreamer(BaseStreamer):
    """Hands each step's new tokens (one per row) to the consuming thread."""

    def __init__(self, q: queue.SimpleQueue) -> None:
        self.q = q
        self.prompt_seen = False

    def put(self, value: torch.Tensor) -> None:
        if not self.prompt_seen:  # generate first passes the prompt itself
            self.prompt_seen = True
            return
        self.q.put(value.reshape(-1).tolist())

    def end(self) -> None:
        pass  # the worker signals the end itself, also when generate raises


def cut_at_stop(text: str, stops: list[str]) -> tuple[str, bool]:
    """The text up to the first stop string, and whether one was found."""
    cut = min((i for i in (text.find(s) for s in stops) if i >= 0), default=-1)
    return (text[:cut], True) if cut >= 0 else (text, False)


def _safe_length(text: str, stops: list[str]) -> int:
    """How much of `text` can be shown now: not a trailing replacement character (half of a
    multi-byte character) nor a tail that is the start of a stop string."""
    end = len(text)
    while end and text[end - 1] == REPLACEMENT:
        end -= 1
    for s in stops:
        for k in range(min(len(s) - 1, end), 0, -1):
            if text.endswith(s[:k], 0, end):
                end -= k
                break
    return end


class Generator:
    """Generates with one loaded model; shared settings come from the backend."""

    def __init__(self, lm: LoadedModel, context_window: int | None) -> None:
        self.lm = lm
        self.tokenizer = lm.tokenizer
        self.window = context_window
        gen_cfg = lm.model.generation_config
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

    # --- planning ------------------------------------------------------------------

    def max_new_tokens(self, prompt_len: int, options: dict[str, Any]) -> int:
        if options.get("max_tokens") is not None:
            return options["max_tokens"]
        room = (self.window - prompt_len) if self.window else DEFAULT_MAX_TOKENS
        return max(1, min(DEFAULT_MAX_TOKENS, room))

    def _kwargs(self, options: dict[str, Any], max_new: int) -> dict[str, Any]:
        sampling = options.get("temperature", 1.0) > 0
        kw: dict[str, Any] = {
            "max_new_tokens": max_new,
            "do_sample": sampling,
            "pad_token_id": self.pad_id,
            "eos_token_id": self.eos_ids or None,
            "repetition_penalty": options.get("repetition_penalty", 1.0),
        }
        if sampling:
            kw.update(
                temperature=options.get("temperature", 1.0),
                top_p=options.get("top_p", 1.0),
                top_k=options.get("top_k", 0),  # 0 = off (transformers' default would be 50)
                num_return_sequences=options.get("n", 1),
            )
        else:  # greedy: unset the model's sampling defaults so generate does not warn about them
            kw.update(temperature=None, top_p=None, top_k=None)
        return kw

    def _rows_per_prompt(self, options: dict[str, Any]) -> int:
        return options.get("n", 1) if options.get("temperature", 1.0) > 0 else 1

    def _run_generate(self, input_ids: torch.Tensor, mask: torch.Tensor, kwargs: dict[str, Any],
                      seed: int | None) -> torch.Tensor:  # fmt: skip
        with self.lm.lock, torch.inference_mode():
            if seed is not None:
                torch.manual_seed(seed)
            try:
                return self.lm.model.generate(input_ids=input_ids, attention_mask=mask, **kwargs)
            except Exception as exc:  # out of memory, a model bug: say where it happened
                raise APIError(
                    f"generation failed in hf:{self.lm.name}: {type(exc).__name__}: {exc}",
                    hint="Lower max_tokens or batch_size, or choose another device/dtype.",
                    model=f"hf:{self.lm.name}",
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

    def generate_many(self, prompts: list[list[int]], options: dict[str, Any], stops: list[str],
                      batch_size: int = 8) -> list[list[Sample]]:  # fmt: skip
        """n samples for each prompt; prompts are generated `batch_size` at a time."""
        order = sorted(range(len(prompts)), key=lambda i: -len(prompts[i]))
        results: list[list[Sample]] = [[] for _ in prompts]
        for start in range(0, len(order), max(1, batch_size)):
            group = order[start : start + batch_size]
            for i, samples in zip(
                group, self._generate_group([prompts[i] for i in group], options, stops), strict=True
            ):
                results[i] = samples
        return results

    def _generate_group(self, prompts: list[list[int]], options: dict[str, Any],
                        stops: list[str]) -> list[list[Sample]]:  # fmt: skip
        input_ids, mask = self._pad_left(prompts)
        width = input_ids.shape[1]
        max_new = min(self.max_new_tokens(len(p), options) for p in prompts)
        kwargs = self._kwargs(options, max_new)
        if stops:
            kwargs["stopping_criteria"] = StoppingCriteriaList([_StopOnStrings(self.tokenizer, stops, width)])
        out = self._run_generate(input_ids, mask, kwargs, options.get("seed")).cpu()
        rows, n = self._rows_per_prompt(options), options.get("n", 1)
        results = []
        for i, prompt in enumerate(prompts):
            samples = [self._sample(out[i * rows + j, width:].tolist(), len(prompt), stops) for j in range(rows)]
            results.append(samples if rows == n else samples * n)  # greedy n>1: n copies of one answer
        return results

    def _sample(self, generated: list[int], prompt_tokens: int, stops: list[str]) -> Sample:
        ended = False
        for k, tok in enumerate(generated):
            if tok in self.eos_ids:
                generated, ended = generated[: k + 1], True
                break
        else:
            while generated and generated[-1] == self.pad_id:  # rows that a stop string finished early
                generated = generated[:-1]
        text = self.tokenizer.decode(generated, skip_special_tokens=True)
        text, stopped = cut_at_stop(text, stops)
        reason = "stop" if ended or stopped else "length"
        return Sample(text, reason, prompt_tokens, len(generated), generated)

    # --- streaming -----------------------------------------------------------------

    def stream(self, prompt: list[int], options: dict[str, Any], stops: list[str]) -> Iterator[StreamEvent]:
        """StreamEvents with text deltas (index = choice), then finish reasons, then usage."""
        input_ids, mask = self._pad_left([prompt])
        kwargs = self._kwargs(options, self.max_new_tokens(len(prompt), options))
        flag = threading.Event()
        criteria = [_StopOnFlag(flag)] + ([_StopOnStrings(self.tokenizer, stops, len(prompt))] if stops else [])
        q: queue.SimpleQueue = queue.SimpleQueue()
        done = object()
        kwargs.update(stopping_criteria=StoppingCriteriaList(criteria), streamer=_QueueStreamer(q))

        def work() -> None:
            try:
                self._run_generate(input_ids, mask, kwargs, options.get("seed"))
            except BaseException as exc:  # handed to the consumer, raised there
                q.put(exc)
            finally:
                q.put(done)

        worker = threading.Thread(target=work, name=f"llmkit-hf-stream-{self.lm.name}", daemon=True)
        rows = _Rows(self, self._rows_per_prompt(options), options.get("n", 1), stops)
        worker.start()
        try:
            while (item := q.get()) is not done:
                if isinstance(item, BaseException):
                    raise item
                yield from rows.step(item)
                if rows.all_finished:
                    flag.set()  # every row ended: no need for generate to run on
            yield from rows.flush()
        finally:
            flag.set()  # the caller closed the stream (or it is complete): stop generating
            worker.join()
        n = options.get("n", 1)
        for index in range(n):
            yield StreamEvent(finish_reason=rows.reasons[index % rows.count], index=index)
        yield StreamEvent(usage=Usage(len(prompt), sum(len(t) for t in rows.ids) * (n // rows.count)))


class _Rows:
    """Per-row decoding state while streaming (one row per sampled choice)."""

    def __init__(self, gen: Generator, count: int, n: int, stops: list[str]) -> None:
        self.gen = gen
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

    def step(self, tokens: list[int]) -> Iterator[StreamEvent]:
        for i, tok in enumerate(tokens[: self.count]):
            if self.finished[i]:
                continue
            if tok in self.gen.eos_ids:
                self.ids[i].append(tok)
                self.finished[i], self.reasons[i] = True, "stop"
                yield from self._emit(i, final=True)
                continue
            self.ids[i].append(tok)
            yield from self._emit(i, final=False)

    def flush(self) -> Iterator[StreamEvent]:
        for i in range(self.count):
            if not self.finished[i]:
                yield from self._emit(i, final=True)

    def _emit(self, i: int, final: bool) -> Iterator[StreamEvent]:
        text = self.gen.tokenizer.decode(self.ids[i], skip_special_tokens=True)
        text, stopped = cut_at_stop(text, self.stops)
        if stopped:
            self.finished[i], self.reasons[i], final = True, "stop", True
        end = len(text) if final else _safe_length(text, self.stops)
        if end > len(self.shown[i]) and text.startswith(self.shown[i]):
            delta = text[len(self.shown[i]) : end]
            self.shown[i] += delta
            for index in range(i, self.n, self.count):  # greedy n>1: one row's text for every choice
                yield StreamEvent(text=delta, index=index)


def author_defaults(config: Any) -> dict[str, Any]:
    """The sampling defaults a model's authors chose in its generation_config.json, as
    llmkit options, for calls that set none (transformers' generate does the same).
    Nothing when transformers derived the config from the model config (no file): then
    the OpenAI defaults hold (temperature 1, top_p 1)."""
    if config is None or getattr(config, "_from_model_config", False):
        return {}
    out: dict[str, Any] = {}
    penalty = getattr(config, "repetition_penalty", None)
    if isinstance(penalty, int | float) and not isinstance(penalty, bool) and penalty != 1.0:
        out["repetition_penalty"] = penalty
    if not getattr(config, "do_sample", False):
        return {**out, "temperature": 0}  # the authors' file asks for greedy decoding
    for name in ("temperature", "top_p", "top_k"):
        value = getattr(config, name, None)
        if isinstance(value, int | float) and not isinstance(value, bool):
            out[name] = value
    return out
