"""llmkit's messages, tools and options in the shape of Anthropic's Messages API.

    llmkit                                   Anthropic
    system messages (anywhere)               `system=`, joined by blank lines, in order
    user text / OpenAI content parts         a user turn: text blocks, image blocks
    assistant text + tool_calls              an assistant turn: a text block, tool_use blocks
    tool messages (results)                  tool_result blocks in a user turn
    tools (llmkit.Tool)                      {"name", "description", "input_schema"}
    tool_choice auto/required/none/NAME      {"type": "auto"|"any"|"none"|"tool"}
    parallel_tool_calls=False                tool_choice's disable_parallel_tool_use
    stop                                     stop_sequences
    user                                     metadata.user_id
    temperature, top_p, top_k                not sent (see SAMPLING), or in the body

The SDK (2.15) speaks API version 2026-10-21, which refuses sampling parameters on every
model (and has no arguments for them). llmkit's own callers ask for temperature 0
(tasks do), so the options are taken, and left out of the request unless the backend's
`send_sampling` setting says to send them (for an older anthropic-version or a proxy).

Turns of the same role that follow each other are merged into one (the results of
several calls and the user's next words go in one user turn, tool_results first), as the
API wants turns to alternate. Tool-call arguments are JSON text in llmkit and an object
here; arguments that are not a JSON object (a model's malformed call, kept in a
conversation) go as {"_unparsed_arguments": TEXT}, so the conversation still sends.

Structured output goes through a tool: the schema becomes the input schema of a tool
named `json_answer`, which the request forces (tool_choice {"type": "tool"}); its input
is the answer. Schemas whose top level is not an object are wrapped in {"value": ...}.
With tools of the caller's own beside it, the request asks for some tool call
({"type": "any"}): a real call, or the answer.

    >>> anthropic_messages([Message("system", "Be brief."), Message("user", "Hi")])
    ('Be brief.', [{'role': 'user', 'content': [{'type': 'text', 'text': 'Hi'}]}])
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from llmkit.errors import InvalidOptionError
from llmkit.tools import Tool
from llmkit.types import Message

__all__ = ["ANSWER_TOOL", "Answer", "anthropic_messages", "tool_param", "tool_choice_param", "answer_spec",
           "schema_of", "with_note", "request_params", "SAMPLING"]  # fmt: skip

ANSWER_TOOL = "json_answer"
# Sampling options: the API version the SDK speaks (2026-10-21) refuses them on every model,
# so they are sent only where the backend is told to (an older API version, a proxy)
SAMPLING = ("temperature", "top_p", "top_k")
# Anthropic's own blocks, sent as given (thinking blocks too: a caller who keeps them from
# Response.raw can send them back, as tool use with extended thinking requires)
_PASSED_BLOCKS = {"text", "image", "document", "search_result", "thinking", "redacted_thinking"}


@dataclass(frozen=True)
class Answer:
    """How a structured answer is asked for: the tool's name and whether the schema was
    wrapped in {"value": ...}."""

    name: str = ANSWER_TOOL
    wrapped: bool = False


# --- messages ----------------------------------------------------------------------------


def anthropic_messages(messages: list[Message]) -> tuple[str | None, list[dict[str, Any]]]:
    """(system prompt or None, the turns) for a conversation."""
    system: list[str] = []
    turns: list[dict[str, Any]] = []
    for m in messages:
        if m.role == "system":
            if m.text:
                system.append(m.text)
            continue
        role = "assistant" if m.role == "assistant" else "user"
        blocks = _blocks(m)
        if not blocks:
            continue
        if turns and turns[-1]["role"] == role:
            previous = turns[-1]["content"]
            results = [b for b in previous + blocks if b.get("type") == "tool_result"]
            others = [b for b in previous + blocks if b.get("type") != "tool_result"]
            turns[-1]["content"] = results + others if role == "user" else previous + blocks
        else:
            turns.append({"role": role, "content": blocks})
    return ("\n\n".join(system) or None), turns


def _blocks(m: Message) -> list[dict[str, Any]]:
    if m.role == "tool":
        if not m.tool_call_id:
            raise InvalidOptionError("a tool message has no tool_call_id: Anthropic needs the id of the call it answers",
                                     hint="Make results with llmkit.tool_result(content, tool_call_id=call.id).")  # fmt: skip
        content: Any = m.content if isinstance(m.content, str) else [_part(p, "a tool result") for p in m.content or []]
        return [{"type": "tool_result", "tool_use_id": m.tool_call_id, "content": content if content else ""}]
    blocks: list[dict[str, Any]] = []
    if isinstance(m.content, str):
        if m.content:
            blocks.append({"type": "text", "text": m.content})
    elif m.content:
        blocks.extend(_part(p, f"a {m.role} message") for p in m.content)
    if m.role == "assistant":
        blocks.extend({"type": "tool_use", "id": call.id, "name": call.name, "input": _input(call.arguments)}
                      for call in m.tool_calls)  # fmt: skip
    return blocks


def _input(arguments: str) -> dict[str, Any]:
    if not arguments or not arguments.strip():
        return {}
    try:
        value = json.loads(arguments)
    except json.JSONDecodeError:
        return {"_unparsed_arguments": arguments}
    return value if isinstance(value, dict) else {"_unparsed_arguments": arguments}


def _part(part: Mapping[str, Any], where: str) -> dict[str, Any]:
    """An OpenAI content part (text, image_url) or an Anthropic block, as a block."""
    kind = part.get("type")
    if kind == "text":
        return {**part, "text": part.get("text", "")}  # Anthropic's keys (cache_control, citations) kept
    if kind == "image_url":
        image = part.get("image_url")
        url = image.get("url") if isinstance(image, Mapping) else image
        if not isinstance(url, str) or not url:
            raise InvalidOptionError(f"an image_url part in {where} has no url")
        if url.startswith("data:"):
            header, _, data = url.partition(",")
            media_type = header[len("data:"):].split(";")[0] or "image/png"
            if ";base64" not in header:
                raise InvalidOptionError(f"an image in {where} is a data: URL that is not base64",
                                         hint="Encode the image as data:image/png;base64,...")  # fmt: skip
            return {"type": "image", "source": {"type": "base64", "media_type": media_type, "data": data}}
        return {"type": "image", "source": {"type": "url", "url": url}}
    if kind in _PASSED_BLOCKS:
        return dict(part)
    raise InvalidOptionError(f"{where} has a content part of type {kind!r}, which Anthropic's Messages API does not take",
                             hint="Use text, image_url (an http(s) or base64 data: URL), or Anthropic's own "
                                  "text/image/document blocks.")  # fmt: skip


# --- tools -------------------------------------------------------------------------------


def tool_param(tool: Tool) -> dict[str, Any]:
    """A Tool as Anthropic's tool definition. A tool made from an Anthropic dict (one with
    input_schema, or a server tool with a versioned type such as web_search_20250305) goes
    out as it came in."""
    inner = (tool.spec or {}).get("function") if tool.spec is not None else None
    if isinstance(inner, Mapping) and ("input_schema" in inner or inner.get("type") not in (None, "function", "custom")):
        return dict(inner)
    out: dict[str, Any] = {"name": tool.name, "input_schema": _object_schema(tool.parameters)}
    if tool.description:
        out["description"] = tool.description
    return out


def _object_schema(parameters: Mapping[str, Any] | None) -> dict[str, Any]:
    schema = dict(parameters or {})
    schema.setdefault("type", "object")
    return schema


def _named(tool_choice: Any) -> str | None:
    """The tool a tool_choice names: "NAME", {"type": "function", "name": NAME}, OpenAI's
    {"type": "function", "function": {"name": NAME}} or Anthropic's {"type": "tool", "name": NAME}."""
    if isinstance(tool_choice, str):
        return None if tool_choice in ("auto", "required", "none", "any") else tool_choice
    if isinstance(tool_choice, Mapping):
        if tool_choice.get("type") in ("auto", "any", "none"):
            return None
        name = tool_choice.get("name") or (tool_choice.get("function") or {}).get("name")
        if not isinstance(name, str) or not name:
            raise InvalidOptionError(f"tool_choice={dict(tool_choice)!r} names no tool",
                                     hint='Use "auto", "required", "none", a tool name, or {"type": "function", '
                                          '"name": NAME}.')  # fmt: skip
        return name
    return None


