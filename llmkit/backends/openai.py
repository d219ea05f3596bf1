"""The OpenAI API and every OpenAI-compatible server (vLLM, Ollama, llama.cpp, ...).

One SDK client per (base_url, key, ...) is built with max_retries=0 and shared through
the `SDK_CLIENTS` cache (its connection pool is reused across Client objects); a backend
releases it on close(), and idle SDK clients beyond the cache's `keep` are closed, with
their connections (a caller's own http_client is never closed by llmkit). Async SDK
clients belong to one event loop each and go with it. llmkit retries in one layer, its
own. SDK errors are mapped to llmkit errors on HTTP status and error code, never on
message text.
"""

from __future__ import annotations

import json
import os
import threading
import weakref
from collections.abc import AsyncIterator, Iterator
from typing import Any

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
    ToolCall,
    ToolCallDelta,
    Usage,
)  # fmt: skip
from .base import Backend
from .openai_errors import map_error
from .openai_wire import response_format_param, tool_choice_param, tool_param

__all__ = ["OpenAIBackend", "SDK_CLIENTS", "OFFICIAL_HOST", "EMBED_MAX_INPUTS", "EMBED_MAX_BYTES"]

OFFICIAL_HOST = "api.openai.com"
_REASONING_PREFIXES = ("o1", "o3", "o4", "gpt-5")
EMBED_MAX_INPUTS = 2048  # OpenAI's limits per /embeddings request
EMBED_MAX_BYTES = 300_000  # its token limit is 300k; a token is at least one byte


def _close_sdk(entry: tuple[Any, bool]) -> None:
    sdk, owns_http_client = entry
    if owns_http_client:
        sdk.close()


