"""Anthropic SDK exceptions -> llmkit errors, on HTTP status and the error's type.

Anthropic's error body is {"type": "error", "error": {"type": ..., "message": ...}}; the
type (authentication_error, rate_limit_error, overloaded_error, ...) decides the class
where it is known, else the status does. A stream can carry an error event after a 200,
which the SDK raises with status 200: there the type is all there is.

One mapping rests on the message's words, because Anthropic gives it no type or code
of its own: a prompt that does not fit the context window is an invalid_request_error
(400) whose message says "prompt is too long" (or that input and max_tokens "exceed
context limit"); that one is a ContextLengthError, so that the client can fall back to
a model with a larger window. A 413 (the request body is over the size limit) is one
too: the fix is the same, a shorter request.

Retries are llmkit's: the SDK is built with max_retries=0, and `retryable` and
`retry_after` (from the retry-after header) tell the client's retry loop what to do.
"""

from __future__ import annotations

import json
from typing import Any

from llmkit import errors as E

__all__ = ["map_error", "is_context_overflow"]

retry_after = E.retry_after  # llmkit's own reading of retry-after(-ms) headers

_BY_TYPE: dict[str, type[E.LLMKitError]] = {
    "invalid_request_error": E.BadRequestError,
    "authentication_error": E.AuthenticationError,
    "billing_error": E.QuotaExceededError,
    "permission_error": E.PermissionDeniedError,
    "not_found_error": E.NotFoundError,
    "request_too_large": E.ContextLengthError,
    "rate_limit_error": E.RateLimitError,
    "timeout_error": E.ServerError,
    "api_error": E.ServerError,
    "overloaded_error": E.ServerError,
}
_BY_STATUS: dict[int, type[E.LLMKitError]] = {
    400: E.BadRequestError,
    401: E.AuthenticationError,
    402: E.QuotaExceededError,
    403: E.PermissionDeniedError,
    404: E.NotFoundError,
    408: E.ServerError,
    409: E.ServerError,
    413: E.ContextLengthError,
    422: E.BadRequestError,
    429: E.RateLimitError,
    529: E.ServerError,
}
# 429s that are spending limits, not rates: waiting does not help
_QUOTA_CODES = {"contract_spend_limit_reached", "enforced_spend_limit_reached",
                "linked_organization_spend_limit_reached"}  # fmt: skip
_TOO_LONG = ("prompt is too long", "exceed context limit", "exceeds the context window", "context window exceeded")
_HINTS: dict[str, str] = {
    "overloaded_error": "Anthropic's API is overloaded right now (529); llmkit retries it. If it persists, "
                        "try later or fall back to another model.",
    "authentication_error": "Check ANTHROPIC_API_KEY (or the api_key_env / api_key setting): the key was refused.",
    "billing_error": "The Anthropic account cannot pay for this request: check billing at console.anthropic.com.",
    "not_found_error": "Check the model name after 'anthropic:' (e.g. anthropic:claude-sonnet-4-5) and base_url.",
}


def is_context_overflow(message: str) -> bool:
    """Whether an invalid_request_error's message says the prompt does not fit."""
    lowered = message.lower()
    return any(words in lowered for words in _TOO_LONG)


def _inner(body: Any) -> dict[str, Any]:
    if isinstance(body, dict):
        inner = body.get("error", body)
        if isinstance(inner, dict):
            return inner
    return {}


def _text(body: Any) -> str:
    inner = _inner(body)
    if isinstance(inner.get("message"), str):
        return inner["message"]
    if isinstance(body, str):
        return body[:300]
    return ""


def _error_code(body: Any) -> str | None:
    details = _inner(body).get("details")
    code = details.get("error_code") if isinstance(details, dict) else None
    return code if isinstance(code, str) else None


def map_error(exc: BaseException, model_id: str, where: str) -> E.LLMKitError:
    """The llmkit error for an exception the SDK raised (or let through)."""
    import anthropic

    if isinstance(exc, E.LLMKitError):
        return exc
    if isinstance(exc, anthropic.APITimeoutError):
        return E.APITimeoutError(f"no answer from {where} in time", model=model_id)
    if isinstance(exc, anthropic.APIConnectionError):
        cause = exc.__cause__ or exc.__context__
        detail = f": {type(cause).__name__}: {cause}" if cause else ""
        return E.APIConnectionError(f"could not reach {where}{detail}", model=model_id)
    if isinstance(exc, anthropic.APIStatusError):
        return _status_error(exc, model_id, where)
    if isinstance(exc, (json.JSONDecodeError, UnicodeDecodeError)):
        return E.MalformedResponseError(f"{where} sent data that is not valid JSON: {exc}", model=model_id)
    if isinstance(exc, anthropic.AnthropicError):
        return E.APIError(f"{type(exc).__name__}: {exc}", model=model_id)
    raise exc


def _status_error(exc: Any, model_id: str, where: str) -> E.LLMKitError:
    status = int(exc.status_code)
    body = exc.body
    kind = _inner(body).get("type")
    kind = kind if isinstance(kind, str) else None
    code = _error_code(body)
    text = _text(body) or getattr(exc.response, "reason_phrase", "") or "error"
    cls = _BY_TYPE.get(kind or "") or _BY_STATUS.get(status) or (E.ServerError if status >= 500 else E.APIError)
    if cls is E.BadRequestError and is_context_overflow(text):
        cls = E.ContextLengthError
    if cls is E.RateLimitError and code in _QUOTA_CODES:
        cls = E.QuotaExceededError
    kwargs: dict[str, Any] = dict(
        status_code=status, code=code or kind, request_id=exc.request_id, model=model_id,
        retry_after=retry_after(exc.response.headers) if status != 200 else None,
    )  # fmt: skip
    if kind in _HINTS:
        kwargs["hint"] = _HINTS[kind]
    if status == 200:  # an error event inside a stream
        return cls(f"{where} sent an error in the stream ({kind or 'unknown'}): {text}", **kwargs)
    return cls(f"{where} answered {status}: {text}", **kwargs)
