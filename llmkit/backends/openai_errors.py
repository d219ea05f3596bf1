"""OpenAI SDK exceptions -> llmkit errors, on HTTP status and error code only."""

from __future__ import annotations

import email.utils
import json
import math
import time
from typing import Any

from .. import errors as E

__all__ = ["map_error", "retry_after"]

# error codes that decide the class whatever the status says
_BY_CODE: dict[str, type[E.LLMKitError]] = {
    "context_length_exceeded": E.ContextLengthError,
    "string_above_max_length": E.ContextLengthError,
    "content_filter": E.ContentFilterError,
    "content_policy_violation": E.ContentFilterError,
    "insufficient_quota": E.QuotaExceededError,
    "rate_limit_exceeded": E.RateLimitError,
    "invalid_api_key": E.AuthenticationError,
    "model_not_found": E.NotFoundError,
    "server_error": E.ServerError,
}
_BY_STATUS: dict[int, type[E.LLMKitError]] = {
    400: E.BadRequestError,
    401: E.AuthenticationError,
    403: E.PermissionDeniedError,
    404: E.NotFoundError,
    408: E.ServerError,  # request timeout: transient
    409: E.ServerError,  # conflict/lock: transient
    413: E.ContextLengthError,
    422: E.BadRequestError,
    429: E.RateLimitError,
}


def retry_after(headers: Any) -> float | None:
    """Seconds the server asks us to wait: retry-after-ms, or retry-after (seconds or a
    date). A value that is no wait (negative, NaN, infinite, unparsable) counts as none
    given, so backoff applies: "-5" must not mean "hammer me"."""
    if headers is None:
        return None
    ms = _seconds(headers.get("retry-after-ms"))
    if ms is not None:
        return ms / 1000
    value = headers.get("retry-after")
    if not value:
        return None
    seconds = _seconds(value)
    if seconds is not None:
        return seconds
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())  # a date already past: retry now


def _seconds(value: Any) -> float | None:
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        return None
    return seconds if math.isfinite(seconds) and seconds >= 0 else None


def _server_message(body: Any) -> str:
    if isinstance(body, dict):
        inner = body.get("error", body)
        if isinstance(inner, dict) and isinstance(inner.get("message"), str):
            return inner["message"]
        if isinstance(body.get("message"), str):
            return body["message"]
    if isinstance(body, str):
        return body[:300]
    return ""


def _code(exc: Any, field: str = "code") -> str | None:
    code = getattr(exc, field, None)
    if code:
        return str(code)
    body = getattr(exc, "body", None)
    if isinstance(body, dict):
        inner = body.get("error", body)
        if isinstance(inner, dict) and inner.get(field):
            return str(inner[field])
    return None


def map_error(exc: BaseException, model_id: str, base_url: str | None) -> E.LLMKitError:
    import openai

    if isinstance(exc, E.LLMKitError):
        return exc
    where = E.redact_url(base_url) or "the OpenAI API"
    if isinstance(exc, openai.APITimeoutError):
        return E.APITimeoutError(f"no answer from {where} in time", model=model_id)
    if isinstance(exc, openai.APIConnectionError):
        cause = exc.__cause__ or exc.__context__
        detail = f": {type(cause).__name__}: {cause}" if cause else ""
        return E.APIConnectionError(f"could not reach {where}{detail}", model=model_id)
    if isinstance(exc, openai.APIStatusError):
        status = exc.status_code
        code = _code(exc)
        cls = _BY_CODE.get(code or "") or _BY_STATUS.get(status) or (
            E.ServerError if status >= 500 else E.APIError
        )
        text = _server_message(exc.body) or exc.response.reason_phrase or "error"
        kwargs: dict[str, Any] = dict(
            status_code=status, code=code, request_id=exc.request_id, model=model_id,
            retry_after=retry_after(exc.response.headers),  # 429 and 503 alike: the server knows best
        )  # fmt: skip
        if cls is E.NotFoundError and "model" in (code or ""):
            kwargs["hint"] = f"The server does not know this model; check the name after the provider in {model_id!r}."
        return cls(f"{where} answered {status}: {text}", **kwargs)
    if isinstance(exc, openai.APIError):  # an error event inside a stream, no status
        code = _code(exc) or _code(exc, "type")  # no status here: the type is all we have
        cls = _BY_CODE.get(code or "", E.ServerError)
        return cls(f"{where} sent an error in the stream: {_server_message(exc.body) or exc.message}",
                   code=code, model=model_id)  # fmt: skip
    if isinstance(exc, (json.JSONDecodeError, UnicodeDecodeError)):
        return E.MalformedStreamError(f"{where} sent data that is not valid JSON: {exc}", model=model_id)
    if isinstance(exc, openai.OpenAIError):
        return E.APIError(f"{type(exc).__name__}: {exc}", model=model_id)
    raise exc
