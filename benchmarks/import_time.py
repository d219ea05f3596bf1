"""`import llmkit` against `import openai` (and llm / litellm when installed).

Each import runs in a fresh interpreter, several times; the median wall time counts.
Target (issue #2): llmkit <= 1/3 of openai, and none of torch/transformers/openai/rich.

    python benchmarks/import_time.py [--runs 7]
"""

from __future__ import annotations

import argparse
import importlib.util
import statistics
import subprocess
import sys
import time


def import_seconds(module: str, runs: int) -> float:
    code = f"import time; t = time.perf_counter(); import {module}; print(time.perf_counter() - t)"
    times = []
    for _ in range(runs):
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
        times.append(float(out))
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    heavy = subprocess.run(
        [sys.executable, "-c", "import sys, llmkit; print(sorted(m for m in "
         "('torch','transformers','openai','rich') if m in sys.modules))"],
        capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip
    subprocess.run([sys.executable, "-c", "import openai, llmkit"], check=True)  # warm the disk cache
    started = time.perf_counter()
    llmkit_s = import_seconds("llmkit", args.runs)
    print(f"import llmkit : {llmkit_s * 1000:7.1f} ms   (heavy modules imported: {heavy})")
    for other in ("openai", "llm", "litellm", "aisuite"):
        if importlib.util.find_spec(other) is None:
            continue
        s = import_seconds(other, args.runs)
        print(f"import {other:<7}: {s * 1000:7.1f} ms   llmkit/{other} = {llmkit_s / s:.3f}")
    print(f"(median of {args.runs} fresh interpreters each; {time.perf_counter() - started:.1f}s)")


if __name__ == "__main__":
    main()
