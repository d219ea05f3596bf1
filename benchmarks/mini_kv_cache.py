"""KV-cache decoding vs recomputing the whole sequence at every step (the anchor).

    python benchmarks/mini_kv_cache.py [--tokens 256] [--threads 1] [--quick]

Same model, same prompt, batch 1, greedy: the anchor feeds the full sequence so far to
the model for every new token (what a model without a cache does) and projects only the
last position to logits, as nanoGPT's generate does; the plain forward (logits at every
position) is printed too. llmkit runs MiniEngine's decoding path (`Decoder`): it feeds
only the new token and reuses the cached keys and values. The model is the shipped size
(6 layers, 256 wide, 4 heads, vocabulary 8192) with a 512-token window so that 256 new
tokens fit after the prompt; weights are random (speed does not depend on them) and in
the memory layout MiniEngine loads them in (`GPT.inference_layout`), on both sides.
The three run in turn, `--repeats` times each. Prints tokens per second of each, whether
they produced the same tokens, and `ratio = cached / recompute` (target >= 8).
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from llmkit.mini.model import GPT, Decoder, GPTConfig


@torch.inference_mode()
def generate_cached(decoder: Decoder, prompt: torch.Tensor, n: int) -> list[int]:
    cache = decoder.model.new_cache(1, max_len=prompt.shape[1] + n)
    logits = decoder(prompt, cache)  # (1, vocab): the last position's
    out = []
    for _ in range(n):
        nxt = logits.argmax(-1, keepdim=True)
        out.append(int(nxt))
        logits = decoder(nxt, cache)
    return out


@torch.inference_mode()
def generate_recompute(model: GPT, prompt: torch.Tensor, n: int, last_only: bool = True) -> list[int]:
    """The anchor. `last_only`: project only the last position to logits, as nanoGPT's
    generate does (the strict anchor); otherwise the plain forward, logits at every position."""
    seq = prompt
    out = []
    for _ in range(n):
        logits = model.lm_head(model.hidden_states(seq)[:, -1]) if last_only else model(seq)[0][:, -1]
        nxt = logits.argmax(-1, keepdim=True)
        out.append(int(nxt))
        seq = torch.cat([seq, nxt], dim=1)
    return out


def timed(fns, repeats: int) -> list[tuple[float, list[int]]]:
    """(median seconds, result) of each function, run in turn (interleaved, so that a
    noisy neighbour on a shared machine slows both sides alike)."""
    times: list[list[float]] = [[] for _ in fns]
    results: list[list[int]] = [[] for _ in fns]
    for _ in range(repeats):
        for i, fn in enumerate(fns):
            start = time.perf_counter()
            results[i] = fn()
            times[i].append(time.perf_counter() - start)
    return [(statistics.median(t), r) for t, r in zip(times, results, strict=True)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tokens", type=int, default=256, help="new tokens to generate")
    parser.add_argument("--prompt-tokens", type=int, default=16)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="smoke run: 32 tokens, one repeat")
    args = parser.parse_args()
    if args.quick:
        args.tokens, args.repeats = 32, 1
    torch.set_num_threads(args.threads)

    config = GPTConfig(vocab_size=8192, n_layer=6, n_head=4, n_embd=256, block_size=512)
    torch.manual_seed(0)
    model = GPT(config).eval().inference_layout()  # as MiniEngine loads it (both sides use it)
    prompt = torch.randint(0, config.vocab_size, (1, args.prompt_tokens))
    n = args.tokens
    print(f"model: {model.num_parameters() / 1e6:.1f}M parameters, {config}")
    print(f"batch 1, prompt {args.prompt_tokens} tokens, {n} new tokens, greedy, {args.threads} thread(s)")
    decoder = Decoder(model)  # MiniEngine's decoding path
    generate_cached(decoder, prompt, 4)  # warm up
    generate_recompute(model, prompt, 4)
    fns = [lambda: generate_cached(decoder, prompt, n), lambda: generate_recompute(model, prompt, n),
           lambda: generate_recompute(model, prompt, n, last_only=False)]  # fmt: skip
    (t_cache, ids_cache), (t_last, ids_last), (t_all, ids_all) = timed(fns, args.repeats)
    same = sum(a == b == c for a, b, c in zip(ids_cache, ids_last, ids_all, strict=True))
    print(f"recompute, last position's logits (anchor): {n / t_last:8.1f} tokens/s  ({t_last:.2f} s)")
    print(f"recompute, every position's logits:         {n / t_all:8.1f} tokens/s  ({t_all:.2f} s)")
    print(f"llmkit KV cache (Decoder):                  {n / t_cache:8.1f} tokens/s  ({t_cache:.2f} s)")
    print(f"same tokens: {same}/{n}")
    print(f"against the plain forward: {t_all / t_cache:.2f}x")
    print(f"ratio = {t_last / t_cache:.2f}  (KV cache vs recompute of the last position, target >= 8)")


if __name__ == "__main__":
    main()
