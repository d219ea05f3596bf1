"""`llmkit extract [FILE] --schema SCHEMA.json [-m MODEL] [--json]`

Pulls records out of one text (stdin when no FILE); SCHEMA.json is the JSON schema of
one record (an object with properties). Prints one record per line as JSON, then,
for a record whose text values were not all found in the text, which were not.
`--json` prints the items with their spans, unlocated fields and strategy.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from .task_io import add_task_options, emit, read_input, task_client

__all__ = ["add_arguments", "run"]


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("file", nargs="?", help="the text file (default: stdin)")
    p.add_argument("--schema", required=True, help="a JSON file with the JSON schema of one record")
    add_task_options(p, json_help="print items, spans and unlocated fields as JSON")


def _schema(path: str) -> dict[str, Any]:
    from llmkit.errors import UsageError

    try:
        value = json.loads(read_input(path))
    except json.JSONDecodeError as exc:
        raise UsageError(f"{path} is not valid JSON: {exc.msg} (line {exc.lineno})") from None
    if not isinstance(value, dict):
        raise UsageError(f"{path} must hold a JSON schema object, not a {type(value).__name__}")
    return value


def run(args: argparse.Namespace) -> int:
    from llmkit.tasks import extract

    schema = _schema(args.schema)
    text = read_input(args.file)
    with task_client(args) as client:
        result = extract(text, schema, model=client)
    lines = []
    for item, missing in zip(result.items, result.unlocated, strict=True):
        lines.append(json.dumps(item, ensure_ascii=False))
        if missing:
            lines.append(f"  not found in the text: {', '.join(missing)}")
    emit(args, result, "\n".join(lines) if lines else "(no records found)")
    return 0
