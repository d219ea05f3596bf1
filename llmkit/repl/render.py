"""What the REPL prints: the banner, replies (Markdown while they stream, or plain text
when stdout is not a terminal), a footer after each turn, and one-line messages."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..conversation import Turn
from ..errors import LLMKitError

if TYPE_CHECKING:
    from .mdstream import MarkdownStream

__all__ = ["Renderer", "footer_text", "one_line", "shorten", "sampling_text", "completion_notice"]


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

    def banner(self, model: str, reason: str, *, completion: bool, resumed: str | None, multiline_keys: bool,
               sampling: str | None = None) -> None:  # fmt: skip
        c = self.console
        c.print(f"[bold]llmkit chat[/bold] · model [bold cyan]{_esc(model)}[/bold cyan] [dim]({_esc(reason)})[/dim]")
        if sampling:
            self.info(sampling)
        if completion:
            self.warn(completion_notice(model) + " /model NAME switches.")
        if resumed:
            self.info(resumed)
        keys = "Alt-Enter or Esc Enter for a new line, " if multiline_keys else '""" starts and ends multi-line input, '
        self.info(f"/help for commands, {keys}Ctrl-C stops a reply, Ctrl-D or /exit leaves.")

    def reply(self, verbatim: str | None = None) -> Any:
        """A sink for streamed text: write(delta), then finish(turn). `verbatim`: show the
        text as is ("text", or a language to highlight it as code) instead of as Markdown."""
        return _RichReply(self, verbatim) if self.rich else _PlainReply(self)

    def markdown(self, text: str) -> None:
        if self.rich:
            from rich.markdown import Markdown

            self.console.print(Markdown(text, code_theme="monokai"))
        else:
            self.console.print(text, markup=False, highlight=False)

    def footer(self, turn: Turn) -> None:
        self.info(footer_text(turn))


class _RichReply:
    def __init__(self, renderer: Renderer, verbatim: str | None = None) -> None:
        self.renderer = renderer
        self.verbatim = verbatim
        self.stream: MarkdownStream | None = None

    def write(self, delta: str) -> None:
        if self.stream is None:
            from .mdstream import MarkdownStream

            self.stream = MarkdownStream(self.renderer.console, verbatim=self.verbatim)
        self.stream.write(delta)

    def finish(self, turn: Turn | None) -> None:
        if self.stream is not None:
            self.stream.finish()
        _end_marks(self.renderer, turn)


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
        _end_marks(self.renderer, turn)


def _end_marks(renderer: Renderer, turn: Turn | None) -> None:
    """After a reply: how it ended when that was not by itself, then the footer."""
    if turn is None:
        return
    if turn.interrupted:
        renderer.warn("[interrupted: the partial reply is kept]")
    elif turn.finish_reason == "length":
        renderer.warn("[cut: the reply reached max_tokens; /set max_tokens N allows longer ones]")
    renderer.footer(turn)


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
    # the decode rate: tokens after the first over the time after it (the wait for the first
    # token, prompt processing and loading, is shown apart)
    decoding = turn.duration - (turn.first_token or 0.0)
    if u.output_tokens > 1 and decoding > 0:
        parts.append(f"{(u.output_tokens - 1) / decoding:.0f} tok/s decoding")
    elif u.output_tokens and turn.duration > 0:
        parts.append(f"{u.output_tokens / turn.duration:.0f} tok/s")
    return " · ".join(parts)


def completion_notice(model: str) -> str:
    """The one line said wherever a completion model is used as if it chatted (chat banner,
    /model, `llmkit ask` on stderr)."""
    return (f"{model} is a completion model, not a chat model: it continues the conversation's text rather "
            "than answering it.")  # fmt: skip


def sampling_text(client: Any) -> str | None:
    """The sampling a turn gets when it sets nothing, and where that comes from: local
    models only (a server applies its own defaults, which llmkit cannot see)."""
    defaults = getattr(client.backend, "sampling_defaults", None)
    if defaults is None:
        return None
    keys = ("temperature", "top_p", "top_k", "repetition_penalty")
    mine = {k: v for k, v in client.defaults.items() if k in keys}
    effective = {**{k: v for k, v in defaults.items() if k in keys}, **mine}
    if mine:
        where = "your options"
    elif not defaults:
        where = "OpenAI's defaults: the checkpoint sets none"
    elif getattr(client.backend, "provider", "") == "hf":
        where = "the checkpoint's generation config, as transformers' generate uses it"
    else:
        where = "the checkpoint's defaults"
    temperature = effective.get("temperature", 1.0)
    parts = ["greedy (temperature 0)" if temperature == 0 else f"temperature {temperature}"]
    parts += [f"{k} {effective[k]}" for k in keys[1:] if k in effective and (temperature != 0 or k == "repetition_penalty")]
    shown = ", ".join(parts)
    return f"sampling: {shown} ({where}); /set temperature 0.7 or -t changes it"


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
