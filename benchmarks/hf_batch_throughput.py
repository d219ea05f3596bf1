"""Batched generation vs one prompt after another: tokens per second with the hf backend.

Eight different prompts, greedy, the same max_tokens: once through
`backend.chat_batch` (continuous batching: generated together), once through `client.chat` one
by one. Prints generated tokens per second of each and the ratio. Target: >= 3x.

    python benchmarks/hf_batch_throughput.py [--tokens 64] [--threads 2] [--quick]
"""

from __future__ import annotations

import time

from hf_common import model_id, parser

PROMPTS = [
    "What is the capital of France?",
    "Write a haiku about the sea.",
    "Explain photosynthesis in two sentences.",
    "Give me three tips for learning Python.",
    "What is 17 times 23?",
    "Describe a cat to someone who has never seen one.",
    "Why is the sky blue?",
    "Tell me a short joke about computers.",
]


def main() -> None:
    p = parser(__doc__)
    p.add_argument("--tokens", type=int, default=64)
    args = p.parse_args()
    if args.quick:
        args.tokens = 8

    import torch

    import llmkit

    settings = {"threads": args.threads} if args.threads else {}
    client = llmkit.Client(model_id(args), batch_size=len(PROMPTS), **settings)
    options = {"max_tokens": args.tokens, "temperature": 0}
    conversations = [[llmkit.user(p)] for p in PROMPTS]
    client.chat(PROMPTS[0], max_tokens=2, temperature=0)  # warm-up

    start = time.perf_counter()
    one_by_one = [client.chat(p, **options) for p in PROMPTS]
    t_seq = time.perf_counter() - start
    start = time.perf_counter()
    batched = client.backend.chat_batch(conversations, options)
    t_batch = time.perf_counter() - start

    tokens_seq = sum(r.usage.output_tokens for r in one_by_one)
    tokens_batch = sum(r.usage.output_tokens for r in batched)
    same = sum(a.text == b.text for a, b in zip(one_by_one, batched, strict=True))
    seq_rate, batch_rate = tokens_seq / t_seq, tokens_batch / t_batch
    print(f"{client.model}: {len(PROMPTS)} prompts, max_tokens {args.tokens}, torch threads {torch.get_num_threads()}")
    print(f"one by one {seq_rate:7.1f} tok/s ({t_seq:.1f}s)   batched {batch_rate:7.1f} tok/s ({t_batch:.1f}s)   "
          f"batched/one-by-one = {batch_rate / seq_rate:.2f}x   (target >= 3x; {same}/{len(PROMPTS)} identical texts)")  # fmt: skip


if __name__ == "__main__":
    main()
