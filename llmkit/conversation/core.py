"""Conversation: turns with one model, sent, streamed, retried, undone, saved.

The one place that knows how a turn is sent: `llmkit ask` and `llmkit chat` go through
it (and an agent loop built on llmkit should too). A reply that breaks off is never lost: what arrived is kept,
marked interrupted (and recorded in the history, when there is one).
"""

from __future__ import annotations

import dataclasses
import signal
import threading
import time
from collections.abc import Callable, Generator, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Protocol

from ..client import Client
from ..errors import LLMKitError, ReplyInterruptedError, UsageError
from ..types import Message, Response, StreamEvent, Usage
from .turn import Turn

__all__ = ["Conversation", "ConversationStream", "Cancelled", "ContextInfo", "HistoryStore", "open_client"]

NEAR_FULL = 0.8  # a context from this fraction of the window on is "near" full


class Cancelled(KeyboardInterrupt):
    """Ctrl-C before any of the reply arrived (with catch_interrupt=True): nothing was
    kept, and `retry()` sends the message again."""


class HistoryStore(Protocol):
    """Where a conversation records its turns (llmkit.logs.History is one)."""

    def add_turn(self, cid: str | None, turn: Turn, *, system: str | None = None, source: str = "chat",
                 replace_turn: int | None = None) -> tuple[str, int]: ...  # fmt: skip

    def delete_turn(self, cid: str, number: int) -> None: ...

    def update_conversation(self, cid: str, *, model: str | None = None, system: str | None = None) -> None: ...


@dataclass
class ContextInfo:
    """How much of the model's context window the next request needs."""

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


