"""Per-call overhead: llmkit Client vs the raw OpenAI SDK, same loopback server.

The server (llmkit.testing.openai_server) runs in its own process; this process times
N chat calls through one reused `openai.OpenAI` client and N through one reused
`llmkit.Client`, interleaved in small blocks so that drift hits both alike, and prints
the ratio of medians. Same for the time to the first streamed chunk.
Target (issue #2): both ratios <= 1.10.

    python benchmarks/call_overhead.py [--calls 300]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time


def start_server() -> tuple[subprocess.Popen, str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "llmkit.testing.openai_server", "--port", "0"],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    base_url = proc.stdout.readline().strip()
    return proc, base_url


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=300)
    parser.add_argument("--block", type=int, default=1, help="calls per turn before switching sides")
    parser.add_argument("--model", default="gpt-4o-mini", help="model name sent (a known one: token counting runs)")
    args = parser.parse_args()

    import openai

    import llmkit

    proc, base_url = start_server()
    try:
        os.environ["OPENAI_API_KEY"] = "sk-bench-not-a-real-key"
        raw = openai.OpenAI(base_url=base_url, max_retries=0)
        kit = llmkit.Client(f"openai:{args.model}", base_url=base_url)
        messages = [{"role": "user", "content": "Say hello in one short sentence."}]

        def raw_call() -> None:
            raw.chat.completions.create(model=args.model, messages=messages, max_tokens=20)

        def kit_call() -> None:
            kit.chat(messages, max_tokens=20)

        def raw_first_chunk() -> None:
            stream = raw.chat.completions.create(
                model=args.model, messages=messages, max_tokens=20, stream=True,
                stream_options={"include_usage": True},
            )  # fmt: skip
            for chunk in stream:
                if chunk.choices and chunk.choices[0].delta.content:
                    break
            stream.close()

        def kit_first_chunk() -> None:
            stream = kit.stream(messages, max_tokens=20)
            for event in stream:
                if event.text:
                    break
            stream.close()

        for name, a, b in (("chat call", raw_call, kit_call), ("first streamed chunk", raw_first_chunk, kit_first_chunk)):
            for _ in range(20):  # warm up both: connections, tiktoken, code paths
                a()
                b()
            times: dict[str, list[float]] = {"raw": [], "kit": []}
            for i in range(0, args.calls, args.block):
                order = (("raw", a), ("kit", b)) if (i // args.block) % 2 == 0 else (("kit", b), ("raw", a))
                for label, fn in order:
                    for _ in range(args.block):
                        t = time.perf_counter()
                        fn()
                        times[label].append(time.perf_counter() - t)
            raw_ms = statistics.median(times["raw"]) * 1000
            kit_ms = statistics.median(times["kit"]) * 1000
            print(f"{name:<21} openai SDK {raw_ms:6.3f} ms   llmkit {kit_ms:6.3f} ms   "
                  f"llmkit/openai = {kit_ms / raw_ms:.3f}   (median of {len(times['kit'])})")  # fmt: skip
    finally:
        proc.terminate()
        proc.wait()


if __name__ == "__main__":
    main()
