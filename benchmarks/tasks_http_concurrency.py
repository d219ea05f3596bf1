"""Task batches over HTTP: 64 inputs against a loopback OpenAI-compatible server that
takes 100 ms per answer.

Runs, in one process against the same server: the same 64 requests one after another
(the anchor: what a loop over `client.chat` costs), a batch through the task core
(`tasks.sentiment(list, concurrency=C)`: bounded concurrency, each request with the
client's retries), and plain `asyncio.gather` over `client.achat` under a semaphore of
the same size (the floor for that concurrency). Prints each time, the ideal
(64 / C) x 100 ms, and the ratio to the target bound 1.5 x ideal. Target: ratio <= 1.

    python benchmarks/tasks_http_concurrency.py [--items 64] [--concurrency 8] [--delay 0.1]
"""

from __future__ import annotations

import argparse
import asyncio
import time


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--items", type=int, default=64)
    p.add_argument("--concurrency", type=int, default=8)
    p.add_argument("--delay", type=float, default=0.1, help="seconds the server takes per answer")
    p.add_argument("--quick", action="store_true", help="16 items (figures less steady)")
    args = p.parse_args()
    if args.quick:
        args.items = 16

    import llmkit
    from llmkit import tasks
    from llmkit.testing.openai_server import OpenAICompatibleServer, Reply

    texts = [f"Review {i}: I liked it a lot." for i in range(args.items)]
    with OpenAICompatibleServer(responder=lambda path, body: Reply(text="positive", delay=args.delay)) as server:
        client = llmkit.Client("openai:bench", base_url=server.base_url, api_key="sk-bench-000000000000")
        client.chat("warm up")  # connection pool and SDK import, outside the timings

        start = time.perf_counter()
        for text in texts[: max(8, args.items // 8)]:  # a sample of the sequential loop, scaled up
            client.chat(text)
        sequential = (time.perf_counter() - start) * args.items / max(8, args.items // 8)

        start = time.perf_counter()
        results = tasks.sentiment(texts, model=client, strategy="prompted", concurrency=args.concurrency,
                                  progress=False)  # fmt: skip
        batch = time.perf_counter() - start
        assert all(getattr(r, "label", None) == "positive" for r in results), results[:3]

        async def gathered() -> None:
            gate = asyncio.Semaphore(args.concurrency)

            async def one(text: str) -> None:
                async with gate:
                    await client.achat(text)

            await asyncio.gather(*(one(t) for t in texts))

        start = time.perf_counter()
        asyncio.run(gathered())
        floor = time.perf_counter() - start

    ideal = args.items / args.concurrency * args.delay
    print(f"{args.items} inputs, server {args.delay * 1000:.0f} ms per answer, concurrency {args.concurrency}")
    print(f"  one after another (anchor):   {sequential:6.2f} s")
    print(f"  asyncio.gather + semaphore:   {floor:6.2f} s")
    print(f"  llmkit tasks batch:           {batch:6.2f} s  ({sequential / batch:.1f}x the loop)")
    print(f"  ideal (items / C x delay):    {ideal:6.2f} s; target <= 1.5x ideal = {1.5 * ideal:.2f} s")
    print(f"ratio to the target bound: {batch / (1.5 * ideal):.2f} (<= 1 meets it)")


if __name__ == "__main__":
    main()
