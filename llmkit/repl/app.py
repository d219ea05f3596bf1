"""The REPL loop: read a line, run a slash command or send a turn, render the reply.

Ctrl-C during a reply stops it (the partial reply is kept, marked interrupted) and the
chat goes on; Ctrl-C at the prompt clears the line; Ctrl-D (or /exit) leaves. Errors
are one line each, and the chat goes on. The conversation itself (sending, retry, undo,
history) is a llmkit.Conversation; the app adds the terminal: rendering, attachments,
context warnings, and the ChatContext the slash commands work through.
"""

from __future__ import annotations

import logging
import signal
import sys
import threading
from collections.abc import Callable
from typing import Any

from ..conversation import Cancelled, Conversation, Turn, open_client
from ..errors import LLMKitError, ReplyInterruptedError
from . import commands
from .attach import format_attachment
from .render import Renderer, completion_notice, sampling_text, shorten
from .tooling import ToolTurns

__all__ = ["ChatApp", "describe_resume"]

log = logging.getLogger("llmkit")
Sender = Callable[[Callable[[str], None], bool], Turn]  # (on_text, truncate) -> the answered turn


class ChatApp:
    """`llmkit chat`: a Conversation at a terminal. Implements commands.ChatContext."""

    prompt = "> "

    def __init__(self, conversation: Conversation, reader: Any, out: Renderer, reason: str = "",
                 client_kwargs: dict[str, Any] | None = None, tools: list[Any] | None = None) -> None:  # fmt: skip
        self.conversation = conversation
        self.reader = reader
        self.out = out
        self.reason = reason
        self.client_kwargs = dict(client_kwargs or {})  # carried over, where they fit, by /model
        self.attachments: list[tuple[str, str]] = []
        self.markdown: bool | None = None  # /markdown on|off; None: Markdown for chat models only
        self.tools = ToolTurns(tools, out, ask=self.reader.read) if tools else None

    def verbatim(self) -> str | None:
        """How replies are shown: None for Markdown (chat models), else as is: code from a
        code model, highlighted ("python"), or text ("text"). /markdown on|off decides."""
        client = self.conversation.client
        markdown = self.markdown if self.markdown is not None else not client.backend.completion_model
        if markdown:
            return None
        return "python" if client.backend.completion_model and client.backend.provider == "mini" else "text"

    @property
    def multiline_keys(self) -> bool:
        return bool(getattr(self.reader, "multiline_keys", False))

    # --- the loop ------------------------------------------------------------------------

    def run(self, resumed: str | None = None) -> int:
        client = self.conversation.client
        _own_ctrl_c()
        self.out.banner(client.model, self.reason, completion=client.backend.completion_model, resumed=resumed,
                        multiline_keys=self.multiline_keys, sampling=sampling_text(client))  # fmt: skip
        self.out.warm_up()
        while True:
            try:
                line = self.reader.read(self.prompt)
            except KeyboardInterrupt:  # at the prompt: the line is dropped, the chat goes on
                if not self.multiline_keys:
                    self.out.console.print()
                continue
            except EOFError:
                self.out.console.print()
                break
            try:
                if not self.handle(line):
                    break
            except KeyboardInterrupt:
                self.out.info("cancelled")
        self.conversation.client.close()
        return 0

    def handle(self, line: str) -> bool:
        """Run one line; False when the chat should end."""
        if not line.strip():
            return True
        if line.startswith("/") and not line.startswith("//"):  # "//..." sends a literal slash
            try:
                commands.dispatch(self, line)
            except commands.ExitChat:
                return False
            except LLMKitError as exc:
                self.out.error(exc)
            except OSError as exc:
                self.out.error(f"{exc.strerror or exc}: {exc.filename or ''}".rstrip(": "))
            except Exception as exc:  # a bug must not end the chat: one line, details in debug logs
                log.debug("command failed", exc_info=True)
                self.out.error(exc)
            return True
        content = self.compose(line[1:] if line.startswith("//") else line)
        self.run_turn(lambda on_text, truncate: self._send(content, on_text, truncate),
                      messages=self.conversation.messages(content))  # fmt: skip
        return True

    def compose(self, text: str) -> str:
        """The user's text with the pending attachments appended."""
        return "\n\n".join([text, *(format_attachment(n, body) for n, body in self.attachments)]).strip("\n")

    def _send(self, content: str, on_text: Callable[[str], None], truncate: bool) -> Turn:
        self.attachments = []
        if self.tools is not None:  # an agent answers: the model may call tools first
            return self.tools.send(self.conversation, content, on_text)
        return self.conversation.send(content, on_text=on_text, stream=True, catch_interrupt=True,
                                      **_truncation(truncate), **self._block_end(content))  # fmt: skip

    def _block_end(self, content: Any) -> dict[str, Any]:
        """A completion model's reply ends with the code block it continues, unless a
        max_tokens was asked for (-o / /set)."""
        client = self.conversation.client
        asked = "max_tokens" in {**client.defaults, **self.conversation.options}
        if not client.backend.completion_model or asked or not isinstance(content, str):
            return {}
        from ..tasks._code_post import end_of_block

        return {"until": end_of_block(content)}

    # --- the actions commands ask for --------------------------------------------------

    def send(self, text: str) -> None:
        """Send a message as if typed (from /edit)."""
        self.handle(text if not text.startswith("/") else "/" + text)

    def retry(self) -> None:
        conv = self.conversation
        self.run_turn(lambda on_text, truncate: conv.retry(on_text=on_text, stream=True, catch_interrupt=True,
                                                           **_truncation(truncate)), retry=True)  # fmt: skip

    def switch_model(self, model: str) -> None:
        self.out.info(f"loading {model} ...")
        # Release the current model before loading the next, so that at most two are held
        # (it stays warm, and a client used again after close() leases it back if the
        # new one fails to load).
        self.conversation.client.close()
        client, dropped = open_client(model, self.client_kwargs)
        self.conversation.use(client)
        self.out.note(f"now talking to {client.model}")
        if dropped:
            self.out.warn(f"left out options it does not take: {', '.join(dropped)}")
        self.announce_model()

    # --- one turn ------------------------------------------------------------------------

    def run_turn(self, send: Sender, messages: list | None = None, retry: bool = False) -> None:
        conv = self.conversation
        if messages is None:
            messages = conv.retry_messages()
        truncate = self.check_context(messages)
        if truncate is None:
            if not retry:
                conv.pending = messages[-1].text  # /retry can send it after /undo, /clear or /model
                self.attachments = []
            return
        reply = self.out.reply(self.verbatim())
        try:
            turn = send(reply.write, truncate)
        except Cancelled:
            reply.finish(None)
            self.out.info("cancelled before the reply began; /retry sends the message again")
        except ReplyInterruptedError as exc:  # part of the reply arrived and is kept
            reply.finish(exc.turn)
            self.out.error(exc)
        except LLMKitError as exc:
            reply.finish(None)
            self.out.error(exc)
            if conv.pending is not None:
                self.out.info("/retry sends the message again")
        except Exception as exc:  # a backend's bug: one line, the chat goes on
            log.debug("turn failed", exc_info=True)
            reply.finish(None)
            self.out.error(exc)
        else:
            reply.finish(turn)

    def check_context(self, messages: list) -> bool | None:
        """Announce a context about to overflow, before sending. Returns whether to let
        the backend drop the oldest tokens, or None when the request cannot fit."""
        conv = self.conversation
        info = conv.context(messages)
        if info is None or info.window is None:
            return False
        model = conv.client.model
        counts = f"{info.tokens:,} tokens" + (f" + {info.reserve:,} for the reply" if info.reserve else "")
        if info.over:
            if info.can_truncate:
                self.out.warn(f"context: the conversation needs {counts}, more than {model}'s window of "
                              f"{info.window:,}; its oldest text is left out")  # fmt: skip
                return True
            self.out.error(f"context full: the conversation needs {counts}, but {model} has a context window of "
                           f"{info.window:,} tokens -> /undo or /clear to make room, or /model a larger model")  # fmt: skip
            return None
        if info.near:
            self.out.warn(f"context: {counts} of {info.window:,} ({info.fraction:.0%}) used; /undo or /clear "
                          "makes room")  # fmt: skip
        return False

    def announce_model(self) -> None:
        client = self.conversation.client
        if client.backend.completion_model:
            self.out.warn(completion_notice(client.model))


def describe_resume(cid: str, turns: list[Turn], conversation: dict[str, Any]) -> str:
    """The banner line for -c/--cid: which conversation, and where it stopped."""
    when = (conversation.get("updated_at") or "")[:16].replace("T", " ")
    text = f"continuing conversation {cid} ({len(turns)} turn(s), last at {when} UTC)"
    if turns:
        last = turns[-1]
        text += f"\n  last: you: {shorten(last.user.text, 60)}"
        if last.reply is not None:
            mark = " [interrupted]" if last.interrupted else ""
            text += f"\n        {last.model or 'model'}: {shorten(last.reply.text, 60)}{mark}"
    return text


def _truncation(truncate: bool) -> dict[str, Any]:
    return {"truncate": "left"} if truncate else {}


def _own_ctrl_c() -> None:
    """An interactive chat answers Ctrl-C even when started with SIGINT ignored (as a
    shell's background jobs and some harnesses start programs): Python keeps an ignored
    SIGINT ignored, and Ctrl-C would then neither stop a reply nor reach the prompt."""
    if sys.stdin.isatty() and threading.current_thread() is threading.main_thread():
        if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
            signal.signal(signal.SIGINT, signal.default_int_handler)
