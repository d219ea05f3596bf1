"""The OpenAI API and every OpenAI-compatible server (vLLM, Ollama, llama.cpp, ...).

One SDK client per (base_url, key, ...) is built with max_retries=0 and shared through
the `SDK_CLIENTS` cache (its connection pool is reused across Client objects); a backend
releases it on close(), and idle SDK clients beyond the cache's `keep` are closed, with
their connections (a caller's own http_client is never closed by llmkit). Async SDK
clients belong to one event loop each: a backend owns one per loop and closes it with
itself or with the loop (openai_http). `timeout` is a total deadline for a request, not
a limit on each read. llmkit retries in one layer, its own. SDK errors are mapped to
llmkit errors on HTTP status and error code, never on message text; replies are read
through checks (openai_parse), so a reply of the wrong shape is a MalformedResponseError;
/embeddings requests and replies are shaped in openai_embeddings.
What a compatible server publishes about its model (context window, exact token counts)
is learned once per endpoint, when context_window() or count_tokens() first asks
(openai_server_info), never on the chat path; a context window set in the config wins.
"""

from __future__ import annotations

import asyncio
import json
import math
import os
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any, TypeVar

from .. import errors as E
from .. import tokens
from ..cache import Lease, SharedCache, on_clear
from ..structured import with_note
from ..types import (
    Capabilities,
    Embeddings,
    Message,
    Response,
    StreamEvent,
    TokenCount,
    Usage,
)  # fmt: skip
from . import openai_embeddings as emb
from . import openai_server_info as srv
from .base import Backend
from .openai_errors import map_error
from .openai_http import (
    LoopClients,
    async_http_client,
    deadline,
    deadline_at,
    split_credentials,
    sync_http_client,
    within,
)
from .openai_parse import Reader, field
from .openai_wire import response_format_param, tool_choice_param, tool_param

__all__ = ["OpenAIBackend", "SDK_CLIENTS", "OFFICIAL_HOST"]

OFFICIAL_HOST = "api.openai.com"
_REASONING_PREFIXES = ("o1", "o3", "o4", "gpt-5")
DEFAULT_TIMEOUT = 600.0  # seconds a request may take in all when none is set (streams: between bytes)
T = TypeVar("T")


def _close_sdk(entry: tuple[Any, bool]) -> None:
    sdk, owns_http_client = entry
    if owns_http_client:
        sdk.close()


SDK_CLIENTS: SharedCache[tuple, tuple[Any, bool]] = SharedCache("openai clients", keep=8, close=_close_sdk)
# (base_url, model) -> the response format that has worked there: "json_schema",
# "json_object" or "prompted" (the schema stated in the prompt, no format on the wire)
_FORMAT_MODES: dict[tuple[str | None, str], str] = {}
on_clear(_FORMAT_MODES.clear)
_lock = threading.Lock()


