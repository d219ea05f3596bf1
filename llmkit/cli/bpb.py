"""`llmkit bpb FILE... -m MODEL [-m MODEL...] [--json]`: bits per byte of files under
local models, beside the classic compressors (gzip, bz2, xz; zstd and brotli when
installed). For each model: the ideal (its cross-entropy / bytes), what the file
actually codes to (container included), the gap between them, and bits per byte
counting the model's own weights. Each file is really compressed (and, with --verify,
decoded again), so the coded figure is a measured size, not an estimate."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from llmkit.cli.compress_io import adaptation, add_adapt
from llmkit.errors import UsageError

__all__ = ["add_arguments", "run", "table_rows"]


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("files", nargs="+", help="files to measure")
    p.add_argument("-m", "--model", action="append", help="mini, mini:PATH or hf:MODEL; repeat for several (default: mini)")
    p.add_argument("--json", action="store_true", help="print JSON for scripts instead of a table")
    p.add_argument("--batch", type=int, help="chunks coded together in lockstep (default 16)")
    p.add_argument("--chunk-tokens", type=int, help="tokens per chunk (default: the model's window, at most 8192)")
    p.add_argument("--mixing", action=argparse.BooleanOptionalAction, default=None,
                   help="a bias head and an n-gram model learned from the text so far (default: on)")  # fmt: skip
    p.add_argument("--threads", type=int, help="torch threads for coding")
    p.add_argument("--verify", action="store_true", help="also decode each file and check the round trip")
    add_adapt(p)


def table_rows(data: bytes, models: dict[str, Any], options: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per classic compressor and per model (`models`: label -> Client or id)."""
    from llmkit.compress import compress_with_stats, decompress
    from llmkit.compress.classic import sizes

    n = max(len(data), 1)
    rows: list[dict[str, Any]] = [{"name": name, "kind": "classic", "bytes": size, "coded_bpb": 8 * size / n}
                                  for name, size in sizes(data).items()]  # fmt: skip
    for label, model in models.items():
        blob, s = compress_with_stats(data, model, **{k: v for k, v in options.items() if k != "verify"})
        if options.get("verify") and decompress(blob, model) != data:
            raise UsageError(f"{label}: the round trip did not give the file back")  # decompress raises first
        rows.append({"name": label, "kind": "model", "bytes": len(blob), "ideal_bpb": s.ideal_bpb,
                     "coded_bpb": s.coded_bpb, "payload_bpb": s.payload_bpb, "gap": s.gap,
                     "model_only_bpb": s.model_bits / max(s.model_chunk_bytes, 1) if s.model_chunk_bytes else None,
                     "bpb_with_model": s.bpb_with_model, "model_bytes": s.model_bytes,
                     "bytes_per_second": s.bytes_per_second})  # fmt: skip
    return rows


def run(args: argparse.Namespace) -> int:
    import llmkit

    paths = [Path(f) for f in args.files]
    missing = [str(p) for p in paths if not p.is_file()]
    if missing:
        raise UsageError(f"not a file: {', '.join(missing)}", hint="Give paths of existing files.")
    models = {m: llmkit.Client(m, **({"threads": args.threads} if args.threads else {}))
              for m in (args.model or ["mini"])}  # fmt: skip
    options: dict[str, Any] = {"verify": args.verify, "threads": args.threads, "progress": None,
                               "adapt": adaptation(args)}  # fmt: skip
    for name in ("batch", "chunk_tokens", "mixing"):
        if getattr(args, name) is not None:
            options[name] = getattr(args, name)
    report = {str(p): {"bytes": p.stat().st_size, "rows": table_rows(p.read_bytes(), models, options)}
              for p in paths}  # fmt: skip
    if args.json:
        json.dump(report, sys.stdout, indent=2)
        print()
        return 0
    _print_table(report)
    return 0


def _print_table(report: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    def f(value: Any, fmt: str = "{:.3f}") -> str:
        return "" if value is None else fmt.format(value)

    console = Console() if sys.stdout.isatty() else Console(width=200)  # a pipe: no wrapping
    for path, entry in report.items():
        table = Table(title=f"{path} ({entry['bytes']} bytes): bits per byte", title_justify="left")
        for column in ("compressor", "bytes", "ideal", "coded", "gap", "with model"):
            table.add_column(column, justify="left" if column == "compressor" else "right")
        for r in entry["rows"]:
            if r["kind"] == "classic":
                table.add_row(r["name"], str(r["bytes"]), "", f(r["coded_bpb"]), "", "")
            else:
                table.add_row(r["name"], str(r["bytes"]), f(r["ideal_bpb"]), f(r["coded_bpb"]),
                              f(100 * r["gap"], "{:+.1f}%"), f(r["bpb_with_model"], "{:.1f}"))  # fmt: skip
        console.print(table)
    console.print("ideal: the model's cross-entropy / bytes; coded: the file's real size (header included); "
                  "gap: coded over ideal; with model: counting the weights as loaded.", style="dim")  # fmt: skip
