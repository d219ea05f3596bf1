"""AnthropicBackend: Claude through Anthropic's Messages API, on the official SDK.

`anthropic` (about a second to import) is imported when the first request is built, not
when this module is: llmkit lists providers, and `llmkit --help` runs, without it.

One SDK client per backend, built on first use with max_retries=0: llmkit's client
retries (and falls back) in one place for every backend, on the `retryable` and
`retry_after` of the errors error_map gives it. The key comes from ANTHROPIC_API_KEY (or
the env var `api_key_env` names, or `api_key=`), is registered with llmkit's redaction,
and is kept out of repr, settings_values, errors and logs (the SDK's loggers get a filter
that redacts their records: at DEBUG they show response headers).

Requests are built by wire.py and replies read by replies.py. Structured output is a
forced tool; a model that refuses it (models that always think do) gets the schema in the
prompt instead, through llmkit's client (FormatUnsupportedError, native_format,
note_prompted: the OpenAI backend's protocol). Deadlines: `timeout`
(an option, or the setting; 600 s by default) is passed to the SDK for each request; the
client lends each retry what is left of the call's time. In a stream it bounds each wait
for bytes. Async calls (achat, astream) run the sync ones in a worker thread (llmkit's
default), which keeps one SDK client and one connection pool.

Token counts are estimates (Claude's tokenizer is not public, and counting through the
API would cost a request): about 4 UTF-8 bytes per token. The context window is checked
before sending only against a conservative bound (6 bytes per token, more than text
averages), so only a prompt that cannot plausibly fit is refused here; for the rest the
server decides, and its refusal is a ContextLengthError too.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import os
import threading
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

from llmkit import errors as E
from llmkit.backends.base import Backend
from llmkit.types import Capabilities, Message, Response, StreamEvent, TokenCount, Usage

from . import models
from .error_map import map_error
from .replies import Counted, StreamReader, read_reply
from .wire import SAMPLING, Answer, request_params

__all__ = ["AnthropicBackend", "DEFAULT_MAX_TOKENS", "DEFAULT_TIMEOUT", "OFFICIAL_HOST"]

OFFICIAL_HOST = "api.anthropic.com"
DEFAULT_MAX_TOKENS = 4096  # Anthropic requires max_tokens; this is used when none is given
DEFAULT_TIMEOUT = 600.0
_BYTES_PER_TOKEN = 4  # the estimate
_MAX_BYTES_PER_TOKEN = 6  # the lower bound used to refuse before sending
T = TypeVar("T")
log = logging.getLogger("llmkit")
# (base_url, model) known to refuse the forced answer tool: structured output is prompted there
_PROMPTED: set[tuple[str | None, str]] = set()
_DROPPED_NOTED: set[tuple[str, ...]] = set()


def _note_dropped(names: list[str], model_id: str) -> None:
    """Say once per process which sampling options are not sent."""
    key = (model_id, *names)
    if key not in _DROPPED_NOTED:
        _DROPPED_NOTED.add(key)
        log.warning("%s: %s not sent: Anthropic's Messages API (the version the anthropic SDK speaks) takes no "
                    "sampling parameters; set send_sampling=True to send them anyway", model_id, ", ".join(names))


def _capabilities() -> Capabilities:
    """Chat, streaming, tools, structured output, and images (every current Claude model
    reads them) where this llmkit's Capabilities has that field (it came after 0.1.0)."""
    names = {f.name for f in dataclasses.fields(Capabilities)}
    return Capabilities(chat=True, streaming=True, tools=True, structured_output=True,
                        **({"images": True} if "images" in names else {}))  # fmt: skip


