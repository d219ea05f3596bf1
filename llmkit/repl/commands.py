"""The slash commands. One table (COMMANDS) drives dispatch, /help and Tab completion:
a new command is one @command entry here, and nowhere else.

A command gets the narrow `ChatContext` the app hands it (the conversation, the output,
the attachments for the next message, and two actions that need the app: switching
the model and retrying a turn), never the app itself.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, Protocol

from ..errors import LLMKitError, UsageError
from .render import shorten

if TYPE_CHECKING:
    from ..conversation import Conversation
    from .render import Renderer
    from .tooling import ToolTurns

__all__ = ["ChatContext", "Command", "COMMANDS", "ExitChat", "command", "dispatch", "lookup", "words"]


class ExitChat(Exception):
    """/exit: leave the REPL."""


class ChatContext(Protocol):
    """What a command may use."""

    conversation: Conversation
    out: Renderer
    attachments: list[tuple[str, str]]  # (name, text) for the next message
    tools: ToolTurns | None  # `llmkit chat --tools`: the tools an agent answers with
    markdown: bool | None  # /markdown: True, False, or None (Markdown for chat models only)

    @property
    def multiline_keys(self) -> bool: ...

    def switch_model(self, model: str) -> None: ...

    def retry(self) -> None: ...

    def send(self, text: str) -> None: ...


@dataclass(frozen=True)
class Command:
    name: str
    usage: str
    help: str
    run: Callable[[ChatContext, str], None]
    completes: Literal["files", "models"] | None = None  # what Tab offers after the name
    aliases: tuple[str, ...] = ()


COMMANDS: dict[str, Command] = {}


def command(name: str, usage: str, help: str, *, completes: Literal["files", "models"] | None = None,
            aliases: tuple[str, ...] = ()) -> Callable[[Callable[[ChatContext, str], None]], Callable[[ChatContext, str], None]]:  # fmt: skip
    def register(fn: Callable[[ChatContext, str], None]) -> Callable[[ChatContext, str], None]:
        COMMANDS[name] = Command(name, usage, help, fn, completes, aliases)
        return fn

    return register


def lookup(name: str) -> Command | None:
    name = name.lower()
    return COMMANDS.get(name) or next((c for c in COMMANDS.values() if name in c.aliases), None)


def words() -> list[str]:
    """Every name a command answers to (for Tab)."""
    return [n for c in COMMANDS.values() for n in (c.name, *c.aliases)]


def dispatch(chat: ChatContext, line: str) -> None:
    name, _, arg = line.strip().partition(" ")
    cmd = lookup(name)
    if cmd is None:
        close = difflib.get_close_matches(name.lower(), words(), n=1, cutoff=0.5)
        hint = f"did you mean {lookup(close[0]).name}? " if close else ""  # type: ignore[union-attr]
        raise UsageError(f"unknown command {name.lower()}",
                         hint=f"{hint}/help lists the commands; to send text that starts with /, begin it with //.")  # fmt: skip
    cmd.run(chat, arg.strip())


@command("/help", "/help", "this list", aliases=("/?",))
def _help(chat: ChatContext, arg: str) -> None:
    width = max(len(c.usage) for c in COMMANDS.values())
    lines = [f"  {c.usage:<{width}}  {c.help}" for c in COMMANDS.values()]
    keys = ("Enter sends; Alt-Enter, Esc Enter or Ctrl-J adds a line; pastes stay whole; Up/Down recall "
            "earlier messages" if chat.multiline_keys else 'a line of """ starts and ends a multi-line message')  # fmt: skip
    chat.out.info(
        "\n".join(lines) + f"\n  {keys}.\n  Ctrl-C stops a reply (it is kept) or clears the line; Ctrl-D exits."
    )


@command("/model", "/model [NAME]", "switch model, keeping the conversation (no NAME: show it)", completes="models")
def _model(chat: ChatContext, arg: str) -> None:
    client = chat.conversation.client
    if not arg:
        caps = ", ".join(client.capabilities.names())
        chat.out.info(f"model {client.model} [{caps}]; context window {client.context_window() or 'unknown'}")
        runtime = client.backend.runtime()
        if runtime:
            chat.out.info(runtime)
        from .render import sampling_text

        sampling = sampling_text(client)
        if sampling:
            chat.out.info(sampling)
        return
    chat.switch_model(arg)


