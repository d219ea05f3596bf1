"""Decoding and scoring speed of the bundled GPT on this machine, per torch thread count.

    python benchmarks/mini_decode_speed.py [--threads 1 2] [--tokens 128]

Uses a randomly initialised model of the default GPTConfig (speed does not depend on
the weights) with a tokenizer trained on the spot, saved and loaded through the real
checkpoint code. Prints tokens per second for n=1 and n=4 sampling and for `score`.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import torch

from llmkit.mini.checkpoint import save_checkpoint
from llmkit.mini.engine import MiniEngine
from llmkit.mini.model import GPT, GPTConfig
from llmkit.mini.tokenizer import train_tokenizer


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--tokens", type=int, default=128)
    args = parser.parse_args()

    text = Path(torch.__file__).read_text(encoding="utf-8") * 4  # some real text, always present
    config = GPTConfig()
    tokenizer = train_tokenizer([text], config.vocab_size)
    config = GPTConfig(vocab_size=tokenizer.vocab_size)
    torch.manual_seed(0)
    model = GPT(config)
    print(f"model: {model.num_parameters() / 1e6:.1f}M parameters, {config}")
    with tempfile.TemporaryDirectory() as tmp:
        save_checkpoint(Path(tmp) / "m", model, tokenizer)
        print(f"{'threads':>7} {'n=1 tok/s':>10} {'n=4 tok/s':>10} {'score tok/s':>12}")
        for threads in args.threads:
            engine = MiniEngine.load(Path(tmp) / "m", threads=threads)
            engine.generate("warm up", max_tokens=8, temperature=0)
            rates = []
            for n in (1, 4):
                start = time.perf_counter()
                out = engine.generate("def main():", max_tokens=args.tokens, temperature=1.0, seed=0, n=n)
                elapsed = time.perf_counter() - start
                rates.append(sum(g.completion_tokens for g in out) / elapsed)
            ids = tokenizer.encode(text)[: 4 * config.block_size]
            start = time.perf_counter()
            engine.score(ids)
            score_rate = len(ids) / (time.perf_counter() - start)
            print(f"{threads:>7} {rates[0]:>10.1f} {rates[1]:>10.1f} {score_rate:>12.1f}")


if __name__ == "__main__":
    main()
