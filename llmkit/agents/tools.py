"""Python functions -> the JSON-schema tool descriptions chat models understand.

    def get_weather(city: str, unit: Literal["C", "F"] = "C") -> str:
        "Current weather in a city."
    client.chat("Weather in Oslo?", tools=[get_weather])

The schema comes from the signature's type hints (through pydantic) and the docstring.
Arguments a model sends back are data: they are validated, never evaluated.
"""

from __future__ import annotations

import inspect
import typing
from collections.abc import Callable, Mapping
from typing import Any

from ..errors import InvalidOptionError


def function_schema(fn: Callable[..., Any]) -> dict[str, Any]:
    """The OpenAI tool dict for a Python function."""
    import pydantic

    signature = inspect.signature(fn)
    try:  # resolves string annotations (`from __future__ import annotations`) in fn's module
        hints = typing.get_type_hints(fn, include_extras=True)
    except Exception:
        hints = {}
    fields: dict[str, Any] = {}
    for name, param in signature.parameters.items():
        if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            continue
        annotation = hints.get(name, param.annotation if param.annotation is not param.empty else Any)
        default = param.default if param.default is not param.empty else ...
        fields[name] = (annotation, default)
    try:
        model = pydantic.create_model(f"{fn.__name__}_args", **fields)
        parameters = model.model_json_schema()
    except Exception as exc:
        raise InvalidOptionError(
            f"cannot describe tool {fn.__name__!r} as JSON schema: {exc}",
            hint="Give its parameters JSON-friendly type hints (str, int, float, bool, list, dict, Literal, pydantic models).",
        ) from None
    parameters.pop("title", None)
    description = inspect.getdoc(fn) or ""
    return {
        "type": "function",
        "function": {"name": fn.__name__, "description": description, "parameters": parameters},
    }


def to_openai_tool(tool: Callable[..., Any] | Mapping[str, Any]) -> dict[str, Any]:
    """Accept a function, an OpenAI tool dict, or a bare {"name", "parameters"} dict."""
    if isinstance(tool, Mapping):
        if tool.get("type") == "function" and "function" in tool:
            return dict(tool)
        if "name" in tool:
            return {"type": "function", "function": dict(tool)}
        raise InvalidOptionError(
            f"tool {dict(tool)!r} is not a function description",
            hint='Use a Python function, or {"type": "function", "function": {"name": ..., "parameters": {...}}}.',
        )
    if callable(tool):
        return function_schema(tool)
    raise InvalidOptionError(f"cannot use {type(tool).__name__} as a tool")


def to_openai_response_format(fmt: Any) -> dict[str, Any]:
    """'json', a JSON schema dict, an OpenAI response_format dict, or a pydantic model."""
    if fmt == "json":
        return {"type": "json_object"}
    if hasattr(fmt, "model_json_schema"):
        return {
            "type": "json_schema",
            "json_schema": {"name": fmt.__name__, "schema": fmt.model_json_schema()},
        }
    if isinstance(fmt, Mapping):
        if fmt.get("type") in ("json_object", "json_schema", "text"):
            return dict(fmt)
        return {"type": "json_schema", "json_schema": {"name": "response", "schema": dict(fmt)}}
    raise InvalidOptionError(f"cannot use {fmt!r} as response_format")
