"""What `llmkit compress` and `llmkit decompress` share: reading the input (a file or
stdin), choosing the output (-o, a name made from the input's, or stdout) and writing it
atomically, never over an existing file without --force."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from llmkit.errors import UsageError

__all__ = ["SUFFIX", "read_input", "output_path", "write_output", "add_common", "add_adapt", "adaptation"]

SUFFIX = ".llmz"


def add_common(p: argparse.ArgumentParser) -> None:
    p.add_argument("file", nargs="?", help="the input file (default: stdin)")
    p.add_argument("-o", "--output", help="where to write (default: from the input's name; stdout for stdin)")
    p.add_argument("-f", "--force", action="store_true", help="overwrite an existing output file")
    p.add_argument("--threads", type=int, help="torch threads for coding")
    p.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                   help="show a progress bar on stderr (default: when stderr is a terminal)")  # fmt: skip


def add_adapt(p: argparse.ArgumentParser) -> None:
    p.add_argument("--adapt", nargs="?", const="", default=None, metavar="SPEC",
                   help="dynamic evaluation: train a copy of the model on the text as it is coded (fewer bits, about "
                        "twice the time); SPEC e.g. segment=256,lr=0.0001,layers=all (each part optional)")  # fmt: skip


def adaptation(args: argparse.Namespace) -> Any:
    """--adapt as compress(adapt=...) takes it: None when not given, True (the defaults
    for the model) without SPEC, else an llmkit.Adaptation."""
    if args.adapt is None:
        return None
    if not args.adapt.strip():
        return True
    from llmkit.adaptation import Adaptation

    return Adaptation.parse(args.adapt)


def read_input(args: argparse.Namespace) -> bytes:
    if args.file in (None, "-"):
        if sys.stdin.isatty():
            raise UsageError("no input: give a FILE or pipe data in", hint="e.g. llmkit compress notes.txt")
        return sys.stdin.buffer.read()
    path = Path(args.file)
    if not path.is_file():
        raise UsageError(f"{path} is not a file", hint="Give the path of an existing file.")
    return path.read_bytes()


def output_path(args: argparse.Namespace, derive: str) -> Path | None:
    """The output file (None: stdout), refused early when it exists and --force is not given."""
    if args.output == "-":
        return None
    if args.output:
        out = Path(args.output)
    elif args.file not in (None, "-"):
        name = Path(args.file)
        if derive == "add":
            out = name.with_name(name.name + SUFFIX)
        elif name.name.endswith(SUFFIX) and len(name.name) > len(SUFFIX):
            out = name.with_name(name.name[: -len(SUFFIX)])
        else:
            out = name.with_name(name.name + ".out")
    else:
        return None
    if out.exists() and not args.force:
        raise UsageError(f"{out} already exists", hint="Pass --force to overwrite it, or choose another with -o.")
    if args.file not in (None, "-") and out.resolve() == Path(args.file).resolve():
        raise UsageError("the output would overwrite the input", hint="Choose another output with -o.")
    return out


def write_output(out: Path | None, data: bytes, binary: bool) -> None:
    if out is None:
        if binary and sys.stdout.isatty():
            raise UsageError("compressed data is not written to a terminal", hint="Redirect it or pass -o FILE.")
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
        return
    from llmkit.atomic import write_bytes_atomic

    write_bytes_atomic(out, data)
