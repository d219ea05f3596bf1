"""Anthropic Messages API payloads for the respx tests: replies, error bodies, and
server-sent events written byte for byte as Anthropic sends them."""

from __future__ import annotations

import json
from typing import Any

API = "https://api.anthropic.com"
MESSAGES = "/v1/messages"
# matches none of llmkit's generic secret patterns: only remember_secret() can scrub it
KEY = "test-anthropic-credential-0b5e9d1c7a"
MODEL = "claude-sonnet-4-5"


def usage(input_tokens: int = 10, output_tokens: int = 5, **extra: Any) -> dict[str, Any]:
    return {"input_tokens": input_tokens, "output_tokens": output_tokens, **extra}


def message(text: str | None = "Hello!", *, tool_uses: list[dict[str, Any]] = (), stop_reason: str = "end_turn",
            model: str = "claude-sonnet-4-5-20250929", **counts: Any) -> dict[str, Any]:
    content: list[dict[str, Any]] = [{"type": "text", "text": text}] if text is not None else []
    content += list(tool_uses)
    return {"id": "msg_01", "type": "message", "role": "assistant", "model": model, "content": content,
            "stop_reason": stop_reason, "stop_sequence": None, "usage": usage(**counts)}


def tool_use(name: str, arguments: dict[str, Any], call_id: str = "toolu_01") -> dict[str, Any]:
    return {"type": "tool_use", "id": call_id, "name": name, "input": arguments}


def error_body(kind: str, text: str) -> dict[str, Any]:
    return {"type": "error", "error": {"type": kind, "message": text}, "request_id": "req_011"}


def sse(*events: dict[str, Any]) -> bytes:
    """Events as Anthropic's SSE: an `event:` line naming the type, then the JSON."""
    return b"".join(f"event: {e['type']}\ndata: {json.dumps(e)}\n\n".encode() for e in events)


def sse_headers() -> dict[str, str]:
    return {"content-type": "text/event-stream", "request-id": "req_stream"}


def start(input_tokens: int = 25, model: str = "claude-sonnet-4-5-20250929") -> dict[str, Any]:
    return {"type": "message_start", "message": {
        "id": "msg_stream", "type": "message", "role": "assistant", "model": model, "content": [],
        "stop_reason": None, "stop_sequence": None, "usage": {"input_tokens": input_tokens, "output_tokens": 1}}}


def text_block(index: int, *pieces: str) -> list[dict[str, Any]]:
    return [{"type": "content_block_start", "index": index, "content_block": {"type": "text", "text": ""}},
            *({"type": "content_block_delta", "index": index, "delta": {"type": "text_delta", "text": p}}
              for p in pieces),
            {"type": "content_block_stop", "index": index}]


def tool_block(index: int, name: str, call_id: str, *json_pieces: str) -> list[dict[str, Any]]:
    return [{"type": "content_block_start", "index": index,
             "content_block": {"type": "tool_use", "id": call_id, "name": name, "input": {}}},
            *({"type": "content_block_delta", "index": index, "delta": {"type": "input_json_delta", "partial_json": p}}
              for p in json_pieces),
            {"type": "content_block_stop", "index": index}]


def finish(stop_reason: str = "end_turn", output_tokens: int = 12) -> list[dict[str, Any]]:
    return [{"type": "message_delta", "delta": {"stop_reason": stop_reason, "stop_sequence": None},
             "usage": {"output_tokens": output_tokens}},
            {"type": "message_stop"}]


def text_stream(*pieces: str, input_tokens: int = 25, output_tokens: int = 12) -> bytes:
    return sse(start(input_tokens), {"type": "ping"}, *text_block(0, *pieces), *finish("end_turn", output_tokens))


def sent_json(route: Any, call: int = -1) -> dict[str, Any]:
    """The JSON body of a request a respx route received."""
    return json.loads(route.calls[call].request.content)
