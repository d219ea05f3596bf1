"""`llmkit train`: train the bundled GPT architecture on your own text.

    llmkit train my_notes/ -o my-model --time 30m          # then: llmkit ask -m mini:my-model
    llmkit train --stdlib -o stdlib-model --time 220m      # the shipped checkpoint's recipe (model card)
"""

from __future__ import annotations

import argparse
import os
import sys

__all__ = ["add_arguments", "run"]


def add_arguments(p: argparse.ArgumentParser) -> None:
    from llmkit.mini.train_config import add_flags

    p.add_argument("paths", nargs="*", help="text files or folders (read recursively)")
    p.add_argument("--stdlib", action="store_true", help="train on the CPython standard library source")
    p.add_argument("-o", "--out", required=True, help="checkpoint directory to write")
    p.add_argument("--resume", action="store_true", help="continue the checkpoint in --out")
    p.add_argument("--overwrite", action="store_true", help="replace an existing --out")
    add_flags(p)  # the architecture and every training setting, from TrainConfig


def _log_line(info) -> None:
    """Without a terminal (CI, nohup), a plain line every 25 steps and at each evaluation."""
    if info.val_loss is not None or info.step % 25 == 0:
        val = f" val_loss {info.val_loss:.4f} val_bpb {info.val_bpb:.4f}" if info.val_loss is not None else ""
        print(f"step {info.step} loss {info.loss:.4f} lr {info.lr:.2e} {info.elapsed / 60:.1f} min{val}",
              file=sys.stderr, flush=True)  # fmt: skip


def run(args: argparse.Namespace) -> int:
    from llmkit.mini.train import train
    from llmkit.mini.train_config import from_flags

    paths = list(args.paths)
    if args.stdlib:
        from llmkit.mini.stdlib_corpus import stdlib_files

        paths += stdlib_files()
    if not paths:
        print("error: give text files or folders to train on, or --stdlib", file=sys.stderr)
        return 2
    if args.time_budget is None and args.max_steps is None:
        print("error: say how long to train: --time 30m or --steps 2000", file=sys.stderr)
        return 2
    result = train(paths, args.out, from_flags(args, resume=args.resume), resume=args.resume,
                   overwrite=args.overwrite, progress=sys.stderr.isatty(),
                   on_step=None if sys.stderr.isatty() else _log_line)  # fmt: skip
    if os.environ.get("RANK", "0") != "0":
        return 0  # under torchrun, rank 0 reports for all
    bpb = f", validation {result.val_bpb:.3f} bits per byte" if result.val_bpb is not None else ""
    print(f"saved {result.path} after {result.steps} steps, {result.tokens_seen:,} tokens, "
          f"{result.elapsed / 60:.1f} min{bpb}")  # fmt: skip
    return 0
