"""One error hierarchy for every backend.

Backends translate their own failures into these classes, mapping on HTTP status and
error *code*, never on message text. Every error says what happened and what to do;
`retryable` tells the client's retry and fallback layer whether trying again can help.
API keys never appear in messages: `redact()` scrubs anything that looks like one.

An error is built whole and rendered from its fields when shown, so a layer that learns
more (the client, naming the fallbacks it tried) sets a field, never the text:

    >>> err = ContextLengthError("the prompt has 9000 tokens", model="openai:gpt-4o-mini")
    >>> err.tried = ["openai:gpt-4o-mini", "mock:echo"]
    >>> print(err)
    the prompt has 9000 tokens [model=openai:gpt-4o-mini]
      -> Shorten the conversation, lower max_tokens, or use a model with a larger context. (tried in order: openai:gpt-4o-mini, mock:echo)

Mistakes in how llmkit is called (a missing file name, nothing to retry) are
`UsageError`s; a reply that broke off after some of it arrived is a
`ReplyInterruptedError` that carries what arrived.
"""

from __future__ import annotations

import re
from typing import Any

__all__ = [
    "LLMKitError",
    "ConfigurationError",
    "UnknownModelError",
    "MissingCapabilityError",
    "InvalidOptionError",
    "APIError",
    "AuthenticationError",
    "PermissionDeniedError",
    "NotFoundError",
    "BadRequestError",
    "ContextLengthError",
    "ContentFilterError",
    "RateLimitError",
    "QuotaExceededError",
    "ServerError",
    "APIConnectionError",
    "APITimeoutError",
    "MalformedResponseError",
    "MalformedStreamError",
    "CheckpointError",
    "PluginError",
    "UsageError",
    "HistoryError",
    "ReplyInterruptedError",
    "ToolArgumentsError",
    "ModelRequestBlockedError",
    "FormatUnsupportedError",
    "TaskError",
    "CompressedFileError",
    "redact",
    "redact_url",
    "remember_secret",
    "remember_header",
    "retry_after",
]

# Things that look like secrets: OpenAI-style keys, bearer tokens, generic sk-/key- ids.
# A candidate is scrubbed only when its tail looks random (see _looks_random), so that
# ordinary names such as api_reference_notes.md or key_results stay readable.
_SECRET_PATTERNS = [
    re.compile(r"\b(sk|rk|pk|key|api|hf)[-_]([A-Za-z0-9_\-]{8,})"),
    re.compile(r"(?i)(bearer\s+)([A-Za-z0-9_\-.=]{8,})"),
]
_known_secrets: set[str] = set()
# header names whose values are credentials even when short
_CREDENTIAL_NAME = re.compile(r"(?i)auth|key|token|secret|passw|cookie|session|credential|signature")


def remember_secret(secret: str | None) -> None:
    """Register a key so that `redact` scrubs it even if it matches no pattern."""
    if secret and len(secret) >= 4:
        _known_secrets.add(secret)


def remember_header(name: str, value: object) -> None:
    """Every header value llmkit sends is scrubbed wherever it comes back (a server or
    proxy echoing the request): long values always, short ones under a credential-like
    name, so that values like "true" or "v2" stay readable in errors."""
    if not isinstance(value, str) or not (len(value) >= 8 or _CREDENTIAL_NAME.search(name)):
        return
    remember_secret(value)
    scheme, _, token = value.partition(" ")
    if token and scheme.isalpha():  # "Bearer X", "Basic X": a server may echo the token alone
        remember_secret(token.strip())


def _looks_random(tail: str, strict: bool) -> bool:
    """A key's tail has a long run of letters and digits; under the generic prefixes
    (key-, api-, hf_) that run must also hold a digit or mixed case."""
    runs = [run for run in re.split(r"[-_.=]", tail) if len(run) >= 12]
    if not strict:
        return bool(runs)
    return any(any(c.isdigit() for c in run) or (run.lower() != run and run.upper() != run) for run in runs)


def _redact_key(m: re.Match[str]) -> str:
    return m.group(1) + "-***" if _looks_random(m.group(2), strict=m.group(1) in ("key", "api", "hf")) else m.group(0)


def _redact_bearer(m: re.Match[str]) -> str:
    token = m.group(2)
    return m.group(1) + "***" if not (token.isalpha() and token.islower()) else m.group(0)


