"""llmkit's hf backend vs calling `model.generate` directly: same model, prompt and tokens.

Both sides decode greedily from the same chat-templated prompt with the same
max_new_tokens (so they generate the same tokens); runs alternate so that drift hits
both alike. Prints the ratio of median wall times. Target (hf backend issue): <= 1.05.

    python benchmarks/hf_chat_overhead.py [--tokens 64] [--reps 7] [--threads 1] [--quick]
"""

from __future__ import annotations

import time

from hf_common import median, model_id, parser

PROMPT = "Write a short story about a cat who learns to sail."


def main() -> None:
    p = parser(__doc__)
    p.add_argument("--tokens", type=int, default=64)
    p.add_argument("--reps", type=int, default=7)
    args = p.parse_args()
    if args.quick:
        args.tokens, args.reps = 8, 2

    import torch

    import llmkit

    settings = {"threads": args.threads} if args.threads else {}
    client = llmkit.Client(model_id(args), **settings)
    model, tok = client.backend.engine.lm.model, client.backend.engine.tokenizer

    def direct() -> str:
        enc = tok.apply_chat_template([{"role": "user", "content": PROMPT}], add_generation_prompt=True,
                                      return_tensors="pt", return_dict=True)  # fmt: skip
        with torch.inference_mode():
            out = model.generate(**enc, max_new_tokens=args.tokens, do_sample=False)
        return tok.decode(out[0, enc["input_ids"].shape[1] :], skip_special_tokens=True)

    def kit() -> str:
        return client.chat(PROMPT, max_tokens=args.tokens, temperature=0).text

    assert direct() == kit(), "the two sides generated different text"  # also warms both up
    times: dict[str, list[float]] = {"direct": [], "llmkit": []}
    for i in range(args.reps):
        order = (("direct", direct), ("llmkit", kit)) if i % 2 == 0 else (("llmkit", kit), ("direct", direct))
        for name, fn in order:
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    d, k = median(times["direct"]), median(times["llmkit"])
    print(f"{client.model}: {args.tokens} tokens, {args.reps} runs each, torch threads {torch.get_num_threads()}")
    print(f"model.generate {d * 1000:8.1f} ms   llmkit chat {k * 1000:8.1f} ms   llmkit/direct = {k / d:.3f}"
          f"   (target <= 1.05)")  # fmt: skip


if __name__ == "__main__":
    main()
