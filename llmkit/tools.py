"""Tools: Python functions a model may call, described to it as JSON schema.

    >>> import llmkit
    >>> @llmkit.tool
    ... def add(a: int, b: int) -> int:
    ...     "Add two integers."
    ...     return a + b
    >>> add.name, add.description, sorted(add.parameters["properties"])
    ('add', 'Add two integers.', ['a', 'b'])
    >>> add.call('{"a": 2, "b": "3"}')      # what a model sends: JSON text, validated first
    5
    >>> add(2, 3)                           # still the function
    5

A plain typed function works wherever a Tool does (`client.chat(..., tools=[fn])`);
`@tool(name=..., description=..., requires_approval=True)` sets what the signature
cannot say. The schema comes from the signature's type hints (through pydantic) and the
docstring. The argument model pydantic builds is kept and checks every call's arguments
before the function runs: what a model sends is data, never evaluated, and arguments
that do not fit raise `ToolArgumentsError` with a message fit to send back to the model.

This module sits at the bottom of llmkit, beside `types`: backends map a `Tool` to their
own wire shape (the OpenAI one lives in `backends/openai_wire.py`); whoever runs the
model's calls (your loop, or an agent loop) calls `Tool.call`. pydantic is imported when the first tool is built, never on `import llmkit`.
"""

from __future__ import annotations

import dataclasses
import inspect
import json
import re
import secrets
import typing
import weakref
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, overload

from .errors import InvalidOptionError, ToolArgumentsError
from .types import ToolCall

__all__ = ["Tool", "tool", "to_tool", "calls_in_text"]


@dataclass(frozen=True)
class Tool:
    """A function a model can call: its name, description and argument schema.

    `function` is None for a tool known only by its schema (an OpenAI tool dict, kept in
    `spec` and sent as given, "strict" and all): the model can still ask for it, and the
    caller runs it. `requires_approval` tells whoever runs the model's calls to ask a
    person first; `call()` itself does not ask.
    """

    name: str
    description: str
    parameters: dict[str, Any]
    function: Callable[..., Any] | None = field(default=None, repr=False)
    requires_approval: bool = False
    args_model: Any = field(default=None, repr=False, compare=False)  # the pydantic model of the arguments
    spec: Mapping[str, Any] | None = field(default=None, repr=False, compare=False)  # the dict it came from

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self._function()(*args, **kwargs)

    def __get__(self, instance: Any, owner: Any = None) -> Tool:
        """A @tool method of a class, read from an instance, is that instance's tool."""
        if instance is None or self.function is None or not hasattr(self.function, "__get__"):
            return self
        return dataclasses.replace(self, function=self.function.__get__(instance, owner))

    @property
    def is_async(self) -> bool:
        return self.function is not None and inspect.iscoroutinefunction(self.function)

    def validate(self, arguments: str | Mapping[str, Any]) -> dict[str, Any]:
        """The arguments checked against the schema and converted to the declared types
        ("3" -> 3 for an int); raises ToolArgumentsError saying what does not fit."""
        if isinstance(arguments, str):
            try:
                arguments = json.loads(arguments or "{}")
            except json.JSONDecodeError as exc:
                raise ToolArgumentsError(self.name, [f"the arguments are not valid JSON: {exc}"]) from None
        if not isinstance(arguments, Mapping):
            raise ToolArgumentsError(self.name, ["the arguments must be a JSON object"])
        if self.args_model is None:  # a tool known by its schema: checked with jsonschema where installed
            return self._check_schema(dict(arguments))
        import pydantic

        try:
            parsed = self.args_model.model_validate(dict(arguments))
        except pydantic.ValidationError as exc:
            problems = [f"{'.'.join(map(str, e['loc'])) or 'arguments'}: {e['msg']}" for e in exc.errors()]
            raise ToolArgumentsError(self.name, problems) from None
        return {name: getattr(parsed, name) for name in type(parsed).model_fields}

    def _check_schema(self, arguments: dict[str, Any]) -> dict[str, Any]:
        try:
            import jsonschema
        except ImportError:
            return arguments
        problems = [f"{'.'.join(map(str, e.path)) or 'arguments'}: {e.message}"
                    for e in jsonschema.Draft202012Validator(self.parameters).iter_errors(arguments)]  # fmt: skip
        if problems:
            raise ToolArgumentsError(self.name, problems)
        return arguments

    def call(self, arguments: str | Mapping[str, Any]) -> Any:
        """Validate the arguments, then call the function with them (an async function's
        coroutine is returned, for the caller to await)."""
        return self._function()(**self.validate(arguments))

    async def acall(self, arguments: str | Mapping[str, Any]) -> Any:
        """`call`, awaiting async functions and running sync ones in a worker thread."""
        import asyncio

        function = self._function()
        kwargs = self.validate(arguments)
        if inspect.iscoroutinefunction(function):
            return await function(**kwargs)
        return await asyncio.to_thread(function, **kwargs)

    def _function(self) -> Callable[..., Any]:
        if self.function is None:
            raise InvalidOptionError(
                f"tool {self.name!r} is only a schema: there is no function to call",
                hint="Pass the Python function (or an @llmkit.tool) to run it here.",
            )
        return self.function


@overload
def tool(function: Callable[..., Any], /) -> Tool: ...


@overload
def tool(
    *, name: str | None = None, description: str | None = None, requires_approval: bool = False
) -> Callable[[Callable[..., Any]], Tool]: ...


