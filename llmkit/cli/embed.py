"""`llmkit embed COLLECTION ...`: embed texts into a collection kept in SQLite, for
`llmkit similar` to search.

    llmkit embed notes todo "buy milk and eggs" -m openai:text-embedding-3-small
    llmkit embed notes readme -i README.md          one file (-i - reads stdin)
    llmkit embed docs --files 'docs/**/*.md' --store   every matching file, its path as the id

The first embedding into a collection fixes its model (-m, else the default model);
later ones use that model, and naming another is an error (their vectors would not
compare). A text unchanged since it was embedded is not embedded again.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

__all__ = ["add_arguments", "run", "add_embed_options", "embed_options", "embed", "MAX_TEXT_BYTES", "BATCH"]

MAX_TEXT_BYTES = 1_000_000  # one item: beyond this no embedding model takes it in one piece
BATCH = 64  # texts per embed() call


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("collection", help="the collection's name (created on first use)")
    p.add_argument("id", nargs="?", help="the item's id (not with --files, which uses the file paths)")
    p.add_argument("text", nargs="*", help="the text to embed (or -i FILE)")
    p.add_argument("-i", "--input", metavar="FILE", help="embed this file's text (- for stdin)")
    p.add_argument("--files", action="append", default=[], metavar="GLOB",
                   help="embed every file matching GLOB (** for subfolders; repeatable); the id is its path")  # fmt: skip
    p.add_argument("-m", "--model", help="the embedding model (a new collection only; default: the default model)")
    p.add_argument("--store", action="store_true", help="keep the text too, for `llmkit similar` to show")
    add_embed_options(p)
    p.add_argument("--json", action="store_true", help="print what was embedded as JSON")


def add_embed_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("-o", "--option", nargs=2, action="append", default=[], metavar=("NAME", "VALUE"),
                   help="an embedding option, e.g. -o dimensions 256 (openai) or -o truncate right (local models: "
                        "keep the start of a text too long for the model)")  # fmt: skip


def embed_options(args: argparse.Namespace) -> dict[str, Any]:
    from llmkit.cli.ask import client_kwargs

    return client_kwargs(argparse.Namespace(option=args.option, max_tokens=None, temperature=None))


def embed(client: Any, texts: list[str], options: dict[str, Any]) -> list[list[float]]:
    """client.embed, with a hint in the command's own words for a text that is too long."""
    from llmkit.errors import ContextLengthError

    try:
        return client.embed(texts, **options).vectors
    except ContextLengthError as exc:
        if "truncate" in client.backend.embed_options:
            exc.hint = "Split the text, or pass -o truncate right (keep its start) or -o truncate left (its end)."
        raise


def run(args: argparse.Namespace) -> int:
    import json

    from llmkit import Client
    from llmkit.cli.vector_store import VectorStore, content_hash
    from llmkit.errors import UsageError

    items = _items(args)
    options = embed_options(args)
    with VectorStore() as store:
        info = store.collection(args.collection)
        model = _model(args, info)
        known = store.hashes(args.collection) if info else {}
        todo = [(i, text) for i, text in items
                if i not in known or known[i][0] != content_hash(text) or (args.store and not known[i][1])]  # fmt: skip
        skipped = len(items) - len(todo)
        written = 0
        if todo:
            client = Client(model)
            try:
                for start in range(0, len(todo), BATCH):
                    batch = todo[start : start + BATCH]
                    vectors = embed(client, [text for _, text in batch], options)
                    dims = {len(v) for v in vectors}
                    if info is None:
                        store.create(args.collection, client.model, len(vectors[0]))
                        info = store.collection(args.collection)
                        print(f"new collection {args.collection!r}, embedded with {client.model}"
                              + ("" if args.model else " (the default model; -m picks another)"), file=sys.stderr)  # fmt: skip
                    assert info is not None
                    if dims != {info["dimensions"]}:
                        raise UsageError(f"{client.model} gave vectors of length {sorted(dims)}, but the collection "
                                         f"{args.collection!r} holds vectors of length {info['dimensions']}",
                                         hint="Embed with the options the collection was made with "
                                              "(e.g. the same dimensions), or into a new collection.")  # fmt: skip
                    written += store.upsert(args.collection, [
                        (i, v, text if args.store else None, content_hash(text))
                        for (i, text), v in zip(batch, vectors, strict=True)])  # fmt: skip
            finally:
                client.close()
    if args.json:
        print(json.dumps({"collection": args.collection, "model": info["model"] if info else model,
                          "embedded": [i for i, _ in todo], "unchanged": skipped}))  # fmt: skip
    else:
        note = f", {skipped} unchanged" if skipped else ""
        print(f"{args.collection}: embedded {written} item(s){note}", file=sys.stderr)
    return 0