class AnthropicBackend(Backend):
    provider = "anthropic"
    capabilities = _capabilities()
    options = frozenset(
        {
            "max_tokens", "temperature", "top_p", "top_k", "stop", "tools", "tool_choice",
            "parallel_tool_calls", "response_format", "user", "timeout", "extra_body", "extra_headers",
        }
    )  # fmt: skip
    settings = {
        "api_key": "the API key (default: from api_key_env)",
        "api_key_env": "env var holding the key (default ANTHROPIC_API_KEY)",
        "base_url": "API URL (default: ANTHROPIC_BASE_URL, else https://api.anthropic.com)",
        "timeout": "seconds a request may take (default 600; inf: no limit)",
        "default_max_tokens": f"max_tokens when a call gives none (default {DEFAULT_MAX_TOKENS}, or less "
                              "where the model's limit is lower)",
        "context_window": "override the model's context window (tokens)",
        "prices": "USD per 1M tokens, {'input': ..., 'output': ...}, overriding the plugin's table",
        "headers": "extra HTTP headers sent with every request (e.g. anthropic-beta)",
        "http_client": "an httpx2.Client for the SDK to use (tests, proxies)",
        "send_sampling": "send temperature/top_p/top_k (default false: the SDK's API version refuses them)",
    }

    def __init__(self, model: str, **settings: Any) -> None:
        super().__init__(model, **settings)
        self.settings_values = {k: v for k, v in settings.items() if k != "api_key"}  # the key is kept apart
        if not model:
            raise E.UnknownModelError("no model name after 'anthropic:'",
                                      hint='Name one, e.g. "anthropic:claude-sonnet-4-5".')  # fmt: skip
        _check_settings(settings)
        self.base_url: str | None = settings.get("base_url") or os.environ.get("ANTHROPIC_BASE_URL") or None
        self.official = not self.base_url or OFFICIAL_HOST in self.base_url
        key_env = settings.get("api_key_env") or "ANTHROPIC_API_KEY"
        key = settings.get("api_key") or os.environ.get(key_env)
        if not key:
            if self.official:
                raise E.ConfigurationError(
                    f"no API key for Anthropic's API: {key_env} is not set",
                    hint=f"Set it to a key from console.anthropic.com (export {key_env}=sk-ant-...), or pass api_key=.",
                )
            key = "not-needed"  # a local proxy may take any key; the SDK insists on one
        else:
            E.remember_secret(key)
        self._key = key  # never shown: not in repr, settings_values, logs or errors
        self._timeout: float | None = settings.get("timeout")
        self._window: int | None = settings.get("context_window")
        self._prices: dict[str, float] | None = settings.get("prices")
        self._headers = dict(settings.get("headers") or {})
        for name, value in self._headers.items():
            E.remember_header(name, value)
        self._http_client = settings.get("http_client")
        self._send_sampling = bool(settings.get("send_sampling", False))
        info = models.info(model)
        limit = info["max_output"] if info else None
        self.default_max_tokens: int = settings.get("default_max_tokens") or min(DEFAULT_MAX_TOKENS, limit or DEFAULT_MAX_TOKENS)
        self._sdk: Any = None
        self._lock = threading.Lock()

    # --- the SDK client ------------------------------------------------------------------

    @property
    def sdk(self) -> Any:
        """This backend's anthropic.Anthropic (built, and `anthropic` imported, on first use)."""
        with self._lock:
            if self._sdk is None:
                import anthropic

                kw: dict[str, Any] = {"api_key": self._key, "max_retries": 0,
                                      "timeout": _sdk_timeout(self._timeout, DEFAULT_TIMEOUT)}  # fmt: skip
                if self.base_url:
                    kw["base_url"] = self.base_url
                if self._headers:
                    kw["default_headers"] = self._headers
                if self._http_client is not None:
                    kw["http_client"] = self._http_client
                self._sdk = anthropic.Anthropic(**kw)
                _guard_sdk_logs()
            return self._sdk

    def close(self) -> None:
        """Close the SDK client and its connections (a caller's own http_client stays open)."""
        with self._lock:
            sdk, self._sdk = self._sdk, None
        if sdk is not None and self._http_client is None:
            sdk.close()

    @property
    def where(self) -> str:
        return E.redact_url(self.base_url) or "Anthropic's API"

    def _call(self, request: Callable[..., T], *args: Any, in_stream: bool = False, **kwargs: Any) -> T:
        """An SDK call, its failures as llmkit errors."""
        try:
            return request(*args, **kwargs)
        except (StopIteration, E.LLMKitError):
            raise
        except Exception as exc:
            error = map_error(exc, self.model_id, self.where)
            if in_stream and type(error) is E.MalformedResponseError:
                error = E.MalformedStreamError(error.message, model=self.model_id)
            raise error from None

    # --- requests ------------------------------------------------------------------------

    def time_limit(self, options: dict[str, Any], kind: str) -> float | None:
        limit = options.get("timeout", self._timeout)
        if limit is None:
            return None if kind == "stream" else DEFAULT_TIMEOUT
        return None if math.isinf(limit) else float(limit)

    def _params(self, messages: list[Message], options: dict[str, Any],
                prompted: bool = False) -> tuple[dict[str, Any], Answer | None]:  # fmt: skip
        dropped = sorted(n for n in SAMPLING if options.get(n) is not None)
        if dropped and not self._send_sampling:
            _note_dropped(dropped, self.model_id)
        params, answer = request_params(self.model, messages, options, self.default_max_tokens,
                                        send_sampling=self._send_sampling, prompted=prompted)  # fmt: skip
        if "timeout" in params:
            params["timeout"] = _sdk_timeout(params["timeout"], None)
        for name, value in (params.get("extra_headers") or {}).items():
            E.remember_header(str(name), value)  # a server echoing them back must not show them
        return params, answer

    # --- structured output: a forced tool, else the schema in the prompt ------------------

    # Models that always think refuse a forced tool (tool_choice "tool"/"any") with a 400.
    # Such a refusal becomes a FormatUnsupportedError, on which llmkit's client asks again
    # with the schema in the prompt (and checks the answer); once that has worked it calls
    # note_prompted(), and this endpoint and model are asked that way from then on. A 400
    # alone never demotes a model: it may have had another cause.

    def native_format(self) -> bool:
        """False once this model is known to refuse the forced answer tool."""
        return self._endpoint() not in _PROMPTED

    def note_prompted(self) -> None:
        """The client's call: the forced tool was refused and the prompted request worked."""
        _PROMPTED.add(self._endpoint())

    def _endpoint(self) -> tuple[str | None, str]:
        return self.base_url, self.model

    def _refused(self, error: E.LLMKitError) -> E.FormatUnsupportedError:
        return E.FormatUnsupportedError(
            f"{self.where} refused the forced tool that carries structured output for {self.model}: {error.message}",
            status_code=error.status_code, code=error.code, request_id=error.request_id, model=self.model_id,
            hint="llmkit asks again with the schema in the prompt, and checks the answer.",
        )  # fmt: skip

    def chat(self, messages: list[Message], options: dict[str, Any]) -> Response:
        params, answer = self._params(messages, options)
        try:
            reply = self._call(self.sdk.messages.create, **params)
        except E.BadRequestError as error:
            if answer is None or type(error) is not E.BadRequestError:
                raise
            raise self._refused(error) from error
        read = read_reply(reply, self.model_id, answer)
        response = Response(
            text=read.text,
            finish_reason=read.finish_reason,
            usage=self._usage(read.counted, messages, read.text),
            tool_calls=read.tool_calls,
            served_model=read.served_model,
            id=read.id,
            raw=reply,
        )
        if read.answered:
            response.structured_by = "tool"  # a forced tool; not enforced by the server, so the client checks it
        return response

    def stream(self, messages: list[Message], options: dict[str, Any]) -> Iterator[StreamEvent]:
        structured = options.get("response_format") is not None
        params, answer = self._params(messages, options, prompted=structured and not self.native_format())
        try:
            events = self._call(self.sdk.messages.create, **params, stream=True)
        except E.BadRequestError as error:
            if answer is None or type(error) is not E.BadRequestError:
                raise
            # refused before anything was streamed: ask with the schema in the prompt (the
            # Stream checks nothing, so the caller parses stream.response as with any prompt)
            params, answer = self._params(messages, options, prompted=True)
            events = self._call(self.sdk.messages.create, **params, stream=True)
            self.note_prompted()
        if not (hasattr(events, "__iter__") and hasattr(events, "close")):  # not an event stream (a proxy's page)
            raise E.MalformedStreamError(f"{self.where} answered a stream request with {type(events).__name__}, "
                                         "not server-sent events", model=self.model_id)  # fmt: skip
        reader = StreamReader(self.model_id, lambda counted: self._usage(counted, messages, ""), answer)
        try:
            iterator = iter(events)
            while True:
                try:
                    event = self._call(next, iterator, in_stream=True)
                except StopIteration:
                    break
                yield from reader.read(event)
            reader.end()
        finally:
            events.close()  # also when the caller stops early: frees the connection

    def _usage(self, counted: Counted | None, messages: list[Message], output: str) -> Usage:
        if counted is None:  # Anthropic always reports usage; a server that does not gets an estimate
            return Usage(int(self.count_tokens(messages)), int(self.count_tokens(output)), estimated=True)
        usage = Usage(counted.prompt, counted.output)
        if self.official or self._prices:
            usage.cost = models.cost(self.model, input_tokens=counted.input, output_tokens=counted.output,
                                     cache_write_5m=counted.cache_write_5m, cache_write_1h=counted.cache_write_1h,
                                     cache_read=counted.cache_read, prices=self._prices)  # fmt: skip
        return usage

    # --- tokens and the context window ---------------------------------------------------

    def count_tokens(self, content: str | list[Message]) -> TokenCount:
        """An estimate: ~4 UTF-8 bytes per token, plus a few tokens per message."""
        return TokenCount(_bytes(content) // _BYTES_PER_TOKEN + _overhead(content), estimate=True,
                          encoding="estimate (bytes/4)")  # fmt: skip

    def check_context(self, payload: str | list[Message], options: dict[str, Any]) -> None:
        window = self.context_window()
        if window is None:
            return
        at_least = _bytes(payload) // _MAX_BYTES_PER_TOKEN + _overhead(payload)
        max_tokens = options.get("max_tokens") or self.default_max_tokens
        if at_least + max_tokens > window:
            raise E.ContextLengthError(
                f"the request needs at least {at_least} prompt tokens + max_tokens {max_tokens}, but {self.model_id} "
                f"has a context window of {window} tokens", model=self.model_id, code="context_length_exceeded")  # fmt: skip

    def context_window(self) -> int | None:
        info = models.info(self.model)
        return self._window or (info["context"] if info else None)


