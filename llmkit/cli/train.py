"""`llmkit train`: train the bundled GPT architecture on your own text.

    llmkit train my_notes/ -o my-model --time 30m          # then: llmkit ask -m mini:my-model
    llmkit train --stdlib -o stdlib-model --time 220m      # the shipped checkpoint's recipe (model card)
"""

from __future__ import annotations

import argparse
import os
import re
import sys


def duration(text: str) -> float:
    """'90', '90s', '30m', '1.5h' -> seconds."""
    m = re.fullmatch(r"\s*([\d.]+)\s*([smh]?)\s*", text)
    if not m:
        raise argparse.ArgumentTypeError(f"not a duration: {text!r} (use e.g. 300s, 30m, 2h)")
    return float(m.group(1)) * {"": 1, "s": 1, "m": 60, "h": 3600}[m.group(2)]


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("paths", nargs="*", help="text files or folders (read recursively)")
    p.add_argument("--stdlib", action="store_true", help="train on the CPython standard library source")
    p.add_argument("-o", "--out", required=True, help="checkpoint directory to write")
    p.add_argument("--time", type=duration, help="stop after this long (e.g. 30m); the LR schedule follows it")
    p.add_argument("--steps", type=int, help="stop after this many optimizer steps")
    p.add_argument("--layers", type=int, default=6)
    p.add_argument("--width", type=int, default=256, help="embedding width (n_embd)")
    p.add_argument("--heads", type=int, default=4)
    p.add_argument("--context", type=int, default=256, help="context window in tokens (block_size)")
    p.add_argument("--vocab", type=int, default=8192, help="BPE vocabulary size")
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--grad-accum", type=int, default=1)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--warmup", type=int, default=100)
    p.add_argument("--fim-rate", type=float, default=0.5, help="fraction of documents trained as fill-in-the-middle")
    p.add_argument("--eval-every", type=int, default=200)
    p.add_argument("--checkpoint-every", type=int, default=200)
    p.add_argument("--dtype", choices=["float32", "bfloat16"], default="float32", help="weights on disk")
    p.add_argument("--threads", type=int, help="torch threads (default: torch's choice)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--resume", action="store_true", help="continue the checkpoint in --out")
    p.add_argument("--overwrite", action="store_true", help="replace an existing --out")


def _log_line(info) -> None:
    """Without a terminal (CI, nohup), a plain line every 25 steps and at each evaluation."""
    if info.val_loss is not None or info.step % 25 == 0:
        val = f" val_loss {info.val_loss:.4f} val_bpb {info.val_bpb:.4f}" if info.val_loss is not None else ""
        print(f"step {info.step} loss {info.loss:.4f} lr {info.lr:.2e} {info.elapsed / 60:.1f} min{val}",
              file=sys.stderr, flush=True)  # fmt: skip


def run(args: argparse.Namespace) -> int:
    from llmkit.mini.model import GPTConfig
    from llmkit.mini.train import train

    paths = list(args.paths)
    if args.stdlib:
        from llmkit.mini.stdlib_corpus import stdlib_files

        paths += stdlib_files()
    if not paths:
        print("error: give text files or folders to train on, or --stdlib", file=sys.stderr)
        return 2
    if args.time is None and args.steps is None:
        print("error: say how long to train: --time 30m or --steps 2000", file=sys.stderr)
        return 2
    config = GPTConfig(vocab_size=args.vocab, n_layer=args.layers, n_head=args.heads, n_embd=args.width,
                       block_size=args.context)  # fmt: skip
    result = train(
        paths, args.out, config=None if args.resume else config, max_steps=args.steps, time_budget=args.time,
        batch_size=args.batch, grad_accum=args.grad_accum, lr=args.lr, warmup=args.warmup,
        fim_rate=args.fim_rate, eval_every=args.eval_every, checkpoint_every=args.checkpoint_every,
        resume=args.resume, overwrite=args.overwrite, seed=args.seed, threads=args.threads,
        dtype=args.dtype, progress=sys.stderr.isatty(), on_step=None if sys.stderr.isatty() else _log_line,
    )  # fmt: skip
    if os.environ.get("RANK", "0") != "0":
        return 0  # under torchrun, rank 0 reports for all
    bpb = f", validation {result.val_bpb:.3f} bits per byte" if result.val_bpb is not None else ""
    print(f"saved {result.path} after {result.steps} steps, {result.tokens_seen:,} tokens, "
          f"{result.elapsed / 60:.1f} min{bpb}")  # fmt: skip
    return 0