SDK_CLIENTS: SharedCache[tuple, tuple[Any, bool]] = SharedCache("openai clients", keep=8, close=_close_sdk)
# event loop -> {client key -> AsyncOpenAI}: an async pool belongs to one loop and goes with it
_async_clients: weakref.WeakKeyDictionary[Any, dict[tuple, Any]] = weakref.WeakKeyDictionary()
on_clear(_async_clients.clear)
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
        "timeout": "seconds to wait for the server (default 600, connect 5)",
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
        self.base_url = s.get("base_url") or (os.environ.get("OPENAI_BASE_URL") if is_builtin else None)
        self.official = not self.base_url or OFFICIAL_HOST in self.base_url
        key_env = s.get("api_key_env") or "OPENAI_API_KEY"
        key = s.get("api_key") or os.environ.get(key_env)
        if not key:
            if self.official:
                raise E.ConfigurationError(
                    f"no API key for the OpenAI API: {key_env} is not set",
                    hint=f"export {key_env}=... (or pass api_key=, or point base_url at a local server).",
                )
            key = "not-needed"  # local servers usually take any key; the SDK insists on one
        else:
            E.remember_secret(key)  # a real key only: the placeholder is no secret to scrub
        self._key = key  # never shown: not in repr, logs or errors
        self._timeout = s.get("timeout")
        self._organization = s.get("organization")
        self._project = s.get("project")
        self._headers = dict(s.get("headers") or {})
        self._http_client = s.get("http_client")
        self._async_http_client = s.get("async_http_client")
        self._window = s.get("context_window")
        self._stream_usage = s.get("stream_usage", True)
        self._sdk_lease: Lease[tuple[Any, bool]] | None = None

    # --- SDK clients, cached and shared --------------------------------------------

    def _client_key(self, http_client: Any) -> tuple:
        return (
            self.base_url, self._key, self._organization, self._project, self._timeout,
            tuple(sorted(self._headers.items())), http_client,  # the object itself: ids are reused
        )  # fmt: skip

    def _kwargs(self) -> dict[str, Any]:
        kw: dict[str, Any] = {"api_key": self._key, "base_url": self.base_url, "max_retries": 0}
        if self._organization:
            kw["organization"] = self._organization
        if self._project:
            kw["project"] = self._project
        if self._timeout is not None:
            kw["timeout"] = self._timeout
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
        if self._http_client is not None:
            kw["http_client"] = self._http_client
        return openai.OpenAI(**kw), self._http_client is None

    @property
    def async_sdk(self) -> Any:
        import asyncio

        import openai

        loop = asyncio.get_running_loop()  # async HTTP pools belong to one event loop
        per_loop = _async_clients.setdefault(loop, {})
        key = self._client_key(self._async_http_client)
        if key not in per_loop:
            kw = self._kwargs()
            if self._async_http_client is not None:
                kw["http_client"] = self._async_http_client
            per_loop[key] = openai.AsyncOpenAI(**kw)
        return per_loop[key]

    def close(self) -> None:
        """Release the shared SDK client; the cache closes it once idle ones exceed its keep."""
        lease, self._sdk_lease = self._sdk_lease, None
        if lease is not None:
            lease.release()

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
        return params

    def _stream_params(self, messages: list[Message], options: dict[str, Any], mode: str) -> dict[str, Any]:
        params = self._chat_params(messages, options, mode)
        params["stream"] = True
        if self._stream_usage:
            params["stream_options"] = {"include_usage": True}
        return params

    def chat(self, messages: list[Message], options: dict[str, Any]) -> Response:
        for request, mode in self._format_modes(messages, options):
            params = self._chat_params(request, options, mode)
            try:
                completion = self.sdk.chat.completions.create(**params)
            except Exception as exc:
                error = map_error(exc, self.model_id, self.base_url)
                if not self._format_refused(error, mode):
                    raise error from None
                continue
            return self._with_mode(self._to_response(completion, messages), mode, options.get("response_format"))
        raise self._no_format()

    async def achat(self, messages: list[Message], options: dict[str, Any]) -> Response:
        for request, mode in self._format_modes(messages, options):
            params = self._chat_params(request, options, mode)
            try:
                completion = await self.async_sdk.chat.completions.create(**params)
            except Exception as exc:
                error = map_error(exc, self.model_id, self.base_url)
                if not self._format_refused(error, mode):
                    raise error from None
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
            response.structured_by = "native" if mode == "json_schema" else "json_mode"
        return response

    def _no_format(self) -> E.FormatUnsupportedError:
        return E.FormatUnsupportedError(
            f"{E.redact_url(self.base_url) or 'the OpenAI API'} refused json_schema and json_object response formats "
            f"for {self.model}", model=self.model_id)

    def _to_response(self, completion: Any, messages: list[Message]) -> Response:
        choices = getattr(completion, "choices", None)
        if not choices:
            raise E.MalformedResponseError(
                f"the server's reply has no choices: {str(completion)[:200]!r}",
                model=self.model_id,
            )
        choices = sorted(choices, key=lambda c: c.index or 0)
        first = choices[0].message
        texts = [(c.message.content or "") if c.message else "" for c in choices]
        calls = [
            ToolCall(tc.id or "", tc.function.name, _json_text(tc.function.arguments))
            for tc in (first.tool_calls or [])
            if getattr(tc, "function", None) is not None
        ]
        return Response(
            text=texts[0],
            texts=texts,
            finish_reason=choices[0].finish_reason,
            usage=self._usage(completion.usage, messages, texts),
            tool_calls=calls,
            served_model=completion.model,
            id=completion.id,
            raw=completion,
        )

    def _usage(self, usage: Any, prompt: list[Message] | str, outputs: list[str]) -> Usage:
        if usage is not None and usage.prompt_tokens is not None:
            result = Usage(usage.prompt_tokens, usage.completion_tokens or 0)
        else:  # some compatible servers report nothing: count locally, and say so
            result = Usage(
                int(tokens.count(prompt, self.model)),
                sum(int(tokens.count(t, self.model)) for t in outputs),
                estimated=True,
            )
        return tokens.add_cost(result, self.model) if self.official else result

    def stream(self, messages: list[Message], options: dict[str, Any]) -> Iterator[StreamEvent]:
        chunks = None
        for request, mode in self._format_modes(messages, options):  # a refusal comes before any chunk
            try:
                chunks = self.sdk.chat.completions.create(**self._stream_params(request, options, mode))
                self._remember(mode, options.get("response_format"))
                break
            except Exception as exc:
                error = map_error(exc, self.model_id, self.base_url)
                if not self._format_refused(error, mode):
                    raise error from None
        if chunks is None:
            raise self._no_format()
        try:
            yield from self._events(iter(chunks))
        finally:
            chunks.close()  # also when the caller stops early: frees the connection

    async def astream(self, messages: list[Message], options: dict[str, Any]) -> AsyncIterator[StreamEvent]:
        chunks = None
        for request, mode in self._format_modes(messages, options):
            try:
                chunks = await self.async_sdk.chat.completions.create(**self._stream_params(request, options, mode))
                self._remember(mode, options.get("response_format"))
                break
            except Exception as exc:
                error = map_error(exc, self.model_id, self.base_url)
                if not self._format_refused(error, mode):
                    raise error from None
        if chunks is None:
            raise self._no_format()
        finished = False
        try:
            while True:
                try:
                    chunk = await chunks.__anext__()
                except StopAsyncIteration:
                    break
                except Exception as exc:
                    raise map_error(exc, self.model_id, self.base_url) from None
                for event in self._chunk_events(chunk):
                    finished = finished or event.finish_reason is not None
                    yield event
        finally:
            await chunks.close()
        if not finished:
            raise self._truncated()

    def _events(self, chunks: Iterator[Any]) -> Iterator[StreamEvent]:
        finished = False
        while True:
            try:
                chunk = next(chunks)
            except StopIteration:
                break
            except Exception as exc:
                raise map_error(exc, self.model_id, self.base_url) from None
            for event in self._chunk_events(chunk):
                finished = finished or event.finish_reason is not None
                yield event
        if not finished:
            raise self._truncated()

    def _chunk_events(self, chunk: Any) -> Iterator[StreamEvent]:
        for choice in chunk.choices or ():
            delta = choice.delta
            calls = [
                ToolCallDelta(
                    index=tc.index if tc.index is not None else position,  # some servers omit it
                    id=tc.id,
                    name=tc.function.name if tc.function else None,
                    arguments=_json_text(tc.function.arguments, "") if tc.function else "",
                )
                for position, tc in enumerate(delta.tool_calls or [] if delta else [])
            ]
            text = (delta.content or "") if delta else ""
            if text or calls or choice.finish_reason:
                yield StreamEvent(text=text, tool_calls=calls, finish_reason=choice.finish_reason, index=choice.index)
        if chunk.usage is not None:
            usage = Usage(chunk.usage.prompt_tokens or 0, chunk.usage.completion_tokens or 0)
            yield StreamEvent(usage=tokens.add_cost(usage, self.model) if self.official else usage)

    def _truncated(self) -> E.MalformedStreamError:
        return E.MalformedStreamError(
            "the stream ended before the model finished (no finish_reason)",
            model=self.model_id,
            hint="The connection was probably cut. llmkit retries only when nothing had been received.",
        )

    def complete(self, prompt: str, options: dict[str, Any]) -> Response:
        params: dict[str, Any] = {"model": self.model, "prompt": prompt, **options}
        if isinstance(params.get("stop"), str):
            params["stop"] = [params["stop"]]
        try:
            completion = self.sdk.completions.create(**params)
        except Exception as exc:
            raise map_error(exc, self.model_id, self.base_url) from None
        choices = sorted(getattr(completion, "choices", None) or [], key=lambda c: c.index or 0)
        if not choices:
            raise E.MalformedResponseError("the server's completion has no choices", model=self.model_id)
        texts = [c.text or "" for c in choices]
        return Response(
            text=texts[0],
            texts=texts,
            finish_reason=choices[0].finish_reason,
            usage=self._usage(completion.usage, prompt, texts),
            served_model=completion.model,
            id=completion.id,
            raw=completion,
        )

    def embed(self, texts: list[str], options: dict[str, Any]) -> Embeddings:
        parts = []
        for chunk in self._embed_chunks(texts):
            try:
                result = self.sdk.embeddings.create(**self._embed_params(chunk, options))
            except Exception as exc:
                raise map_error(exc, self.model_id, self.base_url) from None
            parts.append(self._to_embeddings(result, chunk))
        return _joined(parts)

    async def aembed(self, texts: list[str], options: dict[str, Any]) -> Embeddings:
        parts = []
        for chunk in self._embed_chunks(texts):
            try:
                result = await self.async_sdk.embeddings.create(**self._embed_params(chunk, options))
            except Exception as exc:
                raise map_error(exc, self.model_id, self.base_url) from None
            parts.append(self._to_embeddings(result, chunk))
        return _joined(parts)

    def _embed_chunks(self, texts: list[str]) -> Iterator[list[str]]:
        """Requests within OpenAI's limits (2048 inputs, 300k tokens: bytes bound tokens)."""
        if self.official and "" in texts:
            raise E.InvalidOptionError(
                f"text #{texts.index('')} is empty, and OpenAI's /embeddings refuses empty strings",
                hint="Leave empty texts out (or embed a single space in their place).",
            )
        chunk: list[str] = []
        size = 0
        for text in texts:
            n = len(text.encode("utf-8"))
            if chunk and (len(chunk) == EMBED_MAX_INPUTS or size + n > EMBED_MAX_BYTES):
                yield chunk
                chunk, size = [], 0
            chunk.append(text)
            size += n
        if chunk:
            yield chunk

    def _embed_params(self, texts: list[str], options: dict[str, Any]) -> dict[str, Any]:
        # floats, not the SDK's default base64: every compatible server speaks floats
        return {"model": self.model, "input": texts, "encoding_format": "float", **options}

    def _to_embeddings(self, result: Any, texts: list[str]) -> Embeddings:
        data = sorted(getattr(result, "data", None) or [], key=lambda d: d.index or 0)
        try:
            vectors = [[float(x) for x in d.embedding] for d in data]
        except (TypeError, ValueError):
            vectors = []
        if len(vectors) != len(texts) or any(len(v) != len(vectors[0]) or not v for v in vectors):
            raise E.MalformedResponseError(
                f"the server sent {len(data)} embeddings of unusable shape for {len(texts)} texts",
                model=self.model_id,
            )
        usage = getattr(result, "usage", None)
        if usage is not None and getattr(usage, "prompt_tokens", None) is not None:
            counted = Usage(usage.prompt_tokens, 0)
        else:
            counted = Usage(sum(int(tokens.count(t, self.model)) for t in texts), 0, estimated=True)
        if self.official:
            tokens.add_cost(counted, self.model)
        return Embeddings(vectors, served_model=getattr(result, "model", None), usage=counted)

    def count_tokens(self, content: str | list[Message]) -> TokenCount:
        return tokens.count(content, self.model)

    def check_context(self, payload: str | list[Message], options: dict[str, Any]) -> None:
        window = self.context_window()
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
            super().check_context(payload, options)

    def context_window(self) -> int | None:
        return self._window or tokens.context_window(self.model)


