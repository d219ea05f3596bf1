"""The tools of one agent, and running the calls a model makes to them.

Everything a model asks for is data: the tool name is looked up, the arguments are
validated against the tool's schema, and only then is the Python function called. What
goes wrong (an unknown tool, invalid arguments, a tool that raises, a call the person
declined or a hook vetoed) goes back to the model as the call's result, so that it can
correct itself; a tool that keeps failing past its retry budget ends the run. The same
call (same tool, same arguments) made again in one run is answered from the first
result, with a note, instead of running again (models loop on that otherwise).
"""

from __future__ import annotations

import inspect
import json
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ..errors import InvalidOptionError, LLMKitError, ToolArgumentsError
from ..tools import Tool, to_tool
from ..types import Message, ToolCall, tool_result

__all__ = ["Toolbox", "ToolContext", "ToolOutcome", "Veto", "ToolFailedError", "tools_of"]


class Veto(Exception):
    """Raised by a before_tool hook to refuse a call; the reason goes back to the model."""


class ToolFailedError(LLMKitError):
    """A tool failed more often than its retry budget allows. `messages` is the
    conversation so far (the transcript), `tool` the tool's name."""

    def __init__(self, message: str, *, tool: str, messages: list[Message], hint: str | None = None) -> None:
        self.tool = tool
        self.messages = messages
        super().__init__(message, hint=hint or "Look at the tool's errors in .messages; fix the tool or raise tool_retries.")


@dataclass
class ToolContext:
    """One call as hooks and the approval callback see it: `arguments` are validated
    (a before_tool hook may return new ones)."""

    tool: Tool
    call: ToolCall
    arguments: dict[str, Any]
    step: int


@dataclass
class ToolOutcome:
    """What came of one call: the text sent back to the model, and how it went."""

    call: ToolCall
    content: str
    ok: bool
    value: Any = None  # the function's return value when it ran
    repeated: bool = False  # answered from an earlier identical call
    error: str | None = None  # what went wrong, when not ok
    message: Message = field(init=False)

    def __post_init__(self) -> None:
        self.message = tool_result(self.content, tool_call_id=self.call.id)


def tools_of(obj: Any) -> list[Tool]:
    """The tools in `obj`: a Tool, a function, an OpenAI tool dict, or a tool set (an
    object whose public methods are tools; a class is instantiated with no arguments)."""
    if isinstance(obj, (Tool, Mapping)) or inspect.isfunction(obj) or inspect.ismethod(obj) or inspect.isbuiltin(obj):
        return [to_tool(obj)]
    if hasattr(obj, "__llmkit_tools__"):  # a source of tools, e.g. an MCP server
        return list(obj.__llmkit_tools__())
    if inspect.isclass(obj):
        obj = obj()
    methods = [getattr(obj, name) for name in dir(type(obj)) if not name.startswith("_")]
    found = [to_tool(m) for m in methods if inspect.ismethod(m) or isinstance(m, Tool)]
    if not found:
        if callable(obj):
            return [to_tool(obj)]
        raise InvalidOptionError(f"{type(obj).__name__} has no public methods to use as tools",
                                 hint="Pass functions, @llmkit.tool objects, or an object whose public methods are tools.")
    return found


