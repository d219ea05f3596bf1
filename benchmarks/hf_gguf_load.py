"""Loading a GGUF model: first load (dequantise + convert + cache) vs second (cached copy).

Each load runs in a fresh Python process, with a temporary LLMKIT_HOME that starts
empty, timing only `llmkit.Client("hf:<file>")` after `import transformers`: a second
load in a new process pays what a real second run pays (hashing the file, and
transformers importing its model-loading modules, several seconds on 2 busy cores).
Each process then loads again (hash forgotten) to show the load without those imports.
Target: second load >= 10x faster than the first.

    python benchmarks/hf_gguf_load.py [--file PATH.gguf] [--reps 3] [--quick]
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile

from hf_common import median, parser, smollm2_path

CHILD = """
import sys, time
import torch, transformers, llmkit
from llmkit.backends import hf, hf_loading
start = time.perf_counter()
llmkit.Client("hf:" + sys.argv[1])
cold = time.perf_counter() - start
hf_loading.forget_all()
hf_loading._hashes.clear()  # hash the file again, as a new process would
start = time.perf_counter()
llmkit.Client("hf:" + sys.argv[1])
print(cold, time.perf_counter() - start)
"""


def load_times(path: str, home: str, threads: int | None) -> tuple[float, float]:
    """(load in a fresh process, load again in that process once transformers is imported)."""
    env = {**os.environ, "LLMKIT_HOME": home}
    if threads:
        env["OMP_NUM_THREADS"] = str(threads)
    out = subprocess.run([sys.executable, "-c", CHILD, path], env=env, capture_output=True, text=True, check=True)
    cold, warm = out.stdout.strip().splitlines()[-1].split()
    return float(cold), float(warm)


def main() -> None:
    p = parser(__doc__)
    p.add_argument("--file", help="a .gguf file (default: SmolLM2-135M-Instruct Q4_1)")
    p.add_argument("--reps", type=int, default=3, help="second loads to time (median)")
    args = p.parse_args()
    if args.quick:
        args.reps = 1
    path = args.file or str(smollm2_path())
    with tempfile.TemporaryDirectory(prefix="llmkit-bench-home-") as home:
        first, warm = load_times(path, home, args.threads)  # empty cache: converts
        runs = [load_times(path, home, args.threads) for _ in range(args.reps)]
    second = median([cold for cold, _ in runs])
    second_warm = median([warm for _, warm in runs] + [warm])
    print(f"{os.path.basename(path)}: first load {first:.1f}s (converts and caches)")
    print(f"second load, new process    {second:6.2f}s   first/second = {first / second:5.1f}x   (target >= 10x)")
    print(f"second load, same process   {second_warm:6.2f}s   first/second = {first / second_warm:5.1f}x   "
          "(transformers' modules already imported)")  # fmt: skip


if __name__ == "__main__":
    main()
