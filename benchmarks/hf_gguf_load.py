"""Loading a GGUF model: first load (dequantise + convert + cache) vs second (cached copy).

Each load runs in a fresh Python process with a temporary LLMKIT_HOME that starts empty.
The child first imports transformers' Llama model code (what any load of this model
pays, converted or not: about 2-3 s of torch.distributed, torch._dynamo and sympy
imports on 2 cores), then times `llmkit.Client("hf:<file>")`. Both figures are printed:
the load itself, which is what the cache removes (the target), and the load plus those
imports, which is what a whole second run of a script waits for.
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
start = time.perf_counter()
import transformers.models.llama.modeling_llama, transformers.models.auto.tokenization_auto
imports = time.perf_counter() - start
start = time.perf_counter()
llmkit.Client("hf:" + sys.argv[1])
print(imports, time.perf_counter() - start)
"""


def load_times(path: str, home: str, threads: int | None) -> tuple[float, float]:
    """(seconds importing the model code, seconds loading) in a fresh process."""
    env = {**os.environ, "LLMKIT_HOME": home}
    if threads:
        env["OMP_NUM_THREADS"] = str(threads)
    out = subprocess.run([sys.executable, "-c", CHILD, path], env=env, capture_output=True, text=True, check=True)
    imports, load = out.stdout.strip().splitlines()[-1].split()
    return float(imports), float(load)


def main() -> None:
    p = parser(__doc__)
    p.add_argument("--file", help="a .gguf file (default: SmolLM2-135M-Instruct Q4_1)")
    p.add_argument("--reps", type=int, default=3, help="second loads to time (median)")
    args = p.parse_args()
    if args.quick:
        args.reps = 1
    path = args.file or str(smollm2_path())
    with tempfile.TemporaryDirectory(prefix="llmkit-bench-home-") as home:
        first_imports, first = load_times(path, home, args.threads)  # empty cache: converts
        runs = [load_times(path, home, args.threads) for _ in range(args.reps)]
    second = median([load for _, load in runs])
    imports = median([first_imports] + [i for i, _ in runs])
    print(f"{os.path.basename(path)}, fresh process per load; importing transformers' model code: {imports:.2f}s")
    print(f"first load  {first:6.2f}s (dequantises, converts, caches)")
    print(f"second load {second:6.2f}s   first/second = {first / second:5.1f}x   (target >= 10x)")
    print(f"with the model-code import: first {first + first_imports:.2f}s, second {second + imports:.2f}s, "
          f"first/second = {(first + first_imports) / (second + imports):4.1f}x")


if __name__ == "__main__":
    main()
