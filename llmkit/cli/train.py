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


# what the Python API's messages call things, and the flags that set them here
_FLAGS = {"resume=True": "--resume", "overwrite=True": "--overwrite", "time_budget": "--time", "max_steps": "--steps"}


def run(args: argparse.Namespace) -> int:
    from llmkit.errors import LLMKitError
    from llmkit.mini.train import train
    from llmkit.mini.train_config import from_flags

    paths = list(args.paths)
    if args.stdlib:
        from llmkit.mini.stdlib_corpus import stdlib_files

        paths += stdlib_files()
    if not paths:
        print("error: give text files or folders to train on, or --stdlib", file=sys.stderr)
        return 2
    try:
        if args.resume and not _more(args):
            return 0
        if args.time_budget is None and args.max_steps is None:
            print("error: say how long to train: --time 30m or --steps 2000", file=sys.stderr)
            return 2
        result = train(paths, args.out, from_flags(args, resume=args.resume), resume=args.resume,
                       overwrite=args.overwrite, progress=sys.stderr.isatty(),
                       on_step=None if sys.stderr.isatty() else _log_line)  # fmt: skip
    except LLMKitError as exc:
        raise _in_flags(exc) from None
    if os.environ.get("RANK", "0") != "0":
        return 0  # under torchrun, rank 0 reports for all
    bpb = f", validation {result.val_bpb:.3f} bits per byte" if result.val_bpb is not None else ""
    print(f"saved {result.path} after {result.steps} steps, {result.tokens_seen:,} tokens, "
          f"{result.elapsed / 60:.1f} min{bpb}")  # fmt: skip
    if not (result.path / "loss.png").exists():
        print("no loss-curve PNG: matplotlib is not installed (pip install 'llmkit[plot]'); the numbers are in "
              f"{result.path / 'trainer_state.json'}", file=sys.stderr)  # fmt: skip
    return 0


def _more(args: argparse.Namespace) -> bool:
    """--resume: --time and --steps mean that much MORE training (turned into the totals the
    trainer counts in); without them the run finishes the budget it was started with.
    False when that budget is already spent (said, nothing to do)."""
    from llmkit.mini.train import resume_point

    point = resume_point(args.out)
    done_min, step = point["elapsed"] / 60, point["step"]
    if args.time_budget is not None or args.max_steps is not None:
        parts = []
        if args.time_budget is not None:
            parts.append(f"{args.time_budget / 60:g} more minutes")
            args.time_budget += point["elapsed"]
        if args.max_steps is not None:
            parts.append(f"{args.max_steps} more steps")
            args.max_steps += step
        print(f"resuming {args.out} at step {step} ({done_min:.1f} min trained): {' or '.join(parts)}", file=sys.stderr)
        return True
    saved = point["settings"]
    budget, steps = saved.get("time_budget"), saved.get("max_steps")
    left_time = budget is not None and point["elapsed"] < budget
    left_steps = steps is not None and step < steps
    if not (left_time or left_steps):
        print(f"nothing left to do: {args.out} has trained its whole budget ({step} steps, {done_min:.1f} min). "
              "Give --time 10m or --steps 500 to train that much more.", file=sys.stderr)  # fmt: skip
        return False
    args.time_budget, args.max_steps = budget, steps
    print(f"resuming {args.out} at step {step} ({done_min:.1f} min trained) to finish its budget", file=sys.stderr)
    return True


def _in_flags(exc: Exception) -> Exception:
    """The trainer's error, its Python names (resume=True) said as this command's flags."""
    for attr in ("message", "hint"):
        text = getattr(exc, attr, None)
        if isinstance(text, str):
            for name, flag in _FLAGS.items():
                text = text.replace(name, flag)
            setattr(exc, attr, text)
    return exc
