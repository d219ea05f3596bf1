"""The slash commands. Each takes the app and the text after the command name."""

from __future__ import annotations

import difflib
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..errors import LLMKitError, UsageError

if TYPE_CHECKING:
    from .app import ChatApp


class ExitChat(Exception):
    """/exit: leave the REPL."""


@dataclass(frozen=True)
class Command:
    name: str
    usage: str
    help: str
    run: Callable[[ChatApp, str], None]


COMMANDS: dict[str, Command] = {}
ALIASES = {"/quit": "/exit", "/q": "/exit", "/?": "/help"}


def command(name: str, usage: str, help: str):
    def register(fn: Callable[[ChatApp, str], None]) -> Callable[[ChatApp, str], None]:
        COMMANDS[name] = Command(name, usage, help, fn)
        return fn

    return register


def dispatch(app: ChatApp, line: str) -> None:
    name, _, arg = line.strip().partition(" ")
    name = ALIASES.get(name.lower(), name.lower())
    cmd = COMMANDS.get(name)
    if cmd is None:
        close = difflib.get_close_matches(name, list(COMMANDS) + list(ALIASES), n=1, cutoff=0.5)
        hint = f"did you mean {ALIASES.get(close[0], close[0])}? " if close else ""
        raise UsageError(f"unknown command {name}",
                          hint=f"{hint}/help lists the commands; to send text that starts with /, begin it with //.")
    cmd.run(app, arg.strip())


@command("/help", "/help", "this list")
def _help(app: ChatApp, arg: str) -> None:
    width = max(len(c.usage) for c in COMMANDS.values())
    lines = [f"  {c.usage:<{width}}  {c.help}" for c in COMMANDS.values()]
    keys = ("Enter sends; Alt-Enter, Esc Enter or Ctrl-J adds a line; pastes stay whole; Up/Down recall "
            "earlier messages" if app.reader.multiline_keys else 'a line of """ starts and ends a multi-line message')  # fmt: skip
    app.out.info(
        "\n".join(lines) + f"\n  {keys}.\n  Ctrl-C stops a reply (it is kept) or clears the line; Ctrl-D exits."
    )


@command("/model", "/model [NAME]", "switch model, keeping the conversation (no NAME: show it)")
def _model(app: ChatApp, arg: str) -> None:
    s = app.session
    if not arg:
        caps = ", ".join(s.client.capabilities.names())
        app.out.info(f"model {s.client.model} [{caps}]; context window {s.client.context_window() or 'unknown'}")
        return
    app.out.info(f"loading {arg} ...")
    dropped = s.switch_model(arg)
    app.out.note(f"now talking to {s.client.model}")
    if dropped:
        app.out.warn(f"left out options it does not take: {', '.join(dropped)}")
    app.announce_model()


@command("/system", "/system [TEXT]", "set the system prompt (no TEXT: show it; /system - clears it)")
def _system(app: ChatApp, arg: str) -> None:
    s = app.session
    if not arg:
        app.out.info(f"system prompt: {s.system!r}" if s.system else "no system prompt")
        return
    s.set_system(None if arg == "-" else arg)
    app.out.note("system prompt cleared" if arg == "-" else "system prompt set")


@command("/attach", "/attach FILE", "add a text file to your next message (no FILE: list them)")
def _attach(app: ChatApp, arg: str) -> None:
    from .files import read_attachment

    s = app.session
    if not arg:
        names = ", ".join(n for n, _ in s.attachments)
        app.out.info(f"attached to the next message: {names}" if names else "nothing attached")
        return
    name, text = read_attachment(arg)
    s.attachments.append((name, text))
    tokens = ""
    try:
        tokens = f", {int(s.client.count_tokens(text)):,} tokens"
    except LLMKitError:
        pass
    app.out.note(f"attached {name} ({len(text):,} characters{tokens}) to your next message")


@command("/retry", "/retry", "ask again for the last answer (or resend a message that failed)")
def _retry(app: ChatApp, arg: str) -> None:
    app.run_turn(lambda on_text, truncate: app.session.retry(on_text, truncate=truncate), retry=True)


@command("/undo", "/undo", "remove the last exchange (from the history too)")
def _undo(app: ChatApp, arg: str) -> None:
    turn = app.session.undo()
    if turn is None:
        app.out.info("nothing to undo")
    else:
        app.out.note(f"removed: {_short(turn.user.text)}")


@command("/clear", "/clear", "start a new conversation (the old one stays in the history)")
def _clear(app: ChatApp, arg: str) -> None:
    app.session.clear()
    app.out.note("new conversation")


@command("/save", "/save FILE [--force]", "save the conversation (.md or .json); --force replaces a file")
def _save(app: ChatApp, arg: str) -> None:
    from . import files

    force = arg.endswith(" --force")
    arg = arg.removesuffix(" --force").strip()
    if not arg:
        raise UsageError("/save needs a file name", hint="e.g. /save chat.md or /save chat.json")
    s = app.session
    path = files.save(arg, s.turns, system=s.system, model=s.client.model, cid=s.cid, overwrite=force)
    app.out.note(f"saved {len(s.turns)} turn(s) to {path}")


@command("/load", "/load FILE", "continue a conversation saved with /save")
def _load(app: ChatApp, arg: str) -> None:
    from . import files

    if not arg:
        raise UsageError("/load needs a file name", hint="e.g. /load chat.json")
    turns, system = files.load(arg)
    app.session.replace_turns(turns, system)
    app.out.note(f"loaded {len(turns)} turn(s) from {arg}" + (" (with a system prompt)" if system else ""))


@command("/tokens", "/tokens", "tokens in the conversation, against the context window")
def _tokens(app: ChatApp, arg: str) -> None:
    s = app.session
    t = s.totals
    used = f"this session: {t.input_tokens:,} in, {t.output_tokens:,} out"
    messages = s.messages()
    try:
        count = f"{int(s.client.count_tokens(messages)):,} tokens" if messages else "empty"
    except LLMKitError:
        count = f"token count unknown for {s.client.model}"
    window = s.client.context_window()
    of = f" (context window {window:,})" if window else ""
    app.out.info(f"conversation: {count}{of}; {used}")


@command("/cost", "/cost", "what this session has cost so far")
def _cost(app: ChatApp, arg: str) -> None:
    s = app.session
    if s.totals.cost is None:
        app.out.info(f"no price known for {s.client.model}" if s.turns else "nothing spent yet")
    else:
        extra = "" if s.known_cost else " (some turns had no known price)"
        app.out.info(f"this session: ${s.totals.cost:.4f}{extra}")


@command("/history", "/history", "the turns of this conversation")
def _history(app: ChatApp, arg: str) -> None:
    s = app.session
    if not s.turns:
        app.out.info("no turns yet")
        return
    where = f" (conversation {s.cid}; `llmkit logs --cid {s.cid}` shows it in full)" if s.cid else ""
    lines = [f"{len(s.turns)} turn(s){where}"]
    for i, t in enumerate(s.turns, 1):
        mark = " [interrupted]" if t.interrupted else ""
        lines.append(f"  {i}. you: {_short(t.user.text)}")
        lines.append(f"     {t.model or 'model'}: {_short(t.reply.text if t.reply else '')}{mark}")
    app.out.info("\n".join(lines))


@command("/exit", "/exit", "leave (Ctrl-D does too)")
def _exit(app: ChatApp, arg: str) -> None:
    raise ExitChat


def _short(text: str, width: int = 70) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"
