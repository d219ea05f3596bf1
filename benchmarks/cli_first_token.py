"""Time to the first rendered token in the chat REPL against the raw backend stream.

Raw: `client.stream(...)` until its first text event. REPL: `ChatApp.handle(line)` (the
path a submitted line takes: attachments, context check, history-backed session, the
Markdown renderer drawing into a terminal console) until the first reply token has been
written to the terminal. Both against the same backend with a fixed first-token delay:
the mock backend (`delay`), and the OpenAI-compatible loopback server (`--server`),
whose chunks are paced the same way. Interleaved; the ratio of medians is printed.
Target: <= 1.1.

    python benchmarks/cli_first_token.py [--turns 30] [--delay 0.05] [--server] [--quick]
"""

from __future__ import annotations

import argparse
import io
import os
import statistics
import tempfile
import time


class FirstWrite(io.StringIO):
    """A terminal stand-in that notes when a marker first reaches it."""

    def __init__(self) -> None:
        super().__init__()
        self.marker = ""
        self.seen_at: float | None = None

    def write(self, s: str) -> int:
        if self.seen_at is None and self.marker and self.marker in s:
            self.seen_at = time.perf_counter()
        return super().write(s)

    def isatty(self) -> bool:
        return True


def run(model: str, settings: dict, turns: int) -> tuple[list[float], list[float]]:
    from rich.console import Console

    import llmkit
    from llmkit.logs import History
    from llmkit.repl.app import ChatApp
    from llmkit.repl.input import PlainReader
    from llmkit.repl.render import Renderer

    raw_client = llmkit.Client(model, **settings)
    term = FirstWrite()
    console = Console(file=term, force_terminal=True, width=100, height=40, color_system="truecolor")
    renderer = Renderer(console)
    renderer.warm_up()
    conv = llmkit.Conversation(llmkit.Client(model, **settings), history=History(), source="chat")
    app = ChatApp(conv, PlainReader(), renderer)
    raw_times, repl_times = [], []
    for i in range(turns + 1):  # the first round warms up both paths
        word = f"token{i}x"
        start = time.perf_counter()
        with raw_client.stream(word) as stream:
            for event in stream:
                if event.text.strip():
                    raw = time.perf_counter() - start
                    first = event.text.strip()
                    break
        term.marker, term.seen_at = first, None  # the REPL's clock stops when that text is drawn
        app.conversation.clear()  # same request size every turn
        start = time.perf_counter()
        app.handle(word)
        repl = (term.seen_at or time.perf_counter()) - start
        if i:
            raw_times.append(raw)
            repl_times.append(repl)
    return raw_times, repl_times


def report(name: str, raw: list[float], repl: list[float]) -> None:
    r, p = statistics.median(raw) * 1000, statistics.median(repl) * 1000
    print(f"{name}: raw stream {r:.2f} ms, REPL first rendered token {p:.2f} ms (medians of {len(raw)}); "
          f"ratio {p / r:.3f} (target <= 1.1) {'OK' if p / r <= 1.1 else 'MISSED'}")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--turns", type=int, default=30)
    parser.add_argument("--delay", type=float, default=0.05, help="first-token delay of the backend, seconds")
    parser.add_argument("--server", action="store_true", help="also against the loopback OpenAI server")
    parser.add_argument("--quick", action="store_true", help="5 turns (a smoke test, not a measurement)")
    args = parser.parse_args()
    turns = 5 if args.quick else args.turns
    os.environ["LLMKIT_HOME"] = tempfile.mkdtemp(prefix="llmkit-bench-")  # a throwaway history
    report(f"mock:echo, {args.delay * 1000:.0f} ms to first token", *run("mock:echo", {"delay": args.delay}, turns))
    if args.server:
        from llmkit.testing.openai_server import OpenAICompatibleServer

        os.environ.setdefault("OPENAI_API_KEY", "sk-bench-not-a-real-key")
        with OpenAICompatibleServer(chunk_delay=args.delay) as server:
            report(f"loopback server, {args.delay * 1000:.0f} ms per chunk",
                   *run("openai:test", {"base_url": server.base_url}, turns))  # fmt: skip


if __name__ == "__main__":
    main()
