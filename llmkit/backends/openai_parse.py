"""Reading OpenAI-shaped replies without trusting their shape.

The OpenAI SDK builds its reply objects without validating them, so a server that sends
`choices: [null]`, `usage: "x"` or `content: 5` hands over objects whose fields are
None, strings or numbers where objects belong. Every field is read here through a check,
and whatever does not fit the protocol is a `MalformedResponseError` (in a stream a
`MalformedStreamError`) naming the field, never an AttributeError from deep inside.

    >>> reader = Reader("openai:m")
    >>> reader.usage({"prompt_tokens": 3, "completion_tokens": 2})
    (3, 2)
    >>> reader.usage({"prompt_tokens": -1})
    Traceback (most recent call last):
    ...
    llmkit.errors.MalformedResponseError: the server's reply is malformed: usage.prompt_tokens is -1, not a count of tokens [model=openai:m]
    ...
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any, NoReturn

from .. import errors as E
from ..types import ToolCall, ToolCallDelta

__all__ = ["Reader", "field"]

_SCALARS = (str, bytes, int, float, bool, list, tuple)


def field(obj: Any, name: str) -> Any:
    """A field of an SDK object or of a plain dict (the SDK leaves some unparsed)."""
    if isinstance(obj, Mapping):
        return obj.get(name)
    return getattr(obj, name, None)


class Reader:
    """Checked access to one reply's fields; `stream` picks the error class."""

    def __init__(self, model_id: str, *, stream: bool = False) -> None:
        self.model_id = model_id
        self.error = E.MalformedStreamError if stream else E.MalformedResponseError

    def fail(self, problem: str) -> NoReturn:
        raise self.error(f"the server's reply is malformed: {problem}", model=self.model_id)

    # --- basic shapes ----------------------------------------------------------------

    def obj(self, value: Any, what: str) -> Any:
        if value is None or isinstance(value, _SCALARS):
            self.fail(f"{what} is {_shown(value)}, not an object")
        return value

    def items(self, value: Any, what: str, *, empty: bool = True) -> list[Any]:
        """A list field (None counts as empty where `empty`)."""
        if value is None and empty:
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

    def index(self, value: Any, what: str, default: int) -> int:
        found = self.count(value, what)
        return default if found is None else found

    # --- the parts of a reply --------------------------------------------------------

    def choices(self, reply: Any) -> list[Any]:
        """The choices of a (non-stream) reply, in index order; at least one."""
        self.obj(reply, "the reply")
        choices = self.items(field(reply, "choices"), "choices", empty=False) if field(reply, "choices") else []
        if not choices:
            self.fail(f"the reply has no choices: {str(reply)[:200]!r}")
        indexed = [(self.index(field(self.obj(c, f"choices[{i}]"), "index"), f"choices[{i}].index", i), c)
                   for i, c in enumerate(choices)]  # fmt: skip
        return [c for _, c in sorted(indexed, key=lambda pair: pair[0])]

    def finish_reason(self, choice: Any, what: str) -> str | None:
        return self.text(field(choice, "finish_reason"), f"{what}.finish_reason")

    def message(self, choice: Any, what: str) -> Any:
        return self.obj(field(choice, "message"), f"{what}.message")

    def content(self, message: Any, what: str) -> str:
        return self.text(field(message, "content"), f"{what}.content") or ""

    def usage(self, usage: Any) -> tuple[int, int] | None:
        """(prompt tokens, completion tokens), or None when the server reported none."""
        if usage is None:
            return None
        self.obj(usage, "usage")
        prompt = self.count(field(usage, "prompt_tokens"), "usage.prompt_tokens")
        completion = self.count(field(usage, "completion_tokens"), "usage.completion_tokens")
        return None if prompt is None else (prompt, completion or 0)

    def tool_calls(self, message: Any, what: str) -> list[ToolCall]:
        calls = []
        for i, tc in enumerate(self.items(field(message, "tool_calls"), f"{what}.tool_calls")):
            where = f"{what}.tool_calls[{i}]"
            self.obj(tc, where)
            kind = field(tc, "type")
            if kind not in (None, "function"):
                continue  # another kind of call (a custom tool): not one llmkit can run
            function = self.obj(field(tc, "function"), f"{where}.function")
            name = self.text(field(function, "name"), f"{where}.function.name")
            if not name:
                self.fail(f"{where}.function.name is {_shown(name)}: a tool call must name its tool")
            calls.append(ToolCall(self.text(field(tc, "id"), f"{where}.id") or "", name,
                                  self.arguments(field(function, "arguments"), f"{where}.function.arguments")))  # fmt: skip
        return calls

    def arguments(self, value: Any, what: str, empty: str = "{}") -> str:
        """Tool-call arguments as JSON text (some servers send an object, not a string)."""
        if value is None or value == "":
            return empty
        if isinstance(value, str):
            return value
        if isinstance(value, Mapping) or hasattr(value, "model_dump"):
            return json.dumps(dict(value) if isinstance(value, Mapping) else value.model_dump())
        self.fail(f"{what} is {_shown(value)}, not JSON text or an object")

    # --- streams ---------------------------------------------------------------------

    def chunk(self, chunk: Any) -> list[tuple[int, str, list[ToolCallDelta], str | None]]:
        """A stream chunk's choices as (index, text, tool-call deltas, finish_reason)."""
        self.obj(chunk, "the stream chunk")
        out = []
        for i, choice in enumerate(self.items(field(chunk, "choices"), "choices")):
            where = f"choices[{i}]"
            self.obj(choice, where)
            delta = field(choice, "delta")
            if delta is not None:
                self.obj(delta, f"{where}.delta")
            deltas = []
            for j, tc in enumerate(self.items(field(delta, "tool_calls"), f"{where}.delta.tool_calls")):
                at = f"{where}.delta.tool_calls[{j}]"
                self.obj(tc, at)
                function = field(tc, "function")
                if function is not None:
                    self.obj(function, f"{at}.function")
                deltas.append(ToolCallDelta(
                    index=self.index(field(tc, "index"), f"{at}.index", j),  # some servers omit it
                    id=self.text(field(tc, "id"), f"{at}.id"),
                    name=self.text(field(function, "name"), f"{at}.function.name"),
                    arguments=self.arguments(field(function, "arguments"), f"{at}.function.arguments", ""),
                ))  # fmt: skip
            text = self.text(field(delta, "content"), f"{where}.delta.content") or ""
            out.append((self.index(field(choice, "index"), f"{where}.index", i), text, deltas,
                        self.finish_reason(choice, where)))  # fmt: skip
        return out

    # --- embeddings ------------------------------------------------------------------

    def vectors(self, reply: Any, expected: int) -> list[list[float]]:
        """One finite vector per input, in index order, all of one length."""
        self.obj(reply, "the reply")
        data = self.items(field(reply, "data"), "data")
        indexed = []
        for i, item in enumerate(data):
            self.obj(item, f"data[{i}]")
            values = self.items(field(item, "embedding"), f"data[{i}].embedding", empty=False)
            if not values:
                self.fail(f"data[{i}].embedding is empty")
            if not all(isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x) for x in values):
                self.fail(f"data[{i}].embedding holds something other than finite numbers")
            indexed.append((self.index(field(item, "index"), f"data[{i}].index", i), [float(x) for x in values]))
        vectors = [v for _, v in sorted(indexed, key=lambda pair: pair[0])]
        if len(vectors) != expected or any(len(v) != len(vectors[0]) for v in vectors):
            self.fail(f"the server sent {len(vectors)} embeddings of unusable shape for {expected} texts")
        return vectors


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."
