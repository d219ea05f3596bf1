"""threads="auto" against torch's default thread count: end-to-end tokens per second.

Loads the model, runs the measurement `threads="auto"` makes on a model's first load
(timed here; not the remembered verdict), then generates at every candidate thread count, one prompt (64 tokens)
and a batch of 8 (8 x 64 tokens, `chat_batch`), interleaved over `--rounds` rounds, the
best round kept. The anchor is torch's own default count; the ratio is auto's pick over
it, for each shape, and whether the pick was the fastest end-to-end count.

`--busy N` runs N other processes spinning on a core each for the whole run, measurement
included: a machine with other work on it, where fewer threads than cores can be faster.

    python benchmarks/hf_threads.py [--rounds 2] [--tokens 64] [--busy 1] [--quick]
"""

from __future__ import annotations

import subprocess
import sys
import time

from hf_batch_throughput import LONG_PROMPTS
from hf_common import model_id, parser


def main() -> None:
    p = parser(__doc__)
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--tokens", type=int, default=64)
    p.add_argument("--busy", type=int, default=0, help="other processes spinning a core each during the run")
    args = p.parse_args()
    if args.rounds < 1 or args.tokens < 1:
        p.error("--rounds and --tokens must be >= 1")
    if args.quick:
        args.rounds, args.tokens = 1, 8
    import torch

    import llmkit
    from llmkit.backends import hf_threads

    default = torch.get_num_threads()
    spinners = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(args.busy)]
    try:
        run(args, default, llmkit, hf_threads, torch)
    finally:
        for proc in spinners:
            proc.kill()


def run(args, default, llmkit, hf_threads, torch) -> None:  # noqa: ANN001 (modules imported lazily in main)
    client = llmkit.Client(model_id(args), batch_size=len(LONG_PROMPTS))
    lm = client.backend.engine.lm
    lm.ready()
    start = time.perf_counter()
    verdict = hf_threads.measure(lm.model, lm.name, hf_threads.usable_cores(), len(LONG_PROMPTS))
    busy = f" ({args.busy} other core(s) busy)" if args.busy else ""
    print(f"{client.model}{busy}: measured in {time.perf_counter() - start:.1f}s; {verdict['why']}")

    options = {"max_tokens": args.tokens, "temperature": 0}
    conversations = [[llmkit.user(q)] for q in LONG_PROMPTS]
    client.chat(LONG_PROMPTS[0], max_tokens=2, temperature=0)  # warm-up
    counts = hf_threads.candidates(verdict["cores"])
    single: dict[int, float] = {}
    batched: dict[int, float] = {}
    for _ in range(args.rounds):
        for n in counts:
            torch.set_num_threads(n)
            t = time.perf_counter()
            r = client.chat(LONG_PROMPTS[0], **options)
            single[n] = max(single.get(n, 0.0), r.usage.output_tokens / (time.perf_counter() - t))
            t = time.perf_counter()
            rs = client.backend.chat_batch(conversations, options)
            batched[n] = max(batched.get(n, 0.0), sum(x.usage.output_tokens for x in rs) / (time.perf_counter() - t))
    for n in counts:
        marks = "".join([" <- auto" if n == verdict["threads"] else "", " <- torch default" if n == default else ""])
        print(f"  {n:3d} threads: one prompt {single[n]:6.1f} tok/s   batch of 8 {batched[n]:6.1f} tok/s{marks}")
    pick = verdict["threads"]
    if default not in single:
        print(f"torch's default ({default}) is not a candidate here ({counts}): no ratio")
        return
    print(f"auto ({pick}) / torch default ({default}): one prompt {single[pick] / single[default]:.2f}x, "
          f"batch of 8 {batched[pick] / batched[default]:.2f}x; fastest end to end: one prompt "
          f"{max(single, key=single.__getitem__)}, batch {max(batched, key=batched.__getitem__)} threads")


if __name__ == "__main__":
    main()