def tool_choice_param(tool_choice: Any, tools: list[Tool], parallel: bool | None = None) -> dict[str, Any]:
    """llmkit's tool_choice as Anthropic's; a named tool must be one of `tools`."""
    name = _named(tool_choice)
    if name is not None:
        if name not in {t.name for t in tools}:
            raise InvalidOptionError(f"tool_choice names {name!r}, which is not one of the tools given",
                                     hint=f"Tools: {', '.join(t.name for t in tools) or 'none'}.")  # fmt: skip
        out: dict[str, Any] = {"type": "tool", "name": name}
    elif tool_choice in (None, "auto"):
        out = {"type": "auto"}
    elif tool_choice in ("required", "any"):
        out = {"type": "any"}
    elif tool_choice == "none":
        out = {"type": "none"}
    else:  # an Anthropic dict of a type without a name: auto/any/none
        out = dict(tool_choice)
    if parallel is False and out["type"] != "none":
        out["disable_parallel_tool_use"] = True
    return out


# --- structured output -------------------------------------------------------------------


def schema_of(response_format: Any) -> dict[str, Any]:
    """The JSON schema a response_format asks for: "json" (any object), a pydantic model
    class, a JSON-schema dict, or an OpenAI response_format dict."""
    if response_format == "json":
        return {"type": "object"}
    if hasattr(response_format, "model_json_schema"):
        schema = dict(response_format.model_json_schema())
        schema.pop("title", None)
        return schema
    if isinstance(response_format, Mapping):
        kind = response_format.get("type")
        if kind == "json_object":
            return {"type": "object"}
        if kind == "json_schema":
            inner = response_format.get("json_schema") or {}
            return dict(inner.get("schema") or {"type": "object"})
        return dict(response_format)
    raise InvalidOptionError(f"cannot use {response_format!r} as response_format",
                             hint="Use 'json', a JSON-schema dict, or a pydantic model class.")  # fmt: skip