_SETTING_TYPES: dict[str, tuple[tuple[type, ...], str]] = {
    "api_key": ((str,), "a string"), "api_key_env": ((str,), "an environment variable's name"),
    "base_url": ((str,), "a URL string"), "organization": ((str,), "a string"), "project": ((str,), "a string"),
    "timeout": ((int, float), "a number of seconds > 0"), "context_window": ((int,), "an int > 0"),
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
            ok = value > 0
        if ok and name == "headers":
            ok = all(isinstance(k, str) and isinstance(v, str) for k, v in value.items())
        if not ok:
            shown = "<hidden>" if name == "api_key" else repr(value)[:60]
            raise E.InvalidOptionError(f"setting {name}={shown} is invalid: it must be {what}")


def _joined(parts: list[Embeddings]) -> Embeddings:
    """The embeddings of several requests as one answer, usage added up."""
    if len(parts) == 1:
        return parts[0]
    usage = Usage(sum(p.usage.input_tokens for p in parts), 0, estimated=any(p.usage.estimated for p in parts))
    costs = [p.usage.cost for p in parts]
    usage.cost = None if None in costs else sum(costs)  # type: ignore[arg-type]
    vectors = [v for p in parts for v in p.vectors]
    return Embeddings(vectors, served_model=parts[0].served_model, usage=usage)


def _json_text(arguments: Any, empty: str = "{}") -> str:
    """Tool-call arguments as JSON text (some servers send an object, not a string)."""
    if arguments is None or arguments == "":
        return empty
    return arguments if isinstance(arguments, str) else json.dumps(arguments)
