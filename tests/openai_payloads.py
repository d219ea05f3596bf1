"""Builders for OpenAI wire payloads used by the respx tests: chat completions, legacy
completions, error bodies, and SSE stream bodies (as text or as raw byte chunks)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from typing import Any

import httpx  # httpx2, through tests/httpx2_alias.py

API = "https://api.openai.com/v1"
KEY = "sk-test-0123456789abcdef"


def chat_completion(
    text: str | None = "Hello!",
    *,
    model: str = "gpt-4o-mini-2024-07-18",
    finish_reason: str = "stop",
    prompt_tokens: int = 11,
    completion_tokens: int = 3,
    texts: list[str] | None = None,
    tool_calls: list[dict[str, Any]] | None = None,
    usage: bool = True,
) -> dict[str, Any]:
    contents = texts if texts is not None else [text]
    choices = []
    for i, content in enumerate(contents):
        message: dict[str, Any] = {"role": "assistant", "content": content}
        if tool_calls and i == 0:
            message["tool_calls"] = tool_calls
        choices.append({"index": i, "message": message, "finish_reason": finish_reason, "logprobs": None})
    body: dict[str, Any] = {
        "id": "chatcmpl-123",
        "object": "chat.completion",
        "created": 1700000000,
        "model": model,
        "choices": choices,
    }
    if usage:
        body["usage"] = {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        }
    return body


def tool_call(id: str, name: str, arguments: dict[str, Any] | str) -> dict[str, Any]:
    args = arguments if isinstance(arguments, str) else json.dumps(arguments)
    return {"id": id, "type": "function", "function": {"name": name, "arguments": args}}


def completion(texts: list[str], *, model: str = "gpt-3.5-turbo-instruct") -> dict[str, Any]:
    return {
        "id": "cmpl-123",
        "object": "text_completion",
        "created": 1700000000,
        "model": model,
        "choices": [{"index": i, "text": t, "finish_reason": "length", "logprobs": None} for i, t in enumerate(texts)],
        "usage": {"prompt_tokens": 6, "completion_tokens": 5 * len(texts), "total_tokens": 6 + 5 * len(texts)},
    }


def error_body(code: str | None, message: str = "something went wrong", type: str = "invalid_request_error") -> dict:
    return {"error": {"message": message, "type": type, "param": None, "code": code}}


def error_response(status: int, code: str | None = None, *, headers: dict[str, str] | None = None, **kw) -> httpx.Response:
    return httpx.Response(status, json=error_body(code, **kw), headers=headers or {})


# --- streaming ------------------------------------------------------------------------


def chunk(
    content: str | None = None,
    *,
    finish_reason: str | None = None,
    tool_calls: list[dict[str, Any]] | None = None,
    index: int = 0,
    role: str | None = None,
) -> dict[str, Any]:
    delta: dict[str, Any] = {}
    if role:
        delta["role"] = role
    if content is not None:
        delta["content"] = content
    if tool_calls is not None:
        delta["tool_calls"] = tool_calls
    return {
        "id": "chatcmpl-s1",
        "object": "chat.completion.chunk",
        "created": 1700000000,
        "model": "gpt-4o-mini-2024-07-18",
        "choices": [{"index": index, "delta": delta, "finish_reason": finish_reason, "logprobs": None}],
    }


def usage_chunk(prompt_tokens: int, completion_tokens: int) -> dict[str, Any]:
    return {
        "id": "chatcmpl-s1",
        "object": "chat.completion.chunk",
        "created": 1700000000,
        "model": "gpt-4o-mini-2024-07-18",
        "choices": [],
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        },
    }


def tool_delta(index: int, arguments: str, *, id: str | None = None, name: str | None = None) -> dict[str, Any]:
    fn: dict[str, Any] = {"arguments": arguments}
    if name is not None:
        fn["name"] = name
    out: dict[str, Any] = {"index": index, "function": fn}
    if id is not None:
        out["id"] = id
        out["type"] = "function"
    return out


def sse(events: Iterable[dict[str, Any] | str], *, done: bool = True) -> bytes:
    """An SSE body: each event a `data: <json>` line; `[DONE]` at the end unless done=False."""
    lines = [f"data: {e if isinstance(e, str) else json.dumps(e, ensure_ascii=False)}\n\n" for e in events]
    if done:
        lines.append("data: [DONE]\n\n")
    return "".join(lines).encode("utf-8")


def text_stream(pieces: Iterable[str], *, finish_reason: str | None = "stop", done: bool = True, usage=None) -> bytes:
    events: list[dict[str, Any]] = [chunk("", role="assistant")]
    events += [chunk(p) for p in pieces]
    if finish_reason:
        events.append(chunk(finish_reason=finish_reason))
    if usage:
        events.append(usage_chunk(*usage))
    return sse(events, done=done)


def sse_response(body: bytes, **kw: Any) -> httpx.Response:
    return httpx.Response(200, content=body, headers={"content-type": "text/event-stream"}, **kw)


class ByteStream(httpx.SyncByteStream, httpx.AsyncByteStream):
    """A response body delivered as the given byte chunks, optionally failing after them
    (to imitate a connection dropped mid-stream). Works for sync and async clients."""

    def __init__(self, chunks: list[bytes], error: BaseException | None = None) -> None:
        self.chunks = chunks
        self.error = error
        self.delivered = 0
        self.closed = False

    def __iter__(self) -> Iterator[bytes]:
        for c in self.chunks:
            self.delivered += 1
            yield c
        if self.error is not None:
            raise self.error

    def close(self) -> None:
        self.closed = True

    async def aclose(self) -> None:
        self.closed = True

    async def __aiter__(self):
        for c in self.chunks:
            self.delivered += 1
            yield c
        if self.error is not None:
            raise self.error


def chunked_sse_response(chunks: list[bytes], error: BaseException | None = None) -> httpx.Response:
    return httpx.Response(200, headers={"content-type": "text/event-stream"}, stream=ByteStream(chunks, error))


def split_inside(body: bytes, needle: str, offset: int = 1) -> list[bytes]:
    """Cut `body` in two inside the UTF-8 encoding of `needle` (offset bytes into it)."""
    encoded = needle.encode("utf-8")
    assert len(encoded) > offset >= 1, "needle must be multi-byte"
    at = body.index(encoded) + offset
    return [body[:at], body[at:]]


def sent_json(route_or_call: Any) -> dict[str, Any]:
    """The JSON body of a request, of a respx call, or of the last request a route saw."""
    if isinstance(route_or_call, httpx.Request):
        request = route_or_call
    elif hasattr(route_or_call, "calls"):
        request = route_or_call.calls.last.request
    else:
        request = route_or_call.request
    return json.loads(request.content)
