"""`llmkit compress [FILE] [-m MODEL] [-o OUT] [--force] [--verify] [--adapt [SPEC]]`: lossless compression
with a local model (llmkit.compress). FILE.llmz by default; stdin to stdout."""

from __future__ import annotations

import argparse
import sys

from llmkit.cli.compress_io import adaptation, add_adapt, add_common, output_path, read_input, write_output

__all__ = ["add_arguments", "run"]


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_common(p)
    p.add_argument("-m", "--model", default="mini", help="mini, mini:PATH or hf:MODEL (default: mini)")
    p.add_argument("--verify", action="store_true", help="decode the result and compare before writing it")
    p.add_argument("--batch", type=int, help="chunks coded together in lockstep (default 16)")
    p.add_argument("--chunk-tokens", type=int, help="tokens per chunk (default: the model's window, at most 8192)")
    p.add_argument("--mixing", action=argparse.BooleanOptionalAction, default=None,
                   help="a bias head and an n-gram model learned from the text so far (default: on; --no-mixing: the model alone)")  # fmt: skip
    add_adapt(p)


def run(args: argparse.Namespace) -> int:
    from llmkit.compress.api import DEFAULT_BATCH, MIXING_DEFAULT, compress_with_stats

    out = output_path(args, "add")
    if out is None and sys.stdout.isatty():  # refuse before the work, not after it
        write_output(None, b"", binary=True)
    adapt = adaptation(args)  # a bad SPEC is refused before reading the input
    data = read_input(args)
    blob, stats = compress_with_stats(data, args.model, batch=args.batch or DEFAULT_BATCH, chunk_tokens=args.chunk_tokens,
                          mixing=MIXING_DEFAULT if args.mixing is None else args.mixing, threads=args.threads,
                          adapt=adapt, progress=args.progress, verify=args.verify)  # fmt: skip
    write_output(out, blob, binary=True)
    where = str(out) if out is not None else "stdout"
    print(f"{where}: {len(data)} -> {len(blob)} bytes, {stats.coded_bpb:.3f} bits/byte "
          f"(ideal {stats.ideal_bpb:.3f}), {stats.bytes_per_second:.0f} bytes/s"
          + (", verified" if args.verify else ""), file=sys.stderr)  # fmt: skip
    return 0
