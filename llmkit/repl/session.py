"""The conversation behind the REPL, with no terminal code: turns, sending (streamed,
interruptible), /retry, /undo, /model and the history commits.

A turn is committed to the history when its reply completes, or when it is cut short
(Ctrl-C, or an error after some output): the partial reply is kept, marked interrupted.
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from ..errors import LLMKitError, ReplyInterruptedError, UsageError
from ..logs import History, Turn
from ..types import Message, Usage

NEAR_FULL = 0.8  # announce the context filling up from this fraction of the window


class Cancelled(Exception):
    """Ctrl-C before any of the reply arrived: nothing to keep (the message can be retried)."""


@dataclass
class ContextInfo:
    tokens: int
    window: int | None
    reserve: int  # tokens kept for the reply (max_tokens, when set)
    can_truncate: bool  # the backend can drop the oldest tokens itself (mini)

    @property
    def fraction(self) -> float:
        return (self.tokens + self.reserve) / self.window if self.window else 0.0

    @property
    def over(self) -> bool:
        return self.window is not None and self.tokens + self.reserve > self.window

    @property
    def near(self) -> bool:
        return self.window is not None and self.fraction >= NEAR_FULL


def open_client(model: str | None, kwargs: dict[str, Any]) -> tuple[Any, list[str]]:
    """A Client for `model` with the settings/options among `kwargs` that it takes;
    returns it and the names it had to leave out (e.g. after /model to another backend)."""
    from .. import registry
    from ..client import Client

    model = model or registry.default_model()
    cls = registry.backend_class(registry.resolve(model))
    allowed = set(cls.settings) | cls.options | cls.complete_options
    dropped = sorted(k for k in kwargs if k not in allowed)
    return Client(model, **{k: v for k, v in kwargs.items() if k in allowed}), dropped


def is_completion_model(client: Any) -> bool:
    """True for models that continue text rather than follow a chat template (mini)."""
    backend = client.backend
    return bool(backend.completion_model)


class ChatSession:
    def __init__(
        self,
        client: Any,
        *,
        system: str | None = None,
        history: History | None = None,
        cid: str | None = None,
        turns: list[Turn] | None = None,
        client_kwargs: dict[str, Any] | None = None,
        source: str = "chat",
    ) -> None:
        self.client = client
        self.system = system or None
        self.history = history
        self.cid = cid
        self.turns: list[Turn] = list(turns or [])
        self.client_kwargs = dict(client_kwargs or {})
        self.source = source  # recorded in the history: 'chat' or 'ask'
        self.attachments: list[tuple[str, str]] = []  # (name, text) for the next message
        self.failed: str | None = None  # a message whose send failed before any output
        self.totals = Usage()
        self.known_cost = True

    # --- the conversation -----------------------------------------------------------------

    def messages(self, next_user: str | None = None) -> list[Message]:
        out = [Message("system", self.system)] if self.system else []
        for t in self.turns:
            out.append(t.user)
            if t.reply is not None:
                out.append(t.reply)
        if next_user is not None:
            out.append(Message("user", next_user))
        return out

    def compose(self, text: str) -> str:
        """The user's text with the pending attachments appended."""
        from .files import format_attachment

        return "\n\n".join([text, *(format_attachment(n, body) for n, body in self.attachments)]).strip("\n")

    def context(self, messages: list[Message]) -> ContextInfo | None:
        """Tokens the request needs against the window; None when the backend cannot say."""
        try:
            window = self.client.context_window()
            tokens = int(self.client.count_tokens(messages)) if window else 0
        except LLMKitError:
            return None
        reserve = int(self.client.defaults.get("max_tokens") or 0)
        return ContextInfo(tokens, window, reserve, "truncate" in self.client.backend.options)

    # --- sending ------------------------------------------------------------------------

    def send(self, content: str, on_text: Callable[[str], None], *, truncate: bool = False,
             stream: bool = True) -> Turn:  # fmt: skip
        """Ask for a reply to `content`, streaming its text to `on_text`. Ctrl-C stops the
        reply (the stream is closed so the backend stops) and keeps what arrived."""
        self.attachments = []
        return self._exchange(Turn(Message("user", content)), on_text, truncate=truncate, stream=stream)

    def retry_messages(self) -> list[Message]:
        """What /retry would send."""
        if self.failed is not None:
            return self.messages(self.failed)
        if not self.turns:
            raise UsageError("nothing to retry yet", hint="Type a message first.")
        messages = self.messages()
        return messages[:-1] if self.turns[-1].reply is not None else messages

    def retry(self, on_text: Callable[[str], None], *, truncate: bool = False) -> Turn:
        """Send the last message again: a failed one, or the last answered one, whose
        reply is replaced (in the history too, once the new one is in)."""
        if self.failed is not None:
            content, self.failed = self.failed, None
            return self._exchange(Turn(Message("user", content)), on_text, truncate=truncate)
        if not self.turns:
            raise UsageError("nothing to retry yet", hint="Type a message first.")
        old = self.turns.pop()
        try:
            return self._exchange(Turn(old.user), on_text, truncate=truncate, replaces=old)
        except BaseException:
            if not self.turns or self.turns[-1].user is not old.user:
                self.turns.append(old)  # nothing new came back: keep the old answer
                self.failed = None
            raise

    def _exchange(self, turn: Turn, on_text: Callable[[str], None], *, truncate: bool,
                  replaces: Turn | None = None, stream: bool = True) -> Turn:  # fmt: skip
        client = self.client
        messages = self.messages(turn.user.text)
        options: dict[str, Any] = {"truncate": "left"} if truncate else {}
        turn.model = client.model
        turn.options = {**client.defaults, **options}
        started = time.perf_counter()
        text_parts: list[str] = []
        error: LLMKitError | None = None
        response = None
        try:
            if stream and client.capabilities.streaming:
                events = client.stream(messages, **options)
                try:
                    for event in events:
                        if event.text:
                            if turn.first_token is None:
                                turn.first_token = time.perf_counter() - started
                            text_parts.append(event.text)
                            on_text(event.text)
                finally:
                    events.close()  # stops the backend (HTTP response closed, decoding ended)
                    response = events.partial_response()
            else:
                response = client.chat(messages, **options)
                turn.first_token = time.perf_counter() - started
                text_parts.append(response.text)
                on_text(response.text)
        except KeyboardInterrupt:
            if not text_parts:
                self.failed = turn.user.text
                raise Cancelled() from None
            turn.interrupted = True
        except LLMKitError as exc:
            if not text_parts:
                self.failed = turn.user.text
                raise
            turn.interrupted, error = True, exc  # output already shown: keep it, then report
        turn.duration = time.perf_counter() - started
        text = response.text if response is not None and not turn.interrupted else "".join(text_parts)
        turn.reply = Message("assistant", text)
        turn.finish_reason = "interrupted" if turn.interrupted else (response.finish_reason if response else None)
        turn.usage = self._usage(response, messages, text)
        self.failed = None
        try:
            self._commit(turn, replaces)
        finally:  # a failed history write keeps the turn here; the error says what broke off first
            if error is not None:
                raise ReplyInterruptedError(error, turn)
        return turn

    def _usage(self, response: Any, messages: list[Message], text: str) -> Usage:
        usage = response.usage if response is not None else Usage()
        if not usage.output_tokens and text:  # cut short before the usage event: estimate
            try:
                usage = Usage(int(self.client.count_tokens(messages)), int(self.client.count_tokens(text)),
                              estimated=True)  # fmt: skip
            except LLMKitError:
                pass
        self.totals.input_tokens += usage.input_tokens
        self.totals.output_tokens += usage.output_tokens
        if usage.cost is None:
            self.known_cost = self.known_cost and not usage.total_tokens
        else:
            self.totals.cost = (self.totals.cost or 0.0) + usage.cost
        return usage

    def _commit(self, turn: Turn, replaces: Turn | None) -> None:
        self.turns.append(turn)
        if self.history is None:
            return
        # a Ctrl-C now was meant for the reply, not the write; a failed write keeps the turn
        # in the session (the caller reports the error)
        with _sigint_deferred():
            self.cid, turn.number = self.history.add_turn(
                self.cid, turn, system=self.system, source=self.source,
                replace_turn=replaces.number if replaces and replaces.number else None,
            )  # fmt: skip

    # --- editing ------------------------------------------------------------------------

    def undo(self) -> Turn | None:
        if not self.turns:
            return None
        turn = self.turns.pop()
        if self.history is not None and self.cid and turn.number:
            self.history.delete_turn(self.cid, turn.number)
        return turn

    def clear(self) -> None:
        """Start a new conversation (the old one stays in the history)."""
        self.turns, self.cid, self.attachments, self.failed = [], None, [], None

    def set_system(self, text: str | None) -> None:
        self.system = text or None
        if self.history is not None and self.cid:
            self.history.update_conversation(self.cid, system=self.system or "")

    def switch_model(self, model: str) -> list[str]:
        """Use another model from the next turn on, keeping the conversation. Returns the
        option names the new model does not take (left out)."""
        client, dropped = open_client(model, self.client_kwargs)
        old, self.client = self.client, client
        old.close()
        if self.history is not None and self.cid:
            self.history.update_conversation(self.cid, model=client.model)
        return dropped

    def replace_turns(self, turns: list[Turn], system: str | None) -> None:
        """/load: the loaded conversation becomes a new one in the history."""
        self.clear()
        self.system = system or None
        for turn in turns:
            turn.number = 0
            turn.model = turn.model or self.client.model
            if turn.reply is not None:
                self._commit(turn, None)
            else:  # a question without its answer: kept, sent with the next message
                self.turns.append(turn)


@contextmanager
def _sigint_deferred() -> Iterator[None]:
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    try:
        previous = signal.signal(signal.SIGINT, lambda *_: None)
    except ValueError:
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