def retry_after(headers: Any) -> float | None:
    """Seconds a server asks a client to wait (for a backend's `APIError(retry_after=...)`,
    plugins included): retry-after-ms, or retry-after (seconds or a
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
    import email.utils
    import time

    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())  # a date already past: retry now


def _seconds(value: Any) -> float | None:
    import math

    try:
        seconds = float(value)
    except (TypeError, ValueError):
        return None
    return seconds if math.isfinite(seconds) and seconds >= 0 else None


def redact(text: str) -> str:
    """Replace anything that looks like an API key, and every secret llmkit was given,
    with a placeholder."""
    for secret in sorted(_known_secrets.copy(), key=len, reverse=True):  # longest first: one may hold another
        if secret in text:
            text = text.replace(secret, "***")
    text = _SECRET_PATTERNS[0].sub(_redact_key, text)
    return _SECRET_PATTERNS[1].sub(_redact_bearer, text)


def redact_url(url: str | None) -> str | None:
    """A URL fit to show: a password in it, and query values named like secrets, masked."""
    if not url:
        return url
    from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

    try:
        parts = urlsplit(url)
        netloc = parts.netloc
        if parts.password:
            netloc = netloc.replace(":" + parts.password + "@", ":***@", 1)
        query = parts.query
        if query:
            pairs = [(k, "***" if re.search(r"key|token|secret|pass|auth", k, re.I) else v)
                     for k, v in parse_qsl(query, keep_blank_values=True)]  # fmt: skip
            query = urlencode(pairs, safe="*")
        return redact(urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment)))
    except ValueError:
        return "<an unparsable URL>"


class LLMKitError(Exception):
    """Base class of every error llmkit raises.

    Attributes: message (what happened), hint (what to do), status_code (HTTP status
    when a server answered), code (the server's or llmkit's machine-readable error
    code), request_id (for support tickets), retryable (whether trying again may
    succeed), model (the llmkit model id), tried (the model ids tried, in order, when
    fallbacks were involved). `str()` renders them all; nothing is baked in early.
    """

    retryable: bool = False
    default_hint: str = ""

    def __init__(
        self,
        message: str,
        *,
        hint: str | None = None,
        status_code: int | None = None,
        code: str | None = None,
        request_id: str | None = None,
        model: str | None = None,
        retryable: bool | None = None,
    ) -> None:
        self.message = redact(message)
        self.hint = hint if hint is not None else self.default_hint
        self.status_code = status_code
        self.code = redact(code) if code else code  # a server chooses these: they may echo a secret
        self.request_id = redact(request_id) if request_id else request_id
        self.model = model
        self.tried: list[str] = []
        if retryable is not None:
            self.retryable = retryable
        super().__init__(self.message)

    @property
    def hint(self) -> str:
        return self._hint

    @hint.setter
    def hint(self, value: str) -> None:
        self._hint = redact(value or "")

    def __str__(self) -> str:
        text = self.message
        details = []
        if self.model:
            details.append(f"model={self.model}")
        if self.status_code is not None:
            details.append(f"status={self.status_code}")
        if self.code:
            details.append(f"code={self.code}")
        if self.request_id:
            details.append(f"request_id={self.request_id}")
        if details:
            text += f" [{', '.join(details)}]"
        advice = self._advice()
        if advice:
            text += f"\n  -> {advice}"
        return text

    def _advice(self) -> str:
        tried = f"(tried in order: {', '.join(self.tried)})" if len(self.tried) > 1 else ""
        return " ".join(part for part in (self.hint, tried) if part)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.message!r})"

    def _kind(self) -> str:
        return type(self).__name__

    def __reduce__(self) -> tuple:
        # pickle (multiprocessing, DDP ranks) keeps every field, not only the message
        return _rebuild, (type(self), self.__dict__.copy())

    def one_line(self) -> str:
        """What happened, then what to do, on one line (for terminals and logs)."""
        text = self.message
        if self.status_code is not None:
            text += f" ({self._kind()}, status {self.status_code})"
        advice = self._advice()
        if advice:
            text += f" -> {advice}"
        return " ".join(text.split())


def _rebuild(cls: type[LLMKitError], state: dict) -> LLMKitError:
    error = cls.__new__(cls)
    Exception.__init__(error, state.get("message", ""))
    error.__dict__.update(state)
    return error


class UsageError(LLMKitError, ValueError):
    """A mistake in how llmkit was called or used: a missing argument, a file that cannot
    be used, nothing to retry. Fix the call; retrying the same thing cannot help."""


class ToolArgumentsError(LLMKitError, ValueError):
    """A model called a tool with arguments that do not fit its schema. `problems` lists
    what is wrong, one line each: the message is fit to send back to the model."""

    def __init__(self, tool: str, problems: list[str]) -> None:
        self.tool = tool
        self.problems = list(problems)
        super().__init__(
            f"invalid arguments for tool {tool!r}: " + "; ".join(self.problems),
            hint="Send this message back to the model as the tool's result, so that it can correct the call.",
        )


class ModelRequestBlockedError(UsageError):
    """A request would have reached a real model while model requests are blocked
    (llmkit.testing.block_model_requests() or LLMKIT_BLOCK_MODEL_REQUESTS=1)."""

    default_hint = ('Use a scripted model in this test (llmkit.Client("mock", responses=...)), '
                    "or lift the block for it.")


class TaskError(LLMKitError):
    """A task (llmkit.tasks) could not produce a trustworthy result: the model's output
    did not parse after a re-ask, the input was empty or binary, a check failed. In a
    batch, the failed item's place in the result list holds this error (`item` is its
    index) and `output` holds what the model said, when it said something."""

    item: int | None = None
    output: str | None = None


class CompressedFileError(LLMKitError, ValueError):
    """A compressed file (llmkit.compress) cannot be decoded: not an llmkit file, truncated
    or corrupt, made with another model or settings (the message names what differs), or
    decoded to something other than what was compressed."""


class HistoryError(LLMKitError):
    """The history file (SQLite) cannot be read or written, or has no such conversation."""


class ReplyInterruptedError(LLMKitError):
    """A reply broke off after some of it had arrived (a dropped stream, a server error
    mid-way). `turn` holds what arrived, kept in the conversation (and the history),
    marked interrupted; `error` (also `__cause__`) is what broke it off."""

    def __init__(self, error: LLMKitError, turn: object) -> None:
        self.error = error
        self.turn = turn
        super().__init__(
            f"the reply broke off (what arrived is kept): {error.message}",
            hint=error.hint,
            status_code=error.status_code,
            code=error.code,
            request_id=error.request_id,
            model=error.model,
            retryable=False,  # output was shown: sending again is the user's call (/retry)
        )
        self.tried = list(error.tried)
        self.__cause__ = error

    def _kind(self) -> str:
        return type(self.error).__name__


# --- errors raised before anything is sent -------------------------------------------


class ConfigurationError(LLMKitError):
    """Something in the set-up is wrong: a missing key, a bad config file, a bad path."""


class UnknownModelError(ConfigurationError):
    """The model id names no known provider, alias or model."""


class MissingCapabilityError(LLMKitError):
    """The backend cannot do what was asked (e.g. logprobs on the OpenAI chat API)."""


class InvalidOptionError(LLMKitError, ValueError):
    """An option is unknown to the backend or has the wrong type or range."""


class CheckpointError(ConfigurationError):
    """A model checkpoint is missing, corrupt or from an incompatible version."""


class PluginError(ConfigurationError):
    """A plugin failed to load or registered something invalid."""


# --- errors from a model server or a local model ---------------------------------------


class APIError(LLMKitError):
    """A request reached a model and failed there. `retry_after`: the server's advice,
    in seconds, on when to try again (Retry-After), when it gave one."""

    def __init__(self, message: str, *, retry_after: float | None = None, **kwargs: Any) -> None:
        self.retry_after = retry_after
        super().__init__(message, **kwargs)


class AuthenticationError(APIError):
    default_hint = "Check that the API key is set and valid (it is read from the environment)."


class PermissionDeniedError(APIError):
    default_hint = "The key is valid but not allowed to use this model or endpoint."


class NotFoundError(APIError):
    default_hint = "Check the model name and the base_url (it usually ends in /v1)."


class BadRequestError(APIError, ValueError):
    """The server rejected the request as invalid (400/422)."""


class ContextLengthError(BadRequestError):
    """The prompt plus the requested output does not fit the model's context window."""

    default_hint = "Shorten the conversation, lower max_tokens, or use a model with a larger context."


