"""Reading Anthropic's replies and stream events without trusting their shape.

The SDK builds its reply objects without validating them (a server that sends
`content: null` or `usage: "x"` hands over an object with those values, and a body that
is not JSON comes back as a plain string), so every field is read here through a check;
what does not fit the protocol is a MalformedResponseError, in a stream a
MalformedStreamError, naming the field.

A reply's content is a list of blocks: text blocks make the answer's text, tool_use
blocks its tool calls (input: an object, which llmkit carries as JSON text); thinking
and server-tool blocks are not part of the answer and are left out. The stream's events
(message_start, content_block_start/delta/stop, message_delta, message_stop, ping) fold
into llmkit StreamEvents: text deltas, ToolCallDeltas (one index per tool_use block, in
order, starting at 0; the name and id come with the block's start, the arguments as
input_json_delta pieces), and at message_delta the finish reason and the usage.

The structured answer (the `json_answer` tool, see wire.py) is read as text: its input,
as JSON, is the answer, streamed as it comes (or whole at the block's end when the
schema was wrapped in {"value": ...}, which is unwrapped).

    >>> finish_reason("end_turn"), finish_reason("max_tokens"), finish_reason("tool_use")
    ('stop', 'length', 'tool_calls')
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, NoReturn

from llmkit import errors as E
from llmkit.types import StreamEvent, ToolCall, ToolCallDelta, Usage

from .wire import Answer

__all__ = ["Counted", "Read", "read_reply", "StreamReader", "finish_reason", "get"]

_FINISH = {"end_turn": "stop", "stop_sequence": "stop", "max_tokens": "length", "tool_use": "tool_calls",
           "refusal": "content_filter", "model_context_window_exceeded": "length"}  # fmt: skip
_SCALARS = (str, bytes, int, float, bool, list, tuple)


def finish_reason(stop_reason: str | None) -> str | None:
    """Anthropic's stop_reason in llmkit's words (OpenAI's); an unknown one as it is."""
    if stop_reason is None:
        return None
    return _FINISH.get(stop_reason, stop_reason)


def get(obj: Any, name: str) -> Any:
    """A field of an SDK object or of a plain dict."""
    if isinstance(obj, Mapping):
        return obj.get(name)
    return getattr(obj, name, None)


@dataclass
class Counted:
    """Token counts as Anthropic reports them: `input` excludes cached tokens."""

    input: int = 0
    output: int = 0
    cache_write_5m: int = 0
    cache_write_1h: int = 0
    cache_read: int = 0

    @property
    def prompt(self) -> int:
        """Every token of the prompt, cached or not."""
        return self.input + self.cache_write_5m + self.cache_write_1h + self.cache_read


@dataclass
class Read:
    """What a whole reply said."""

    text: str
    tool_calls: list[ToolCall]
    finish_reason: str | None
    counted: Counted | None
    served_model: str | None
    id: str | None
    answered: bool = False  # the structured answer came through its tool


class _Checks:
    def __init__(self, model_id: str, stream: bool) -> None:
        self.model_id = model_id
        self.error = E.MalformedStreamError if stream else E.MalformedResponseError

    def fail(self, problem: str) -> NoReturn:
        raise self.error(f"the server's reply is malformed: {problem}", model=self.model_id)

    def obj(self, value: Any, what: str) -> Any:
        if value is None or isinstance(value, _SCALARS):
            self.fail(f"{what} is {_shown(value)}, not an object")
        return value

    def items(self, value: Any, what: str) -> list[Any]:
        if value is None:
            return []
        if not isinstance(value, (list, tuple)):
            self.fail(f"{what} is {_shown(value)}, not a list")
        return list(value)

    def text(self, value: Any, what: str) -> str | None:
        if value is not None and not isinstance(value, str):
            self.fail(f"{what} is {_shown(value)}, not text")
        return value

    def count(self, value: Any, what: str) -> int | None:
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            self.fail(f"{what} is {_shown(value)}, not a count of tokens")
        return value

    def index(self, value: Any, what: str) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            self.fail(f"{what} is {_shown(value)}, not an index")
        return value

    def input(self, value: Any, what: str) -> dict[str, Any]:
        """A tool_use block's input: an object (None counts as empty)."""
        if value is None:
            return {}
        if hasattr(value, "model_dump"):
            value = value.model_dump()
        if not isinstance(value, Mapping):
            self.fail(f"{what} is {_shown(value)}, not an object")
        return dict(value)

    def usage(self, usage: Any, what: str, into: Counted | None = None) -> Counted | None:
        """The counts of a usage object (over `into`'s, for a stream's cumulative ones)."""
        if usage is None:
            return into
        self.obj(usage, what)
        out = into if into is not None else Counted()
        for attr, name in (("input", "input_tokens"), ("output", "output_tokens"),
                           ("cache_read", "cache_read_input_tokens")):  # fmt: skip
            found = self.count(get(usage, name), f"{what}.{name}")
            if found is not None:
                setattr(out, attr, found)
        created = self.count(get(usage, "cache_creation_input_tokens"), f"{what}.cache_creation_input_tokens")
        split = get(usage, "cache_creation")
        if split is not None:
            self.obj(split, f"{what}.cache_creation")
            out.cache_write_5m = self.count(get(split, "ephemeral_5m_input_tokens"), f"{what}.cache_creation.ephemeral_5m_input_tokens") or 0
            out.cache_write_1h = self.count(get(split, "ephemeral_1h_input_tokens"), f"{what}.cache_creation.ephemeral_1h_input_tokens") or 0
        elif created is not None:  # no split by lifetime: the default 5-minute cache
            out.cache_write_5m, out.cache_write_1h = created, 0
        return out


def _answer_text(value: dict[str, Any], answer: Answer) -> str:
    if answer.wrapped and "value" in value:
        return json.dumps(value["value"])
    return json.dumps(value)  # a wrapped answer without "value" stays as it is: the check will say so


def read_reply(reply: Any, model_id: str, answer: Answer | None = None) -> Read:
    """A Message (non-streamed) as text, tool calls, finish reason and counts."""
    check = _Checks(model_id, stream=False)
    check.obj(reply, "the reply")
    if get(reply, "type") not in (None, "message"):
        check.fail(f"the reply is of type {_shown(get(reply, 'type'))}, not a message")
    texts: list[str] = []
    calls: list[ToolCall] = []
    answered = False
    for i, block in enumerate(check.items(get(reply, "content"), "content")):
        where = f"content[{i}]"
        check.obj(block, where)
        kind = get(block, "type")
        if kind == "text":
            texts.append(check.text(get(block, "text"), f"{where}.text") or "")
        elif kind == "tool_use":
            name = check.text(get(block, "name"), f"{where}.name")
            if not name:
                check.fail(f"{where}.name is {_shown(name)}: a tool call must name its tool")
            value = check.input(get(block, "input"), f"{where}.input")
            if answer is not None and name == answer.name:
                texts.append(_answer_text(value, answer))
                answered = True
                continue
            calls.append(ToolCall(check.text(get(block, "id"), f"{where}.id") or "", name, json.dumps(value)))
        # thinking, redacted_thinking, server tools' blocks: not part of the answer
    stop = check.text(get(reply, "stop_reason"), "stop_reason")
    reason = finish_reason(stop)
    if answered and not calls and stop == "tool_use":
        reason = "stop"  # the answer was given (through its tool), and nothing is left to run
    return Read(
        text="".join(texts),
        tool_calls=calls,
        finish_reason=reason,
        counted=check.usage(get(reply, "usage"), "usage"),
        served_model=check.text(get(reply, "model"), "model"),
        id=check.text(get(reply, "id"), "id"),
        answered=answered,
    )


@dataclass
class _Block:
    kind: str  # "text", "tool", "answer" or "other"
    call: int = -1  # the ToolCallDelta index of a tool block
    pieces: list[str] = field(default_factory=list)  # a wrapped answer's JSON, until the block ends
    sent: bool = False  # an answer block sent some text


class StreamReader:
    """Folds one stream's events into llmkit StreamEvents; `end()` checks it finished.
    `usage_of` turns the counts into a Usage (with its cost)."""

    def __init__(self, model_id: str, usage_of: Callable[[Counted], Usage], answer: Answer | None = None) -> None:
        self.check = _Checks(model_id, stream=True)
        self.usage_of = usage_of
        self.answer = answer
        self.blocks: dict[int, _Block] = {}
        self.calls = 0
        self.counted = Counted()
        self.finished = False
        self.served_model: str | None = None
        self.answered = False

    def read(self, event: Any) -> list[StreamEvent]:
        check = self.check
        check.obj(event, "a stream event")
        kind = get(event, "type")
        if kind == "message_start":
            message = check.obj(get(event, "message"), "message_start.message")
            self.served_model = check.text(get(message, "model"), "message_start.message.model")
            check.usage(get(message, "usage"), "message_start.message.usage", self.counted)
            return []
        if kind == "content_block_start":
            return self._start(event)
        if kind == "content_block_delta":
            return self._delta(event)
        if kind == "content_block_stop":
            return self._stop(event)
        if kind == "message_delta":
            delta = get(event, "delta")
            stop = None
            if delta is not None:
                check.obj(delta, "message_delta.delta")
                stop = check.text(get(delta, "stop_reason"), "message_delta.delta.stop_reason")
            check.usage(get(event, "usage"), "message_delta.usage", self.counted)
            if stop is None:
                return []
            self.finished = True
            reason = finish_reason(stop)
            if self.answered and self.calls == 0 and stop == "tool_use":
                reason = "stop"
            return [StreamEvent(finish_reason=reason, usage=self.usage_of(self.counted))]
        return []  # message_stop, ping, and event types newer than this plugin

    def _block(self, event: Any, what: str) -> tuple[int, _Block]:
        index = self.check.index(get(event, "index"), f"{what}.index")
        block = self.blocks.get(index)
        if block is None:
            self.check.fail(f"{what} for content block {index}, which never started")
        return index, block

    def _start(self, event: Any) -> list[StreamEvent]:
        check = self.check
        index = check.index(get(event, "index"), "content_block_start.index")
        block = check.obj(get(event, "content_block"), "content_block_start.content_block")
        kind = get(block, "type")
        if kind == "text":
            self.blocks[index] = _Block("text")
            text = check.text(get(block, "text"), "content_block_start.content_block.text") or ""
            return [StreamEvent(text=text)] if text else []
        if kind != "tool_use":
            self.blocks[index] = _Block("other")
            return []
        name = check.text(get(block, "name"), "content_block_start.content_block.name")
        if not name:
            check.fail("a tool_use block started without naming its tool")
        value = check.input(get(block, "input"), "content_block_start.content_block.input")
        if self.answer is not None and name == self.answer.name:
            self.blocks[index] = _Block("answer", pieces=[json.dumps(value)] if value else [])
            self.answered = True
            return []
        self.blocks[index] = _Block("tool", call=self.calls)
        self.calls += 1
        call_id = check.text(get(block, "id"), "content_block_start.content_block.id") or ""
        arguments = json.dumps(value) if value else ""  # the input comes in deltas; a whole one now and then
        return [StreamEvent(tool_calls=[ToolCallDelta(self.blocks[index].call, call_id, name, arguments)])]

    def _delta(self, event: Any) -> list[StreamEvent]:
        check = self.check
        _, block = self._block(event, "content_block_delta")
        delta = check.obj(get(event, "delta"), "content_block_delta.delta")
        kind = get(delta, "type")
        if kind == "text_delta":
            text = check.text(get(delta, "text"), "content_block_delta.delta.text") or ""
            return [StreamEvent(text=text)] if text and block.kind == "text" else []
        if kind != "input_json_delta" or block.kind not in ("tool", "answer"):
            return []  # thinking, signatures, citations: not part of the answer
        piece = check.text(get(delta, "partial_json"), "content_block_delta.delta.partial_json") or ""
        if not piece:
            return []
        if block.kind == "tool":
            return [StreamEvent(tool_calls=[ToolCallDelta(block.call, arguments=piece)])]
        if self.answer is not None and self.answer.wrapped:
            block.pieces.append(piece)
            return []
        block.sent = True
        return [StreamEvent(text=piece)]

    def _stop(self, event: Any) -> list[StreamEvent]:
        index, block = self._block(event, "content_block_stop")
        if block.kind != "answer" or block.sent or self.answer is None:
            return []
        raw = "".join(block.pieces) or "{}"
        if self.answer.wrapped:
            try:
                value = json.loads(raw)
            except json.JSONDecodeError:
                return [StreamEvent(text=raw)]  # not JSON: the client's check says so and asks again
            if isinstance(value, dict):
                return [StreamEvent(text=_answer_text(value, self.answer))]
        return [StreamEvent(text=raw)]

    def end(self) -> None:
        """The stream ended: it must have said why the model stopped."""
        if not self.finished:
            raise E.MalformedStreamError(
                "the stream ended before the model finished (no stop_reason)",
                model=self.check.model_id,
                hint="The connection was probably cut. llmkit retries only when nothing had been received.",
            )


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."
