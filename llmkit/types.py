"""The data every backend speaks: messages, tool calls, responses, usage, stream events.

Plain dataclasses (no pydantic here) so that `import llmkit` stays fast; they convert
to and from the OpenAI wire shape, which is the lingua franca of chat models.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, fields
from typing import TYPE_CHECKING, Any, Literal, Protocol

if TYPE_CHECKING:
    import numpy

from .errors import InvalidOptionError, LLMKitError, MalformedResponseError
from .message_checks import bad_message, check_content, check_text, shown

__all__ = [
    "Message",
    "ToolCall",
    "ToolCallDelta",
    "Response",
    "Usage",
    "StreamEvent",
    "Capabilities",
    "Embeddings",
    "Logprobs",
    "TokenLogprob",
    "TokenCount",
    "TokenStepper",
    "system",
    "user",
    "assistant",
    "tool_result",
    "to_messages",
    "cosine",
    "Role",
    "ROLES",
]

Role = Literal["system", "user", "assistant", "tool"]
ROLES = ("system", "user", "assistant", "tool")


@dataclass(slots=True)
class ToolCall:
    """A request from the model to call a function. `arguments` is the raw JSON text."""

    id: str
    name: str
    arguments: str = "{}"

    @property
    def args(self) -> dict[str, Any]:
        """The arguments parsed as JSON (data only: nothing the model says is evaluated)."""
        try:
            value = json.loads(self.arguments or "{}")
        except json.JSONDecodeError as exc:
            raise MalformedResponseError(
                f"tool call {self.name!r} has arguments that are not valid JSON: {exc}",
                hint="Ask the model again, or handle the raw text in ToolCall.arguments.",
                retryable=False,
            ) from None
        if not isinstance(value, dict):
            raise MalformedResponseError(
                f"tool call {self.name!r} has arguments that are not a JSON object",
                retryable=False,
            )
        return value

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "type": "function",
            "function": {"name": self.name, "arguments": self.arguments},
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ToolCall:
        if not isinstance(data, Mapping):
            raise bad_message(f"a tool call is {shown(data)}, not an object")
        fn = data.get("function")
        if not isinstance(fn, Mapping) or not isinstance(fn.get("name"), str) or not fn["name"]:
            raise bad_message(f"tool call {shown(dict(data))} has no function name")
        arguments = fn.get("arguments", "{}")
        if arguments is None:
            arguments = "{}"
        elif not isinstance(arguments, str):  # some servers send an object, not a string
            try:
                arguments = json.dumps(arguments)
            except (TypeError, ValueError):
                raise bad_message(f"tool call {fn['name']!r} has arguments that are not JSON") from None
        call_id = data.get("id")
        if call_id is not None and not isinstance(call_id, str):
            raise bad_message(f"tool call {fn['name']!r} has an id that is not text: {shown(call_id)}")
        return cls(id=call_id or "", name=fn["name"], arguments=arguments)


@dataclass(slots=True)
class Message:
    """One turn of a conversation. `content` is text, or a list of OpenAI content parts."""

    role: Role
    content: str | list[dict[str, Any]] | None = ""
    name: str | None = None
    tool_calls: list[ToolCall] = field(default_factory=list)
    tool_call_id: str | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.role, str) or self.role not in ROLES:
            raise InvalidOptionError(
                f"unknown message role {shown(self.role)}", hint=f"Use one of: {', '.join(ROLES)}."
            )
        check_content(self.role, self.content)
        for what in ("name", "tool_call_id"):
            value = getattr(self, what)
            if value is not None and not isinstance(value, str):
                raise bad_message(f"a {self.role} message's {what} is {shown(value)}, not text")
            if value:
                check_text(value, f"a {self.role} message's {what}")
        if not isinstance(self.tool_calls, list) or not all(isinstance(c, ToolCall) for c in self.tool_calls):
            raise bad_message(f"a {self.role} message's tool_calls is {shown(self.tool_calls)}, not a list of tool calls")
        for call in self.tool_calls:
            for what in ("id", "name", "arguments"):
                value = getattr(call, what)
                if not isinstance(value, str):
                    raise bad_message(f"a tool call's {what} is {shown(value)}, not text")
                check_text(value, f"a tool call's {what}")

    @property
    def text(self) -> str:
        """The text of the message (text parts joined, other parts left out)."""
        if self.content is None:
            return ""
        if isinstance(self.content, str):
            return self.content
        return "".join(p.get("text", "") for p in self.content if p.get("type") == "text")

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"role": self.role, "content": self.content}
        if self.name:
            out["name"] = self.name
        if self.tool_calls:
            out["tool_calls"] = [tc.to_dict() for tc in self.tool_calls]
            if out["content"] == "":
                out["content"] = None
        if self.tool_call_id is not None:
            out["tool_call_id"] = self.tool_call_id
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Message:
        if "role" not in data:
            raise InvalidOptionError(
                f"message {dict(data)!r} has no 'role'",
                hint="Messages are llmkit.user(...)/system(...) or dicts like {'role': 'user', 'content': '...'}.",
            )
        calls = data.get("tool_calls") or []
        if not isinstance(calls, (list, tuple)):
            raise bad_message(f"a message's tool_calls is {shown(calls)}, not a list")
        return cls(
            role=data["role"],
            content=data.get("content", ""),
            name=data.get("name"),
            tool_calls=[ToolCall.from_dict(tc) for tc in calls],
            tool_call_id=data.get("tool_call_id"),
        )


def system(content: str) -> Message:
    return Message("system", content)


def user(content: str | list[dict[str, Any]]) -> Message:
    return Message("user", content)


def assistant(content: str | None = "", tool_calls: Iterable[ToolCall] = ()) -> Message:
    return Message("assistant", content, tool_calls=list(tool_calls))


def tool_result(content: str, tool_call_id: str, name: str | None = None) -> Message:
    """The result of a tool call, sent back to the model (the `tool` role message)."""
    return Message("tool", content, name=name, tool_call_id=tool_call_id)


def to_messages(prompt: str | Message | Mapping | Iterable[Message | Mapping]) -> list[Message]:
    """Normalise a prompt (text, one message, or a list of messages/dicts) to messages."""
    if isinstance(prompt, str):
        return [Message("user", prompt)]
    if isinstance(prompt, Message):
        return [prompt]
    if isinstance(prompt, Mapping):
        return [Message.from_dict(prompt)]
    if isinstance(prompt, (bytes, bytearray, memoryview)):
        raise InvalidOptionError("the prompt is bytes, not text", hint="Decode it first, e.g. prompt.decode('utf-8').")
    if prompt is None or not isinstance(prompt, Iterable):
        raise InvalidOptionError(
            f"cannot use {shown(prompt)} as a prompt",
            hint="Pass a string, a message, or a list of messages such as [llmkit.user('Hi')].",
        )
    messages = [m if isinstance(m, Message) else _message_from(m) for m in prompt]
    if not messages:
        raise InvalidOptionError(
            "the message list is empty",
            hint="Pass a string, or a list with at least one message such as llmkit.user('Hi').",
        )
    return messages


def _message_from(item: object) -> Message:
    if isinstance(item, Mapping):
        return Message.from_dict(item)
    raise InvalidOptionError(
        f"cannot use {type(item).__name__} {shown(item)} as a message",
        hint="Use llmkit.user('...'), llmkit.system('...') or an OpenAI-shaped dict.",
    )


@dataclass(slots=True)
class Usage:
    """Token counts of one call. `cost` is in US dollars when the price is known."""

    input_tokens: int = 0
    output_tokens: int = 0
    cost: float | None = None
    estimated: bool = False  # counted locally rather than reported by the server

    @property
    def total_tokens(self) -> int:
        return self.input_tokens + self.output_tokens


@dataclass(slots=True)
class Response:
    """The answer of a chat or completion call.

    `text` is the first choice; `texts` holds all of them when n > 1. `model` is the
    llmkit id that answered (with fallbacks it may differ from the one asked for);
    `served_model` is what the server reported; `raw` is the backend's own object.
    """

    text: str = ""
    texts: list[str] = field(default_factory=list)
    finish_reason: str | None = None
    usage: Usage = field(default_factory=Usage)
    tool_calls: list[ToolCall] = field(default_factory=list)
    model: str = ""
    served_model: str | None = None
    id: str | None = None
    raw: Any = field(default=None, repr=False)
    response_format: Any = field(default=None, repr=False)
    # how structured output was obtained: "native" (the server's response_format), "server" (a compatible
    # server's response_format, checked),
    # "constrained" (local constrained decoding) or "prompted" (described, validated, re-asked)
    structured_by: str | None = None
    # a batch item that was refused on its own (finish_reason "error"; e.g. a ContextLengthError with the
    # counts) while the rest of the batch was answered; None for an answer
    error: LLMKitError | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if not self.texts:
            self.texts = [self.text]

    def __str__(self) -> str:
        return self.text

    @property
    def message(self) -> Message:
        """The answer as an assistant message, ready to append to a conversation."""
        return Message("assistant", self.text, tool_calls=list(self.tool_calls))

    @property
    def parsed(self) -> Any:
        """Structured output: the text parsed as JSON, or into the pydantic model given as
        `response_format`."""
        fmt = self.response_format
        if fmt is not None and hasattr(fmt, "model_validate_json"):
            return _validated(fmt, self.text)
        try:
            return json.loads(self.text)
        except json.JSONDecodeError as exc:
            raise MalformedResponseError(
                f"the answer is not valid JSON: {exc}",
                hint="Pass response_format= so the backend constrains the output, or parse r.text yourself.",
                retryable=False,
            ) from None


def _validated(model: Any, text: str) -> Any:
    """The text as an instance of a pydantic model; what does not fit is an llmkit error."""
    import pydantic

    try:
        return model.model_validate_json(text)
    except pydantic.ValidationError as exc:
        found = [f"{'.'.join(map(str, e['loc'])) or 'value'}: {e['msg']}" for e in exc.errors()]
        error = MalformedResponseError(
            f"the answer does not fit {getattr(model, '__name__', 'the response format')}: " + "; ".join(found[:5]),
            hint="Ask again (structured output is checked and re-asked by chat()), or read r.text yourself.",
            retryable=False,
        )
        error.problems = found  # type: ignore[attr-defined]
        raise error from None


@dataclass(slots=True)
class ToolCallDelta:
    """A piece of a streamed tool call; pieces with the same `index` belong together."""

    index: int
    id: str | None = None
    name: str | None = None
    arguments: str = ""


@dataclass(slots=True)
class StreamEvent:
    """One step of a stream: a text delta, tool-call deltas, and at the end
    finish_reason and (where the backend reports it) usage."""

    text: str = ""
    tool_calls: list[ToolCallDelta] = field(default_factory=list)
    finish_reason: str | None = None
    usage: Usage | None = None
    model: str = ""
    index: int = 0  # which choice, for n > 1


@dataclass(frozen=True, slots=True)
class Capabilities:
    """What a backend can do. The client checks these before it sends anything."""

    chat: bool = True
    streaming: bool = False
    completion: bool = False
    tools: bool = False
    structured_output: bool = False
    logprobs: bool = False
    fill_in_the_middle: bool = False
    embeddings: bool = False
    multiple_samples: bool = False  # n > 1
    batching: bool = False  # chat_batch/complete_batch generate several prompts together
    in_process: bool = False  # the model runs in this process (local backends): no concurrency gains
    # tokenize/detokenize, full next-token distributions (token_stepper, next_token_logprobs)
    # and a fingerprint of the weights: what llmkit.compress needs (local backends)
    distributions: bool = False
    # image content parts in user messages (OpenAI's "image_url"): the backend passes them on; the
    # server still decides whether the model sees images (`llmkit ask -a photo.png`)
    images: bool = False

    def names(self) -> list[str]:
        return [f.name for f in fields(self) if getattr(self, f.name)]


@dataclass(slots=True)
class Embeddings:
    """One vector per input text, in input order. OpenAI's vectors come as the server
    sends them (unit length); local backends mean-pool the model's last hidden states
    and scale them to unit length, so a dot product is the cosine similarity."""

    vectors: list[list[float]]
    model: str = ""  # the llmkit id that answered
    served_model: str | None = None
    usage: Usage = field(default_factory=Usage)

    def __len__(self) -> int:
        return len(self.vectors)

    def __getitem__(self, i: int) -> list[float]:
        return self.vectors[i]

    def __iter__(self) -> Iterator[list[float]]:
        return iter(self.vectors)

    @property
    def dimensions(self) -> int:
        return len(self.vectors[0]) if self.vectors else 0

    def similarity(self, i: int, j: int) -> float:
        """Cosine similarity of the i-th and j-th vectors."""
        return cosine(self.vectors[i], self.vectors[j])


def cosine(a: Sequence[float], b: Sequence[float]) -> float:
    """Cosine similarity of two vectors (0.0 when either is all zeros)."""
    import math

    dot = sum(x * y for x, y in zip(a, b, strict=True))
    norm = math.sqrt(sum(x * x for x in a)) * math.sqrt(sum(y * y for y in b))
    return dot / norm if norm else 0.0


@dataclass(slots=True)
class TokenLogprob:
    token: str
    logprob: float  # natural log


@dataclass(slots=True)
class Logprobs:
    """Per-token log-probabilities of a text under a model."""

    tokens: list[TokenLogprob]
    model: str = ""
    num_bytes: int = 0

    @property
    def total(self) -> float:
        return sum(t.logprob for t in self.tokens)

    @property
    def bits_per_byte(self) -> float:
        """Ideal compressed size of the text under the model, in bits per UTF-8 byte."""
        import math

        return -self.total / math.log(2) / max(self.num_bytes, 1)


class TokenCount(int):
    """An int that also says whether it is exact or an estimate (another tokenizer)."""

    estimate: bool
    encoding: str

    def __new__(cls, value: int, *, estimate: bool = False, encoding: str = "") -> TokenCount:
        obj = super().__new__(cls, value)
        obj.estimate = estimate
        obj.encoding = encoding
        return obj

    def __repr__(self) -> str:
        return f"TokenCount({int(self)}{', estimate' if self.estimate else ''})"

    def __str__(self) -> str:
        return int.__repr__(self)

    __format__ = int.__format__


class TokenStepper(Protocol):
    """Full next-token distributions of a batch of token sequences, one token per row per
    step (`Client.token_stepper`, capability `distributions`): `step()` first, then
    `step(tokens)` with one token per row; each returns a (batch_size, vocab_size)
    float32 numpy array of natural-log probabilities; a row whose sequence is over is
    fed None. `settings` records what the numbers depend on (batch_size, threads, dtype,
    device, adapt): the same steps with the same settings give bit-identical arrays.
    `max_tokens` is how many tokens a row can be given distributions for (the model's
    window), None when unknown."""

    batch_size: int
    vocab_size: int
    settings: dict[str, Any]

    @property
    def max_tokens(self) -> int | None: ...

    def step(self, tokens: Sequence[int | None] | None = None) -> numpy.ndarray: ...

    def close(self) -> None: ...
