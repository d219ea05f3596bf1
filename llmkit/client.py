"""Client: one interface over every backend.

The client resolves the id to a backend, validates options against what that backend
understands, checks capabilities and the context window before sending, retries
transient failures (once, here, for every backend) and moves on to fallbacks.
"""

from __future__ import annotations

import asyncio
import logging
import math
import os
import time
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from . import registry, retry, structured
from .adaptation import Adaptation, as_adaptation
from .backends.base import Backend
from .errors import (
    ConfigurationError,
    ContextLengthError,
    FormatUnsupportedError,
    InvalidOptionError,
    LLMKitError,
    MissingCapabilityError,
    ModelRequestBlockedError,
)
from .message_checks import check_text
from .options import suggest, validate
from .streaming import AsyncStream, Stream
from .tools import to_tool
from .types import (
    Capabilities,
    Embeddings,
    Logprobs,
    Message,
    Response,
    StreamEvent,
    TokenCount,
    TokenStepper,
    to_messages,
)

if TYPE_CHECKING:
    import numpy


__all__ = ["Client", "requests_blocked"]

log = logging.getLogger("llmkit")
R = TypeVar("R", Response, Embeddings)  # what one request returns

# option -> the capability it needs
_NEEDS = {"tools": "tools", "response_format": "structured_output", "suffix": "fill_in_the_middle"}
_CAPABILITY_OF = {"chat": "chat", "chat_batch": "chat", "stream": "streaming", "complete": "completion",
                  "complete_batch": "completion", "embed": "embeddings"}  # fmt: skip