class Toolbox:
    """An agent's tools by name, with the run's memory of calls and failures."""

    def __init__(self, tools: Iterable[Any], *, retries: int = 2,
                 before: Callable[[ToolContext], Any] | None = None,
                 after: Callable[[ToolContext, Any], Any] | None = None,
                 approve: Callable[[ToolContext], bool] | None = None) -> None:  # fmt: skip
        self.tools: dict[str, Tool] = {}
        for spec in tools:
            for t in tools_of(spec):
                if t.name in self.tools:
                    raise InvalidOptionError(f"two tools are named {t.name!r}",
                                             hint="Give one of them another name: @llmkit.tool(name=...).")
                self.tools[t.name] = t
        self.retries = retries
        self.before, self.after, self.approve = before, after, approve
        self.failures: dict[str, int] = {}
        self.results: dict[tuple[str, str], str] = {}  # (tool, canonical arguments) -> first result
        self._lock = threading.Lock()

    def __bool__(self) -> bool:
        return bool(self.tools)

    def specs(self) -> list[Tool]:
        return list(self.tools.values())

    def prepare(self, call: ToolCall, step: int) -> ToolContext | ToolOutcome:
        """Check a call: the outcome itself when it cannot run (unknown, invalid, repeated)."""
        tool = self.tools.get(call.name)
        if tool is None:
            known = ", ".join(sorted(self.tools)) or "none"
            return self._failed(call, f"there is no tool {call.name!r}; the tools are: {known}", count=False)
        try:
            arguments = tool.validate(call.arguments)
        except ToolArgumentsError as exc:
            return self._failed(call, exc.message + ". Call it again with arguments that fit its parameters.")
        with self._lock:
            earlier = self.results.get(_key(call.name, arguments))
        if earlier is not None:
            return ToolOutcome(call, earlier + _REPEAT_NOTE, ok=True, repeated=True)
        return ToolContext(tool, call, arguments, step)

    def gate(self, ctx: ToolContext) -> ToolOutcome | None:
        """The before hook, then approval of the arguments that will actually run; an
        outcome when the call must not run."""
        if self.before is not None:
            try:
                replaced = self.before(ctx)
            except Veto as exc:
                return ToolOutcome(ctx.call, f"Not run: {exc}", ok=False, error="vetoed")
            if isinstance(replaced, Mapping):
                ctx.arguments = ctx.tool.validate(replaced)
        if ctx.tool.requires_approval:
            approved = self.approve(ctx) if self.approve is not None else False
            if approved is not True:  # only an explicit yes runs it: nothing the model says can
                why = "the user declined this call" if self.approve else "this tool needs approval and none was given"
                return ToolOutcome(ctx.call, f"Not run: {why}.", ok=False, error="declined")
        return None

    def repeat_of(self, ctx: ToolContext, first: ToolOutcome) -> ToolOutcome:
        """A call identical to `first`, made in the same step: answered from its outcome."""
        if not first.ok:
            return ToolOutcome(ctx.call, first.content, ok=False, repeated=True, error=first.error)
        return ToolOutcome(ctx.call, first.content + _REPEAT_NOTE, ok=True, value=first.value, repeated=True)

    @staticmethod
    def key(ctx: ToolContext) -> tuple[str, str]:
        return _key(ctx.call.name, ctx.arguments)

    def finish(self, ctx: ToolContext, value: Any = None, error: BaseException | None = None) -> ToolOutcome:
        """The outcome of a call that ran (or raised)."""
        if error is not None:
            return self._failed(ctx.call, f"the tool raised {type(error).__name__}: {error}")
        if self.after is not None:
            replaced = self.after(ctx, value)
            value = value if replaced is None else replaced
        content = render(value)
        with self._lock:
            self.results[_key(ctx.call.name, ctx.arguments)] = content
        return ToolOutcome(ctx.call, content, ok=True, value=value)

    def _failed(self, call: ToolCall, why: str, count: bool = True) -> ToolOutcome:
        name = call.name if count else "<unknown tools>"
        with self._lock:  # calls of one step fail in several threads at once
            self.failures[name] = self.failures.get(name, 0) + 1
        return ToolOutcome(call, f"Error: {why}", ok=False, error=why)

    def check_budget(self, messages: list[Message]) -> None:
        """End the run when a tool has failed more often than its retries allow."""
        for name, n in self.failures.items():
            if n > self.retries:
                raise ToolFailedError(f"tool {name!r} failed {n} times in this run (retries: {self.retries})",
                                      tool=name, messages=messages)  # fmt: skip


_REPEAT_NOTE = " (You already called this tool with these arguments; this is that result. Use it.)"


def render(value: Any) -> str:
    """A tool's return value as the text the model reads (JSON for data)."""
    if isinstance(value, str):
        return value
    if hasattr(value, "model_dump_json"):
        return str(value.model_dump_json())
    try:
        return json.dumps(value, ensure_ascii=False, default=str)
    except (TypeError, ValueError):
        return str(value)


def _key(name: str, arguments: Mapping[str, Any]) -> tuple[str, str]:
    return name, json.dumps(arguments, sort_keys=True, default=str)
