"""`llmkit decompress [FILE] [-o OUT] [--force]`: the original of a FILE.llmz. The model
comes from the file (-m names it when the file's id is a path on another machine)."""

from __future__ import annotations

import argparse
import sys

from llmkit.cli.compress_io import add_common, output_path, read_input, write_output

__all__ = ["add_arguments", "run"]


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_common(p)
    p.add_argument("-m", "--model", help="the model to decode with (default: the one the file names)")


def run(args: argparse.Namespace) -> int:
    from llmkit.compress import decompress

    out = output_path(args, "strip")
    blob = read_input(args)
    data = decompress(blob, args.model, threads=args.threads, progress=args.progress)
    write_output(out, data, binary=False)
    if out is not None:
        print(f"{out}: {len(blob)} -> {len(data)} bytes", file=sys.stderr)
    return 0
