"""Reading the user's messages.

In a terminal: prompt_toolkit, with Enter to send, Alt-Enter / Esc Enter / Ctrl-J for a
new line, pastes kept whole (bracketed paste; one taller than the screen is printed whole
once sent), up-arrow history saved in llmkit's home, and Tab completion of slash commands
and file names. Without a terminal (a pipe, a test harness), or without prompt_toolkit:
plain input(), where a line of three double quotes starts and ends a multi-line message.

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
            prompt_continuation=continuation,
        )
        self._prompt = "> "
        self._whole: str | None = None  # a message taller than the screen, sent: read() prints it whole
        accept = self.session.default_buffer.accept_handler  # prompt_toolkit's: ends the prompt with the text
        assert accept is not None

        def accept_tall(buff: Any) -> bool:
            app = self.session.app
            size = app.output.get_size()
            if _screen_rows(buff.text, self._prompt, size) >= size.rows:
                self._whole = buff.text
                _blank_input_area(app)
                app.erase_when_done = True  # instead of drawing its bottom screenful once more
            return bool(accept(buff))

        self.session.default_buffer.accept_handler = accept_tall

    before_first_read: Callable[[], None] | None = None  # e.g. TypeaheadHold.release

    def read(self, prompt: str = "> ", default: str = "") -> str:
        if self.before_first_read is not None:
            release, self.before_first_read = self.before_first_read, None
            release()
        self._prompt, self._whole = prompt, None
        self.session.app.erase_when_done = False
        text: str = self.session.prompt(prompt, default=default)
        if self._whole is not None:
            sys.stdout.write(_echo(prompt, text))
            sys.stdout.flush()
        return text


def continuation(width: int, line_number: int, soft_wrap: int) -> str:
    """What starts each line of a multi-line message after the first (under the prompt)."""
    return "." * (width - 1) + " "


# A message taller than the terminal (a long paste): prompt_toolkit shows the part around the
# cursor while it is edited, and when it is sent it draws that part once more, from the top of
# the screen, after erasing the screen, which tmux (and other terminals) first save to the
# scrollback. The lines above that part never reached the terminal at all: the scrollback
# kept the bottom screenful twice and lost the rest. So such a message is erased when sent
# (line by line, so that nothing is saved), and read() prints it whole, the way it would have
# looked: the prompt, then the continuation marks. Shorter ones are drawn by prompt_toolkit.


def _screen_rows(text: str, prompt: str, size: Any) -> int:
    """How many terminal rows `text` takes at the prompt, lines wrapped at the width."""
    from prompt_toolkit.utils import get_cwidth

    columns = max(1, size.columns)
    lead = get_cwidth(prompt)
    return sum(max(1, -(-(lead + get_cwidth(line)) // columns)) for line in text.split("\n"))


def _blank_input_area(app: Any) -> None:
    """Blank the prompt's rows, from its first to the bottom of the screen, one line at a time,
    and put the cursor back, so that prompt_toolkit's own erase then finds nothing to save."""
    renderer, output = app.renderer, app.output
    position = getattr(renderer, "_cursor_pos", None)  # where prompt_toolkit's drawing left the cursor
    if position is None or sys.platform == "win32":  # a Windows console saves nothing when erased
        return
    rows = output.get_size().rows
    up = f"\x1b[{position.y}A" if position.y > 0 else ""
    output.write_raw("\x1b7\r" + up + "\x1b[2K\x1b[1B" * rows + "\x1b8")  # save, erase each row, restore
    output.flush()


def _echo(prompt: str, text: str) -> str:
    """`text` as the prompt shows it: control characters as ^X, continuation marks."""
    from prompt_toolkit.layout.screen import Char
    from prompt_toolkit.utils import get_cwidth

    shown = Char.display_mappings
    width = get_cwidth(prompt)
    lines = ["".join(shown.get(c, c) for c in line) for line in text.split("\n")]
    return "".join((prompt if i == 0 else continuation(width, i, 0)) + line + "\n" for i, line in enumerate(lines))


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
