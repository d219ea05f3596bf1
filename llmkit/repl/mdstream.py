"""Markdown that renders while it streams (or text shown as is: `verbatim`).

Re-rendering the whole reply in a rich `Live` breaks once the reply is taller than the
screen (the part that scrolled off cannot be redrawn) and costs O(n) per update. So the
reply is rendered to lines, everything but the last few lines is printed to the
scrollback once, and only the tail stays live. Updates are throttled, except the first,
which is drawn at once (time to first token is what a user feels).
"""

from __future__ import annotations

import io
import time
from typing import Any

__all__ = ["MarkdownStream"]

MIN_INTERVAL = 0.05  # seconds between redraws (20 per second)


class MarkdownStream:
    def __init__(self, console: Any, *, code_theme: str = "monokai", min_interval: float = MIN_INTERVAL,
                 verbatim: str | None = None) -> None:  # fmt: skip
        from rich.live import Live

        self.console = console
        self.verbatim = verbatim  # None: Markdown; else shown as is: "text", or a language to highlight
        self.code_theme = code_theme
        self.min_interval = min_interval
        self.text = ""
        self._printed = 0  # rendered lines already in the scrollback
        self._last = 0.0
        self._drawn = False
        self._live = Live(console=console, auto_refresh=False, transient=False, vertical_overflow="crop",
                          redirect_stdout=False, redirect_stderr=False)  # fmt: skip
        self._live.start()

    @property
    def live_lines(self) -> int:
        return max(3, min(12, self.console.size.height - 4))

    def write(self, delta: str) -> None:
        self.text += delta
        now = time.monotonic()
        if self._drawn and now - self._last < self.min_interval:
            return
        self._draw()
        self._last = now
        self._drawn = True

    def finish(self, suffix: Any = None) -> None:
        """Draw the whole reply (plus an optional renderable, e.g. an 'interrupted' mark)
        and leave the live display."""
        try:
            self._draw()
        finally:
            self._live.stop()
        if suffix is not None:
            self.console.print(suffix)

    def _render(self) -> list[str]:
        from rich.console import Console
        from rich.markdown import Markdown

        buf = io.StringIO()
        c = Console(file=buf, force_terminal=True, color_system=self.console.color_system,
                    width=self.console.width, legacy_windows=False)  # fmt: skip
        c.print(Markdown(self.text, code_theme=self.code_theme) if self.verbatim is None else self._as_is())
        # rich pads paragraphs to the full width with spaces: drop them (copy-paste stays clean)
        return [line.rstrip(" ") + "\n" for line in buf.getvalue().splitlines()]

    def _as_is(self) -> Any:
        """The text exactly as written (indentation kept, nothing reflowed): highlighted when
        it is code, long lines wrapped at word boundaries."""
        from rich.syntax import Syntax
        from rich.text import Text

        if self.verbatim == "text":
            return Text(self.text)
        return Syntax(self.text.strip("\n"), self.verbatim or "text", theme=self.code_theme, word_wrap=True,
                      background_color="default")  # fmt: skip

    def _draw(self) -> None:
        lines = self._render()
        while lines and not lines[-1].strip():  # no trailing blank lines while streaming
            lines.pop()
        settled = max(0, len(lines) - self.live_lines)  # the live tail stays on screen at the end
        if settled > self._printed:
            self._live.console.print(_text("".join(lines[self._printed : settled])))
            self._printed = settled
        self._live.update(_text("".join(lines[self._printed :])), refresh=True)


def _text(ansi: str) -> Any:
    from rich.text import Text

    return Text.from_ansi(ansi[:-1] if ansi.endswith("\n") else ansi, no_wrap=True)  # keep inner blank lines
