"""Peak memory of `llmkit ask -m mini:<checkpoint>` generating 200 tokens.

    python benchmarks/mini_memory.py [CHECKPOINT] [--tokens 200] [--quick]

Runs the real command in a subprocess and reads its peak resident set size (maximum
RSS, from wait4's resource usage of that child alone). CHECKPOINT defaults to the
shipped one (llmkit/mini/weights/); when that is missing, a checkpoint of the shipped
configuration (6 layers, 256 wide, 4 heads, 256-token context, vocabulary 8192) with
random weights is built in a temporary directory (memory does not depend on the
weights). This process stays small (no torch import here: a forked child's maximum RSS
starts at its parent's, so the checkpoint is built in a subprocess). For scale it also
measures `python -c "import torch"`. Prints
`ratio = 400 MB / peak` (>= 1 meets the target of at most 400 MB).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHIPPED = ROOT / "llmkit" / "mini" / "weights"
TARGET_MB = 400.0


def peak_rss_mb(cmd: list[str], env: dict[str, str]) -> tuple[float, str]:
    """(peak RSS in MB of the child, its stdout); exits if the command fails."""
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        proc = subprocess.Popen(cmd, stdout=out, stderr=err, env=env, text=True)
        _, status, usage = os.wait4(proc.pid, 0)  # this child's own resource usage
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        if proc.returncode:
            raise SystemExit(f"command failed ({proc.returncode}): {' '.join(cmd)}\n{err.read()[-2000:]}")
        return usage.ru_maxrss * 1024 / 1e6, out.read()  # Linux reports KiB; MB here are 10^6 bytes


def random_checkpoint(path: Path) -> None:
    import torch

    from llmkit.mini.checkpoint import save_checkpoint
    from llmkit.mini.model import GPT, GPTConfig
    from llmkit.mini.tokenizer import train_tokenizer

    text = "".join(p.read_text(encoding="utf-8") for p in sorted(Path(torch.__file__).parent.glob("*.py"))[:40])
    tokenizer = train_tokenizer([text], 8192)
    config = GPTConfig(vocab_size=tokenizer.vocab_size, n_layer=6, n_head=4, n_embd=256, block_size=256)
    torch.manual_seed(0)
    save_checkpoint(path, GPT(config), tokenizer, metadata={"note": "random weights, for benchmarks"})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("checkpoint", nargs="?", type=Path, default=SHIPPED)
    parser.add_argument("--tokens", type=int, default=200)
    parser.add_argument("--quick", action="store_true", help="smoke run: 20 tokens")
    parser.add_argument("--build-random", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.quick:
        args.tokens = 20
    env = {**os.environ, "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1")}
    if args.build_random:
        random_checkpoint(args.checkpoint)
        return
    with tempfile.TemporaryDirectory() as tmp:
        ckpt = args.checkpoint
        if not all((ckpt / name).is_file() for name in ("model.safetensors", "config.json", "tokenizer.json")):
            if args.checkpoint != SHIPPED:
                raise SystemExit(f"{ckpt} is not a mini checkpoint")
            ckpt = Path(tmp) / "random-shipped-config"
            subprocess.run([sys.executable, __file__, str(ckpt), "--build-random"], check=True)
            print(f"{SHIPPED} is missing: using a random-weight checkpoint of the shipped configuration")
        size_mb = sum(p.stat().st_size for p in ckpt.iterdir() if p.is_file()) / 1e6
        print(f"checkpoint: {ckpt} ({size_mb:.1f} MB on disk)")
        env["LLMKIT_HOME"] = str(Path(tmp) / "home")  # keep the benchmark out of the user's history and config
        base, _ = peak_rss_mb([sys.executable, "-c", "import torch"], env)
        cmd = [sys.executable, "-m", "llmkit.cli", "ask", "-m", f"mini:{ckpt}", "--max-tokens", str(args.tokens),
               "-t", "0", "--json", "def fibonacci(n):\n"]  # fmt: skip
        peak, out = peak_rss_mb(cmd, env)
    usage = json.loads(out)["usage"]
    print(f"`python -c 'import torch'`: {base:6.1f} MB peak RSS")
    print(f"`llmkit ask -m mini:... --max-tokens {args.tokens}`: {peak:6.1f} MB peak RSS "
          f"({usage['output_tokens']} tokens generated)")
    print(f"ratio = {TARGET_MB / peak:.2f}  (400 MB / peak RSS; >= 1 meets the target)")


if __name__ == "__main__":
    main()