@command("/system", "/system [TEXT]", "set the system prompt (no TEXT: show it; /system - clears it)")
def _system(chat: ChatContext, arg: str) -> None:
    conv = chat.conversation
    if not arg:
        chat.out.info(f"system prompt: {conv.system!r}" if conv.system else "no system prompt")
        return
    conv.set_system(None if arg == "-" else arg)
    chat.out.note("system prompt cleared" if arg == "-" else "system prompt set")


@command("/attach", "/attach FILE", "add a text file to your next message (no FILE: list them)", completes="files")
def _attach(chat: ChatContext, arg: str) -> None:
    from .attach import read_attachment

    if not arg:
        names = ", ".join(n for n, _ in chat.attachments)
        chat.out.info(f"attached to the next message: {names}" if names else "nothing attached")
        return
    name, text = read_attachment(arg)
    chat.attachments.append((name, text))
    tokens = ""
    try:
        tokens = f", {int(chat.conversation.client.count_tokens(text)):,} tokens"
    except LLMKitError:
        pass
    chat.out.note(f"attached {name} ({len(text):,} characters{tokens}) to your next message")


@command("/retry", "/retry", "ask again for the last answer (or resend a message that failed)")
def _retry(chat: ChatContext, arg: str) -> None:
    chat.retry()


@command("/undo", "/undo", "remove the last exchange (from the history too)")
def _undo(chat: ChatContext, arg: str) -> None:
    turn = chat.conversation.undo()
    if turn is None:
        chat.out.info("nothing to undo")
    else:
        chat.out.note(f"removed: {shorten(turn.user.text)}")


@command("/clear", "/clear", "start a new conversation (the old one stays in the history)")
def _clear(chat: ChatContext, arg: str) -> None:
    chat.conversation.clear()
    chat.attachments.clear()
    chat.out.note("new conversation")


@command("/save", "/save FILE [--force]", "save the conversation (.md or .json); --force replaces a file",
         completes="files")  # fmt: skip
def _save(chat: ChatContext, arg: str) -> None:
    force = arg.endswith(" --force")
    arg = arg.removesuffix(" --force").strip()
    if not arg:
        raise UsageError("/save needs a file name", hint="e.g. /save chat.md or /save chat.json")
    path = chat.conversation.save(arg, overwrite=force)
    chat.out.note(f"saved {len(chat.conversation.turns)} turn(s) to {path}")


@command("/load", "/load FILE", "continue a conversation saved with /save", completes="files")
def _load(chat: ChatContext, arg: str) -> None:
    from ..conversation.files import load

    if not arg:
        raise UsageError("/load needs a file name", hint="e.g. /load chat.json")
    turns, system = load(arg)  # every field checked before the conversation changes
    chat.conversation.replace_turns(turns, system)
    chat.out.note(f"loaded {len(turns)} turn(s) from {arg}" + (" (with a system prompt)" if system else ""))


@command("/tokens", "/tokens", "tokens in the conversation, against the context window")
def _tokens(chat: ChatContext, arg: str) -> None:
    conv = chat.conversation
    t = conv.totals
    used = f"this session: {t.input_tokens:,} in, {t.output_tokens:,} out"
    messages = conv.messages()
    try:
        count = f"{int(conv.client.count_tokens(messages)):,} tokens" if messages else "empty"
    except LLMKitError:
        count = f"token count unknown for {conv.client.model}"
    window = conv.client.context_window()
    of = f" (context window {window:,})" if window else ""
    chat.out.info(f"conversation: {count}{of}; {used}")


@command("/cost", "/cost", "what this session has cost so far")
def _cost(chat: ChatContext, arg: str) -> None:
    conv = chat.conversation
    if conv.totals.cost is None:
        chat.out.info(f"no price known for {conv.client.model}" if conv.turns else "nothing spent yet")
    else:
        extra = "" if conv.known_cost else " (some turns had no known price)"
        chat.out.info(f"this session: ${conv.totals.cost:.4f}{extra}")