class OpenAIBackend(Backend):
    provider = "openai"
    capabilities = Capabilities(
        chat=True,
        streaming=True,
        completion=True,
        tools=True,
        structured_output=True,
        fill_in_the_middle=True,  # legacy completions with `suffix`, where the server takes it
        embeddings=True,  # /embeddings: the server says whether this model embeds
        multiple_samples=True,
        images=True,  # image_url content parts go to the server as they are; it says whether the model sees them
    )
    options = frozenset(
        {
            "max_tokens", "temperature", "top_p", "stop", "seed", "n", "tools", "tool_choice",
            "parallel_tool_calls", "response_format", "presence_penalty", "frequency_penalty",
            "logit_bias", "user", "timeout", "reasoning_effort", "extra_body", "extra_headers",
        }
    )  # fmt: skip
    complete_options = frozenset(
        {
            "max_tokens", "temperature", "top_p", "stop", "seed", "n", "suffix",
            "presence_penalty", "frequency_penalty", "logit_bias", "user", "timeout",
            "extra_body", "extra_headers",
        }
    )  # fmt: skip
    embed_options = frozenset({"dimensions", "user", "timeout", "extra_body", "extra_headers"})
    settings = {
        "api_key": "the API key (default: from api_key_env)",
        "api_key_env": "env var holding the key (default OPENAI_API_KEY)",
        "base_url": "server URL, e.g. http://localhost:8000/v1 (default: OPENAI_BASE_URL or OpenAI)",
        "organization": "OpenAI organization id",
        "project": "OpenAI project id",
        "timeout": "seconds a request may take in all, retries included (default 600; inf: no limit)",
        "context_window": "override the model's context window (tokens)",
        "headers": "extra HTTP headers sent with every request",
        "stream_usage": "ask for token usage at the end of streams (default true)",
        "http_client": "an httpx2.Client to use (tests, proxies)",
        "async_http_client": "an httpx2.AsyncClient for achat/astream/aembed (tests, proxies)",
    }

    def __init__(self, model: str, **settings: Any) -> None:
        super().__init__(model, **settings)
        if not model:
            raise E.UnknownModelError(
                "no model name after 'openai:'", hint='Name one, e.g. "openai:gpt-4o-mini".'
            )
        s = settings
        _check_settings(s)
        is_builtin = "api_key_env" not in s and "base_url" not in s
        # user:password@ in the URL goes as Basic auth, out of the URL that httpx logs
        self.base_url, self._auth = split_credentials(s.get("base_url") or (os.environ.get("OPENAI_BASE_URL")
                                                                             if is_builtin else None))  # fmt: skip
        self.official = not self.base_url or OFFICIAL_HOST in self.base_url
        key_env = s.get("api_key_env") or "OPENAI_API_KEY"
        key = s.get("api_key") or os.environ.get(key_env) or _stored_key(key_env)  # the environment first
        if not key:
            if self.official:
                raise E.ConfigurationError(
                    f"no API key for the OpenAI API: {key_env} is not set",
                    hint=f"export {key_env}=..., or store it with `llmkit keys set {key_env}` (or pass api_key=, "
                         "or point base_url at a local server).",
                )  # fmt: skip
            key = "not-needed"  # local servers usually take any key; the SDK insists on one
        else:
            E.remember_secret(key)  # a real key only: the placeholder is no secret to scrub
        self._key = key  # never shown: not in repr, logs or errors
        self._timeout = s.get("timeout")
        self._organization = s.get("organization")
        self._project = s.get("project")
        self._headers = dict(s.get("headers") or {})
        for name, value in self._headers.items():
            E.remember_header(name, value)  # a server echoing them back must not show them
        self._http_client = s.get("http_client")
        self._async_http_client = s.get("async_http_client")
        self._window = s.get("context_window")
        self._stream_usage = s.get("stream_usage", True)
        self._sdk_lease: Lease[tuple[Any, bool]] | None = None
        self._async_sdks = LoopClients()

    # --- SDK clients, cached and shared --------------------------------------------

    def _client_key(self, http_client: Any) -> tuple:
        return (
            self.base_url, self._auth, self._key, self._organization, self._project, self._timeout,
            tuple(sorted(self._headers.items())), http_client,  # the object itself: ids are reused
        )  # fmt: skip

    def _kwargs(self) -> dict[str, Any]:
        kw: dict[str, Any] = {"api_key": self._key, "base_url": self.base_url, "max_retries": 0}
        if self._organization:
            kw["organization"] = self._organization
        if self._project:
            kw["project"] = self._project
        if self._timeout is not None:
            kw["timeout"] = None if math.isinf(self._timeout) else self._timeout  # inf: no limit
        if self._headers:
            kw["default_headers"] = self._headers
        return kw

    @property
    def sdk(self) -> Any:
        """The shared openai.OpenAI client (leased on first use, released by close())."""
        lease = self._sdk_lease
        if lease is None:
            with _lock:
                lease = self._sdk_lease
                if lease is None:
                    lease = self._sdk_lease = SDK_CLIENTS.acquire(
                        self._client_key(self._http_client), self._build_sdk).release_with(self)  # fmt: skip
        return lease.value[0]

    def _build_sdk(self) -> tuple[Any, bool]:
        import openai

        kw = self._kwargs()
        kw["http_client"] = self._http_client or sync_http_client(self._auth)  # ours: total deadlines
        return openai.OpenAI(**kw), self._http_client is None

    async def async_sdk(self) -> Any:
        """This backend's openai.AsyncOpenAI for the running event loop."""

        def build() -> Any:
            import openai

            kw = self._kwargs()
            kw["http_client"] = self._async_http_client or async_http_client(self._auth)
            return openai.AsyncOpenAI(**kw)

        if self._async_http_client is not None:  # the caller's own: theirs to close
            return build()
        return await self._async_sdks.get(build)

    def close(self) -> None:
        """Release the shared SDK client (the cache closes it once idle ones exceed its
        keep) and close this backend's async clients."""
        lease, self._sdk_lease = self._sdk_lease, None
        if lease is not None:
            lease.release()
        self._async_sdks.close()

    # --- deadlines -----------------------------------------------------------------

    def time_limit(self, options: dict[str, Any], kind: str) -> float | None:
        """Seconds a call may take in all: its timeout, else the setting, else 600 (a
        stream without a timeout may go on as long as bytes keep coming)."""
        limit = options.get("timeout", self._timeout)
        if limit is None:
            return None if kind == "stream" else DEFAULT_TIMEOUT
        return None if math.isinf(limit) else float(limit)

    def _call(self, at: float | None, request: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """`request(*args, **kwargs)` (an SDK call) within the deadline `at`, its errors as llmkit's."""
        try:
            with deadline(at):
                return request(*args, **kwargs)
        except (StopIteration, E.LLMKitError):  # the end of a stream; an error already ours
            raise
        except Exception as exc:
            raise self._error(exc, at) from None

    async def _acall(self, at: float | None, request: Any) -> Any:
        try:
            return await within(at, request)
        except (StopAsyncIteration, E.LLMKitError):
            raise
        except Exception as exc:
            raise self._error(exc, at) from None

    def _error(self, exc: BaseException, at: float | None) -> E.LLMKitError:
        if isinstance(exc, asyncio.TimeoutError):
            return self._timed_out(at)
        error = map_error(exc, self.model_id, self.base_url)
        if isinstance(error, E.APITimeoutError) and at is not None:
            return self._timed_out(at)
        return error

    def _timed_out(self, at: float | None) -> E.APITimeoutError:
        return E.APITimeoutError(f"no complete answer from {E.redact_url(self.base_url) or 'the OpenAI API'} "
                                 "within the timeout (a total deadline for the request)", model=self.model_id)  # fmt: skip

    def _at(self, options: dict[str, Any], kind: str) -> float | None:
        return deadline_at(self.time_limit(options, kind))

    # --- requests --------------------------------------------------------------------

    def _chat_params(self, messages: list[Message], options: dict[str, Any], mode: str = "json_schema") -> dict[str, Any]:
        params: dict[str, Any] = {"model": self.model, "messages": [m.to_dict() for m in messages]}
        for name, value in options.items():
            if name == "max_tokens" and self.official and self.model.startswith(_REASONING_PREFIXES):
                params["max_completion_tokens"] = value
            elif name == "tools":
                params["tools"] = [tool_param(t) for t in value]  # Tools: the client converted them
            elif name == "tool_choice":
                params["tool_choice"] = tool_choice_param(value)
            elif name == "response_format":
                if mode in ("json_schema", "json_object"):  # "prompted": the note in the messages only
                    params["response_format"] = response_format_param(value if mode == "json_schema" else "json")
            elif name == "stop":
                params["stop"] = [value] if isinstance(value, str) else list(value)
            else:
                params[name] = value
        return _wire(params)

    def _stream_params(self, messages: list[Message], options: dict[str, Any], mode: str) -> dict[str, Any]:
        params = self._chat_params(messages, options, mode)
        params["stream"] = True
        if self._stream_usage:
            params["stream_options"] = {"include_usage": True}
        return params

    def chat(self, messages: list[Message], options: dict[str, Any]) -> Response:
        at = self._at(options, "chat")
        for request, mode in self._format_modes(messages, options):
            params = self._chat_params(request, options, mode)
            try:
                completion = self._call(at, self.sdk.chat.completions.create, **params)
            except E.LLMKitError as error:
                if not self._format_refused(error, mode):
                    raise
                continue
            return self._with_mode(self._to_response(completion, messages), mode, options.get("response_format"))
        raise self._no_format()

    async def achat(self, messages: list[Message], options: dict[str, Any]) -> Response:
        at = self._at(options, "chat")
        sdk = await self.async_sdk()
        for request, mode in self._format_modes(messages, options):
            params = self._chat_params(request, options, mode)
            try:
                completion = await self._acall(at, sdk.chat.completions.create(**params))
            except E.LLMKitError as error:
                if not self._format_refused(error, mode):
                    raise
                continue
            return self._with_mode(self._to_response(completion, messages), mode, options.get("response_format"))
        raise self._no_format()

    # --- response formats: json_schema, else json_object, else the client prompts ------

    # An endpoint's mode is remembered only once a request in it has worked: a 400 may
    # have another cause (a schema the server cannot take, a bad option), so a refusal
    # alone never demotes an endpoint, and a mode known to work is never left.

    def native_format(self) -> bool:
        """False once this endpoint is known to answer only prompted (see note_prompted)."""
        return _FORMAT_MODES.get(self._endpoint()) != "prompted"

    def note_prompted(self) -> None:
        """The client's call: both formats were refused and the prompted request worked."""
        _FORMAT_MODES.setdefault(self._endpoint(), "prompted")

    def _endpoint(self) -> tuple[str | None, str]:
        return self.base_url, self.model

    def _format_modes(self, messages: list[Message], options: dict[str, Any]) -> Iterator[tuple[list[Message], str]]:
        """The requests to try: without a response_format just one; with one, the
        endpoint's known mode alone, or json_schema then json_object (the schema stated
        in the prompt, since json_object does not carry it)."""
        fmt = options.get("response_format")
        if fmt is None:
            yield messages, "none"
            return
        known = _FORMAT_MODES.get(self._endpoint())
        if known == "prompted":  # only streams get here: chat() goes through the client's re-asks
            yield with_note(messages, fmt), "prompted"
        elif known == "json_object" or fmt == "json":
            yield with_note(messages, fmt), "json_object"
        elif known == "json_schema":
            yield messages, "json_schema"
        else:
            yield messages, "json_schema"
            yield with_note(messages, fmt), "json_object"

    def _format_refused(self, error: E.LLMKitError, mode: str) -> bool:
        """A 400 for a format on an endpoint not yet known to take one: try the next mode."""
        # not a context length or content filter, and never a mode that has worked before
        return (mode in ("json_schema", "json_object") and type(error) is E.BadRequestError
                and self._endpoint() not in _FORMAT_MODES)  # fmt: skip

    def _remember(self, mode: str, fmt: Any) -> None:
        # json_object working for "json" says nothing of json_schema
        if mode in ("json_schema", "json_object") and fmt != "json":
            _FORMAT_MODES.setdefault(self._endpoint(), mode)

    def _with_mode(self, response: Response, mode: str, fmt: Any) -> Response:
        self._remember(mode, fmt)
        if mode in ("json_schema", "json_object"):
            # only OpenAI's own API is known to enforce json_schema; a compatible server may
            # ignore it (transformers serve does): "server" answers are checked by the client
            response.structured_by = ("native" if self.official else "server") if mode == "json_schema" else "json_mode"
        return response

    def _no_format(self) -> E.FormatUnsupportedError:
        return E.FormatUnsupportedError(
            f"{E.redact_url(self.base_url) or 'the OpenAI API'} refused json_schema and json_object response formats "
            f"for {self.model}", model=self.model_id)

    def _to_response(self, completion: Any, messages: list[Message]) -> Response:
        read = Reader(self.model_id)
        choices = read.choices(completion)
        found = [read.message(c, f"choices[{i}]") for i, c in enumerate(choices)]
        texts = [read.content(m, f"choices[{i}].message") for i, m in enumerate(found)]
        return Response(
            text=texts[0],
            texts=texts,
            finish_reason=read.finish_reason(choices[0], "choices[0]"),
            usage=self._usage(read.usage(field(completion, "usage")), messages, texts),
            tool_calls=read.tool_calls(found[0], "choices[0].message"),
            served_model=_text_or_none(field(completion, "model")),
            id=_text_or_none(field(completion, "id")),
            raw=completion,
        )

    def _usage(self, counted: tuple[int, int] | None, prompt: list[Message] | str, outputs: list[str]) -> Usage:
        if counted is not None:
            result = Usage(*counted)
        else:  # some compatible servers report nothing: count locally, and say so
            result = Usage(
                int(tokens.count(prompt, self.model)),
                sum(int(tokens.count(t, self.model)) for t in outputs),
                estimated=True,
            )
        return tokens.add_cost(result, self.model) if self.official else result

    def stream(self, messages: list[Message], options: dict[str, Any]) -> Iterator[StreamEvent]:
        at = self._at(options, "stream")
        chunks = None
        for request, mode in self._format_modes(messages, options):  # a refusal comes before any chunk
            params = self._stream_params(request, options, mode)
            try:
                chunks = self._call(at, self.sdk.chat.completions.create, **params)
                self._remember(mode, options.get("response_format"))
                break
            except E.LLMKitError as error:
                if not self._format_refused(error, mode):
                    raise
        if chunks is None:
            raise self._no_format()
        try:
            yield from self._events(iter(chunks), at)
        finally:
            chunks.close()  # also when the caller stops early: frees the connection

    async def astream(self, messages: list[Message], options: dict[str, Any]) -> AsyncIterator[StreamEvent]:
        at = self._at(options, "stream")
        sdk = await self.async_sdk()
        chunks = None
        for request, mode in self._format_modes(messages, options):
            try:
                chunks = await self._acall(at, sdk.chat.completions.create(**self._stream_params(request, options, mode)))
                self._remember(mode, options.get("response_format"))
                break
            except E.LLMKitError as error:
                if not self._format_refused(error, mode):
                    raise
        if chunks is None:
            raise self._no_format()
        check = _StreamCheck(self.model_id)
        try:
            while True:
                try:
                    chunk = await self._acall(at, chunks.__anext__())
                except StopAsyncIteration:
                    break
                for event in self._chunk_events(chunk):
                    yield check.saw(event)
        finally:
            await chunks.close()
        check.end()

    def _events(self, chunks: Iterator[Any], at: float | None) -> Iterator[StreamEvent]:
        check = _StreamCheck(self.model_id)
        while True:
            try:
                chunk = self._call(at, next, chunks)
            except StopIteration:
                break
            for event in self._chunk_events(chunk):
                yield check.saw(event)
        check.end()

    def _chunk_events(self, chunk: Any) -> Iterator[StreamEvent]:
        read = Reader(self.model_id, stream=True)
        for index, text, calls, finish_reason in read.chunk(chunk):
            if text or calls or finish_reason:
                yield StreamEvent(text=text, tool_calls=calls, finish_reason=finish_reason, index=index)
        counted = read.usage(field(chunk, "usage"))
        if counted is not None:
            usage = Usage(*counted)
            yield StreamEvent(usage=tokens.add_cost(usage, self.model) if self.official else usage)

    def complete(self, prompt: str, options: dict[str, Any]) -> Response:
        params: dict[str, Any] = _wire({"model": self.model, "prompt": prompt, **options})
        if isinstance(params.get("stop"), str):
            params["stop"] = [params["stop"]]
        completion = self._call(self._at(options, "complete"), self.sdk.completions.create, **params)
        read = Reader(self.model_id)
        choices = read.choices(completion)
        texts = [read.text(field(c, "text"), f"choices[{i}].text") or "" for i, c in enumerate(choices)]
        return Response(
            text=texts[0],
            texts=texts,
            finish_reason=read.finish_reason(choices[0], "choices[0]"),
            usage=self._usage(read.usage(field(completion, "usage")), prompt, texts),
            served_model=_text_or_none(field(completion, "model")),
            id=_text_or_none(field(completion, "id")),
            raw=completion,
        )

    # --- embeddings (openai_embeddings: the limits, the reply, the 404) ---

    def embed(self, texts: list[str], options: dict[str, Any]) -> Embeddings:
        at = self._at(options, "embed")
        parts = []
        for chunk in emb.requests(texts, self.official):
            params = self._embed_params(chunk, options)
            try:
                result = self._call(at, self.sdk.embeddings.create, **params)
            except E.APIError as error:
                raise self._no_embeddings(error) from None
            parts.append(self._to_embeddings(result, chunk))
        return emb.joined(parts)

    async def aembed(self, texts: list[str], options: dict[str, Any]) -> Embeddings:
        at = self._at(options, "embed")
        sdk = await self.async_sdk()
        parts = []
        for chunk in emb.requests(texts, self.official):
            try:
                result = await self._acall(at, sdk.embeddings.create(**self._embed_params(chunk, options)))
            except E.APIError as error:
                raise self._no_embeddings(error) from None
            parts.append(self._to_embeddings(result, chunk))
        return emb.joined(parts)

    def _embed_params(self, texts: list[str], options: dict[str, Any]) -> dict[str, Any]:
        # floats, not the SDK's default base64: every compatible server speaks floats
        return _wire({"model": self.model, "input": texts, "encoding_format": "float", **options})

    def _to_embeddings(self, result: Any, texts: list[str]) -> Embeddings:
        return emb.embeddings(result, texts, self.model, self.model_id, priced=self.official)

    def _no_embeddings(self, error: E.APIError) -> E.APIError:
        if self.official:
            return error
        return emb.serves_none(error, E.redact_url(self.base_url) or "the OpenAI API", self.model, self.model_id)


    # --- what the server publishes: context window, exact counts (openai_server_info) ---

    def server_info(self, timeout: float | None = None) -> srv.ServerInfo | None:
        """What this endpoint's server published (learned on first use, then cached per
        base_url and model); None for the official API, or when nothing is known."""
        if self.official or not self.base_url:
            return None
        return srv.lookup(self.base_url, self.model, self._fetch, timeout=timeout)

    def _fetch(self, method: str, url: str, body: dict[str, Any] | None, timeout: float) -> Any:
        """One request for server information through this backend's SDK client (its
        headers, credentials, http_client), its answer as JSON; failures as Unavailable."""
        import openai

        options: dict[str, Any] = {"timeout": timeout, "max_retries": 0}
        try:
            with deadline(deadline_at(timeout)):
                if method == "GET":
                    text = self.sdk.get(url, cast_to=str, options=options)
                else:
                    text = self.sdk.post(url, cast_to=str, body=body, options=options)
        except openai.APIStatusError as exc:
            status = exc.status_code
            transient = status >= 500 or status in (408, 409, 429)
            raise srv.Unavailable(f"{method} {url}: {status}", transient=transient) from None
        except openai.OpenAIError as exc:  # refused, reset, timed out
            raise srv.Unavailable(f"{method} {url}: {type(exc).__name__}", transient=True) from None
        try:
            return json.loads(text)
        except (TypeError, ValueError):
            raise srv.Unavailable(f"{method} {url}: not JSON", transient=False) from None

    def _server_count(self, content: str | list[Message], info: srv.ServerInfo | None,
                      timeout: float | None = None) -> TokenCount | None:  # fmt: skip
        if info is None or self.base_url is None:
            return None
        payload: str | list[dict[str, Any]] = content if isinstance(content, str) else [m.to_dict() for m in content]
        counted = srv.count(self.base_url, self.model, info, payload, self._fetch, timeout=timeout)
        return None if counted is None else TokenCount(counted, encoding=f"{info.engine} /tokenize")

    def count_tokens(self, content: str | list[Message]) -> TokenCount:
        """Exact, from the server's tokenizer endpoint where it has one (vLLM, llama.cpp,
        TGI); otherwise tiktoken's count, flagged as an estimate for models it does not know."""
        exact = self._server_count(content, self.server_info())
        return exact if exact is not None else tokens.count(content, self.model)

    def check_context(self, payload: str | list[Message], options: dict[str, Any]) -> None:
        """Refuse before sending what cannot fit the config's context_window (or the known
        window of an OpenAI model), counted here. This check never asks the server: the
        engines refuse an over-long prompt themselves, as fast as their /tokenize would
        answer, and that refusal is a ContextLengthError too (openai_errors), while
        vLLM and llama.cpp shorten an output that does not fit rather than refuse it. So
        the chat path makes no extra request for what the server publishes."""
        window = self._window or tokens.context_window(self.model)
        max_tokens = options.get("max_tokens")
        if window is None:
            return
        # A BPE token is at least one byte, so a request whose bytes (plus the chat
        # format's per-message tokens) fit cannot overflow: skip the exact count.
        if isinstance(payload, str):
            bound = len(payload) * 4
        else:
            bound = sum(len(m.text) * 4 + len(m.name or "") * 4 + 8 + sum(len(c.arguments) * 4 + len(c.name) * 4 for c in m.tool_calls)
                        for m in payload) + tokens.REPLY_PRIMING  # fmt: skip
        if bound + (max_tokens or 0) > window:
            tokens.check_fits(tokens.count(payload, self.model), max_tokens, window, self.model_id)

    def context_window(self) -> int | None:
        """The config's context_window, else what the server publishes (vLLM
        max_model_len, llama.cpp n_ctx, TGI max_total_tokens, ...), else OpenAI's table."""
        if self._window:
            return self._window
        info = self.server_info()
        return (info.context_window if info is not None else None) or tokens.context_window(self.model)


_SETTING_TYPES: dict[str, tuple[tuple[type, ...], str]] = {
    "api_key": ((str,), "a string"), "api_key_env": ((str,), "an environment variable's name"),
    "base_url": ((str,), "a URL string"), "organization": ((str,), "a string"), "project": ((str,), "a string"),
    "timeout": ((int, float), "a number of seconds > 0 (inf: no limit)"), "context_window": ((int,), "an int > 0"),
    "headers": ((dict,), "a table of header names to string values"), "stream_usage": ((bool,), "true or false"),
}  # fmt: skip


def _check_settings(settings: dict[str, Any]) -> None:
    """Ill-typed settings (from a config file or `-o`) fail here, in words, not in the SDK."""
    for name, value in settings.items():
        if name not in _SETTING_TYPES or value is None:
            continue
        types, what = _SETTING_TYPES[name]
        ok = isinstance(value, types) and not (isinstance(value, bool) and bool not in types)
        if ok and name in ("timeout", "context_window"):
            ok = value > 0 and (math.isfinite(value) or (name == "timeout" and value == math.inf))
        if ok and name == "headers":
            ok = all(isinstance(k, str) and isinstance(v, str) for k, v in value.items())
        if not ok:
            shown = "<hidden>" if name == "api_key" else repr(value)[:60]
            raise E.InvalidOptionError(f"setting {name}={shown} is invalid: it must be {what}")


class _StreamCheck:
    """What a whole stream must have had: a finish_reason, and a name for every tool call
    (the name comes in one of a call's pieces; a call never named cannot be run)."""

    def __init__(self, model_id: str) -> None:
        self.model_id = model_id
        self.finished = False
        self.named: dict[int, bool] = {}

    def saw(self, event: StreamEvent) -> StreamEvent:
        self.finished = self.finished or event.finish_reason is not None
        for d in event.tool_calls:
            self.named[d.index] = self.named.get(d.index, False) or bool(d.name)
        return event

    def end(self) -> None:
        if not self.finished:
            raise E.MalformedStreamError(
                "the stream ended before the model finished (no finish_reason)",
                model=self.model_id,
                hint="The connection was probably cut. llmkit retries only when nothing had been received.",
            )
        nameless = sorted(i for i, named in self.named.items() if not named)
        if nameless:
            raise E.MalformedStreamError(f"the stream's tool call #{nameless[0]} never named its tool",
                                         model=self.model_id)  # fmt: skip


def _wire(params: dict[str, Any]) -> dict[str, Any]:
    """Request parameters as the SDK takes them: timeout inf is no limit (None), and
    every extra header's value is remembered as a secret (servers echo headers back)."""
    if isinstance(params.get("timeout"), float) and math.isinf(params["timeout"]):
        params["timeout"] = None
    for name, value in (params.get("extra_headers") or {}).items():
        E.remember_header(str(name), value)
    return params


def _text_or_none(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _stored_key(name: str) -> str | None:
    """A key stored with `llmkit keys set` (llmkit.keys), consulted after the environment."""
    from .. import keys

    return keys.lookup(name)
