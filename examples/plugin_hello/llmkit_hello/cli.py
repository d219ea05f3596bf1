"""`llmkit hello NAME [-m MODEL]`: a command from a plugin. llmkit lists it in `--help`
from the package's metadata and imports this module only when `hello` runs."""

from __future__ import annotations

import argparse

help = "greet someone with any model"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("name", help="who to greet")
    parser.add_argument("-m", "--model", help="model id (default: llmkit's default model)")


def run(args: argparse.Namespace) -> int:
    from llmkit_hello import greeting

    print(greeting(args.name, model=args.model).text)
    return 0
