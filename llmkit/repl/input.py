"""Reading the user's messages.

In a terminal: prompt_toolkit, with Enter to send, Alt-Enter / Esc Enter / Ctrl-J for a
new line, pastes kept whole (bracketed paste), up-arrow history saved in llmkit's home,
and Tab completion of slash commands and file names. Without a terminal (a pipe, a
test harness), or without prompt_toolkit: plain input(), where a line of three double
quotes starts and ends a multi-line message.

Both raise KeyboardInterrupt for Ctrl-C and EOFError for Ctrl-D, as input() does.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .commands import Command

__all__ = ["make_reader", "PlainReader", "TerminalReader", "completer", "history_path", "MULTILINE_FENCE"]

MULTILINE_FENCE = '"""'


def history_path() -> Path:
    from ..config import home

    return home() / "chat_history"


def make_reader(
    commands: Mapping[str, Command] | None = None, models: Callable[[], list[str]] | None = None
) -> PlainReader | TerminalReader:
    """`commands` is the slash-command table (names, aliases, and what Tab completes after
    each); `models` gives the ids Tab offers after a command that takes a model (called on
    the first Tab, not before)."""
    if sys.stdin.isatty() and sys.stdout.isatty() and os.environ.get("TERM") != "dumb":
        try:
            return TerminalReader(dict(commands or {}), models)
        except ImportError:
            pass
    return PlainReader()


class PlainReader:
    multiline_keys = False
    before_first_read: Callable[[], None] | None = None  # unused: no terminal to hand back

    def read(self, prompt: str = "> ", default: str = "") -> str:
        line = input(prompt)
        if line.strip() != MULTILINE_FENCE:
            return line
        lines: list[str] = []
        while True:
            try:
                line = input("")
            except EOFError:  # the input ended before the closing fence: say so, keep what was typed
                if not lines:
                    print(f'warning: the input ended inside an empty {MULTILINE_FENCE} block', file=sys.stderr)
                    raise
                print(f"warning: the input ended inside a {MULTILINE_FENCE} block (no closing {MULTILINE_FENCE}): "
                      "sending what it holds", file=sys.stderr)  # fmt: skip
                return "\n".join(lines)
            if line.strip() == MULTILINE_FENCE:
                return "\n".join(lines)
            lines.append(line)


class TerminalReader:
    multiline_keys = True

    def __init__(self, commands: Mapping[str, Command], models: Callable[[], list[str]] | None = None) -> None:
        from prompt_toolkit import PromptSession
        from prompt_toolkit.auto_suggest import AutoSuggestFromHistory
        from prompt_toolkit.history import FileHistory
        from prompt_toolkit.key_binding import KeyBindings

        bindings = KeyBindings()

        @bindings.add("escape", "enter")  # Alt-Enter sends Esc Enter in most terminals
        @bindings.add("c-j")
        def _newline(event) -> None:
            event.current_buffer.insert_text("\n")

        path = history_path()
        path.parent.mkdir(parents=True, exist_ok=True)
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600))  # prompts are private
        self.session: Any = PromptSession(
            history=FileHistory(str(path)),
            key_bindings=bindings,
            auto_suggest=AutoSuggestFromHistory(),
            completer=completer(commands, models),
            complete_while_typing=False,
            prompt_continuation=lambda width, line_number, soft_wrap: "." * (width - 1) + " ",
        )

    before_first_read: Callable[[], None] | None = None  # e.g. TypeaheadHold.release

    def read(self, prompt: str = "> ", default: str = "") -> str:
        if self.before_first_read is not None:
            release, self.before_first_read = self.before_first_read, None
            release()
        return self.session.prompt(prompt, default=default)


def completer(commands: Mapping[str, Command], models: Callable[[], list[str]] | None = None) -> Any:
    """Tab: a slash command's name, then what that command takes (its `completes`: file
    names or model ids)."""
    from prompt_toolkit.completion import Completer, Completion, PathCompleter
    from prompt_toolkit.document import Document

    paths = PathCompleter(expanduser=True)
    names = [n for c in commands.values() for n in (c.name, *c.aliases)]
    takes = {n: c.completes for c in commands.values() for n in (c.name, *c.aliases)}
    model_ids: list[str] = []
    looked_up = False

    class SlashCompleter(Completer):
        def get_completions(self, document: Any, complete_event: Any) -> Any:
            text = document.text_before_cursor
            if not text.startswith("/"):
                return
            if " " not in text:
                for name in names:
                    if name.startswith(text):  # with a space: the argument can be typed straight away
                        yield Completion(name + " ", start_position=-len(text), display=name)
                return
            name, _, rest = text.partition(" ")
            kind = takes.get(name.lower())
            if kind == "models" and models is not None:
                word = rest.lstrip()
                nonlocal looked_up
                if not looked_up:
                    looked_up = True
                    try:
                        model_ids.extend(models())
                    except Exception:  # a broken config or plugin: no suggestions, no crash at the prompt
                        pass
                for model in model_ids:
                    if model.startswith(word):
                        yield Completion(model, start_position=-len(word))
            elif kind == "files":
                yield from paths.get_completions(Document(rest, len(rest)), complete_event)

    return SlashCompleter()
