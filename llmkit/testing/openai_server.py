"""A small OpenAI-compatible HTTP server for tests, benchmarks and plugin authors.

It speaks the real protocol over a real socket (HTTP/1.1 keep-alive, chunked SSE
streams), so code under test runs the whole network path. By default it echoes; tests
script exact replies, failures, dropped connections, delays and the faults of a bad
network or a bad server (a body dripped a byte at a time, a stream that never ends,
request headers echoed back in an error):

    >>> import llmkit
    >>> with OpenAICompatibleServer() as server:
    ...     server.script(Reply(status=429, headers={"retry-after": "0"}), Reply(text="Hi"))
    ...     client = llmkit.Client("openai:test", base_url=server.base_url)
    ...     client.chat("Hello").text            # the 429 was retried
    ...     [r["path"] for r in server.requests]
    'Hi'
    ['/v1/chat/completions', '/v1/chat/completions']

Run standalone: `python -m llmkit.testing.openai_server --port 8000`.
"""

from __future__ import annotations

import argparse
import json
import socket
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from ..backends.fake_embeddings import trigram_vector

__all__ = ["OpenAICompatibleServer", "Reply", "main"]


@dataclass
class Reply:
    """One scripted answer. Unset fields fall back to the default echo behaviour."""

    text: str | None = None
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    tool_calls: list[dict[str, Any]] | None = None
    finish_reason: str | None = None
    error: dict[str, Any] | None = None  # body {"error": ...} for status >= 400
    body: bytes | None = None  # raw body, sent as is
    sse: Iterable[bytes] | None = None  # raw stream events ("data: ...\n\n"), sent as is (may never end)
    drop_after: int | None = None  # stream: cut the connection after this many events
    delay: float = 0.0  # seconds before answering
    embeddings: list[list[float]] | None = None  # /embeddings: these vectors instead of the default ones
    drip: float = 0.0  # seconds between bytes of the body (or of each stream event): a slow network
    echo_headers: bool = False  # status >= 400: the error message repeats every request header


Responder = Callable[[str, dict[str, Any]], Reply]


