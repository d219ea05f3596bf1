"""`llmkit collections`: the collections of embeddings made by `llmkit embed`.

    llmkit collections                 list: name, model, vector length, items
    llmkit collections --json
    llmkit collections delete notes
    llmkit collections path            the SQLite file: $LLMKIT_HOME/embeddings.db
"""

from __future__ import annotations

import argparse
import sys

__all__ = ["add_arguments", "run"]


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", action="store_true", help="machine-readable output")
    sub = p.add_subparsers(dest="action", metavar="ACTION")
    sub.add_parser("list", help="the collections (the default)")
    d = sub.add_parser("delete", help="delete a collection and its items")
    d.add_argument("name")
    sub.add_parser("path", help="print the embeddings file's path")


def run(args: argparse.Namespace) -> int:
    import json

    from llmkit.cli.vector_store import VectorStore, db_path

    if args.action == "path":
        print(db_path())
        return 0
    if not db_path().exists():
        rows = []
    else:
        with VectorStore() as store:
            if args.action == "delete":
                if not store.delete(args.name):
                    print(f"error: no collection {args.name!r}", file=sys.stderr)
                    return 1
                print(f"deleted collection {args.name}", file=sys.stderr)
                return 0
            rows = store.collections()
    if args.action == "delete":
        print(f"error: no collection {args.name!r}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    if not rows:
        print('no collections yet; `llmkit embed NAME ID "text"` makes one', file=sys.stderr)
    for r in rows:
        stored = f", {r['stored_texts']} with text" if r["stored_texts"] else ""
        print(f"{r['name']:<16} {r['model']}  {r['dimensions']} dimensions  {r['items']} item(s){stored}")
    return 0