class _Redacting(logging.Filter):
    """Scrubs what llmkit knows to be secret from the SDK's log records: at DEBUG it logs
    response headers, and a server that echoes the key would put it there."""

    def filter(self, record: logging.LogRecord) -> bool:
        text = record.getMessage()
        clean = E.redact(text)
        if clean != text:
            record.msg, record.args = clean, None
        return True


_REDACTING = _Redacting()


def _guard_sdk_logs() -> None:
    """Put the filter on the SDK's loggers (a logger's filters are not inherited by its children)."""
    names = [n for n in list(logging.root.manager.loggerDict) if n == "anthropic" or n.startswith("anthropic.")]
    for name in ["anthropic", *names]:
        logger = logging.getLogger(name)
        if _REDACTING not in logger.filters:
            logger.addFilter(_REDACTING)


def _bytes(content: str | list[Message]) -> int:
    if isinstance(content, str):
        return len(content.encode("utf-8"))
    total = 0
    for m in content:
        total += len(m.text.encode("utf-8"))
        for call in m.tool_calls:
            total += len(call.name) + len(call.arguments.encode("utf-8"))
    return total


def _overhead(content: str | list[Message]) -> int:
    return 0 if isinstance(content, str) else 4 * len(content) + 3


def _sdk_timeout(value: float | None, default: float | None) -> float | None:
    """A timeout as the SDK takes it: inf is no limit (None)."""
    if value is None:
        return default
    return None if math.isinf(value) else float(value)