def _model(args: argparse.Namespace, info: dict[str, Any] | None) -> str:
    """The collection's model; -m must name the same one (an alias of it is fine)."""
    from llmkit import registry
    from llmkit.errors import UsageError

    if info is None:
        return args.model or registry.default_model()
    if args.model and registry.resolve(args.model).model_id != info["model"]:
        raise UsageError(f"the collection {args.collection!r} was embedded with {info['model']}, not "
                         f"{registry.resolve(args.model).model_id}",
                         hint="Leave -m out (the collection's model is used), or embed into another collection; "
                              "`llmkit collections delete NAME` starts one afresh.")  # fmt: skip
    return str(info["model"])


def _items(args: argparse.Namespace) -> list[tuple[str, str]]:
    """(id, text) pairs from TEXT, -i FILE or --files; exactly one source."""
    from llmkit.errors import UsageError

    sources = sum([bool(args.text), args.input is not None, bool(args.files)])
    if sources != 1:
        raise UsageError("give one of: ID TEXT, ID -i FILE, or --files GLOB",
                         hint='e.g. llmkit embed notes todo "buy milk", or llmkit embed notes --files "*.md"')  # fmt: skip
    if args.files:
        if args.id is not None:
            raise UsageError("--files takes no ID: each file's path is its id",
                             hint=f"llmkit embed {args.collection} --files GLOB")  # fmt: skip
        return _files(args.files)
    if not args.id:
        raise UsageError("an ID is needed before the text", hint=f'llmkit embed {args.collection} ID "text"')
    if args.input is not None:
        return [(args.id, _read(args.input))]
    text = " ".join(args.text)
    if not text.strip():
        raise UsageError("the text to embed is empty")
    return [(args.id, text)]


def _read(name: str) -> str:
    from llmkit.errors import UsageError
    from llmkit.userfiles import read_capped

    if name == "-":
        data = sys.stdin.buffer.read(MAX_TEXT_BYTES + 1) if hasattr(sys.stdin, "buffer") else sys.stdin.read().encode()
        if len(data) > MAX_TEXT_BYTES:
            raise UsageError(f"stdin holds more than {MAX_TEXT_BYTES:,} bytes, the limit for one item",
                             hint="Split it into several items.")  # fmt: skip
    else:
        if not Path(name).exists():
            raise UsageError(f"no such file: {name}")
        data = read_capped(name, MAX_TEXT_BYTES, "one item to embed")
    text = _text(data, name)
    if text is None:
        raise UsageError(f"{'stdin' if name == '-' else name} is not UTF-8 text", hint="Only text can be embedded.")
    if not text.strip():
        raise UsageError(f"{'stdin' if name == '-' else name} is empty")
    return text


def _text(data: bytes, name: str) -> str | None:
    if b"\0" in data[:8192]:
        return None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return None


def _files(globs: list[str]) -> list[tuple[str, str]]:
    """The text files matching the globs, in order, once each; binary, empty and
    oversized ones are skipped with a note."""
    import glob

    from llmkit.errors import UsageError

    paths = list(dict.fromkeys(p for g in globs for p in sorted(glob.glob(g, recursive=True)) if Path(p).is_file()))
    if not paths:
        raise UsageError(f"no file matches {' '.join(globs)}",
                         hint="Quote the pattern so that llmkit expands it: --files 'docs/**/*.md'.")  # fmt: skip
    out = []
    for p in paths:
        size = Path(p).stat().st_size
        data = Path(p).read_bytes() if size <= MAX_TEXT_BYTES else None
        text = _text(data, p) if data is not None else None
        if text is None or not text.strip():
            why = "too large" if data is None else "not UTF-8 text" if text is None else "empty"
            print(f"skipped {p}: {why}", file=sys.stderr)
            continue
        out.append((p, text))
    return out
