"""Attention kernels on the hf decode step: SDPA (transformers' default) against eager.

The decode loop's own forward (llmkit's growing KV cache, oneDNN-packed linears as
generation runs them, greedy) at batch 1 and 8, after a short (32-token) and a long
(480-token) prompt, with `attn_implementation` "sdpa" (torch's fused
scaled_dot_product_attention) and "eager" (matmul, softmax, matmul in Python),
interleaved for `--rounds` rounds, best of each. Prints ms per step, eager / sdpa, and
whether the greedy tokens were equal. llmkit keeps transformers' default, SDPA, for
generation, and switches to eager only where the weights themselves are asked for
(`attention()`), because fused kernels never materialise them.

    python benchmarks/hf_attention.py [--threads 2] [--steps 32] [--rounds 3] [--quick]
"""

from __future__ import annotations

from hf_common import decode_steps, decoding_model, parser

SHAPES = [(1, 32), (8, 32), (1, 480), (8, 480)]  # (rows, prompt tokens)


def main() -> None:
    p = parser(__doc__)
    p.add_argument("--steps", type=int, default=32)
    p.add_argument("--rounds", type=int, default=3)
    args = p.parse_args()
    if args.quick:
        args.steps, args.rounds = 3, 1
    if args.steps < 2 or args.rounds < 1:
        p.error("--steps must be at least 2 and --rounds at least 1")

    import torch

    client, model, key, last = decoding_model(args)
    default = model.config._attn_implementation
    best: dict[tuple[str, int, int], float] = {}
    tokens: dict[tuple[str, int, int], list[int]] = {}
    try:
        for _ in range(args.rounds):
            for rows, prompt in SHAPES:
                for kind in ("sdpa", "eager"):
                    model.set_attn_implementation(kind)
                    decode_steps(model, key, last, rows, 2, True, prompt)  # warm-up at this shape
                    _, step, out = decode_steps(model, key, last, rows, args.steps, True, prompt)
                    shape = (kind, rows, prompt)
                    best[shape] = min(best.get(shape, step), step)
                    tokens[shape] = out
    finally:
        model.set_attn_implementation(default)
    print(f"{client.model}: torch {torch.__version__}, {torch.get_num_threads()} threads, "
          f"{model.dtype}, default attention {default!r}, {args.steps} decode steps, best of {args.rounds}")  # fmt: skip
    for rows, prompt in SHAPES:
        sdpa, eager = best["sdpa", rows, prompt], best["eager", rows, prompt]
        same = tokens["sdpa", rows, prompt] == tokens["eager", rows, prompt]
        print(f"  batch {rows}, {prompt}-token prompt: ms per step sdpa {sdpa * 1000:.1f}, eager "
              f"{eager * 1000:.1f}; eager / sdpa {eager / sdpa:.2f}x (> 1: sdpa faster); tokens equal: {same}")  # fmt: skip


if __name__ == "__main__":
    main()