_SETTING_TYPES: dict[str, tuple[tuple[type, ...], str]] = {
    "api_key": ((str,), "a string"), "api_key_env": ((str,), "an environment variable's name"),
    "base_url": ((str,), "a URL string"), "timeout": ((int, float), "a number of seconds > 0 (inf: no limit)"),
    "default_max_tokens": ((int,), "an int >= 1"), "context_window": ((int,), "an int >= 1"),
    "prices": ((dict,), "a table {'input': USD per 1M tokens, 'output': USD per 1M tokens}"),
    "headers": ((dict,), "a table of header names to string values"), "send_sampling": ((bool,), "true or false"),
}  # fmt: skip


def _check_settings(settings: dict[str, Any]) -> None:
    """Ill-typed settings (from a config file or `-o`) fail here, in words, not in the SDK."""
    for name, value in settings.items():
        if name not in _SETTING_TYPES or value is None:
            continue
        types, what = _SETTING_TYPES[name]
        ok = isinstance(value, types) and (bool in types or not isinstance(value, bool))
        if ok and name == "timeout":
            ok = value > 0 and (math.isfinite(value) or value == math.inf)
        if ok and name in ("default_max_tokens", "context_window"):
            ok = value >= 1
        if ok and name == "headers":
            ok = all(isinstance(k, str) and isinstance(v, str) for k, v in value.items())
        if ok and name == "prices":
            ok = set(value) == {"input", "output"} and all(
                isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) and v >= 0
                for v in value.values())  # fmt: skip
        if not ok:
            shown = "<hidden>" if name == "api_key" else repr(value)[:60]
            raise E.InvalidOptionError(f"setting {name}={shown} is invalid: it must be {what}")
