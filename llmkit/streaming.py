"""Stream wrappers: iterate events as they arrive, get the whole Response at the end.

    >>> import llmkit
    >>> with llmkit.Client("mock:echo").stream("Hello there") as s:
    ...     for event in s:
    ...         print(event.text, end="|" if event.text else "")
    Hello |there|
    >>> s.response.text, s.response.finish_reason, s.response.usage.output_tokens
    ('Hello there', 'stop', 2)

Breaking out of the loop (or `close()`) cancels the request: the backend's generator
is closed, which closes the HTTP response or stops local generation.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

from .types import Response, StreamEvent, ToolCall, Usage

__all__ = ["Stream", "AsyncStream", "Accumulator"]


class Accumulator:
    """Folds stream events into a Response (text per choice, tool calls by index)."""

    def __init__(self) -> None:
        self.texts: dict[int, list[str]] = {}
        self.calls: dict[int, dict[str, Any]] = {}
        self.finish_reason: str | None = None
        self.usage: Usage | None = None
        self.model = ""

    def add(self, event: StreamEvent) -> None:
        if event.text:
            self.texts.setdefault(event.index, []).append(event.text)
        for d in event.tool_calls:
            call = self.calls.setdefault(d.index, {"id": "", "name": "", "arguments": []})
            call["id"] = d.id or call["id"]
            call["name"] = d.name or call["name"]
            call["arguments"].append(d.arguments)
        if event.finish_reason and (event.index == 0 or self.finish_reason is None):
            self.finish_reason = event.finish_reason
        if event.usage is not None:
            self.usage = event.usage
        if event.model:
            self.model = event.model

    @property
    def text(self) -> str:
        return "".join(self.texts.get(0, []))

    def response(self, response_format: Any = None) -> Response:
        n = max(self.texts, default=0) + 1
        texts = ["".join(self.texts.get(i, [])) for i in range(n)]
        calls = [
            ToolCall(c["id"], c["name"], "".join(c["arguments"]) or "{}")
            for _, c in sorted(self.calls.items())
        ]
        return Response(
            text=texts[0],
            texts=texts,
            finish_reason=self.finish_reason,
            usage=self.usage or Usage(),
            tool_calls=calls,
            model=self.model,
            response_format=response_format,
        )


class Stream:
    """A synchronous stream of StreamEvents with the final Response in `.response`."""

    def __init__(self, events: Iterator[StreamEvent], response_format: Any = None) -> None:
        self._events = events
        self._acc = Accumulator()
        self._format = response_format
        self._done = False

    def __iter__(self) -> Iterator[StreamEvent]:
        try:
            for event in self._events:
                self._acc.add(event)
                yield event
            self._done = True
        finally:
            if not self._done:  # the caller left the loop early: stop the backend now, not at GC
                self.close()

    def __enter__(self) -> Stream:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        close = getattr(self._events, "close", None)
        if close:
            close()

    @property
    def text(self) -> str:
        """The text received so far (all of it once the stream is done)."""
        return self._acc.text

    @property
    def done(self) -> bool:
        return self._done

    @property
    def response(self) -> Response:
        """The whole answer; reads the rest of the stream first if needed."""
        if not self._done:
            for _ in self:
                pass
        return self._acc.response(self._format)

    def partial_response(self) -> Response:
        """What arrived so far, without reading further (e.g. after Ctrl-C)."""
        return self._acc.response(self._format)


class AsyncStream:
    """The async twin of Stream: `async for event in client.astream(...)`."""

    def __init__(self, events: AsyncIterator[StreamEvent], response_format: Any = None) -> None:
        self._events = events
        self._acc = Accumulator()
        self._format = response_format
        self._done = False

    async def __aiter__(self) -> AsyncIterator[StreamEvent]:
        try:
            async for event in self._events:
                self._acc.add(event)
                yield event
            self._done = True
        finally:
            if not self._done:
                await self.aclose()

    async def __aenter__(self) -> AsyncStream:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        aclose = getattr(self._events, "aclose", None)
        if aclose:
            await aclose()

    @property
    def text(self) -> str:
        return self._acc.text

    async def get_response(self) -> Response:
        if not self._done:
            async for _ in self:
                pass
        return self._acc.response(self._format)
