"""`llmkit similar COLLECTION TEXT`: the items of a collection most like a text, by
cosine similarity of their embeddings (exact search; see llmkit.cli.vector_store).

    llmkit similar notes "groceries"            the 10 closest: score, id (and text, if stored)
    llmkit similar notes -i question.txt -n 3
    llmkit similar notes --id todo              items like an item already in the collection
    llmkit similar notes "groceries" --json     [{"id", "score", "content"}, ...]

The query is embedded with the collection's own model.
"""

from __future__ import annotations

import argparse
import sys

from llmkit.cli.embed import add_embed_options

__all__ = ["add_arguments", "run"]


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("collection")
    p.add_argument("text", nargs="*", help="the text to compare with (or -i FILE, or --id ID)")
    p.add_argument("-i", "--input", metavar="FILE", help="compare with this file's text (- for stdin)")
    p.add_argument("--id", help="compare with this item of the collection (it is left out of the results)")
    p.add_argument("-n", "--number", type=int, default=10, help="how many results (default 10)")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    add_embed_options(p)


def run(args: argparse.Namespace) -> int:
    import json

    from llmkit.cli.embed import _read
    from llmkit.cli.vector_store import VectorStore, db_path
    from llmkit.errors import UsageError

    if sum([bool(args.text), args.input is not None, args.id is not None]) != 1:
        raise UsageError("give one of: TEXT, -i FILE or --id ID", hint=f'e.g. llmkit similar {args.collection} "text"')
    if args.number < 1:
        raise UsageError("-n must be 1 or more")
    if not db_path().exists():
        raise _no_collection(args.collection, [])
    with VectorStore() as store:
        info = store.collection(args.collection)
        if info is None:
            raise _no_collection(args.collection, [c["name"] for c in store.collections()])
        if args.id is not None:
            query = store.vector(args.collection, args.id)
            if query is None:
                raise UsageError(f"the collection {args.collection!r} has no item {args.id!r}")
        else:
            text = _read(args.input) if args.input is not None else " ".join(args.text)
            if not text.strip():
                raise UsageError("the text to compare with is empty")
            query = _embed(info["model"], text, args)
            if len(query) != info["dimensions"]:
                raise UsageError(f"{info['model']} now gives vectors of length {len(query)}, but the collection "
                                 f"{args.collection!r} holds vectors of length {info['dimensions']}",
                                 hint="The model changed since the collection was made: embed it afresh.")  # fmt: skip
        found = store.similar(args.collection, query, args.number, exclude=args.id)
    if args.json:
        print(json.dumps([{"id": i, "score": round(s, 6), "content": c} for i, s, c in found], ensure_ascii=False))
        return 0
    if not found:
        print(f"the collection {args.collection!r} has no other items", file=sys.stderr)
    for i, score, content in found:
        shown = " ".join((content or "").split())
        print(f"{score:.3f}  {i}" + (f"  {shown[:77] + '…' if len(shown) > 78 else shown}" if shown else ""))
    return 0


def _embed(model: str, text: str, args: argparse.Namespace) -> list[float]:
    from llmkit import Client
    from llmkit.cli.embed import embed, embed_options

    with Client(model) as client:
        return embed(client, [text], embed_options(args))[0]


def _no_collection(name: str, names: list[str]) -> Exception:
    from llmkit.errors import UsageError

    return UsageError(f"no collection {name!r}",
                      hint=(f"Collections: {', '.join(names)}." if names else "There is none yet.")
                      + f' Make one with `llmkit embed {name} ID "text"`.')  # fmt: skip
