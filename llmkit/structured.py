"""Structured output: what a response_format asks for, and getting it from models that
cannot be held to a schema.

Three strategies, and `Response.structured_by` says which one answered:

- "native": the server enforces the schema (OpenAI's json_schema response format).
  A compatible server's json_schema answer is "server": it may have ignored the format
  (transformers serve does), so the answer is checked, and asked for again if it does not fit.
- "constrained": a local backend lets the model write only schema-valid tokens
  (llmkit.constraints).
- "prompted": the schema is stated in the prompt, the JSON is taken from the answer
  (also from a code fence) and validated; an answer that does not fit is sent back
  with the validation errors, up to `retries` times (a budget of its own, apart from
  the HTTP retries). Used where a backend has no structured output, or a server
  refused it (many OpenAI-compatible servers answer json_schema with a 400).

    >>> extract_json('Sure! ```json\\n{"city": "Oslo"}\\n```')
    '{"city": "Oslo"}'
    >>> problems({"type": "object", "required": ["city"]}, '{"town": "Oslo"}')
    ["'city' is a required property"]
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from typing import Any

from .errors import InvalidOptionError, MalformedResponseError
from .types import Message, Response, Usage

__all__ = ["schema_of", "extract_json", "problems", "with_note", "prompted", "StructuredOutputError", "VERIFIED"]

VERIFIED = ("native", "constrained")  # strategies whose output needs no check


class StructuredOutputError(MalformedResponseError):
    """The model's answers never matched the response format. `text` is the last
    answer, `problems` what was wrong with it."""

    retryable = False

    def __init__(self, text: str, found: list[str], model: str | None = None) -> None:
        self.text, self.problems = text, found
        super().__init__("the answer does not match the response format: " + "; ".join(found[:5]), model=model,
                         hint="Raise structured_retries, describe the fields better, or use a model with "
                              "structured output (openai:, hf:, mini).")  # fmt: skip


def schema_of(response_format: Any) -> dict[str, Any]:
    """The JSON schema a response_format asks for: "json" (any JSON object), a pydantic
    model class, a JSON-schema dict, or an OpenAI response_format dict."""
    if response_format == "json":
        return {"type": "object"}
    if hasattr(response_format, "model_json_schema"):  # a pydantic model: exactly its fields
        return _closed(response_format.model_json_schema())
    if isinstance(response_format, Mapping):
        kind = response_format.get("type")
        if kind == "json_object":
            return {"type": "object"}
        if kind == "json_schema":
            inner = response_format.get("json_schema") or {}
            return dict(inner.get("schema") or {"type": "object"})
        return dict(response_format)
    raise InvalidOptionError(f"cannot use {response_format!r} as response_format")


def _closed(schema: Any) -> Any:
    """A pydantic schema whose objects take no properties beyond their fields (pydantic
    would ignore them; a model writing them only wastes tokens), and without titles."""
    if isinstance(schema, dict):
        out = {k: _closed(v) for k, v in schema.items() if k != "title" or not isinstance(v, str)}
        if out.get("type") == "object" and "properties" in out:
            out.setdefault("additionalProperties", False)
        return out
    if isinstance(schema, list):
        return [_closed(v) for v in schema]
    return schema


_FENCED = re.compile(r"```(?:json)?\s*(.*?)```", re.S)


def extract_json(text: str) -> str | None:
    """The JSON value in a model's answer: the whole text, a ```json fence, or the
    outermost {...} / [...] span that parses."""
    candidates = [text.strip(), *(m.strip() for m in _FENCED.findall(text))]
    for opener, closer in ("{}", "[]"):
        start, end = text.find(opener), text.rfind(closer)
        if 0 <= start < end:
            candidates.append(text[start : end + 1])
    for candidate in candidates:
        try:
            json.loads(candidate)
        except (json.JSONDecodeError, ValueError):
            continue
        return candidate
    return None


def problems(response_format: Any, raw: str | None) -> list[str]:
    """What is wrong with `raw` (JSON text) for this response format; [] when it fits.
    A pydantic model validates itself; a JSON-schema dict is checked with jsonschema
    when it is installed, else only parsed."""
    if raw is None:
        return ["the answer is not JSON"]
    if hasattr(response_format, "model_validate_json"):
        import pydantic

        try:
            response_format.model_validate_json(raw)
        except pydantic.ValidationError as exc:
            return [f"{'.'.join(map(str, e['loc'])) or 'value'}: {e['msg']}" for e in exc.errors()]
        return []
    value = json.loads(raw)
    schema = schema_of(response_format)
    try:
        import jsonschema
    except ImportError:  # parsing is all that can be checked
        return [] if schema.get("type") != "object" or isinstance(value, dict) else ["the answer is not a JSON object"]
    return [error.message for error in jsonschema.Draft202012Validator(schema).iter_errors(value)]


def with_note(messages: list[Message], response_format: Any) -> list[Message]:
    """The conversation with the schema stated in its system prompt."""
    note = "Answer with only a JSON value that matches this JSON schema:\n" + json.dumps(schema_of(response_format))
    if messages and messages[0].role == "system":
        return [Message("system", f"{messages[0].text}\n\n{note}"), *messages[1:]]
    return [Message("system", note), *messages]


def prompted(send: Callable[[list[Message]], Response], messages: list[Message], response_format: Any,
             retries: int, *, verify_first: Response | None = None) -> Response:  # fmt: skip
    """Ask (the schema in the prompt), validate, and re-ask with the errors. With
    `verify_first`, an answer already obtained (a server's unenforced JSON mode) is
    checked before anything is sent."""
    conversation = with_note(messages, response_format)
    response = verify_first if verify_first is not None else send(conversation)
    spent = [response.usage]
    for attempt in range(retries + 1):
        if response.tool_calls:  # the model called a tool instead: the caller runs it, JSON comes later
            response.response_format = response_format
            response.usage = _total(spent)
            return response
        raw = extract_json(response.text)
        found = problems(response_format, raw)
        if not found:
            response.text = response.texts[0] = raw or response.text
            response.response_format = response_format
            if verify_first is None or attempt > 0 or response.structured_by in (None, "json_mode"):
                response.structured_by = "prompted"  # also a JSON mode's answer: the schema was checked here
            # else: a backend's own strategy (e.g. a forced tool) whose answer passed the check keeps its label
            response.usage = _total(spent)  # every ask for this answer counts
            return response
        if attempt == retries:
            raise StructuredOutputError(response.text, found, model=response.model or None)
        conversation = [*conversation, Message("assistant", response.text),
                        Message("user", "That answer does not match the required JSON schema: " + "; ".join(found[:10])
                                + ". Reply with only the corrected JSON.")]  # fmt: skip
        response = send(conversation)
        spent.append(response.usage)
    raise AssertionError("unreachable")


def _total(usages: list[Usage]) -> Usage:
    costs = [u.cost for u in usages]
    return Usage(sum(u.input_tokens for u in usages), sum(u.output_tokens for u in usages),
                 None if None in costs else sum(c for c in costs if c is not None), any(u.estimated for u in usages))