@command("/history", "/history", "the turns of this conversation")
def _history(chat: ChatContext, arg: str) -> None:
    conv = chat.conversation
    if not conv.turns:
        chat.out.info("no turns yet")
        return
    where = f" (conversation {conv.cid}; `llmkit logs --cid {conv.cid}` shows it in full)" if conv.cid else ""
    lines = [f"{len(conv.turns)} turn(s){where}"]
    for i, t in enumerate(conv.turns, 1):
        mark = " [interrupted]" if t.interrupted else ""
        lines.append(f"  {i}. you: {shorten(t.user.text)}")
        lines.append(f"     {t.model or 'model'}: {shorten(t.text)}{mark}")
    chat.out.info("\n".join(lines))


@command("/tools", "/tools", "the tools the model may call (start with llmkit chat --tools)")
def _tools(chat: ChatContext, arg: str) -> None:
    if chat.tools is None:
        chat.out.info("no tools in this chat: start it with `llmkit chat --tools` (and --mcp CMD for MCP tools)")
        return
    chat.out.info("\n".join(["the model may call:", *(f"  {line}" for line in chat.tools.describe())]))


@command("/exit", "/exit", "leave (Ctrl-D does too)", aliases=("/quit", "/q"))
def _exit(chat: ChatContext, arg: str) -> None:
    raise ExitChat


@command("/set", "/set [NAME [VALUE]]", "set an option for the next turns, e.g. /set temperature 0 (no VALUE: unset; "
         "nothing: show them)")  # fmt: skip
def _set(chat: ChatContext, arg: str) -> None:
    import json

    from ..options import validate

    conv = chat.conversation
    name, _, raw = arg.partition(" ")
    if not name:
        shown = {**conv.client.defaults, **conv.options}
        chat.out.info("options: " + (", ".join(f"{k}={v!r}" for k, v in shown.items()) or "none set (the model's defaults)"))
        from .render import sampling_text

        sampling = sampling_text(conv.client)
        if sampling:
            chat.out.info(sampling)
        return
    if not raw.strip():
        conv.options.pop(name, None)
        chat.out.note(f"{name} unset")
        return
    try:
        value = json.loads(raw)
    except json.JSONDecodeError:
        value = raw.strip()
    checked = validate({name: value}, conv.client.backend.options, conv.client.model)
    conv.options.update(checked)
    chat.out.note(f"{name} = {value!r} for the next turns")


@command("/markdown", "/markdown [on|off]", "show replies as Markdown, or as they are (no argument: say which)")
def _markdown(chat: ChatContext, arg: str) -> None:
    if arg.lower() in ("on", "off"):
        chat.markdown = arg.lower() == "on"
        chat.out.note("replies are rendered as Markdown" if chat.markdown else "replies are shown as they are (verbatim)")
        return
    if arg:
        raise UsageError(f"/markdown takes on or off, not {arg!r}")
    auto = " (chosen for this model: /markdown on|off changes it)" if chat.markdown is None else ""
    client = chat.conversation.client
    on = chat.markdown if chat.markdown is not None else not client.backend.completion_model
    chat.out.info(("replies are rendered as Markdown" if on else "replies are shown as they are") + auto)


@command("/copy", "/copy", "copy the last reply to the clipboard")
def _copy(chat: ChatContext, arg: str) -> None:
    from .clipboard import copy

    turns = [t for t in chat.conversation.turns if t.reply is not None]
    if not turns:
        raise UsageError("there is no reply to copy yet")
    how = copy(turns[-1].text, chat.out.console)
    chat.out.note(f"copied the last reply ({len(turns[-1].text):,} characters) {how}")


@command("/edit", "/edit", "write the next message in $EDITOR (VISUAL or EDITOR), then send it")
def _edit(chat: ChatContext, arg: str) -> None:
    from .clipboard import edit

    text = edit(arg)
    if not text.strip():
        chat.out.info("nothing written: nothing sent")
        return
    chat.send(text)
