"""llmkit's tools and response formats in the OpenAI wire shape (chat completions).

    >>> from llmkit.tools import Tool
    >>> tool_param(Tool("add", "Add two integers.", {"type": "object", "properties": {}}))
    {'type': 'function', 'function': {'name': 'add', 'parameters': {'type': 'object', 'properties': {}}, 'description': 'Add two integers.'}}
    >>> response_format_param("json")
    {'type': 'json_object'}
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..errors import InvalidOptionError
from ..tools import Tool

__all__ = ["tool_param", "tool_choice_param", "response_format_param"]


def tool_param(tool: Tool) -> dict[str, Any]:
    """A tool made from an OpenAI dict goes out as it came in (keys like "strict" kept)."""
    if tool.spec is not None:
        return dict(tool.spec)
    function: dict[str, Any] = {"name": tool.name, "parameters": tool.parameters}
    if tool.description:
        function["description"] = tool.description
    return {"type": "function", "function": function}


def tool_choice_param(choice: str | Mapping[str, Any]) -> str | dict[str, Any]:
    """'auto', 'none', 'required', a tool's name, or a dict passed as is."""
    if isinstance(choice, str) and choice not in ("auto", "none", "required"):
        return {"type": "function", "function": {"name": choice}}
    return choice if isinstance(choice, str) else dict(choice)


def response_format_param(fmt: Any) -> dict[str, Any]:
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