class Conversation:
    """A conversation with one model (switchable with `use`), turn by turn.

        conv = llmkit.Conversation(llmkit.Client("mock:echo"), system="Be brief.")
        conv.send("Hello").text                    # 'Hello'
        conv.send("Again", on_text=print)           # streamed to on_text as it arrives
        with conv.stream("More") as s:              # or iterate the StreamEvents yourself
            for event in s: ...
        conv.undo(); conv.retry(); conv.save("chat.md")

    `history` (e.g. `llmkit.logs.History()`) records every turn, committed when its
    reply ends; `options` are generation options for every send (a send's own win).
    """

    def __init__(self, client: Client, *, system: str | None = None, history: HistoryStore | None = None,
                 cid: str | None = None, turns: Sequence[Turn] = (), source: str = "sdk",
                 **options: Any) -> None:  # fmt: skip
        self.client = client
        self.system = system or None
        self.history = history
        self.cid = cid  # the conversation's id in the history, once it has one
        self.turns: list[Turn] = list(turns)
        self.source = source  # recorded in the history: 'sdk', 'ask' or 'chat'
        self.options = options
        self.pending: str | None = None  # a message whose send failed before any reply: retry() sends it
        self.totals = Usage()  # tokens (and cost) of this object's sends
        self.known_cost = True  # every send so far had a price

    def __repr__(self) -> str:
        return f"<Conversation with {self.client.model}: {len(self.turns)} turn(s)>"

    # --- what is sent ------------------------------------------------------------------

    def messages(self, next_user: str | Message | None = None) -> list[Message]:
        """The system prompt and every turn, plus `next_user` when given: what a send carries."""
        out = [Message("system", self.system)] if self.system else []
        for t in self.turns:
            out.append(t.user)
            if t.reply is not None:
                out.append(t.reply)
        if next_user is not None:
            out.append(next_user if isinstance(next_user, Message) else Message("user", next_user))
        return out

    def context(self, messages: Sequence[Message] | None = None) -> ContextInfo | None:
        """Tokens a request needs (by default: the conversation so far) against the
        window, with max_tokens kept for the reply; None when the backend cannot say."""
        messages = list(self.messages() if messages is None else messages)
        try:
            window = self.client.context_window()
            tokens = int(self.client.count_tokens(messages)) if window and messages else 0
        except LLMKitError:
            return None
        reserve = int({**self.client.defaults, **self.options}.get("max_tokens") or 0)
        return ContextInfo(tokens, window, reserve, "truncate" in self.client.backend.options)

    # --- sending -----------------------------------------------------------------------

    def send(self, content: str | list[dict[str, Any]], *, on_text: Callable[[str], None] | None = None,
             stream: bool | None = None, catch_interrupt: bool = False,
             until: Callable[[str], int | None] | None = None, **options: Any) -> Turn:  # fmt: skip
        """Send `content` and return the answered Turn. With `on_text` (or stream=True)
        the reply streams, each piece handed to on_text as it arrives. `content` may be a
        list of OpenAI content parts (text and images); a history records its text.

        Ctrl-C mid-reply stops it and keeps what arrived, marked interrupted; then
        KeyboardInterrupt propagates, unless `catch_interrupt` (terminal apps), which
        returns that turn instead (and raises Cancelled when nothing had arrived). An
        error after part of the reply is a ReplyInterruptedError carrying the kept turn;
        one before it is raised as is, and `retry()` sends the message again."""
        streamed = on_text is not None if stream is None else stream
        return self._consume(Turn(Message("user", content)), options, streamed, on_text, catch_interrupt, until=until)

    def stream(self, content: str, **options: Any) -> ConversationStream:
        """Stream the reply as StreamEvents; the turn is recorded when the stream ends
        (leaving early keeps what arrived, marked interrupted) and is then `.turn`."""
        turn = Turn(Message("user", content))
        return ConversationStream(self._exchange(turn, options, stream=True), turn)

    def retry(self, *, on_text: Callable[[str], None] | None = None, stream: bool | None = None,
              catch_interrupt: bool = False, **options: Any) -> Turn:  # fmt: skip
        """Send the last message again: one whose send failed, or the last answered one,
        whose reply is replaced (in the history too, once the new one is in)."""
        streamed = on_text is not None if stream is None else stream
        if self.pending is not None:
            content, self.pending = self.pending, None
            return self._consume(Turn(Message("user", content)), options, streamed, on_text, catch_interrupt)
        if not self.turns:
            raise UsageError("nothing to retry yet", hint="Send a message first.")
        old = self.turns.pop()
        try:
            return self._consume(Turn(old.user), options, streamed, on_text, catch_interrupt, replaces=old)
        except BaseException:
            if not self.turns or self.turns[-1].user is not old.user:
                self.turns.append(old)  # nothing new came back: keep the old answer
                self.pending = None
            raise

    def retry_messages(self) -> list[Message]:
        """What `retry()` would send."""
        if self.pending is not None:
            return self.messages(self.pending)
        if not self.turns:
            raise UsageError("nothing to retry yet", hint="Send a message first.")
        messages = self.messages()
        return messages[:-1] if self.turns[-1].reply is not None else messages

    def _consume(self, turn: Turn, options: dict[str, Any], stream: bool, on_text: Callable[[str], None] | None,
                 catch_interrupt: bool, replaces: Turn | None = None,
                 until: Callable[[str], int | None] | None = None) -> Turn:  # fmt: skip
        events = self._exchange(turn, options, stream, replaces, until)
        try:
            for event in events:
                if event.text and on_text is not None:
                    on_text(event.text)
        except KeyboardInterrupt:
            events.close()  # raised in on_text: the exchange records what arrived, now
            if not catch_interrupt:
                raise
            if turn.reply is None:
                raise Cancelled() from None
        finally:
            events.close()  # whatever on_text raised: the turn is recorded before the caller goes on
        return turn

    def _exchange(self, turn: Turn, options: dict[str, Any], stream: bool, replaces: Turn | None = None,
                  until: Callable[[str], int | None] | None = None) -> Generator[StreamEvent, None, None]:  # fmt: skip
        """The one way a turn is sent: yields the reply's events, then records the turn
        (also when the consumer stops early or Ctrl-C arrives, if part of it came).
        `until(text so far)` may return where the reply ends (an index): generation stops
        there and the reply is that much, finished ("stop"), e.g. at the end of a code block."""
        client, opts = self.client, {**self.options, **options}
        messages = self.messages(turn.user)
        turn.model, turn.options = client.model, {**client.defaults, **opts}
        started = time.perf_counter()
        parts: list[str] = []
        response: Response | None = None
        error: LLMKitError | None = None
        stopped: BaseException | None = None  # KeyboardInterrupt, or GeneratorExit (left early)
        ended = False  # until() ended the reply
        try:
            if stream and client.capabilities.streaming:
                events = client.stream(messages, **opts)
                try:
                    for event in events:
                        if event.text:
                            if turn.first_token is None:
                                turn.first_token = time.perf_counter() - started
                            parts.append(event.text)
                            cut = until("".join(parts)) if until is not None else None
                            if cut is not None:
                                so_far = "".join(parts)
                                parts[:] = [so_far[:cut]]
                                piece = so_far[len(so_far) - len(event.text) : cut]
                                ended = True
                                if piece:
                                    yield replace(event, text=piece)
                                break
                        yield event
                finally:
                    events.close()  # stops the backend (HTTP response closed, decoding ended)
                    response = events.partial_response()
                    if ended and response is not None:
                        response = replace(response, text="".join(parts), finish_reason="stop")
            else:  # one event, handed over once the turn is recorded (nothing left to interrupt)
                response = client.chat(messages, **opts)
                cut = until(response.text) if until is not None else None
                if cut is not None:
                    response = replace(response, text=response.text[:cut], finish_reason="stop")
                turn.first_token = time.perf_counter() - started
                parts.append(response.text)
        except (KeyboardInterrupt, GeneratorExit) as exc:
            if not parts:
                self.pending = turn.user.text
                raise
            stopped = exc
        except LLMKitError as exc:
            if not parts:
                self.pending = turn.user.text
                raise
            error = exc  # output already shown: keep it, then report
        finished = response is not None and response.finish_reason is not None  # stopped after the end: complete
        turn.interrupted = error is not None or (stopped is not None and not finished)
        self._finish(turn, response, messages, "".join(parts), started)
        failed_write: LLMKitError | None = None
        try:
            self._commit(turn, replaces)
        except LLMKitError as exc:  # the turn stays here; the caller hears of it
            failed_write = exc
        if error is not None:  # what broke the reply is said first
            broken = ReplyInterruptedError(error, turn)
            if failed_write is not None:
                broken.hint += f" (The history could not record it either: {failed_write.message})"
            raise broken
        if failed_write is not None:
            raise failed_write
        if isinstance(stopped, KeyboardInterrupt):
            raise stopped
        if response is not None and not (stream and client.capabilities.streaming):
            yield StreamEvent(text=response.text, finish_reason=response.finish_reason, usage=response.usage)

    def _finish(self, turn: Turn, response: Response | None, messages: list[Message], text: str,
                started: float) -> None:  # fmt: skip
        turn.duration = time.perf_counter() - started
        if response is not None and not turn.interrupted:
            text = response.text
        turn.reply = Message("assistant", text)
        turn.finish_reason = "interrupted" if turn.interrupted else (response.finish_reason if response else None)
        turn.usage = self._usage(response, messages, text)
        self.pending = None

    def _usage(self, response: Response | None, messages: list[Message], text: str) -> Usage:
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

    def _commit(self, turn: Turn, replaces: Turn | None = None) -> None:
        self.turns.append(turn)
        if self.history is None:
            return
        # a Ctrl-C now was meant for the reply, not the write; a failed write keeps the turn
        # here (the caller reports the error)
        with _sigint_deferred():
            self.cid, turn.number = self.history.add_turn(
                self.cid, turn, system=self.system, source=self.source,
                replace_turn=replaces.number if replaces and replaces.number else None,
            )  # fmt: skip

    # --- editing -----------------------------------------------------------------------

    def append(self, user: str | Message, reply: str | Message | None = None, **fields: Any) -> Turn:
        """Add an exchange without sending it (examples for the model, an imported
        transcript); recorded in the history when it has a reply."""
        turn = Turn(user if isinstance(user, Message) else Message("user", user),
                    reply if isinstance(reply, Message) or reply is None else Message("assistant", reply),
                    **fields)  # fmt: skip
        return self._add(turn)

    def _add(self, turn: Turn) -> Turn:
        turn.model = turn.model or self.client.model
        if turn.reply is not None:
            self._commit(turn)
        else:  # a question without its answer: sent with the next message
            self.turns.append(turn)
        return turn

    def undo(self) -> Turn | None:
        """Remove the last exchange (from the history too); None when there is none."""
        if not self.turns:
            return None
        turn = self.turns.pop()
        if self.history is not None and self.cid and turn.number:
            self.history.delete_turn(self.cid, turn.number)
        return turn

    def clear(self) -> None:
        """Start afresh (a history keeps the old conversation; the next turn starts a new one)."""
        self.turns, self.cid, self.pending = [], None, None

    def set_system(self, text: str | None) -> None:
        self.system = text or None
        if self.history is not None and self.cid:
            self.history.update_conversation(self.cid, system=self.system or "")

    def use(self, client: Client, *, close_previous: bool = True) -> None:
        """Talk to another model from the next turn on, keeping the conversation."""
        old, self.client = self.client, client
        if close_previous and old is not client:
            old.close()
        if self.history is not None and self.cid:
            self.history.update_conversation(self.cid, model=client.model)

    def replace_turns(self, turns: Sequence[Turn], system: str | None) -> None:
        """Continue another conversation (a loaded file): it becomes a new one in the history."""
        self.clear()
        self.system = system or None
        for turn in turns:
            self._add(dataclasses.replace(turn, number=0))

    # --- files -------------------------------------------------------------------------

    def save(self, path: str | Path, *, overwrite: bool = False) -> Path:
        """Write the conversation as Markdown (.md) or JSON (.json); an existing file is
        kept unless `overwrite`. New files are readable by their owner only."""
        from .files import save

        return save(str(path), self.turns, system=self.system, model=self.client.model, cid=self.cid,
                    overwrite=overwrite)  # fmt: skip

    @classmethod
    def load(cls, path: str | Path, client: Client | None = None, **kwargs: Any) -> Conversation:
        """A conversation from a file written by `save` (or a JSON list of OpenAI-shaped
        messages), continued with `client` (default: the default model)."""
        from .files import load

        turns, system = load(str(path))
        conv = cls(client or Client(), system=system, **kwargs)
        conv.replace_turns(turns, system)
        return conv