class OpenAICompatibleServer:
    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        api_key: str | None = None,
        chunk_delay: float = 0.0,
        responder: Responder | None = None,
    ) -> None:
        self.api_key = api_key
        self.chunk_delay = chunk_delay
        self.responder = responder
        self.requests: list[dict[str, Any]] = []
        self._queue: deque[Reply] = deque()
        self._lock = threading.Lock()
        self._httpd = _QuietHTTPServer((host, port), _make_handler(self))
        self._httpd.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host!s}:{port}/v1"

    def script(self, *replies: Reply) -> None:
        """Queue replies for the next requests, in order."""
        with self._lock:
            self._queue.extend(replies)

    def next_reply(self, path: str, body: dict[str, Any], headers: dict[str, str] | None = None) -> Reply:
        with self._lock:
            self.requests.append({"path": path, "body": body, "headers": dict(headers or {})})
            if self._queue:
                return self._queue.popleft()
        return self.responder(path, body) if self.responder else Reply()

    def start(self) -> OpenAICompatibleServer:
        self._thread = threading.Thread(target=self._httpd.serve_forever, args=(0.05,), daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def __enter__(self) -> OpenAICompatibleServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


class _QuietHTTPServer(ThreadingHTTPServer):
    def handle_error(self, request: Any, client_address: Any) -> None:
        import sys

        if not isinstance(sys.exc_info()[1], (ConnectionError, BrokenPipeError)):
            super().handle_error(request, client_address)  # clients hanging up is normal


def _last_user_text(body: dict[str, Any]) -> str:
    for m in reversed(body.get("messages") or []):
        if m.get("role") == "user":
            content = m.get("content")
            return content if isinstance(content, str) else json.dumps(content)
    return ""


def _words(text: str) -> int:
    return len(text.split())


def _make_handler(server: OpenAICompatibleServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, like real servers
        disable_nagle_algorithm = True  # else small writes wait ~40 ms for delayed ACKs

        drip = 0.0

        def log_message(self, *args: Any) -> None:  # quiet
            pass

        def _write(self, data: bytes) -> None:
            if not self.drip:
                self.wfile.write(data)
                return
            for i in range(len(data)):  # a byte at a time: never silent for long, never done
                self.wfile.write(data[i : i + 1])
                self.wfile.flush()
                time.sleep(self.drip)

        def do_GET(self) -> None:
            if self.path.rstrip("/").endswith("/models"):
                self._json(200, {"object": "list", "data": [{"id": "test-model", "object": "model"}]})
            else:
                self._json(404, {"error": {"message": "not found", "code": "not_found"}})

        def do_POST(self) -> None:
            length = int(self.headers.get("content-length") or 0)
            raw = self.rfile.read(length)
            try:
                body = json.loads(raw or b"{}")
            except json.JSONDecodeError:
                self._json(400, {"error": {"message": "invalid JSON body", "code": "invalid_json"}})
                return
            if server.api_key and self.headers.get("authorization") != f"Bearer {server.api_key}":
                server.requests.append({"path": self.path, "body": body})
                self._json(401, {"error": {"message": "Incorrect API key provided", "code": "invalid_api_key"}})
                return
            path = self.path.split("?")[0].rstrip("/")
            if not path.endswith(("/chat/completions", "/completions", "/embeddings")):
                self._json(404, {"error": {"message": f"no route {path}", "code": "not_found"}})
                return
            reply = server.next_reply(path, body, dict(self.headers.items()))
            self.drip = reply.drip
            if reply.delay:
                time.sleep(reply.delay)
            if reply.body is not None:
                self._send(reply.status, reply.body, "application/json", reply.headers)
            elif reply.status >= 400:
                error = reply.error or {"message": f"scripted {reply.status}", "type": "server_error"}
                if reply.echo_headers:  # as some proxies and debug servers do
                    error = {**error, "message": f"{error.get('message', '')} (request headers: "
                             + ", ".join(f"{k}: {v}" for k, v in self.headers.items()) + ")"}  # fmt: skip
                self._json(reply.status, {"error": error}, reply.headers)
            elif path.endswith("/embeddings"):
                self._json(200, _embeddings(body, reply), reply.headers)
            elif body.get("stream"):
                self._stream(path, body, reply)
            else:
                self._json(200, _completion(path, body, reply), reply.headers)

        # --- writing --------------------------------------------------------------

        def _send(self, status: int, payload: bytes, ctype: str, headers: dict[str, str] | None = None) -> None:
            self.send_response(status)
            self.send_header("content-type", ctype)
            self.send_header("content-length", str(len(payload)))
            self.send_header("x-request-id", f"req_{len(server.requests)}")
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            self.end_headers()
            self._write(payload)

        def _json(self, status: int, data: Any, headers: dict[str, str] | None = None) -> None:
            self._send(status, json.dumps(data).encode(), "application/json", headers)

        def _stream(self, path: str, body: dict[str, Any], reply: Reply) -> None:
            self.send_response(200)
            self.send_header("content-type", "text/event-stream")
            self.send_header("transfer-encoding", "chunked")
            for k, v in reply.headers.items():
                self.send_header(k, v)
            self.end_headers()
            events = reply.sse if reply.sse is not None else _sse_events(path, body, reply)
            for i, event in enumerate(events):
                if reply.drop_after is not None and i >= reply.drop_after:
                    self.wfile.flush()
                    self.close_connection = True
                    self.connection.shutdown(socket.SHUT_RDWR)  # no final chunk: a broken stream
                    return
                if server.chunk_delay:
                    time.sleep(server.chunk_delay)
                self._write(b"%x\r\n%s\r\n" % (len(event), event))
                self.wfile.flush()
            self.wfile.write(b"0\r\n\r\n")

    return Handler


def _completion(path: str, body: dict[str, Any], reply: Reply) -> dict[str, Any]:
    n = int(body.get("n") or 1)
    model = body.get("model", "test-model")
    if path.endswith("/chat/completions"):
        prompt = _last_user_text(body)
        text = reply.text if reply.text is not None else f"Echo: {prompt}"
        message: dict[str, Any] = {"role": "assistant", "content": text}
        if reply.tool_calls:
            message["tool_calls"] = reply.tool_calls
            message["content"] = reply.text
        finish = reply.finish_reason or ("tool_calls" if reply.tool_calls else "stop")
        choices = [{"index": i, "message": message, "finish_reason": finish} for i in range(n)]
        obj = "chat.completion"
    else:
        prompt = str(body.get("prompt", ""))
        texts = [reply.text if reply.text is not None else f" continuation {i}" for i in range(n)]
        choices = [{"index": i, "text": t, "finish_reason": reply.finish_reason or "length", "logprobs": None}
                   for i, t in enumerate(texts)]  # fmt: skip
        text = texts[0]
        obj = "text_completion"
    usage = {"prompt_tokens": _words(prompt), "completion_tokens": _words(text) * n}
    usage["total_tokens"] = usage["prompt_tokens"] + usage["completion_tokens"]
    return {"id": "cmpl-test", "object": obj, "created": int(time.time()), "model": model,
            "choices": choices, "usage": usage}  # fmt: skip


def _embeddings(body: dict[str, Any], reply: Reply) -> dict[str, Any]:
    """Default vectors: hashed character trigrams, unit length, so that similar texts get
    similar vectors (good enough to test code that ranks by similarity)."""
    inputs = body.get("input", "")
    texts = [inputs] if isinstance(inputs, str) else [str(t) for t in inputs]
    size = int(body.get("dimensions") or 32)
    vectors = reply.embeddings if reply.embeddings is not None else [trigram_vector(t, size) for t in texts]
    data = [{"object": "embedding", "index": i, "embedding": v} for i, v in enumerate(vectors)]
    tokens = sum(_words(t) for t in texts)
    return {"object": "list", "data": data, "model": body.get("model", "test-model"),
            "usage": {"prompt_tokens": tokens, "total_tokens": tokens}}  # fmt: skip


def _sse_events(path: str, body: dict[str, Any], reply: Reply) -> list[bytes]:
    prompt = _last_user_text(body)
    text = reply.text if reply.text is not None else f"Echo: {prompt}"
    model = body.get("model", "test-model")
    base = {"id": "chunk-test", "object": "chat.completion.chunk", "created": int(time.time()), "model": model}

    def event(choices: list[dict[str, Any]], **extra: Any) -> bytes:
        return b"data: " + json.dumps({**base, "choices": choices, **extra}).encode() + b"\n\n"

    pieces = [w + " " for w in text.split(" ")]
    pieces[-1] = pieces[-1][:-1]
    events = [event([{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}])]
    events += [event([{"index": 0, "delta": {"content": p}, "finish_reason": None}]) for p in pieces if p]
    for i, tc in enumerate(reply.tool_calls or []):
        delta = {"tool_calls": [{"index": i, **tc}]}
        events.append(event([{"index": 0, "delta": delta, "finish_reason": None}]))
    finish = reply.finish_reason or ("tool_calls" if reply.tool_calls else "stop")
    events.append(event([{"index": 0, "delta": {}, "finish_reason": finish}]))
    if (body.get("stream_options") or {}).get("include_usage"):
        usage = {"prompt_tokens": _words(prompt), "completion_tokens": _words(text)}
        usage["total_tokens"] = usage["prompt_tokens"] + usage["completion_tokens"]
        events.append(event([], usage=usage))
    events.append(b"data: [DONE]\n\n")
    return events


def main() -> None:
    parser = argparse.ArgumentParser(description="An echoing OpenAI-compatible server for tests.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--chunk-delay", type=float, default=0.0, help="seconds between stream chunks")
    args = parser.parse_args()
    server = OpenAICompatibleServer(args.host, args.port, chunk_delay=args.chunk_delay)
    print(server.base_url, flush=True)
    try:
        server._httpd.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