def answer_spec(response_format: Any, tools: list[Tool]) -> tuple[dict[str, Any], Answer]:
    """The tool whose input is the structured answer."""
    if any(t.name == ANSWER_TOOL for t in tools):
        raise InvalidOptionError(f"a tool is named {ANSWER_TOOL!r}, the name the Anthropic plugin gives structured "
                                 "output's answer tool", hint="Rename that tool.")  # fmt: skip
    schema = schema_of(response_format)
    wrapped = schema.get("type") != "object"
    if wrapped:  # a tool's input is an object: other values travel under "value"
        defs: dict[str, Any] = {k: schema.pop(k) for k in ("$defs", "definitions") if k in schema}
        schema = {"type": "object", "properties": {"value": schema}, "required": ["value"], **defs}
    name = getattr(response_format, "__name__", None) or "the requested"
    tool = {"name": ANSWER_TOOL, "input_schema": schema,
            "description": f"Give your final answer with this tool: its input is the answer, as {name} JSON "
                           "matching the input schema exactly."}  # fmt: skip
    return tool, Answer(ANSWER_TOOL, wrapped)


def with_note(messages: list[Message], response_format: Any) -> list[Message]:
    """The conversation with the schema stated in its system prompt (where a model refuses
    the forced tool: models that always think take tool_choice auto or none only)."""
    note = "Answer with only a JSON value that matches this JSON schema:\n" + json.dumps(schema_of(response_format))
    if messages and messages[0].role == "system":
        return [Message("system", f"{messages[0].text}\n\n{note}"), *messages[1:]]
    return [Message("system", note), *messages]


# --- the request -------------------------------------------------------------------------


def request_params(model: str, messages: list[Message], options: Mapping[str, Any], default_max_tokens: int, *,
                   send_sampling: bool = False, prompted: bool = False) -> tuple[dict[str, Any], Answer | None]:  # fmt: skip
    """The keyword arguments of `messages.create`, and how a structured answer comes back:
    None without a response_format, or when `prompted` (the schema stated in the system
    prompt instead of the forced tool)."""
    if options.get("response_format") is not None and prompted:
        messages = with_note(messages, options["response_format"])
        options = {k: v for k, v in options.items() if k != "response_format"}
    system, turns = anthropic_messages(messages)
    params: dict[str, Any] = {"model": model, "messages": turns,
                              "max_tokens": options.get("max_tokens") or default_max_tokens}  # fmt: skip
    if system:
        params["system"] = system
    tools: list[Tool] = list(options.get("tools") or [])
    choice = options.get("tool_choice")
    parallel = options.get("parallel_tool_calls")
    wire_tools = [tool_param(t) for t in tools]
    answer: Answer | None = None
    if options.get("response_format") is not None:
        spec, answer = answer_spec(options["response_format"], tools)
        named = _named(choice)
        wire_tools.append(spec)  # the caller's tools stay defined: the conversation may hold their calls
        if not tools or choice == "none":
            choice_param: dict[str, Any] = {"type": "tool", "name": ANSWER_TOOL}
        elif named is not None:  # the caller wants that tool called now; the answer comes later
            choice_param = tool_choice_param(choice, tools, parallel)
        else:  # a real call or the answer, but some tool
            choice_param = {"type": "any"}
            if parallel is False:
                choice_param["disable_parallel_tool_use"] = True
        params["tools"], params["tool_choice"] = wire_tools, choice_param
    elif tools:
        params["tools"] = wire_tools
        if choice is not None or parallel is not None:
            params["tool_choice"] = tool_choice_param(choice, tools, parallel)
    elif choice is not None and choice != "none":
        raise InvalidOptionError(f"tool_choice={choice!r} was given without tools", hint="Pass tools= as well.")
    for name in ("timeout", "extra_body", "extra_headers"):
        if options.get(name) is not None:
            params[name] = options[name]
    sampling = {name: options[name] for name in SAMPLING if options.get(name) is not None}
    if sampling and send_sampling:  # the SDK has no arguments for them any more: in the body
        params["extra_body"] = {**sampling, **(params.get("extra_body") or {})}
    if options.get("stop"):
        stop = options["stop"]
        params["stop_sequences"] = [stop] if isinstance(stop, str) else list(stop)
    if options.get("user"):
        params["metadata"] = {"user_id": options["user"]}
    return params, answer