class Client:
    """A model behind one interface.

        client = llmkit.Client("openai:gpt-4o-mini", temperature=0)
        client.chat("Hello").text

    Keyword arguments are backend settings (base_url, api_key, ...) or default
    generation options (temperature, max_tokens, ...); anything else is an error.
    """

    def __init__(
        self,
        model: str | None = None,
        *,
        fallbacks: Sequence[str] = (),
        max_retries: int = 2,
        retry_policy: retry.RetryPolicy | None = None,
        structured_retries: int = 2,
        **kwargs: Any,
    ) -> None:
        if model is None:
            model = registry.default_model()
        fallbacks = _fallback_ids(fallbacks)
        for name, value in (("max_retries", max_retries), ("structured_retries", structured_retries)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise InvalidOptionError(f"{name}={value!r} is invalid: it must be an int >= 0")
        if retry_policy is not None and not isinstance(retry_policy, retry.RetryPolicy):
            raise InvalidOptionError(f"retry_policy={retry_policy!r} is invalid: it must be an llmkit.retry.RetryPolicy")
        self._ids = [model, *fallbacks]
        self._backends: list[Backend | None] = [None] * len(self._ids)
        self.retry_policy = retry_policy or retry.RetryPolicy(max_retries=max_retries)
        self.structured_retries = structured_retries  # re-asks for JSON that does not fit (prompted strategy)
        for fallback in fallbacks:  # a fallback that names nothing is a mistake now, not when it is needed
            registry.backend_class(registry.resolve(fallback))
        resolved = registry.resolve(model)
        cls = registry.backend_class(resolved)
        settings = {k: v for k, v in kwargs.items() if k in cls.settings}
        defaults = {k: v for k, v in kwargs.items() if k not in cls.settings}
        allowed = cls.options | cls.complete_options | cls.embed_options
        for name in defaults:
            if name not in allowed:
                both = sorted(set(cls.settings) | allowed)
                raise InvalidOptionError(
                    f"unknown option {name!r} for {resolved.model_id}.{suggest(name, both)}",
                    hint=f"Settings and options it takes: {', '.join(both)}.",
                )
        self.defaults = validate(defaults, allowed, resolved.model_id)
        self._backends[0] = registry.create_backend(resolved, **settings)

    # --- introspection -------------------------------------------------------------

    @property
    def backend(self) -> Backend:
        return self._backend(0)

    @property
    def model(self) -> str:
        """The llmkit id of the primary model, e.g. 'openai:gpt-4o-mini'."""
        return self.backend.model_id

    @property
    def capabilities(self) -> Capabilities:
        return self.backend.capabilities

    def context_window(self) -> int | None:
        return self.backend.context_window()

    def __repr__(self) -> str:
        fb = f", fallbacks={self._ids[1:]!r}" if len(self._ids) > 1 else ""
        return f"Client({self.model!r}{fb})"

    def close(self) -> None:
        for b in self._backends:
            if b is not None:
                b.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- the API -------------------------------------------------------------------

    def chat(self, prompt: str | Message | Iterable[Message | dict], **options: Any) -> Response:
        """Send a conversation (or one user text) and return the answer.

        With `response_format` (a pydantic model, a JSON-schema dict, or "json"),
        `r.parsed` is valid on every backend: natively where the server enforces it,
        by constrained decoding on local models, otherwise by stating the schema in the
        prompt, validating and re-asking (`r.structured_by` says which)."""
        messages = to_messages(prompt)
        fmt = options.get("response_format", self.defaults.get("response_format"))
        if fmt is None:
            return self._run("chat", messages, options, lambda b, o: b.chat(messages, o))

        def send(conversation: list[Message]) -> Response:  # the prompted strategy: no format on the wire
            return self._run("chat", conversation, {**options, "response_format": None},
                             lambda b, o: b.chat(conversation, o))  # fmt: skip

        if not self._native_format():
            return structured.prompted(send, messages, fmt, self.structured_retries)
        try:
            r = self._run("chat", messages, options, lambda b, o: b.chat(messages, o))
        except FormatUnsupportedError:  # both formats refused: prompted, remembered once that works
            return structured.prompted(self._noting_prompted(send), messages, fmt, self.structured_retries)
        if r.structured_by in structured.VERIFIED:
            return r
        return structured.prompted(send, messages, fmt, self.structured_retries, verify_first=r)

    def complete(self, prompt: str, **options: Any) -> Response:
        """Raw continuation of a text (no chat template); n > 1 gives `texts`."""
        if not isinstance(prompt, str):
            raise InvalidOptionError("complete() takes a string prompt", hint="Use chat() for messages.")
        check_text(prompt, "the prompt")
        return self._run("complete", prompt, options, lambda b, o: b.complete(prompt, o))

    def chat_batch(self, prompts: Iterable[str | Message | Iterable[Message | dict]], **options: Any) -> list[Response]:
        """Answer several prompts or conversations; local backends generate them together
        (batched, for throughput), others one after another. One Response each, in order."""
        conversations = [to_messages(p) for p in prompts]
        if not conversations:
            return []
        return self._run_batch("chat_batch", conversations, options, lambda b, todo, o: b.chat_batch(todo, o))

    def complete_batch(self, prompts: Iterable[str], **options: Any) -> list[Response]:
        """Raw continuations of several prompts, batched where the backend can."""
        prompts = list(prompts)
        if not all(isinstance(p, str) for p in prompts):
            raise InvalidOptionError("complete_batch() takes a list of strings", hint="Use chat_batch() for messages.")
        for i, p in enumerate(prompts):
            check_text(p, f"prompt #{i}")
        if not prompts:
            return []
        return self._run_batch("complete_batch", prompts, options, lambda b, todo, o: b.complete_batch(todo, o))

    def stream(self, prompt: str | Message | Iterable[Message | dict], **options: Any) -> Stream:
        """Stream the answer: iterate StreamEvents; `.response` has the whole answer."""
        messages = to_messages(prompt)
        events = self._stream_events(messages, options)
        return Stream(events, options.get("response_format", self.defaults.get("response_format")))

    async def achat(self, prompt: str | Message | Iterable[Message | dict], **options: Any) -> Response:
        messages = to_messages(prompt)
        fmt = options.get("response_format", self.defaults.get("response_format"))
        if fmt is None:
            return await self._arun("chat", messages, options, lambda b, o: b.achat(messages, o))
        if not self._native_format():  # the prompted strategy, with its re-asks, in a worker thread
            return await asyncio.to_thread(self.chat, messages, **options)
        try:
            r = await self._arun("chat", messages, options, lambda b, o: b.achat(messages, o))
        except FormatUnsupportedError:  # both formats refused: prompted, in a worker thread
            send = self._noting_prompted(lambda c: self.chat(c, **{**options, "response_format": None}))
            return await asyncio.to_thread(structured.prompted, send, messages, fmt, self.structured_retries)
        if r.structured_by in structured.VERIFIED:
            return r
        return await asyncio.to_thread(
            structured.prompted, lambda c: self.chat(c, **{**options, "response_format": None}), messages, fmt,
            self.structured_retries, verify_first=r)  # fmt: skip

    def _noting_prompted(self, send: Callable[[list[Message]], Response]) -> Callable[[list[Message]], Response]:
        """`send`, telling the backend once a request without a format worked: the
        formats' refusals were about the formats, so prompted is this endpoint's way."""

        def noting(conversation: list[Message]) -> Response:
            response = send(conversation)
            note = getattr(self.backend, "note_prompted", None)
            if note is not None:
                note()
            return response

        return noting

    def _native_format(self) -> bool:
        """Whether the primary backend can be asked for a response format natively."""
        backend = self.backend
        if not backend.capabilities.structured_output:
            return False
        native = getattr(backend, "native_format", None)
        return native() if native is not None else True

    def astream(self, prompt: str | Message | Iterable[Message | dict], **options: Any) -> AsyncStream:
        messages = to_messages(prompt)
        return AsyncStream(
            self._astream_events(messages, options),
            options.get("response_format", self.defaults.get("response_format")),
        )

    def count_tokens(self, content: str | Iterable[Message | dict]) -> TokenCount:
        """Tokens in a text or a conversation, with the model's own tokenizer where known."""
        if not isinstance(content, str):
            content = to_messages(content)
        else:
            check_text(content, "the text")
        return self.backend.count_tokens(content)

    def logprobs(self, text: str, *, context: str | None = None) -> Logprobs:
        """Per-token log-probabilities of `text` under the model (local backends).

        With `context`, the text is scored as its continuation: how likely " positive"
        is after "Review: great film. Sentiment:". The two are tokenized apart, so put
        the separating space at the start of `text`."""
        self._require(self.backend, "logprobs")
        if context:
            return self.backend.logprobs(text, context=context)
        return self.backend.logprobs(text)

    # --- distributions: what a compressor needs (local backends) -------------------

    def tokenize(self, text: str) -> list[int]:
        """The model's token ids for `text` (no special tokens added), capability
        `distributions`. `detokenize(tokenize(text)) == text` for most texts, not all
        (a tokenizer may normalise): check when it matters, as llmkit.compress does."""
        self._require(self.backend, "distributions")
        if not isinstance(text, str):
            raise InvalidOptionError("tokenize() takes a string", hint="Decode bytes first (text.decode()).")
        return self.backend.tokenize(text)

    def detokenize(self, ids: Iterable[int]) -> str:
        """The text of token ids, special tokens spelled out, nothing cleaned up; bytes
        that are not whole UTF-8 characters become U+FFFD."""
        self._require(self.backend, "distributions")
        return self.backend.detokenize([int(i) for i in ids])

    def token_stepper(self, batch_size: int = 1, *, threads: int | None = None,
                      adapt: Adaptation | bool | None = None) -> TokenStepper:  # fmt: skip
        """Full next-token distributions of `batch_size` sequences, fed one token per
        row per step (llmkit.TokenStepper): `step()` first, then
        `step(tokens)`, each giving a (batch_size, vocab) float32 numpy array of
        log-probabilities. The numbers depend on the batch size and the thread count
        (`threads`, default torch's current one; used for every step), which
        `stepper.settings` records with the dtype and device: replaying the same steps
        with the same settings gives bit-identical arrays, which is what an arithmetic
        coder's decoder needs. `adapt` (an llmkit.Adaptation, or True for its defaults):
        dynamic evaluation, a private copy of the model trained on the rows as they are
        fed (float32; memory: the model and Adam's state again)."""
        self._require(self.backend, "distributions")
        for name, value in (("batch_size", batch_size), ("threads", threads)):
            if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
                raise InvalidOptionError(f"{name}={value!r} is invalid: it must be an int >= 1")
        return self.backend.token_stepper(batch_size, threads, as_adaptation(adapt))

    def next_token_logprobs(self, sequences: Iterable[Sequence[int]]) -> numpy.ndarray:
        """Full distributions for whole token sequences at once: a (rows, longest, vocab)
        float32 numpy array whose [i, t] is the log-distribution of sequences[i][t] given
        the model's start token and sequences[i][:t]; NaN past a row's end. One forward
        pass per window: fast for measuring, but only equal to `token_stepper`'s numbers
        up to float rounding, so code (compress) with the stepper."""
        self._require(self.backend, "distributions")
        return self.backend.next_token_logprobs([[int(t) for t in s] for s in sequences])

    def iter_next_token_logprobs(self, sequences: Iterable[Sequence[int]], *,
                                 adapt: Adaptation | bool | None = None) -> Iterator[tuple[int, int, numpy.ndarray]]:  # fmt: skip
        """next_token_logprobs block by block, without holding them all: yields (row, t,
        logp), logp an (n, vocab) float32 array of the distributions of
        sequences[row][t:t + n]. With `adapt`, the rows are read together as one batch
        by a copy of the model trained online, segment by segment (the numbers of
        token_stepper(len(sequences), adapt=...) to float rounding; each row must fit
        the model's window)."""
        self._require(self.backend, "distributions")
        return self.backend.iter_next_token_logprobs([[int(t) for t in s] for s in sequences], as_adaptation(adapt))

    def fingerprint(self) -> dict[str, Any]:
        """Short hex digests of the model's weights and tokenizer ({"weights",
        "tokenizer"}: the same model gives the same ones wherever it is loaded from) and
        its size as loaded ({"parameters", "bytes"})."""
        self._require(self.backend, "distributions")
        return self.backend.fingerprint()

    def embed(self, texts: str | Iterable[str], **options: Any) -> Embeddings:
        """Embedding vectors of one text or several, in order.

        Retried like chat, but never answered by a fallback model (its vectors would not
        compare with the primary's); `dimensions=` shortens OpenAI's vectors."""
        batch = _texts(texts)
        if not batch:  # nothing to send, but a mistake is still a mistake
            self._prepare(self.backend, "embed", batch, options)
            return Embeddings([], model=self.model)
        return self._run("embed", batch, options, lambda b, o: b.embed(batch, o))

    async def aembed(self, texts: str | Iterable[str], **options: Any) -> Embeddings:
        batch = _texts(texts)
        if not batch:
            self._prepare(self.backend, "embed", batch, options)
            return Embeddings([], model=self.model)
        return await self._arun("embed", batch, options, lambda b, o: b.aembed(batch, o))

    # --- machinery -----------------------------------------------------------------

    def _backend(self, i: int) -> Backend:
        backend = self._backends[i]
        if backend is None:
            backend = self._backends[i] = registry.create_backend(self._ids[i])
        return backend

    def _require(self, backend: Backend, capability: str) -> None:
        if not getattr(backend.capabilities, capability):
            raise MissingCapabilityError(
                f"{backend.model_id} does not support {capability.replace('_', ' ')}",
                hint=f"It supports: {', '.join(backend.capabilities.names())}. Use a model that does.",
                model=backend.model_id,
            )

    def _prepare(self, backend: Backend, kind: str, payload: Any, options: dict) -> dict:
        """Validate options, check capabilities and the context window."""
        if backend.real and requests_blocked():
            raise ModelRequestBlockedError(f"{backend.model_id} {kind}() would reach a real model, and model "
                                           "requests are blocked in this process", model=backend.model_id)
        merged = options
        if self.defaults:  # defaults apply to the calls that take them (temperature is no embed option)
            primary = _allowed(self.backend, kind)
            merged = {**{k: v for k, v in self.defaults.items() if k in primary}, **options}
        for name, capability in _NEEDS.items():  # "cannot do tools" says more than "unknown option"
            if merged.get(name) is not None:
                self._require(backend, capability)
        opts = validate(merged, _allowed(backend, kind), f"{backend.model_id} {kind}()")
        if "tools" in opts:  # functions, dicts and Tools alike reach every backend as Tools
            opts["tools"] = [to_tool(t) for t in opts["tools"]]
        if log.isEnabledFor(logging.DEBUG):
            log.debug("%s %s options=%s", kind, backend.model_id, sorted(opts))
        self._require(backend, _CAPABILITY_OF[kind])
        if opts.get("n", 1) > 1:
            self._require(backend, "multiple_samples")
        if opts.get("truncate") is None and not kind.endswith("_batch"):  # (batches: item by item, _run_batch)
            try:
                for item in payload if kind == "embed" else [payload]:
                    backend.check_context(item, opts)
            except ContextLengthError as exc:
                if kind == "embed":
                    fix = ' or pass truncate="left" (keep its end) or "right" (keep its start)'
                    exc.hint = "Split the text" + (fix if "truncate" in backend.embed_options else "") + "."
                raise
        return opts

    def _candidates(
        self, kind: str, payload: Any, options: dict, errors: list[LLMKitError]
    ) -> Iterator[tuple[int, Backend, dict]]:
        """The primary, then each fallback whose set-up and options work out. Embeddings
        never fall back: vectors of another model live in another space."""
        for i in range(1 if kind == "embed" else len(self._ids)):
            try:
                if self._backends[i] is None and requests_blocked():  # do not load a model only to refuse it
                    resolved = registry.resolve(self._ids[i])
                    if registry.backend_class(resolved).real:
                        raise ModelRequestBlockedError(f"{resolved.model_id} (a fallback) would reach a real model, "
                                                       "and model requests are blocked in this process")
                backend = self._backend(i)
                opts = self._prepare(backend, kind, payload, options)
            except LLMKitError as exc:
                built = self._backends[i]
                _name_model(exc, built.model_id if built is not None else self._ids[i])
                if i == 0 and not isinstance(exc, ContextLengthError):
                    raise  # the caller's own mistake: say so, do not hide it behind fallbacks
                self._give_up_or_fall_back(exc, i, errors, setup=True, last=kind == "embed")
                continue
            yield i, backend, opts

    def _attempts(self, kind: str, payload: Any, options: dict) -> Iterator[_Attempt]:
        """Every try of one request, in order: retries of a backend, then fallbacks.

        The caller reports a failure with `attempt.failed(exc)`, which raises when there
        is nothing left to try, or returns the delay before a retry (None: next model).
        """
        errors: list[LLMKitError] = []
        clock = _Clock()  # `timeout` bounds the whole call: every retry and fallback within it
        for i, backend, opts in self._candidates(kind, payload, options, errors):
            clock.start(backend.time_limit(opts, kind))
            attempt = _Attempt(self, i, backend, opts, errors, last=kind == "embed", clock=clock)
            while True:
                if "timeout" in _allowed(backend, kind):
                    clock.lend(attempt.opts)
                yield attempt
                if not attempt.retry_next:
                    break
                attempt.number += 1
        raise errors[-1]

    def _give_up_or_fall_back(
        self, exc: LLMKitError, i: int, errors: list[LLMKitError], setup: bool = False, last: bool = False
    ) -> None:
        errors.append(exc)
        if setup:
            _SETUP_FAILURES.add(exc)
        last = last or i == len(self._ids) - 1
        movable = setup or exc.retryable or isinstance(exc, ContextLengthError)
        if last or not movable:
            answered = [e for e in errors if e not in _SETUP_FAILURES]
            if setup and answered and isinstance(exc, ConfigurationError):  # a fallback that could not start: the
                # real failure came before it (a blocked request is the caller's to hear of, as it is)
                shown = answered[-1]
                shown.hint = f"{shown.hint} (Fallback {self._ids[i]} could not be used either: {exc.message})".strip()
                exc = shown
            if len(errors) > 1:
                exc.tried = self._ids[: i + 1]
            raise exc
        log.warning("%s failed (%s); falling back to %s", self._ids[i], type(exc).__name__, self._ids[i + 1])

    def _finish(self, response: R, attempt: _Attempt) -> R:
        response.model = attempt.backend.model_id
        asked = attempt.opts.get("n")
        if isinstance(response, Response) and isinstance(asked, int) and 1 < asked and len(response.texts) < asked:
            import warnings  # a server that quietly returns fewer samples than asked for: said

            warnings.warn(f"{attempt.backend.model_id} returned {len(response.texts)} of the {asked} samples asked "
                          f"for (n={asked}); response.texts holds what came", UserWarning, stacklevel=4)  # fmt: skip
        if "response_format" in attempt.opts and isinstance(response, Response):
            response.response_format = attempt.opts["response_format"]  # structured_by: the backend says
        return response

    def _run(self, kind: str, payload: Any, options: dict, call: Callable[[Backend, dict], R]) -> R:
        for attempt in self._attempts(kind, payload, options):
            try:
                return self._finish(call(attempt.backend, attempt.opts), attempt)
            except LLMKitError as exc:
                delay = attempt.failed(exc)
                if delay is not None:
                    retry.sleep(delay)
        raise AssertionError("unreachable: _attempts raises when it runs out")

    async def _arun(self, kind: str, payload: Any, options: dict, call: Callable[[Backend, dict], Awaitable[R]]) -> R:
        """`_run` for coroutines: the same retries and fallbacks, sleeping without blocking."""
        for attempt in self._attempts(kind, payload, options):
            try:
                return self._finish(await call(attempt.backend, attempt.opts), attempt)
            except LLMKitError as exc:
                delay = attempt.failed(exc)
                if delay is not None:
                    await retry.asleep(delay)
        raise AssertionError("unreachable: _attempts raises when it runs out")

    def _run_batch(self, kind: str, payload: list, options: dict,
                   call: Callable[[Backend, list, dict], list[Response]]) -> list[Response]:
        """A batch is retried, and falls back, as one unit. An item that cannot fit the
        context window is refused on its own (a Response with `error`, finish_reason
        "error") and the rest answered; a batch of nothing but such items is an error."""
        for attempt in self._attempts(kind, payload, options):
            try:
                refused = self._too_long(attempt.backend, payload, attempt.opts)
                if len(refused) == len(payload):
                    raise refused[0]
                todo = [item for i, item in enumerate(payload) if i not in refused]
                answers = iter(call(attempt.backend, todo, attempt.opts))
                return [Response(finish_reason="error", error=refused[i], model=attempt.backend.model_id)
                        if i in refused else self._finish(next(answers), attempt) for i in range(len(payload))]  # fmt: skip
            except LLMKitError as exc:
                delay = attempt.failed(exc)
                if delay is not None:
                    retry.sleep(delay)
        raise AssertionError("unreachable: _attempts raises when it runs out")

    @staticmethod
    def _too_long(backend: Backend, payload: list, opts: dict) -> dict[int, ContextLengthError]:
        refused: dict[int, ContextLengthError] = {}
        if opts.get("truncate") is None:  # a backend that takes `truncate` makes the text fit
            for i, item in enumerate(payload):
                try:
                    backend.check_context(item, opts)
                except ContextLengthError as exc:
                    exc.message = f"batch item #{i}: {exc.message}"
                    refused[i] = exc
        return refused

    def _stream_events(self, messages: list[Message], options: dict) -> Iterator[StreamEvent]:
        for attempt in self._attempts("stream", messages, options):
            started = False
            try:
                for event in attempt.backend.stream(messages, attempt.opts):
                    started = True
                    event.model = attempt.backend.model_id
                    yield event
                return
            except LLMKitError as exc:
                if started:
                    raise  # output already reached the caller: never retry or switch
                delay = attempt.failed(exc)
                if delay is not None:
                    retry.sleep(delay)

    async def _astream_events(self, messages: list[Message], options: dict) -> AsyncIterator[StreamEvent]:
        for attempt in self._attempts("stream", messages, options):
            started = False
            try:
                async for event in attempt.backend.astream(messages, attempt.opts):
                    started = True
                    event.model = attempt.backend.model_id
                    yield event
                return
            except LLMKitError as exc:
                if started:
                    raise
                delay = attempt.failed(exc)
                if delay is not None:
                    await retry.asleep(delay)


class _Attempt:
    """One try of a request on one backend; `failed` decides what comes next."""

    __slots__ = ("client", "index", "backend", "opts", "errors", "number", "retry_next", "last", "clock")

    def __init__(self, client: Client, index: int, backend: Backend, opts: dict, errors: list[LLMKitError],
                 last: bool = False, clock: _Clock | None = None) -> None:  # fmt: skip
        self.client, self.index, self.backend, self.opts, self.errors = client, index, backend, opts, errors
        self.last = last  # no model after this one, whatever the fallbacks
        self.number = 0  # retries so far on this backend
        self.retry_next = False
        self.clock = clock or _Clock()

    def failed(self, exc: LLMKitError) -> float | None:
        """Retry (returns the backoff delay), fall back (returns None) or raise."""
        _name_model(exc, self.backend.model_id)
        policy = self.client.retry_policy
        self.retry_next = policy.should_retry(exc, self.number)
        if self.retry_next:
            delay = policy.delay(exc, self.number)
            left = self.clock.left()
            if left is None or delay < left:
                log.info("%s: %s, retry %d in %.2fs", self.backend.model_id, type(exc).__name__, self.number + 1, delay)
                return delay
            self.retry_next = False  # the call's deadline would pass while waiting
        out_of_time = self.clock.left() is not None and self.clock.left() <= 0  # type: ignore[operator]
        self.client._give_up_or_fall_back(exc, self.index, self.errors, last=self.last or out_of_time)
        return None


class _Clock:
    """One call's deadline, from the first backend's time limit (its `timeout`)."""

    __slots__ = ("at", "started")

    def __init__(self) -> None:
        self.at: float | None = None
        self.started = False

    def start(self, limit: float | None) -> None:
        if not self.started:
            self.started = True
            self.at = None if limit is None or math.isinf(limit) else time.monotonic() + limit

    def left(self) -> float | None:
        return None if self.at is None else self.at - time.monotonic()

    def lend(self, opts: dict) -> None:
        """This try gets what is left of the call's time as its `timeout`."""
        left = self.left()
        if left is not None:
            opts["timeout"] = max(left, 0.001)


# errors from setting a fallback up (not from a request it answered), weakly held
_SETUP_FAILURES: weakref.WeakSet[LLMKitError] = weakref.WeakSet()

_blocked = False  # set by llmkit.testing.block_model_requests()


def requests_blocked() -> bool:
    """Whether only test doubles (the mock backend) may answer: tests turn this on so
    that no request reaches a real model (or costs money) by accident."""
    return _blocked or os.environ.get("LLMKIT_BLOCK_MODEL_REQUESTS", "") not in ("", "0")


def _name_model(exc: LLMKitError, model_id: str) -> None:
    """An error from inside a backend (a local engine, a shared helper) says which model."""
    if exc.model is None:
        exc.model = model_id


def _allowed(backend: Backend, kind: str) -> frozenset[str]:
    """The options a backend takes for this kind of call."""
    if kind.startswith("complete"):
        return backend.complete_options
    return backend.embed_options if kind == "embed" else backend.options


def _fallback_ids(fallbacks: str | Sequence[str] | None) -> list[str]:
    """One id or several: a lone string is one fallback, not one per character."""
    if fallbacks is None:
        return []
    ids = [fallbacks] if isinstance(fallbacks, str) else list(fallbacks)
    if not all(isinstance(f, str) and f.strip() for f in ids):
        raise InvalidOptionError(f"fallbacks={fallbacks!r} is invalid: it must be a model id or a list of them",
                                 hint='e.g. fallbacks=["openai:gpt-4o-mini", "mini"]')  # fmt: skip
    return ids


def _texts(texts: str | Iterable[str]) -> list[str]:
    batch = [texts] if isinstance(texts, str) else list(texts)
    if not all(isinstance(t, str) for t in batch):
        raise InvalidOptionError("embed() takes a string or a list of strings")
    for i, text in enumerate(batch):
        check_text(text, f"text #{i}")
    return batch
