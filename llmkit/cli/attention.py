"""`llmkit attention TEXT [-m MODEL]`: per-layer, per-head attention heatmaps.

Shown in the terminal as coloured grids (rows: each token as a query; columns: the
tokens it attends to), and written as one PNG with every layer and head (`--png`).
"""

from __future__ import annotations

import argparse

__all__ = ["add_arguments", "run"]


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("text", help='the text to look at, e.g. "The cat sat on the mat"')
    p.add_argument("-m", "--model", default="mini", help="mini, mini:PATH or hf:MODEL (default: mini)")
    p.add_argument("--layer", type=int, help="show only this layer (0-based)")
    p.add_argument("--head", type=int, help="show only this head (0-based)")
    p.add_argument("--png", help="also write all heatmaps to this PNG file (needs matplotlib)")


def run(args: argparse.Namespace) -> int:
    import llmkit

    if not args.text.strip():  # no tokens: nothing to show, and an empty heatmap says nothing
        raise llmkit.UsageError("the text is empty", hint='Give a text to look at, e.g. "The cat sat on the mat".')
    if args.png:  # before loading a model and computing: a missing package is said at once
        import importlib.util

        if importlib.util.find_spec("matplotlib") is None:
            raise llmkit.ConfigurationError("--png needs matplotlib, which is not installed",
                                            hint="pip install 'llmkit[plot]' (or leave --png out).")  # fmt: skip
    client = llmkit.Client(args.model)
    attention = getattr(client.backend, "attention", None)
    if attention is None:
        raise llmkit.MissingCapabilityError(
            f"{client.model} cannot show its attention weights",
            hint="Use a local model: mini, mini:PATH or hf:MODEL.",
        )
    tokens, maps = attention(args.text)  # maps: (layers, heads, T, T)
    n_layer, n_head = maps.shape[0], maps.shape[1]
    for name, value, limit in (("layer", args.layer, n_layer), ("head", args.head, n_head)):
        if value is not None and not 0 <= value < limit:
            raise llmkit.InvalidOptionError(f"--{name} {value} is out of range", hint=f"The model has {limit}.")
    layers = [args.layer] if args.layer is not None else range(n_layer)
    heads = [args.head] if args.head is not None else range(n_head)
    from llmkit.cli.heatmap import render_terminal, write_png

    render_terminal(tokens, maps, layers, heads, title=f"{client.model}: {args.text!r}")
    if args.png:
        write_png(tokens, maps, args.png, title=f"{client.model}: {args.text!r}")
        print(f"wrote {args.png}")
    return 0