class ConversationStream:
    """The StreamEvents of one reply; `.turn` is the recorded turn once it ends."""

    def __init__(self, events: Iterator[StreamEvent], turn: Turn) -> None:
        self._events = events
        self.turn = turn
        self._parts: list[str] = []

    def __iter__(self) -> Iterator[StreamEvent]:
        try:
            for event in self._events:
                if event.text:
                    self._parts.append(event.text)
                yield event
        finally:  # left early (break): stop the model and record what arrived, now, not at GC
            self.close()

    @property
    def text(self) -> str:
        """The reply's text so far."""
        return "".join(self._parts)

    def close(self) -> None:
        """Stop the reply now; what arrived is kept, marked interrupted."""
        close = getattr(self._events, "close", None)
        if close is not None:
            close()

    def __enter__(self) -> ConversationStream:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def open_client(model: str | None, kwargs: dict[str, Any]) -> tuple[Client, list[str]]:
    """A Client for `model` with the settings and options among `kwargs` that it takes;
    returns it and the names it had to leave out (e.g. after switching to another backend)."""
    from .. import registry

    model = model or registry.default_model()
    cls = registry.backend_class(registry.resolve(model))
    allowed = set(cls.settings) | cls.options | cls.complete_options
    dropped = sorted(k for k in kwargs if k not in allowed)
    return Client(model, **{k: v for k, v in kwargs.items() if k in allowed}), dropped


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
