"""SQuAD 2.0 figures for `tasks.answer` against a naive prompt on the same model
(`llmkit eval qa -m MODEL`).

The metrics are the official SQuAD 2.0 ones (evaluate-v2.0.py): answers are
normalised (lower case, no punctuation, no articles a/an/the, single spaces); EM is
exact match and F1 the token overlap, each the best over the gold answers; an
unanswerable question's gold answer is the empty string, so abstaining scores 1 there
and any answer 0. HasAns figures are over the answerable questions, NoAns accuracy
over the others.

The setting is the standard one: each question gets its own paragraph as the single
document. The naive baseline asks "Context: ... Question: ... Answer briefly." greedily
(at most 20 tokens) and takes the text as the answer.
"""

from __future__ import annotations

import json
import os
import re
import string
import time
from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from ...client import Client
from ...errors import UsageError
from .._core import Chat, Task, run_many, using

__all__ = ["DEFAULT_PATH", "evaluate_squad", "exact", "f1", "load_squad", "normalize", "score_predictions"]

# the first article of the SQuAD 2.0 dev set ("Normans": 208 questions), kept beside
# the repository in shared/data (CC BY-SA 4.0); $LLMKIT_SQUAD_DATA names another file
DEFAULT_PATH = Path(os.environ.get("LLMKIT_SQUAD_DATA")
                    or Path(__file__).resolve().parents[4] / "shared" / "data" / "squad2_dev_normans.json")
_ARTICLES = re.compile(r"\b(a|an|the)\b", re.UNICODE)
_PUNCTUATION = set(string.punctuation)


def normalize(text: str) -> str:
    """The official normalisation: lower case, no punctuation, no articles, single spaces."""
    text = "".join(ch for ch in text.lower() if ch not in _PUNCTUATION)
    return " ".join(_ARTICLES.sub(" ", text).split())


def exact(gold: str, prediction: str) -> int:
    return int(normalize(gold) == normalize(prediction))


def f1(gold: str, prediction: str) -> float:
    """Token-overlap F1 of the normalised answers (both empty: 1; one empty: 0)."""
    gold_tokens, pred_tokens = normalize(gold).split(), normalize(prediction).split()
    if not gold_tokens or not pred_tokens:
        return float(gold_tokens == pred_tokens)
    same = sum((Counter(gold_tokens) & Counter(pred_tokens)).values())
    if same == 0:
        return 0.0
    precision, recall = same / len(pred_tokens), same / len(gold_tokens)
    return 2 * precision * recall / (precision + recall)


def load_squad(path: str | Path = DEFAULT_PATH, limit: int | None = None) -> list[dict[str, Any]]:
    """The questions of a SQuAD (2.0) file in order: {id, question, context, golds,
    answerable}, golds holding [""] for an unanswerable question."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
        articles = data["data"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise UsageError(f"cannot read SQuAD data from {path}: {exc}",
                         hint="Give a file in the official SQuAD 2.0 JSON format (--data FILE).") from None  # fmt: skip
    items = []
    for article in articles:
        for paragraph in article["paragraphs"]:
            for qa in paragraph["qas"]:
                golds = [a["text"] for a in qa.get("answers", []) if normalize(a["text"])]
                items.append({"id": qa["id"], "question": qa["question"], "context": paragraph["context"],
                              "golds": golds or [""], "answerable": bool(golds)})  # fmt: skip
    return items[:limit] if limit is not None else items


def score_predictions(items: Iterable[dict[str, Any]], predictions: Iterable[str | None]) -> dict[str, Any]:
    """EM, F1 (in %), HasAns EM/F1, NoAns accuracy and counts; a prediction of None is an abstention."""
    totals: dict[str, list[float]] = {"em": [], "f1": [], "has_em": [], "has_f1": [], "no": []}
    for item, prediction in zip(items, predictions, strict=True):
        guess = prediction or ""
        em = max(exact(g, guess) for g in item["golds"])
        fm = max(f1(g, guess) for g in item["golds"])
        totals["em"].append(em)
        totals["f1"].append(fm)
        if item["answerable"]:
            totals["has_em"].append(em)
            totals["has_f1"].append(fm)
        else:
            totals["no"].append(em)  # the gold is "": right only when nothing is answered

    def pct(values: list[float]) -> float | None:
        return round(100 * sum(values) / len(values), 1) if values else None

    return {
        "exact": pct(totals["em"]), "f1": pct(totals["f1"]),
        "has_ans_exact": pct(totals["has_em"]), "has_ans_f1": pct(totals["has_f1"]),
        "no_ans_accuracy": pct(totals["no"]),
        "total": len(totals["em"]), "has_ans": len(totals["has_em"]), "no_ans": len(totals["no"]),
    }  # fmt: skip


def _naive(item: dict[str, Any]) -> Task[str]:
    prompt = f"Context: {item['context']}\nQuestion: {item['question']}\nAnswer briefly."
    response = yield Chat(prompt, {"temperature": 0, "max_tokens": 20})
    return str(response.text).strip()


def evaluate_squad(
    model: Client | str | None = None,
    path: str | Path = DEFAULT_PATH,
    limit: int | None = None,
    baseline: bool = True,
    progress: bool | None = None,
) -> dict[str, Any]:
    """SQuAD 2.0 figures of `tasks.answer` (each question with its own paragraph) and,
    with `baseline`, of the naive prompt on the same model; with seconds taken and the
    strategy used. A failed item counts as an abstention and is counted in `errors`."""
    from ..qa import Answer, answer_batch

    items = load_squad(path, limit)
    if not items:
        raise UsageError(f"{path} holds no questions")

    def work(client: Client) -> dict[str, Any]:
        out: dict[str, Any] = {"model": client.model, "data": str(path), "questions": len(items)}
        start = time.perf_counter()
        results = answer_batch([i["question"] for i in items], [[i["context"]] for i in items], model=client,
                               progress=progress)  # fmt: skip
        answers = [r for r in results if isinstance(r, Answer)]
        out["answer"] = score_predictions(items, [r.answer if isinstance(r, Answer) else None for r in results])
        out["answer"]["seconds"] = round(time.perf_counter() - start, 1)
        out["answer"]["errors"] = len(results) - len(answers)
        out["answer"]["abstained"] = sum(r.abstained for r in answers)
        out["answer"]["strategy"] = answers[0].strategy if answers else None
        if baseline:
            start = time.perf_counter()
            naive = run_many([_naive(i) for i in items], client, progress=progress, label="naive qa")
            out["naive"] = score_predictions(items, [r if isinstance(r, str) else None for r in naive])
            out["naive"]["seconds"] = round(time.perf_counter() - start, 1)
            out["naive"]["errors"] = sum(not isinstance(r, str) for r in naive)
        return out

    return using(model, work)
