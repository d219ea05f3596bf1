"""Batched generation vs one prompt after another: tokens per second with the hf backend.

Eight different prompts, greedy, the same max_tokens: once through
`backend.chat_batch` (continuous batching: generated together), once through `client.chat` one
by one. Prints generated tokens per second of each and the ratio. Target: >= 3x.

Two sets of prompts: PROMPTS, whose answers end at their own lengths (a batch of 8 runs
as many steps as the longest answer, so its gain is at most their tokens over the longest
one's), and LONG_PROMPTS, each asking for more than 64 tokens: 8 prompts x 64 tokens.

    python benchmarks/hf_batch_throughput.py [--tokens 64] [--threads 2] [--long] [--quick]
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
LONG_PROMPTS = [
    "Write a short story about a robot who learns to paint.",
    "Describe your ideal city in detail.",
    "Describe the water cycle in detail.",
    "Write a letter to a friend about your summer holiday.",
    "Give me ten ideas for a birthday party, with a sentence about each.",
    "Explain the rules of chess to a beginner.",
    "Write a poem of four stanzas about autumn.",
    "Tell me about the history of the Roman Empire.",
]


def main() -> None:
    p = parser(__doc__)
    p.add_argument("--tokens", type=int, default=64)
    p.add_argument("--long", action="store_true", help="LONG_PROMPTS: every answer runs to --tokens")
    args = p.parse_args()
    prompts = LONG_PROMPTS if args.long else PROMPTS
    if args.quick:
        args.tokens = 8

    import torch

    import llmkit

    settings = {"threads": args.threads} if args.threads else {}
    client = llmkit.Client(model_id(args), batch_size=len(prompts), **settings)
    options = {"max_tokens": args.tokens, "temperature": 0}
    conversations = [[llmkit.user(p)] for p in prompts]
    client.chat(prompts[0], max_tokens=2, temperature=0)  # warm-up

    start = time.perf_counter()
    one_by_one = [client.chat(p, **options) for p in prompts]
    t_seq = time.perf_counter() - start
    start = time.perf_counter()
    batched = client.backend.chat_batch(conversations, options)
    t_batch = time.perf_counter() - start

    tokens_seq = sum(r.usage.output_tokens for r in one_by_one)
    tokens_batch = sum(r.usage.output_tokens for r in batched)
    same = sum(a.text == b.text for a, b in zip(one_by_one, batched, strict=True))
    seq_rate, batch_rate = tokens_seq / t_seq, tokens_batch / t_batch
    lengths = [r.usage.output_tokens for r in batched]
    print(f"{client.model}: {len(prompts)} prompts, max_tokens {args.tokens}, torch threads {torch.get_num_threads()}; "
          f"{sum(lengths)} tokens, the longest answer {max(lengths)}: ceiling {sum(lengths) / max(lengths):.2f}x")
    print(f"one by one {seq_rate:7.1f} tok/s ({t_seq:.1f}s)   batched {batch_rate:7.1f} tok/s ({t_batch:.1f}s)   "
          f"batched/one-by-one = {batch_rate / seq_rate:.2f}x   (target >= 3x; {same}/{len(prompts)} identical texts)")  # fmt: skip


if __name__ == "__main__":
    main()