def tool(
    function: Callable[..., Any] | None = None,
    /,
    *,
    name: str | None = None,
    description: str | None = None,
    requires_approval: bool = False,
) -> Tool | Callable[[Callable[..., Any]], Tool]:
    """Make a function a Tool: `@tool`, or `@tool(name=..., requires_approval=True)`."""
    if function is not None and not callable(function):
        hint = "Use @llmkit.tool on a function."
        if isinstance(function, str):
            hint = "llmkit.tool is the decorator now; a tool's result message is llmkit.tool_result(content, tool_call_id=...)."
        raise InvalidOptionError(f"cannot make a tool of {type(function).__name__} {function!r:.40}", hint=hint)

    def make(fn: Callable[..., Any]) -> Tool:
        return _from_function(fn, name=name, description=description, requires_approval=requires_approval)

    return make(function) if function is not None else make


def to_tool(spec: Tool | Callable[..., Any] | Mapping[str, Any]) -> Tool:
    """A Tool from a Tool, a function, an OpenAI tool dict, or a bare {"name", "parameters"}."""
    if isinstance(spec, Tool):
        return spec
    if isinstance(spec, Mapping):
        fn = spec.get("function") if spec.get("type") == "function" else spec
        if not isinstance(fn, Mapping) or not isinstance(fn.get("name"), str):
            raise InvalidOptionError(
                f"tool {dict(spec)!r:.120} is not a function description",
                hint='Use a Python function, or {"type": "function", "function": {"name": ..., "parameters": {...}}}.',
            )
        parameters = fn.get("parameters") or {"type": "object", "properties": {}}
        wire = dict(spec) if spec.get("type") == "function" else {"type": "function", "function": dict(spec)}
        return Tool(fn["name"], fn.get("description") or "", dict(parameters), spec=wire)
    if callable(spec):
        try:
            cached = _built.get(spec)
        except TypeError:  # not weak-referenceable (a bound method, a partial): build each time
            return _from_function(spec)
        if cached is None:
            cached = _built[spec] = _from_function(spec)
        return cached
    raise InvalidOptionError(f"cannot use {type(spec).__name__} as a tool", hint="Pass functions or llmkit.Tool objects.")


# Plain functions passed as tools=[fn] on every call are described once (weakly held:
# the entry goes with the function).
_built: weakref.WeakKeyDictionary[Callable[..., Any], Tool] = weakref.WeakKeyDictionary()


def _from_function(fn: Callable[..., Any], *, name: str | None = None, description: str | None = None,
                   requires_approval: bool = False) -> Tool:  # fmt: skip
    import pydantic

    inner = _described(fn)
    tool_name = name or getattr(inner, "__name__", None) or type(inner).__name__
    signature = inspect.signature(fn)
    try:  # resolves string annotations (`from __future__ import annotations`) in fn's module
        hints = typing.get_type_hints(inner if inspect.isroutine(inner) else type(inner).__call__, include_extras=True)
    except Exception:
        hints = {}
    fields: dict[str, Any] = {}
    for i, (pname, param) in enumerate(signature.parameters.items()):
        if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD) or (i == 0 and pname in ("self", "cls")):
            continue  # a method decorated in its class: the instance is bound later (Tool.__get__)
        annotation = hints.get(pname, param.annotation if param.annotation is not param.empty else Any)
        default = param.default if param.default is not param.empty else ...
        fields[pname] = (annotation, default)
    try:
        model = pydantic.create_model(f"{tool_name}_arguments", **fields)
        parameters = model.model_json_schema()
    except Exception as exc:
        raise InvalidOptionError(
            f"cannot describe tool {tool_name!r} as JSON schema: {exc}",
            hint="Give its parameters JSON-friendly type hints (str, int, float, bool, list, dict, Literal, pydantic models).",
        ) from None
    parameters.pop("title", None)
    text = description if description is not None else (inspect.getdoc(inner) or "")
    return Tool(tool_name, text, parameters, fn, requires_approval, model)


def _described(fn: Callable[..., Any]) -> Any:
    """What names and documents a callable: the function inside a functools.partial (not
    partial's own docstring), else the callable itself (a function or an object)."""
    import functools

    while isinstance(fn, functools.partial):
        fn = fn.func
    return fn


_FENCE = re.compile(r"^```(?:json)?\s*(.*?)\s*```$", re.S)
_TAGGED = re.compile(r"<tool_call>\s*(.*?)\s*</tool_call>", re.S)


def calls_in_text(text: str, known: Iterable[str]) -> list[ToolCall]:
    """Tool calls a model wrote as plain text instead of native calls: a JSON object
    (bare, in a ```json fence, or in <tool_call> tags) naming a known tool, e.g.
    {"name": "add", "arguments": {"a": 1, "b": 2}}. Nothing else counts: text that merely
    mentions a tool is an answer."""
    names = set(known)
    stripped = text.strip()
    fenced = _FENCE.match(stripped)
    chunks = _TAGGED.findall(stripped) or [fenced.group(1) if fenced else stripped]
    calls = []
    for i, chunk in enumerate(chunks):
        try:
            data = json.loads(chunk)
        except json.JSONDecodeError:
            return []
        for j, item in enumerate(data if isinstance(data, list) else [data]):
            if not isinstance(item, dict):
                return []
            function = item.get("function")
            name = item.get("name") or item.get("tool") or (function.get("name") if isinstance(function, dict) else None)
            args = item.get("arguments", item.get("parameters", item.get("args", {})))
            if isinstance(args, str):
                try:
                    args = json.loads(args)
                except json.JSONDecodeError:
                    return []
            if not isinstance(name, str) or name not in names or not isinstance(args, dict):
                return []  # anything unexpected in the model's text: an answer, not a call
            calls.append(ToolCall(f"text_call_{secrets.token_hex(4)}_{i}_{j}", name, json.dumps(args)))
    return calls
