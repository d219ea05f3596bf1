"""The REPL loop: read a line, run a slash command or send a turn, render the reply.

Ctrl-C during a reply stops it (the partial reply is kept, marked interrupted) and the
session goes on; Ctrl-C at the prompt clears the line; Ctrl-D (or /exit) leaves. Errors
are one line each, and the session goes on.
"""

from __future__ import annotations

import logging
import signal
import sys
import threading
from collections.abc import Callable
from typing import Any

from ..errors import LLMKitError, ReplyInterruptedError
from ..logs import Turn
from ..types import Message
from . import commands
from .render import Renderer
from .session import Cancelled, ChatSession, is_completion_model

log = logging.getLogger("llmkit")
Sender = Callable[[Callable[[str], None], bool], Turn]


class ChatApp:
    prompt = "> "

    def __init__(self, session: ChatSession, reader: Any, out: Renderer, reason: str = "") -> None:
        self.session = session
        self.reader = reader
        self.out = out
        self.reason = reason

    # --- the loop ------------------------------------------------------------------------

    def run(self, resumed: str | None = None) -> int:
        s = self.session
        _own_ctrl_c()
        self.out.banner(s.client.model, self.reason, completion=is_completion_model(s.client), resumed=resumed,
                        multiline_keys=self.reader.multiline_keys)  # fmt: skip
        self.out.warm_up()
        while True:
            try:
                line = self.reader.read(self.prompt)
            except KeyboardInterrupt:  # at the prompt: the line is dropped, the session goes on
                if not self.reader.multiline_keys:
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
        s.client.close()
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
            except Exception as exc:  # a bug must not end the session: one line, details in debug logs
                log.debug("command failed", exc_info=True)
                self.out.error(exc)
            return True
        text = line[1:] if line.startswith("//") else line
        content = self.session.compose(text)
        self.run_turn(lambda on_text, truncate: self.session.send(content, on_text, truncate=truncate),
                      messages=self.session.messages(content))  # fmt: skip
        return True

    # --- one turn ------------------------------------------------------------------------

    def run_turn(self, send: Sender, messages: list[Message] | None = None, retry: bool = False) -> None:
        s = self.session
        if messages is None:
            messages = s.retry_messages()
        truncate = self.check_context(messages)
        if truncate is None:
            if not retry:
                s.failed = messages[-1].text  # /retry can send it after /undo, /clear or /model
                s.attachments = []
            return
        reply = self.out.reply()
        try:
            turn = send(reply.write, truncate)
        except Cancelled:
            reply.finish(None)
            self.out.info("cancelled before the reply began; /retry sends the message again")
        except LLMKitError as exc:
            reply.finish(exc.turn if isinstance(exc, ReplyInterruptedError) else None)  # type: ignore[arg-type]
            self.out.error(exc)
            if s.failed is not None:
                self.out.info("/retry sends the message again")
        except Exception as exc:  # a backend's bug: one line, the session goes on
            log.debug("turn failed", exc_info=True)
            reply.finish(None)
            self.out.error(exc)
        else:
            reply.finish(turn)

    def check_context(self, messages: list[Message]) -> bool | None:
        """Announce a context about to overflow, before sending. Returns whether to let
        the backend drop the oldest tokens, or None when the request cannot fit."""
        info = self.session.context(messages)
        if info is None or info.window is None:
            return False
        model = self.session.client.model
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
        client = self.session.client
        if is_completion_model(client):
            self.out.warn(f"{client.model} is a completion model, not a chat model: it continues the "
                          "conversation's text rather than answering it.")  # fmt: skip


def describe_resume(cid: str, turns: list[Turn], conversation: dict[str, Any]) -> str:
    """The banner line for -c/--cid: which conversation, and where it stopped."""
    from .commands import _short

    when = (conversation.get("updated_at") or "")[:16].replace("T", " ")
    text = f"continuing conversation {cid} ({len(turns)} turn(s), last at {when} UTC)"
    if turns:
        last = turns[-1]
        text += f"\n  last: you: {_short(last.user.text, 60)}"
        if last.reply is not None:
            mark = " [interrupted]" if last.interrupted else ""
            text += f"\n        {last.model or 'model'}: {_short(last.reply.text, 60)}{mark}"
    return text


def _own_ctrl_c() -> None:
    """An interactive chat answers Ctrl-C even when started with SIGINT ignored (as a
    shell's background jobs and some harnesses start programs): Python keeps an ignored
    SIGINT ignored, and Ctrl-C would then neither stop a reply nor reach the prompt."""
    if sys.stdin.isatty() and threading.current_thread() is threading.main_thread():
        if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
            signal.signal(signal.SIGINT, signal.default_int_handler)
