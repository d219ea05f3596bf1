"""`llmkit --help` against `llm --help` (simonw/llm, the anchor), measured side by side.

Both run as their installed console scripts, interleaved so that machine load hits both
alike; the ratio of medians is printed. Target: <= 0.5.

    python benchmarks/cli_help.py [--runs 20] [--quick]

Needs `llm` installed (pip install llm) next to llmkit or on PATH; without it only
llmkit's time is printed.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import time


def find(script: str) -> str | None:
    here = os.path.join(os.path.dirname(sys.executable), script)
    return here if os.access(here, os.X_OK) else shutil.which(script)


def wall(cmd: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--quick", action="store_true", help="5 runs each (a smoke test, not a measurement)")
    args = parser.parse_args()
    runs = 5 if args.quick else args.runs
    kit_script, llm_script = find("llmkit"), find("llm")
    kit = [kit_script, "--help"] if kit_script else [sys.executable, "-m", "llmkit.cli", "--help"]
    anchor = [llm_script, "--help"] if llm_script else None
    wall(kit)  # warm the OS file cache for both
    if anchor:
        wall(anchor)
    kit_times, anchor_times = [], []
    for _ in range(runs):
        kit_times.append(wall(kit))
        if anchor:
            anchor_times.append(wall(anchor))
    k = statistics.median(kit_times) * 1000
    if not anchor:
        print(f"llmkit --help: {k:.0f} ms (median of {runs}); `llm` is not installed: pip install llm")
        return
    a = statistics.median(anchor_times) * 1000
    print(f"runs: {runs} each, interleaved")
    print(f"llm --help:    {a:7.1f} ms (median)")
    print(f"llmkit --help: {k:7.1f} ms (median)")
    print(f"ratio: {k / a:.3f} (target <= 0.5) {'OK' if k / a <= 0.5 else 'MISSED'}")


if __name__ == "__main__":
    main()
