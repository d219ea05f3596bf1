"""Train the bundled GPT architecture on your own text, then use it like any model.

    python examples/train_and_complete.py                          # Shakespeare, 2 minutes
    python examples/train_and_complete.py --data my_notes/ --time 600
"""

import argparse
import tempfile
from pathlib import Path

import llmkit
from llmkit.mini.model import GPTConfig
from llmkit.mini.train import train

SHAKESPEARE = Path(__file__).resolve().parents[1] / "data" / "tinyshakespeare.txt"

parser = argparse.ArgumentParser()
parser.add_argument("--data", type=Path, default=SHAKESPEARE)
parser.add_argument("--time", type=float, default=120, help="seconds of training")
parser.add_argument("--steps", type=int, default=None)
parser.add_argument("--out", type=Path, default=Path(tempfile.mkdtemp()) / "my-model")
args = parser.parse_args()

config = GPTConfig(vocab_size=512, n_layer=2, n_head=2, n_embd=64, block_size=128)
result = train([args.data], args.out, model=config, time_budget=args.time, max_steps=args.steps,
               batch_size=8, lr=3e-3, warmup=10, eval_every=50, progress=False)
print(f"trained {result.steps} steps; validation {result.val_bpb:.2f} bits per byte -> {result.path}")

model = llmkit.Client(f"mini:{result.path}")
print(model.complete("ROMEO:\n", max_tokens=40, temperature=0.8, seed=0).text)
