"""A measurement, not a feature (yet): what dynamic evaluation would code alice29 to.

    python scripts/dynamic_eval_alice29.py [--segment 256] [--lr 1e-4] [--layers all|N] [--threads 2] [--bytes N]

`llmkit.compress.estimate` on alice29 with SmolLM2, the same chunks and mixing as
compress() uses, but each chunk's next-token distributions come from dynamic
evaluation: a private copy of the model, trained online on the text as it is read.
After every `--segment` tokens, one Adam step on those tokens' loss (the KV cache of
the earlier ones kept). Each chunk starts again from the original weights.
`--layers N` trains only the last N blocks and the final norm (cheaper: the backward
pass stops there).

It replaces `client.next_token_logprobs` for the estimate. compress() does not do this:
a decoder would have to train its copy identically, step for step (README,
Compression). Prints the mixed and the model-alone bits per byte and the time per chunk.
"""

from __future__ import annotations

import argparse
import copy
import time
from pathlib import Path

import numpy as np
import torch
from transformers import DynamicCache

import llmkit
from llmkit.backends.hf_loading import forward_arguments
from llmkit.backends.hf_scoring import _conditioning_token
from llmkit.compress.estimate import estimate
from llmkit.testing.smollm2 import fetch

ALICE = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "alice29.txt"


def adapted_logprobs(engine, segment: int, lr: float, layers: str):
    """A stand-in for next_token_logprobs([ids]) that adapts a copy of the model as it reads."""
    base, cond = engine.model, _conditioning_token(engine)
    key, _ = forward_arguments(base)
    n_layers = base.config.num_hidden_layers
    trained = None if layers == "all" else [f"layers.{i}." for i in range(n_layers - int(layers), n_layers)] + ["model.norm"]

    def logprobs(sequences: list[list[int]]) -> np.ndarray:
        (ids,) = sequences
        model = copy.deepcopy(base)
        params = [p for name, p in model.named_parameters() if trained is None or any(k in name for k in trained)]
        for p in model.parameters():
            p.requires_grad_(False)
        for p in params:
            p.requires_grad_(True)
        optimizer = torch.optim.Adam(params, lr=lr) if lr > 0 else None
        seq = torch.tensor([[cond, *ids]])
        out = np.empty((1, len(ids), base.config.vocab_size), dtype=np.float32)
        cache, start = DynamicCache(), time.perf_counter()
        for s in range(0, len(ids), segment):  # positions s.. predict seq[s + 1 ..]
            n = min(segment, len(ids) - s)
            with torch.set_grad_enabled(optimizer is not None):
                logits = model(input_ids=seq[:, s : s + segment], use_cache=True, **{key: cache}).logits[0].float()
                logp = torch.log_softmax(logits, dim=-1)[:n]
                out[0, s : s + n] = logp.detach().numpy()
                if optimizer is not None:
                    loss = -logp.gather(1, seq[0, s + 1 : s + 1 + n, None]).mean()
                    optimizer.zero_grad(set_to_none=True)
                    loss.backward()
                    optimizer.step()
            for layer in cache.layers:  # the past stays as it was computed, out of the graph
                layer.keys, layer.values = layer.keys.detach(), layer.values.detach()
        print(f"  chunk of {len(ids)} tokens: {time.perf_counter() - start:.0f} s", flush=True)
        return out

    return logprobs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--segment", type=int, default=256)
    parser.add_argument("--lr", type=float, default=1e-4, help="Adam's step (0: no adaptation, the plain estimate)")
    parser.add_argument("--layers", default="all", help="'all', or train only the last N blocks")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--bytes", type=int, default=None, help="only the file's first N bytes (a smoke run)")
    args = parser.parse_args()
    if not ALICE.is_file():
        parser.error(f"no {ALICE}: this script reads the shared data folder beside the checkout")
    if args.segment < 1 or args.lr < 0 or args.threads < 1:
        parser.error("--segment and --threads must be >= 1, --lr >= 0")
    torch.set_num_threads(args.threads)
    client = llmkit.Client(f"hf:{fetch()}")
    blocks = client.backend.engine.model.config.num_hidden_layers
    if args.layers != "all" and not (args.layers.isdigit() and 1 <= int(args.layers) <= blocks):
        parser.error(f"--layers {args.layers!r}: use 'all' or a number of blocks from 1 to {blocks}")
    client.next_token_logprobs = adapted_logprobs(client.backend.engine, args.segment, args.lr, args.layers)  # type: ignore[method-assign]
    start = time.perf_counter()
    r = estimate(ALICE.read_bytes()[: args.bytes], client)
    print(f"segment {args.segment}, lr {args.lr}, layers {args.layers}: mixed {r['ideal_bpb']:.4f} bits/byte, "
          f"model alone {r['model_bpb']:.4f} ({r['chunks']} chunks, {r['tokens']} tokens, "
          f"{time.perf_counter() - start:.0f} s)")  # fmt: skip


if __name__ == "__main__":
    main()
