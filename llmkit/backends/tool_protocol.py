"""Tool calling for the local backends: a documented JSON protocol, held by constrained
decoding, so that a small model can only call a tool that exists, with arguments that
fit its schema, or answer.

The tools are described in the system prompt, and each reply is one JSON object:

    {"tool": "get_weather", "arguments": {"city": "Oslo"}}     a call
    {"answer": "It is 21 degrees in Oslo."}                    the final answer

(with a response_format, "answer" holds a value of that schema). Earlier calls and their
results are written into the conversation in the same terms, so templates without a
tool role still read them. tool_choice "required" leaves out the answer, a tool's name
allows only that tool, "none" only the answer. One call per reply.
"""

from __future__ import annotations

import json
import secrets
from typing import Any

from ..errors import InvalidOptionError
from ..tools import Tool
from ..types import Message, ToolCall

__all__ = ["prompt_messages", "reply_schema", "parse_reply", "transcribe", "signature", "chosen_name"]

_GUIDE = (
    'Reply with one JSON object: {"tool": NAME, "arguments": {...}} to call a tool (its result comes back), '
    'or {"answer": ...} to answer. When a tool can compute or look up the answer, call it first. Tools:\n'
)


def reply_schema(tools: list[Tool], tool_choice: Any = None, answer: dict[str, Any] | None = None) -> dict[str, Any]:
    """The JSON schema every reply must match."""
    chosen = tools
    name = chosen_name(tool_choice)
    if name is not None:
        chosen = [t for t in tools if t.name == name]
        if not chosen:
            raise InvalidOptionError(f"tool_choice names {name!r}, which is not one of the tools given",
                                     hint=f"Tools: {', '.join(t.name for t in tools) or 'none'}.")  # fmt: skip
    calls = [] if tool_choice == "none" else [
        {"type": "object", "properties": {"tool": {"const": t.name}, "arguments": _object(t.parameters)},
         "required": ["tool", "arguments"], "additionalProperties": False}
        for t in chosen
    ]  # fmt: skip
    answers = [] if tool_choice == "required" or (calls and chosen is not tools) else [
        {"type": "object", "properties": {"answer": answer or {"type": "string"}}, "required": ["answer"],
         "additionalProperties": False}
    ]  # fmt: skip
    options = calls + answers
    return options[0] if len(options) == 1 else {"anyOf": options}


def chosen_name(tool_choice: Any) -> str | None:
    """The one tool a tool_choice names: "add", {"type": "function", "name": "add"} or
    OpenAI's {"type": "function", "function": {"name": "add"}}; None for auto/required/none."""
    if isinstance(tool_choice, str):
        return None if tool_choice in ("auto", "required", "none") else tool_choice
    if isinstance(tool_choice, dict):
        name = tool_choice.get("name") or (tool_choice.get("function") or {}).get("name")
        if not isinstance(name, str):
            raise InvalidOptionError(f"tool_choice={tool_choice!r} names no tool",
                                     hint='Use "auto", "required", "none", a tool name, or {"type": "function", '
                                          '"name": NAME}.')  # fmt: skip
        return name
    return None


def signature(tool: Tool) -> str:
    """A tool as a short signature, `add(a: integer, b: integer)`: a small model's context
    is short (the bundled one has 255 tokens), and the constraint enforces the schema."""
    props = (tool.parameters or {}).get("properties") or {}
    required = set((tool.parameters or {}).get("required") or [])
    args = [f"{name}{'' if name in required else '?'}: {_kind(spec)}" for name, spec in props.items()]
    return f"{tool.name}({', '.join(args)})"


def _kind(spec: Any) -> str:
    if not isinstance(spec, dict):
        return "any"
    if "enum" in spec:
        return "|".join(json.dumps(v) for v in spec["enum"])
    if "anyOf" in spec:
        return " or ".join(_kind(s) for s in spec["anyOf"])
    kind = spec.get("type", "object" if "properties" in spec else "any")
    if kind == "array":
        return f"list of {_kind(spec.get('items'))}"
    return str(kind)


def _object(parameters: dict[str, Any]) -> dict[str, Any]:
    schema = dict(parameters or {"type": "object"})
    if schema.get("type") == "object" and "properties" in schema:
        schema.setdefault("additionalProperties", False)  # only the declared arguments
    return schema


def prompt_messages(messages: list[Message], tools: list[Tool], tool_choice: Any = None) -> list[Message]:
    """The conversation as the model sees it: the protocol and the tools in the system
    prompt, earlier calls and results transcribed."""
    guide = _GUIDE + "\n".join(f"{signature(t)}: {t.description}" if t.description else signature(t) for t in tools)
    if isinstance(tool_choice, str) and tool_choice == "required":
        guide += "\nCall a tool now."
    out = transcribe(messages)
    if out and out[0].role == "system":
        return [Message("system", f"{out[0].text}\n\n{guide}"), *out[1:]]
    return [Message("system", guide), *out]


def transcribe(messages: list[Message]) -> list[Message]:
    """Tool calls and results in plain user/assistant turns, in the protocol's words: one
    assistant turn per message (its text, then each call), one user turn for the results
    that follow it, so the turns still alternate."""
    out: list[Message] = []
    names: dict[str, str] = {}
    results: list[str] = []
    for m in messages:
        if m.role == "tool":
            results.append(f"{names.get(m.tool_call_id or '', 'the tool')} returned: {m.text}")
            continue
        if results:
            out.append(_results_turn(results))
            results = []
        if m.role == "assistant" and m.tool_calls:
            lines = [m.text] if m.text else []
            for call in m.tool_calls:
                names[call.id] = call.name
                lines.append(json.dumps({"tool": call.name, "arguments": _args(call)}))
            out.append(Message("assistant", "\n".join(lines)))
        else:
            out.append(m)
    if results:
        out.append(_results_turn(results))
    return out


def _results_turn(results: list[str]) -> Message:
    return Message("user", "\n".join(results) + '\nIf that answers the question, reply {"answer": ...}.')


def _args(call: ToolCall) -> Any:
    try:
        return json.loads(call.arguments or "{}")
    except json.JSONDecodeError:
        return call.arguments


def parse_reply(text: str, number: int = 0) -> tuple[str, list[ToolCall]]:
    """(answer text, tool calls) from a reply written in the protocol; text that is not
    the protocol's JSON is the answer as it stands."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError:
        return text, []
    if isinstance(data, dict) and isinstance(data.get("tool"), str):
        call_id = f"call_{secrets.token_hex(4)}_{number}"  # unique across steps, like a server's
        return "", [ToolCall(call_id, data["tool"], json.dumps(data.get("arguments") or {}))]
    if isinstance(data, dict) and "answer" in data:
        answer = data["answer"]
        return (answer if isinstance(answer, str) else json.dumps(answer)), []
    return text, []
