"""Copy a trained checkpoint into the package as the shipped `mini` model (bf16 weights,
no optimizer state), then write its model card.

    python scripts/ship_mini.py .cache/stdlib-mini --command "llmkit train --stdlib ..."
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

from llmkit.mini.checkpoint import load_checkpoint, save_checkpoint

WEIGHTS = Path(__file__).resolve().parents[1] / "llmkit" / "mini" / "weights"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("checkpoint", type=Path)
    parser.add_argument("--command", default="", help="the training command, recorded in the model card")
    parser.add_argument("--note", default="", help="how the run differed from the command, for the card")
    parser.add_argument("--generation", default='{"temperature": 0.6, "top_p": 0.9}',
                        help="JSON: sampling defaults for callers who set none (temperature, top_p, top_k)")
    args = parser.parse_args()
    ckpt = load_checkpoint(args.checkpoint)
    metadata = {**ckpt.metadata, "generation": json.loads(args.generation)}
    save_checkpoint(WEIGHTS, ckpt.model, ckpt.tokenizer, metadata=metadata, dtype="bfloat16")
    for path in WEIGHTS.iterdir():  # installed files must be readable by every user
        path.chmod(0o644)
    WEIGHTS.chmod(0o755)
    root = WEIGHTS.parents[2]  # the card names the weights by their path in the repository
    subprocess.run([sys.executable, str(Path(__file__).with_name("model_card.py")), str(WEIGHTS.relative_to(root)),
                    "--command", args.command, "--note", args.note], check=True, cwd=root)  # fmt: skip


if __name__ == "__main__":
    main()
