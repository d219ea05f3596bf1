"""`llmkit translate [FILE...] --to fr [--from en] [--glossary FILE.json] [-m MODEL] [--json]`

Translates each file (stdin when none is given) with `llmkit.tasks.translate`,
keeping Markdown, code blocks, URLs and placeholders. The translation goes to stdout;
what could not be kept after the retries (a placeholder the model dropped, a glossary
term it ignored) goes to stderr as warnings.

Exit status: 0 when every input was translated, even with warnings (the text is
there; the warnings say where to look); 3 with `--strict` when there were warnings;
1 when an input could not be translated at all (empty, binary, a model error: the
other inputs are still translated and printed).
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from .task_io import add_task_options, read_input, read_inputs, task_client, to_jsonable

__all__ = ["add_arguments", "run"]


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("files", nargs="*", metavar="FILE", help="text or Markdown files (default: stdin)")
    p.add_argument("--to", required=True, help="target language code, e.g. fr, de, pt-BR, zh-Hant")
    p.add_argument("--from", dest="source", help="source language code (default: the model detects it)")
    p.add_argument("--glossary", metavar="FILE.json",
                   help='a JSON object of source term -> required target term, e.g. {"pull request": "demande de tirage"}')  # fmt: skip
    p.add_argument("--protect", choices=("mask", "verify"), default="mask",
                   help="send placeholders, code and URLs as numbered tokens (mask, default) or as they are (verify)")  # fmt: skip
    p.add_argument("--chunk-tokens", type=int, default=300, help="largest piece sent to the model at once (tokens)")
    p.add_argument("--strict", action="store_true", help="exit with status 3 when a translation has warnings")
    add_task_options(p, json_help="print the translation(s), with issues, as JSON")


def run(args: argparse.Namespace) -> int:
    from llmkit.errors import LLMKitError
    from llmkit.tasks import Translation, language_name, translate_batch

    language_name(args.to)  # an unknown code fails here, before a model loads
    if args.source:
        language_name(args.source)
    glossary = _glossary(args.glossary)
    inputs = read_inputs(args.files)
    with task_client(args) as client:
        results = translate_batch([text for _, text in inputs], to=args.to, source=args.source, glossary=glossary,
                                  model=client, protect=args.protect, chunk_tokens=args.chunk_tokens)  # fmt: skip
    named = list(zip([name for name, _ in inputs], results, strict=True))
    failed = warned = 0
    for name, result in named:
        if isinstance(result, LLMKitError):
            failed += 1
            print(f"error: {name}: {result.one_line()}", file=sys.stderr)
        elif isinstance(result, Translation):
            warned += bool(result.issues)
            for issue in result.issues:
                print(f"warning: {name}: {issue}", file=sys.stderr)
    if args.json:
        items = [{"file": name, **_json(result)} for name, result in named]
        print(json.dumps(items if len(items) > 1 else items[0], ensure_ascii=False, indent=2))
    else:
        ok = [(name, r) for name, r in named if isinstance(r, Translation)]
        for i, (name, result) in enumerate(ok):
            header = f"==> {name} <==\n" if len(named) > 1 else ""
            print(header + result.text + ("\n" if i + 1 < len(ok) else ""))
    if failed:
        return 1
    return 3 if warned and args.strict else 0


def _json(result: Any) -> dict[str, Any]:
    value = to_jsonable(result)
    return value if isinstance(value, dict) else {"result": value}


def _glossary(path: str | None) -> dict[str, str] | None:
    """The glossary file: a JSON object of strings; anything else is a UsageError."""
    from llmkit.errors import UsageError

    if path is None:
        return None
    try:
        value = json.loads(read_input(path))
    except json.JSONDecodeError as exc:
        raise UsageError(f"{path} is not valid JSON ({exc.msg}, line {exc.lineno})",
                         hint='A glossary is a JSON object: {"source term": "target term", ...}') from None  # fmt: skip
    if not isinstance(value, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in value.items()):
        raise UsageError(f"{path} must hold a JSON object of strings (source term -> target term)",
                         hint='e.g. {"pull request": "demande de tirage"}')  # fmt: skip
    return value