class ContentFilterError(BadRequestError):
    default_hint = "The provider's content filter refused the request or the answer."


class FormatUnsupportedError(BadRequestError):
    """The server refused every native response format (json_schema, json_object); the
    client then asks for the JSON in the prompt instead."""


class RateLimitError(APIError):
    """Too many requests (429). `retry_after` is the server's advice in seconds."""

    retryable = True
    default_hint = "Wait and retry, lower the request rate, or raise max_retries."


class QuotaExceededError(RateLimitError):
    """429 with code insufficient_quota: retrying cannot help."""

    retryable = False
    default_hint = "The account is out of credit: check billing and quota with the provider."


class ServerError(APIError):
    """The server failed (5xx, 408, 409): usually transient."""

    retryable = True
    default_hint = "The provider had a transient failure; llmkit retries these automatically."


class APIConnectionError(APIError):
    retryable = True
    default_hint = "Check the network and the base_url; is the server running?"


class APITimeoutError(APIConnectionError):
    default_hint = "The request timed out: raise `timeout`, or check the server's load."


class MalformedResponseError(APIError):
    """The server answered with something that is not a valid reply."""

    retryable = True
    default_hint = "The server is not speaking the expected protocol; check base_url and the server version."


class MalformedStreamError(MalformedResponseError):
    """A stream broke off or carried something that is not a valid event."""
