"""Conversations as files: Markdown or JSON, chosen by the file's extension
(`Conversation.save` / `Conversation.load`, the chat's /save and /load).

Markdown is for people (each section starts with an invisible marker that loading
splits on, so a reply's unclosed code fence cannot move turns); JSON keeps every field.
A JSON list of OpenAI-shaped messages loads too."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Any

from ..atomic import write_text_atomic
from ..errors import InvalidOptionError, UsageError
from ..types import Message, Usage
from ..userfiles import read_capped
from .turn import Turn

__all__ = ["save", "load"]

MAX_LOAD_BYTES = 50_000_000  # a saved conversation; a bigger file is not one
_TURN_HEADER = re.compile(r"^## (user|assistant)( \((?P<meta>[^)]*)\))?\s*$")


def save(path: str, turns: list[Turn], *, system: str | None, model: str, cid: str | None,
         overwrite: bool = False) -> Path:  # fmt: skip
    p = Path(path).expanduser()
    if p.exists() and not overwrite:
        raise UsageError(f"{p} already exists", hint=f"Choose another name, or /save {path} --force to replace it.")
    p = p.resolve() if p.is_symlink() else p  # replace what the link points to, keep the link
    kind = p.suffix.lower()
    if kind == ".json":
        data = {"llmkit": 1, "model": model, "conversation_id": cid, "system": system,
                "turns": [_turn_dict(t) for t in turns]}  # fmt: skip
        text = json.dumps(data, indent=2, ensure_ascii=False) + "\n"
    elif kind in (".md", ".markdown"):
        text = _markdown(turns, system=system, model=model)
    else:
        raise UsageError(f"cannot tell the format of {p.name!r}", hint="Use a .md or a .json file name.")
    write_text_atomic(p, text)  # owner-only when new: conversations are private
    return p


def load(path: str) -> tuple[list[Turn], str | None]:
    """Turns and system prompt from a file written by /save (or a JSON list of
    OpenAI-shaped messages)."""
    p = Path(path).expanduser()
    try:
        text = read_capped(p, MAX_LOAD_BYTES, "/load").decode("utf-8")
    except FileNotFoundError:
        raise UsageError(f"no such file: {p}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"cannot read {p}: {exc}") from None
    if p.suffix.lower() == ".json":
        try:
            data = json.loads(text)
        except (json.JSONDecodeError, RecursionError) as exc:
            raise UsageError(f"{p} is not valid JSON: {exc}") from None
        if isinstance(data, list):
            return _from_messages(data, p)
        if isinstance(data, dict) and isinstance(data.get("turns"), list):
            system = data.get("system")
            if system is not None and not isinstance(system, str):
                raise UsageError(f"{p}: 'system' must be text", hint="Load a file written by /save.")
            try:
                return [_turn_from(d, p) for d in data["turns"]], system or None
            except InvalidOptionError as exc:  # e.g. a lone surrogate escaped in the JSON
                raise UsageError(f"{p}: a saved turn cannot be used: {exc.message}", hint=exc.hint) from None
        raise UsageError(f"{p} is not a saved conversation", hint="Load a file written by /save.")
    return _from_markdown(text, p)


# --- formats ---------------------------------------------------------------------------


def _turn_dict(t: Turn) -> dict[str, Any]:
    return {"user": t.user.text, "assistant": t.reply.text if t.reply else None, "model": t.model,
            "interrupted": t.interrupted, "usage": {"input_tokens": t.usage.input_tokens,
            "output_tokens": t.usage.output_tokens, "cost": t.usage.cost}}  # fmt: skip


def _turn_from(d: Any, p: Path) -> Turn:
    """One saved turn, every field checked before anything in the session changes."""

    def bad(what: str) -> UsageError:
        return UsageError(f"{p}: a saved turn {what}", hint="Load a file written by /save, or fix that turn.")

    if not isinstance(d, dict) or not isinstance(d.get("user"), str):
        raise bad("has no 'user' text")
    reply = d.get("assistant")
    if reply is not None and not isinstance(reply, str):
        raise bad("has an 'assistant' that is not text")
    if not isinstance(d.get("model") or "", str) or not isinstance(d.get("interrupted", False), bool):
        raise bad("has a 'model' that is not text or an 'interrupted' that is not true/false")
    u = d.get("usage") or {}
    numbers = [u.get(k) for k in ("input_tokens", "output_tokens", "cost")] if isinstance(u, dict) else [None, "x"]
    if any(v is not None and (isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v) or v < 0)
           for v in numbers):  # fmt: skip
        raise bad("has a 'usage' that is not a table of counts and a cost (finite numbers >= 0)")
    return Turn(Message("user", d["user"]), Message("assistant", reply) if isinstance(reply, str) else None,
                model=d.get("model") or "", interrupted=bool(d.get("interrupted")),
                usage=Usage(u.get("input_tokens") or 0, u.get("output_tokens") or 0, u.get("cost")))  # fmt: skip


def _from_messages(items: list, p: Path) -> tuple[list[Turn], str | None]:
    messages = []
    for i, item in enumerate(items):  # each message checked, as the SDK checks them
        try:
            if not isinstance(item, dict):
                raise InvalidOptionError(f"it is {type(item).__name__}, not a message object")
            messages.append(Message.from_dict(item))
        except InvalidOptionError as exc:
            raise UsageError(f"{p}: message #{i} cannot be used: {exc.message}", hint=exc.hint) from None
    system = "\n\n".join(m.text for m in messages if m.role == "system") or None
    turns: list[Turn] = []
    for m in messages:
        if m.role == "user":
            turns.append(Turn(m))
        elif m.role == "assistant" and turns and turns[-1].reply is None:
            turns[-1].reply = Message("assistant", m.text)
    return turns, system


def _markdown(turns: list[Turn], *, system: str | None, model: str) -> str:
    # Each section starts with an HTML comment (invisible when rendered) that /load splits
    # on, so a reply's unclosed code fence or its own "## user" line cannot move turns.
    out = [f"# Conversation with {model}\n"]
    if system:
        out.append(f"{_MARK.format('system')}\n## system\n\n{system}\n")
    for t in turns:
        out.append(f"{_MARK.format('user')}\n## user\n\n{t.user.text}\n")
        if t.reply is not None:
            meta = t.model + (", interrupted" if t.interrupted else "")
            out.append(f"{_MARK.format('assistant')}\n## assistant ({meta})\n\n{t.reply.text}\n")
    return "\n".join(out)


_MARK = "<!-- llmkit:{} -->"
_MARK_LINE = re.compile(r"^<!-- llmkit:(system|user|assistant) -->$")


def _from_markdown(text: str, p: Path) -> tuple[list[Turn], str | None]:
    sections: list[tuple[str, str | None, list[str]]] = []  # (role, meta, lines)
    lines = text.splitlines()
    if any(_MARK_LINE.match(line) for line in lines):  # written by /save: split on the markers only
        header_at = -1
        for i, line in enumerate(lines):
            mark = _MARK_LINE.match(line)
            if mark:
                header = _TURN_HEADER.match(lines[i + 1]) if i + 1 < len(lines) else None
                sections.append((mark.group(1), header.group("meta") if header else None, []))
                header_at = i + 1
            elif sections and i != header_at:
                sections[-1][2].append(line)
        return _sections_to_turns(sections, p)
    in_fence = False  # a hand-written file (no markers): headers outside code fences
    for line in lines:
        m = None if in_fence else _TURN_HEADER.match(line)
        if line.lstrip().startswith("```"):
            in_fence = not in_fence
        if m:
            sections.append((m.group(1), m.group("meta"), []))
        elif line.strip() == "## system" and not in_fence:
            sections.append(("system", None, []))
        elif sections:
            sections[-1][2].append(line)
    return _sections_to_turns(sections, p)


def _sections_to_turns(sections: list[tuple[str, str | None, list[str]]], p: Path) -> tuple[list[Turn], str | None]:
    system, turns = None, []
    for role, meta, lines in sections:
        body = "\n".join(lines).strip("\n")
        if role == "system":
            system = body
        elif role == "user":
            turns.append(Turn(Message("user", body)))
        elif turns and turns[-1].reply is None:
            turns[-1].reply = Message("assistant", body)
            turns[-1].model = (meta or "").split(",")[0].strip()
            turns[-1].interrupted = "interrupted" in (meta or "")
    if not turns:
        raise UsageError(f"{p} holds no conversation", hint="Load a .md or .json file written by /save.")
    return turns, system
