"""`llmkit logs [-q SEARCH] [--cid ID] [--json] [-n N]`: the history of asks and chats.

llmkit logs                 the last 10 exchanges
llmkit logs -q "tokenizer"  exchanges whose question or answer has all these words
llmkit logs --cid 18c2      one conversation (a unique prefix of its id is enough)
llmkit logs --list          conversations, newest first
llmkit logs -m mini         exchanges answered by one model (an alias names the model it points at)
llmkit logs -r              the last reply alone, as it was printed (with -q, -m, -c: the last that matches)
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

__all__ = ["add_arguments", "run"]


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("-q", "--query", help="full-text search: exchanges containing all these words")
    g = p.add_mutually_exclusive_group()
    g.add_argument("--cid", help="only this conversation (id or unique prefix)")
    g.add_argument("-c", "--current", action="store_true", help="only the last conversation")
    p.add_argument("-m", "--model", help="only exchanges answered by this model")
    p.add_argument("-r", "--response", action="store_true", help="print only the last reply's text")
    p.add_argument("-n", "--count", type=int, default=10, help="how many exchanges (default 10; 0 for all)")
    p.add_argument("-l", "--list", action="store_true", help="list conversations instead of exchanges")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.add_argument("--path", action="store_true", help="print the history file's path and exit")


def run(args: argparse.Namespace) -> int:
    from llmkit.errors import InvalidOptionError
    from llmkit.logs import db_path

    path = db_path()
    if args.path:
        print(path)
        return 0
    if args.count < 0:
        raise InvalidOptionError("-n must be 0 (all) or more")
    limit = 1 if args.response else args.count or 1_000_000_000
    if not path.exists():
        if args.response:
            print(f"error: no history yet ({path})", file=sys.stderr)
            return 1
        print("[]" if args.json else f"no history yet ({path})")
        return 0
    with _open(path) as history:
        if args.list:
            rows = history.conversations(limit)
            _print_conversations(rows, history, args.json)
            return 0
        cid = history.resolve_id(args.cid) if args.cid else history.last_conversation_id() if args.current else None
        found = history.find_turns(cid=cid, query=args.query, limit=limit, models=_model_ids(args.model))
        systems = {c: history.conversation(c).get("system") for c in {c for c, _ in found}}
    if args.response and not args.json:
        reply = found[-1][1].reply if found else None
        if reply is None:
            print("error: no reply matches" if found or args.query or args.model else "error: no exchanges yet",
                  file=sys.stderr)  # fmt: skip
            return 1
        print(reply.text)
    elif args.json:
        print(json.dumps([_turn_json(c, t, systems.get(c)) for c, t in found], indent=2, ensure_ascii=False))
    elif not found:
        print(f"nothing matches {args.query!r}" if args.query else "no exchanges", file=sys.stderr)
    else:
        _print_turns(found, systems)
    return 0


def _model_ids(model: str | None) -> tuple[str, ...]:
    """The ids a -m names: as typed, and what it resolves to (an alias's model)."""
    if not model:
        return ()
    from llmkit import registry
    from llmkit.errors import LLMKitError

    try:
        resolved = registry.resolve(model).model_id
    except LLMKitError:  # a provider removed since: the id as recorded
        resolved = model
    return tuple(dict.fromkeys((model, resolved)))


def _open(path: Any) -> Any:
    """The history, read-only when it cannot be opened for writing (a file the user may
    only read): reading needs no more."""
    from llmkit.errors import ConfigurationError
    from llmkit.logs import History

    try:
        return History(path)
    except ConfigurationError:
        return History(path, readonly=True)


def _turn_json(cid: str, t: Any, system: str | None) -> dict[str, Any]:
    u = t.usage
    return {"conversation_id": cid, "turn": t.number, "created_at": t.created_at, "model": t.model,
            "system": system, "prompt": t.user.text, "response": t.reply.text if t.reply else None,
            "options": t.options, "finish_reason": t.finish_reason, "interrupted": t.interrupted,
            "duration_ms": round(t.duration * 1000),
            "usage": {"input_tokens": u.input_tokens, "output_tokens": u.output_tokens, "cost": u.cost}}  # fmt: skip


def _print_turns(found: list, systems: dict[str, str | None]) -> None:
    current = None
    for cid, t in found:
        if cid != current:
            current = cid
            print(f"\n== conversation {cid}" + (f"  (system: {_short(systems[cid])})" if systems.get(cid) else ""))
        when = t.created_at[:19].replace("T", " ")
        print(f"\n-- {when} UTC  turn {t.number}  {t.model}")
        print("> " + t.user.text.rstrip("\n").replace("\n", "\n> "))
        if t.reply is not None:
            print(t.reply.text + (" [interrupted]" if t.interrupted else ""))


def _print_conversations(rows: list[dict[str, Any]], history: Any, as_json: bool) -> None:
    if as_json:
        print(json.dumps(rows, indent=2, ensure_ascii=False))
        return
    if not rows:
        print("no conversations yet", file=sys.stderr)
    for r in rows:
        turns = history.turns(r["id"])
        first = _short(turns[0].user.text) if turns else ""
        when = (r["updated_at"] or "")[:16].replace("T", " ")
        print(f"{r['id']}  {when}  {r['source'] or '':<4}  {r['turns']:>3} turn(s)  {r['model'] or ''}  {first}")


def _short(text: str | None, width: int = 50) -> str:
    text = " ".join((text or "").split())
    return text if len(text) <= width else text[: width - 1] + "…"
