"""Information extraction: the records a text holds, validated against a schema, each
string value located in the text or flagged as not found.

Strategy: structured output through `response_format` (llmkit.tasks._core.ask_structured),
with the schema wrapped as `{"items": [ITEM, ...]}` so that a text can give any number
of records; how the backend held the model to it ("native", "constrained" or
"prompted") is reported as `strategy`. A model whose output never fits is a TaskError.

`schema` is a pydantic model class (items come back as its instances) or a JSON-schema
dict for one object (items are dicts, validated against it).

Long text is cut into pieces that fit the model's window (by its own token counts);
each is extracted apart, identical records are kept once, and spans are offsets in
the whole text.

Spans: every non-empty string value (nested ones too, named by a path such as
`address.city` or `tags[0]`) is looked for, as whole words, in the piece the model read: verbatim,
then ignoring case, then ignoring case and runs of whitespace. Found: its
`(start, end)` goes in `spans[i][path]`. Not found: the path goes in `unlocated[i]`,
so a value the model made up or reworded is never passed off as quoted. Numbers and
booleans are values, not spans, and are in neither.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..client import Client
from ..errors import LLMKitError, TaskError
from ..types import system, user
from ._core import Chat, Task, failed, run_many, run_one, using
from ._text import budget, check_text, client_split

__all__ = ["Extraction", "extract", "extract_batch"]

_MAX_TOKENS = 512
_INSTRUCTIONS = ("Extract every record described by the schema from the text the user gives. Use the text's own "
                 "words for text values. If the text holds none, answer with an empty list of items.")  # fmt: skip


@dataclass
class Extraction:
    """The records found (`items`: schema instances, or dicts for a dict schema), and
    for each item the source offsets of its string values (`spans[i]`: path ->
    (start, end)) and the paths of those not found in the text (`unlocated[i]`)."""

    items: list[Any]
    spans: list[dict[str, tuple[int, int]]]
    unlocated: list[list[str]]
    strategy: str
    chunks: int = 1
    notes: list[str] = field(default_factory=list)


def extract(text: str, schema: Any, model: Client | str | None = None, *, max_tokens: int | None = None) -> Extraction:
    """The records of `schema` (a pydantic model class or a JSON-schema dict) in `text`.

    `max_tokens`: the most the model may write per piece of text (default 512, less
    on a small window); constrained decoding closes the JSON in time."""
    wrapper, kind = _wrap(schema)
    return using(model, lambda client: run_one(_extract(client, text, wrapper, kind, max_tokens), client))


def extract_batch(
    texts: Sequence[str],
    schema: Any,
    model: Client | str | None = None,
    *,
    concurrency: int = 8,
    progress: bool | None = None,
    max_tokens: int | None = None,
) -> list[Extraction | LLMKitError]:
    """`extract` for several texts, in order; a failed item holds its TaskError."""
    if isinstance(texts, str):
        raise TaskError("extract_batch takes a list of texts", hint="Use extract() for one text.")
    wrapper, kind = _wrap(schema)
    items = list(texts)

    def work(client: Client) -> list[Any]:
        tasks = [_extract(client, t, wrapper, kind, max_tokens) for t in items]
        return run_many(tasks, client, concurrency=concurrency, progress=progress, label="extraction")

    return using(model, work)


def _wrap(schema: Any) -> tuple[Any, str]:
    """The response format for a list of `schema` records, and "pydantic" or "dict"."""
    if isinstance(schema, type) and hasattr(schema, "model_json_schema"):
        from pydantic import create_model

        return create_model(f"{schema.__name__}Items", items=(list[schema], ...)), "pydantic"
    if isinstance(schema, dict):
        if schema.get("type", "object") != "object" or not isinstance(schema.get("properties"), dict):
            raise TaskError("a schema dict must describe one object: {\"type\": \"object\", \"properties\": {...}}",
                            hint="Describe one record; extract() returns a list of them.")  # fmt: skip
        item = {k: v for k, v in schema.items() if k not in ("$defs", "definitions", "$schema")}
        wrapper = {"type": "object", "properties": {"items": {"type": "array", "items": item}},
                   "required": ["items"], "additionalProperties": False}  # fmt: skip
        for key in ("$defs", "definitions"):  # references stay valid from the top
            if key in schema:
                wrapper[key] = schema[key]
        return wrapper, "dict"
    raise TaskError(f"schema must be a pydantic model class or a JSON-schema dict, not {type(schema).__name__}",
                    hint="e.g. class Person(BaseModel): name: str; age: int | None = None")  # fmt: skip


def _extract(client: Client, text: str, wrapper: Any, kind: str, limit: int | None) -> Task[Extraction]:
    source = check_text(text)
    from ..structured import with_note  # how local backends and the prompted strategy state the schema

    overhead = int(client.count_tokens(with_note([system(_INSTRUCTIONS), user("Text:\n")], wrapper)))
    window = client.context_window()
    max_tokens = limit or (_MAX_TOKENS if window is None else max(64, min(_MAX_TOKENS, window // 4)))
    room = budget(client, reserve=overhead + max_tokens + 16)
    pieces = client_split(client, source, room)
    found: list[tuple[Any, dict[str, tuple[int, int]], list[str]]] = []
    seen: set[str] = set()
    strategies: set[str] = set()
    for piece in pieces:
        messages = [system(_INSTRUCTIONS), user(f"Text:\n{piece.text}")]
        value, how = yield from _ask(messages, wrapper, {"temperature": 0, "max_tokens": max_tokens})
        strategies.add(how)
        for item in value["items"] if isinstance(value, dict) else value.items:
            plain = item.model_dump(mode="json") if kind == "pydantic" else item
            key = json.dumps(plain, sort_keys=True, ensure_ascii=False)
            if key in seen:  # the same record from an overlapping mention
                continue
            seen.add(key)
            spans, missing = _locate(plain, piece.text, piece.start)
            found.append((item, spans, missing))
    notes = [f"text split into {len(pieces)} pieces by the model's window"] if len(pieces) > 1 else []
    return Extraction([f[0] for f in found], [f[1] for f in found], [f[2] for f in found],
                      "+".join(sorted(strategies)), len(pieces), notes)  # fmt: skip


def _ask(messages: list[Any], wrapper: Any, options: dict[str, Any]) -> Task[tuple[Any, str]]:
    """The validated value and how the backend got it; a TaskError when it will not fit."""
    from ..errors import MalformedResponseError

    try:
        response = yield Chat(messages, {**options, "response_format": wrapper})
        value = response.parsed
    except MalformedResponseError as exc:
        raise failed(f"extraction: the model's output did not fit the schema ({exc.message})",
                     hint="Try a larger model, or a schema with fewer required fields.",
                     output=getattr(exc, "text", None)) from None  # fmt: skip
    except ValueError as exc:  # pydantic's ValidationError: the answer is JSON but not the records
        raise failed(f"extraction: the model's output did not fit the schema ({str(exc).splitlines()[0]})",
                     hint="Try a larger model, or a schema with fewer required fields.") from None  # fmt: skip
    if isinstance(value, dict) and not isinstance(value.get("items"), list):
        raise failed("extraction: the model's answer has no list of items", output=response.text)
    return value, response.structured_by or "native"


def _strings(value: Any, path: str = "") -> Iterator[tuple[str, str]]:
    """(path, string) for every string inside a JSON value."""
    if isinstance(value, str):
        yield path, value
    elif isinstance(value, dict):
        for k, v in value.items():
            yield from _strings(v, f"{path}.{k}" if path else str(k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from _strings(v, f"{path}[{i}]")


def _locate(item: Any, text: str, offset: int) -> tuple[dict[str, tuple[int, int]], list[str]]:
    spans, missing = {}, []
    for path, value in _strings(item):
        if not value.strip():
            continue
        where = _find(value.strip(), text)
        if where is None:
            missing.append(path)
        else:
            spans[path] = (where[0] + offset, where[1] + offset)
    return spans, missing


def _find(value: str, text: str) -> tuple[int, int] | None:
    """Where `value` is in `text` as whole words: verbatim, else ignoring case, else
    also ignoring how much whitespace separates its words ("s" is not found in "is")."""
    words = [re.escape(w) for w in value.split()]
    left = r"(?<!\w)" if re.match(r"\w", value) else ""
    right = r"(?!\w)" if re.search(r"\w$", value) else ""
    for pattern, flags in ((re.escape(value), 0), (re.escape(value), re.I), (r"\s+".join(words), re.I)):
        m = re.search(left + pattern + right, text, flags)
        if m:
            return m.start(), m.end()
    return None
