"""OpenAI SDK exceptions -> llmkit errors, on HTTP status and the error's structured
fields (code, type, param), not on its message.

OpenAI says what failed in `code` ("context_length_exceeded"). The serving engines
behind OpenAI-compatible URLs say it elsewhere, each in its own shape (`_engine_class`),
and a context overflow is a ContextLengthError on each, so that it moves to a fallback:

- vLLM: 400 {"error": {"type": "BadRequestError", "param": "input_tokens", "code": 400,
  "message": "This model's maximum context length is N tokens. ..."}}; "input_text"
  when a prompt is too long in characters before it is even tokenized.
  (vllm-project/vllm: vllm/renderers/params.py raises VLLMValidationError with
  parameter="input_tokens"/"input_text"; vllm/entrypoints/serve/exception_handling/
  error_response.py puts it in `param`.)
- llama.cpp server: 400 {"error": {"type": "exceed_context_size_error", "code": 400,
  "n_prompt_tokens": N, "n_ctx": M}}; 501 "not_supported_error" for what the server was
  not started for (embeddings without --embeddings): no retry.
  (ggml-org/llama.cpp: tools/server/server-common.cpp format_error_response,
  tools/server/server-context.cpp.)
- TGI: 422 {"error": "Input validation error: `inputs` tokens + `max_new_tokens` must be
  <= N. ...", "error_type": "validation"}: no code, and `error` is a string, so the SDK
  keeps only the text; the raw body's error_type is read, and among validation errors
  the overflow is told apart by TGI's own two phrasings (its ValidationError::
  MaxTotalTokens and ::InputLength), the only place TGI says it.
  (huggingface/text-generation-inference: router/src/validation.rs, router/src/lib.rs.)
- Ollama: {"error": {"message": "the input length exceeds the context length", "type":
  "invalid_request_error" or "api_error", "param": null, "code": null}}, status 400 or
  500 depending on the path: no structured field either, so its one phrasing, and only
  in that shape. (ollama/ollama: runner/ollamarunner/runner.go errorInputTooLong,
  openai/openai.go NewError.) By default Ollama truncates a long chat prompt instead.
"""

from __future__ import annotations

import json
import re
from typing import Any

from .. import errors as E

__all__ = ["map_error", "retry_after"]

retry_after = E.retry_after  # shared with plugins: llmkit.errors.retry_after

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
    501: E.APIError,  # not implemented: the server cannot do it at all, so never retried
}
# vLLM's `param` for a prompt longer than the model's window (in tokens, or in characters)
_VLLM_OVERFLOW_PARAMS = frozenset({"input_tokens", "input_text"})
# TGI's two overflow messages (router/src/validation.rs ValidationError), after its prefix
_TGI_OVERFLOW = re.compile(r"`inputs` tokens \+ `max_new_tokens` must be <=|`inputs` must have less than \d+ tokens")
_OLLAMA_OVERFLOW = re.compile(r"\binput length exceeds the context length\b", re.IGNORECASE)
_OLLAMA_TYPES = frozenset({"invalid_request_error", "api_error"})


def _server_message(body: Any) -> str:
    if isinstance(body, dict):
        inner = body.get("error", body)
        if isinstance(inner, dict) and isinstance(inner.get("message"), str):
            return inner["message"]
        if isinstance(body.get("message"), str):
            return body["message"]
        if isinstance(body.get("detail"), str):  # FastAPI's HTTPException (transformers serve, vLLM's 404s)
            return body["detail"]
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


def _field(exc: Any, name: str) -> Any:
    """A structured field of the error: the SDK's attribute, else the error body's."""
    value = getattr(exc, name, None)
    if value is None and isinstance(getattr(exc, "body", None), dict):
        value = exc.body.get(name)
    return value


def _raw_body(exc: Any) -> Any:
    """The whole JSON body as the server sent it (the SDK keeps only what is under
    "error"), or None."""
    response = getattr(exc, "response", None)
    try:
        return json.loads(response.content) if response is not None else None
    except Exception:  # not read, not JSON: there is nothing more to learn
        return None


def _engine_class(exc: Any, status: int, code: str | None) -> type[E.LLMKitError] | None:
    """The llmkit class that a serving engine's own error shape names (module note)."""
    kind, param = _field(exc, "type"), _field(exc, "param")
    if kind == "exceed_context_size_error":  # llama.cpp
        return E.ContextLengthError
    if kind == "not_supported_error":  # llama.cpp, 501
        return E.APIError
    if status == 400 and param in _VLLM_OVERFLOW_PARAMS:  # vLLM
        return E.ContextLengthError
    message = _server_message(getattr(exc, "body", None))
    if kind in _OLLAMA_TYPES and code is None and _OLLAMA_OVERFLOW.search(message):  # Ollama
        return E.ContextLengthError
    if status == 422 and isinstance(exc.body, str):  # TGI: {"error": "...", "error_type": "validation"}
        raw = _raw_body(exc)
        if isinstance(raw, dict) and raw.get("error_type") == "validation" and _TGI_OVERFLOW.search(message):
            return E.ContextLengthError
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
        cls = _BY_CODE.get(code or "") or _engine_class(exc, status, code) or _BY_STATUS.get(status) or (
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
        cls = _BY_CODE.get(code or "") or (E.ContextLengthError if code == "exceed_context_size_error" else E.ServerError)
        return cls(f"{where} sent an error in the stream: {_server_message(exc.body) or exc.message}",
                   code=code, model=model_id)  # fmt: skip
    if isinstance(exc, (json.JSONDecodeError, UnicodeDecodeError)):
        return E.MalformedStreamError(f"{where} sent data that is not valid JSON: {exc}", model=model_id)
    if isinstance(exc, openai.OpenAIError):
        return E.APIError(f"{type(exc).__name__}: {exc}", model=model_id)
    raise exc
