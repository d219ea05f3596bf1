"""What the REPL prints: the banner, replies (Markdown while they stream, or plain text
when stdout is not a terminal), a footer after each turn, and one-line messages."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..conversation import Turn
from ..errors import LLMKitError

if TYPE_CHECKING:
    from .mdstream import MarkdownStream

__all__ = ["Renderer", "footer_text", "one_line", "shorten"]


class Renderer:
    def __init__(self, console: Any = None) -> None:
        from rich.console import Console

        self.console = console or Console(highlight=False)
        self.rich = self.console.is_terminal

    def warm_up(self) -> None:
        """Import and exercise the Markdown path once, so the first reply is not slowed by it."""
        if self.rich:
            import io

            from rich.console import Console
            from rich.markdown import Markdown

            Console(file=io.StringIO(), force_terminal=True).print(Markdown("*x* `y`\n\n```python\nz = 1\n```"))

    # --- one-liners ----------------------------------------------------------------------

    def info(self, text: str) -> None:
        self.console.print(text, style="dim", markup=False, highlight=False, soft_wrap=True)

    def note(self, text: str) -> None:
        self.console.print(text, style="cyan", markup=False, highlight=False, soft_wrap=True)

    def warn(self, text: str) -> None:
        self.console.print(text, style="yellow", markup=False, highlight=False, soft_wrap=True)

    def error(self, exc: BaseException | str) -> None:
        self.console.print(f"error: {one_line(exc)}", style="bold red", markup=False, highlight=False, soft_wrap=True)

    # --- the banner and replies ------------------------------------------------------------

    def banner(self, model: str, reason: str, *, completion: bool, resumed: str | None, multiline_keys: bool) -> None:
        c = self.console
        c.print(f"[bold]llmkit chat[/bold] · model [bold cyan]{_esc(model)}[/bold cyan] [dim]({_esc(reason)})[/dim]")
        if completion:
            self.warn(f"{model} is a completion model, not a chat model: it continues the conversation's text "
                      "rather than answering it. /model NAME switches.")  # fmt: skip
        if resumed:
            self.info(resumed)
        keys = "Alt-Enter or Esc Enter for a new line, " if multiline_keys else '""" starts and ends multi-line input, '
        self.info(f"/help for commands, {keys}Ctrl-C stops a reply, Ctrl-D or /exit leaves.")

    def reply(self) -> Any:
        """A sink for streamed text: write(delta), then finish(turn)."""
        return _RichReply(self) if self.rich else _PlainReply(self)

    def markdown(self, text: str) -> None:
        if self.rich:
            from rich.markdown import Markdown

            self.console.print(Markdown(text, code_theme="monokai"))
        else:
            self.console.print(text, markup=False, highlight=False)

    def footer(self, turn: Turn) -> None:
        self.info(footer_text(turn))


class _RichReply:
    def __init__(self, renderer: Renderer) -> None:
        self.renderer = renderer
        self.stream: MarkdownStream | None = None

    def write(self, delta: str) -> None:
        if self.stream is None:
            from .mdstream import MarkdownStream

            self.stream = MarkdownStream(self.renderer.console)
        self.stream.write(delta)

    def finish(self, turn: Turn | None) -> None:
        if self.stream is not None:
            self.stream.finish()
        if turn is not None and turn.interrupted:
            self.renderer.warn("[interrupted: the partial reply is kept]")
        if turn is not None:
            self.renderer.footer(turn)


class _PlainReply:
    def __init__(self, renderer: Renderer) -> None:
        self.renderer = renderer
        self.wrote = False

    def write(self, delta: str) -> None:
        self.wrote = True
        f = self.renderer.console.file
        f.write(delta)
        f.flush()

    def finish(self, turn: Turn | None) -> None:
        if self.wrote:
            self.renderer.console.file.write("\n")
        if turn is not None and turn.interrupted:
            self.renderer.warn("[interrupted: the partial reply is kept]")
        if turn is not None:
            self.renderer.footer(turn)


def footer_text(turn: Turn) -> str:
    u = turn.usage
    parts = [turn.model]
    if u.total_tokens:
        est = "~" if u.estimated else ""
        parts.append(f"{est}{u.input_tokens:,} in, {est}{u.output_tokens:,} out tokens")
    if u.cost is not None:
        parts.append(f"${u.cost:.4f}" if u.cost < 1 else f"${u.cost:.2f}")
    timing = f"{turn.duration:.1f}s"
    if turn.first_token is not None:
        timing += f" (first token {turn.first_token:.2f}s)"
    parts.append(timing)
    if u.output_tokens and turn.duration > 0:
        parts.append(f"{u.output_tokens / turn.duration:.0f} tok/s")
    return " · ".join(parts)


def one_line(exc: BaseException | str) -> str:
    """An error as one line: what happened, then what to do."""
    if isinstance(exc, str):
        return exc
    if isinstance(exc, LLMKitError):
        return exc.one_line()
    return " ".join(f"{type(exc).__name__}: {exc}".split())


def _esc(text: str) -> str:
    from rich.markup import escape

    return escape(text)


def shorten(text: str, width: int = 70) -> str:
    """A text on one line of at most `width` characters (an ellipsis when cut)."""
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"
