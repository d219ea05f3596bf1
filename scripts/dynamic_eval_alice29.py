"""What dynamic evaluation codes alice29 to, with SmolLM2 (llmkit.compress.estimate).

    python scripts/dynamic_eval_alice29.py [--segment 256] [--lr 1e-4] [--layers all|N] [--threads 2] [--bytes N]

`estimate(..., adapt=Adaptation(...))`: the same chunks, batches and mixing as
`compress(..., adapt=...)`, and the same online training (one private copy of the
model per batch of chunks, shared by its rows; one Adam step after every `--segment`
positions), teacher-forced: one forward pass per row and segment instead of one step
per token, equal to the coder's ideal to float rounding. `--lr 0` gives the plain
estimate. Prints the mixed and the model-alone bits per byte and the time taken.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch

import llmkit
from llmkit.compress.estimate import estimate
from llmkit.errors import InvalidOptionError
from llmkit.testing.smollm2 import fetch

ALICE = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "alice29.txt"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--segment", type=int, default=256)
    parser.add_argument("--lr", type=float, default=1e-4, help="Adam's step (0: no adaptation, the plain estimate)")
    parser.add_argument("--layers", default="all", help="'all', or train only the last N blocks")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--bytes", type=int, default=None, help="only the file's first N bytes (a smoke run)")
    args = parser.parse_args()
    if not ALICE.is_file():
        parser.error(f"no {ALICE}: this script reads the shared data folder beside the checkout")
    if args.threads < 1:
        parser.error("--threads must be >= 1")
    adapt = None
    if args.lr:
        try:
            adapt = llmkit.Adaptation.parse(f"segment={args.segment},lr={args.lr},layers={args.layers}")
        except InvalidOptionError as exc:
            parser.error(str(exc))
    torch.set_num_threads(args.threads)
    client = llmkit.Client(f"hf:{fetch()}", threads=args.threads)
    start = time.perf_counter()
    r = estimate(ALICE.read_bytes()[: args.bytes], client, adapt=adapt)
    print(f"{adapt.spelled if adapt else 'no adaptation'}: mixed {r['ideal_bpb']:.4f} bits/byte, "
          f"model alone {r['model_bpb']:.4f} ({r['chunks']} chunks, {r['tokens']} tokens, "
          f"{time.perf_counter() - start:.0f} s)")  # fmt: skip


if __name__ == "__main__":
    main()
