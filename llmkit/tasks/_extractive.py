"""The extractive strategy of `tasks.answer`, for local models (log-probabilities).

What a small model can do well is read one or two sentences and name the part that
answers a question; what it does badly is read a long passage, keep its answer short,
and know when there is no answer. So:

1. Focus: BM25 ranks the sentences of the best passages; the top `_FOCUS` sentences
   (in document order) are all the model reads. Every request stays short.
2. Question: the question is scored after the focus, log P(question | text). A
   question the text makes unlikely is about something the text does not say:
   SQuAD 2.0's unanswerable questions are the text's own questions with a detail
   changed or added. Below the threshold the task abstains at once, generating nothing.
3. Answer: the model answers with a short phrase, greedily, in its own words.
4. Align: the free answer and its first clause become the spans of the focus that
   they match best (`_spans.align`), with and without outer stop words. Each
   candidate is scored as the answer, followed by a line end (so that where it stops
   counts too); the most likely is the answer. It is always the document's own text.
5. Decide: `support` = log P(question | text) + ANSWER_WEIGHT * log P(answer | text,
   question) per token. It abstains when support is below THRESHOLD, or when the free
   answer matched its span poorly (token F1 below OVERLAP: the model answered from
   elsewhere). `Answer.scores` keeps the measures, `confidence` squashes the support
   around the threshold to 0-1.

THRESHOLD and ANSWER_WEIGHT were chosen on SQuAD 2.0 dev data with SmolLM2-135M-Instruct
(the 208 "Normans" questions: the middle of the range where both NoAns accuracy >= 70%
and HasAns F1 >= 25; see the README for cross-validated figures). They are the model's:
a larger model finds every question likelier and so abstains less; `threshold=` sets
another.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from ..types import system, user
from ._core import Chat, Score, Task
from ._retrieval import bm25, content_words, sentences
from ._spans import Span, align, first_clause, trim

if TYPE_CHECKING:
    from ..client import Client
    from .qa import Answer, Citation

__all__ = ["ANSWER_WEIGHT", "OVERLAP", "THRESHOLD", "extractive"]

_FOCUS = 2  # sentences the model reads
_PASSAGES = 3  # best passages whose sentences compete for the focus
_MAX_NEW = 16  # tokens of free answer: a short answer, or the start of a sentence holding it
_INSTRUCTION = "Answer with a short phrase copied from the context."
_UNLIKELY = "the documents make the question unlikely: they do not say this"
OVERLAP = 0.5  # token F1 of the free answer against its span, below which it is "not in the text"
ANSWER_WEIGHT = 2.0  # support = log P(question | text) + ANSWER_WEIGHT * log P(answer | text, question) per token
THRESHOLD = -29.0  # nats of support below which it abstains
_SCALE = 4.0  # nats: how fast confidence moves from 0 to 1 around the threshold


def extractive(client: Client, question: str, docs: list[str], passages: list[Citation], abstain: bool,
               threshold: float | None = None) -> Task[Answer]:  # fmt: skip
    """One question's Answer, from the best passages (ranked, best first)."""
    from .qa import Answer, Citation

    focus = _focus(question, passages[:_PASSAGES])
    limit = THRESHOLD if threshold is None else threshold

    def no(reason: str, scores: dict[str, float]) -> Answer:
        return Answer(question, None, [], True, "extractive", _confidence(scores, limit), reason,
                      focus or passages[:1], scores)  # fmt: skip

    if not focus:
        return no("no passage shares a word with the question", {})
    text = " ".join(c.text for c in focus)
    asked = yield Score(" " + question, f"{text}\nQuestion:")
    scores = {"question": round(asked, 4)}
    if abstain and asked < limit:  # support is at most this (log-probabilities are <= 0): no need to go on
        return no(_UNLIKELY, {**scores, "support": round(asked, 4)})
    response = yield Chat([system(_INSTRUCTION), user(f"Context: {text}\nQuestion: {question}")],
                          {"temperature": 0, "max_tokens": _MAX_NEW})  # fmt: skip
    found = _candidates(response.text, focus, question)
    if not found:
        return no("the model's answer is not in the documents", {**scores, "overlap": 0.0})
    context = f"{text}\nQuestion: {question}\nAnswer:"
    best, best_score = found[0], -math.inf
    for where, span in found:  # the model says which span, and where it ends ("\n"), it means
        score = yield Score(f" {span.text}\n", context)
        if score > best_score:
            best, best_score = (where, span), score
    where, span = best
    per_token = best_score / max(1, int(client.count_tokens(f" {span.text}\n")))
    scores.update(answer=round(per_token, 4), overlap=span.overlap,
                  support=round(asked + ANSWER_WEIGHT * per_token, 4))  # fmt: skip
    if abstain and span.overlap < OVERLAP:
        return no("the model's answer is not in the documents", scores)
    if abstain and scores["support"] < limit:
        return no(_UNLIKELY, scores)
    start = where.start + span.start
    citation = Citation(where.document, start, start + len(span.text), docs[where.document][start : start + len(span.text)])
    return Answer(question, citation.text, [citation], False, "extractive", _confidence(scores, limit), None, focus,
                  scores)  # fmt: skip


def _confidence(scores: dict[str, float], limit: float) -> float | None:
    """The support against the threshold, squashed to 0-1 (0.5 at the threshold)."""
    if "support" not in scores:
        return None
    return round(1 / (1 + math.exp(-(scores["support"] - limit) / _SCALE)), 4)


def _focus(question: str, passages: list[Citation]) -> list[Citation]:
    """The best `_FOCUS` sentences of the passages for the question, as citations
    (document offsets), in document order; none if no sentence shares a word with it."""
    from .qa import Citation

    found = []
    for p in passages:
        for a, b in sentences(p.text):
            found.append(Citation(p.document, p.start + a, p.start + b, p.text[a:b]))
    if not found or not set(content_words(question)):
        return []
    hits = [h for h in bm25(question, [c.text for c in found]) if h.score > 0][:_FOCUS]
    picked = [Citation(found[h.index].document, found[h.index].start, found[h.index].end, found[h.index].text,
                       round(h.score, 4)) for h in hits]  # fmt: skip
    return sorted(picked, key=lambda c: (c.document, c.start))


def _candidates(free: str, focus: list[Citation], question: str) -> list[tuple[Citation, Span]]:
    """Distinct spans the free answer may mean, each with its focus sentence: the best
    match of the whole answer, of its first clause, and both trimmed; best match first."""
    found: list[tuple[Citation, Span]] = []
    for said in dict.fromkeys([free, first_clause(free)]):
        best: tuple[Citation, Span] | None = None
        for sentence in focus:
            span = align(said, sentence.text, question)
            if span is not None and (best is None or span.overlap > best[1].overlap):
                best = (sentence, span)
        if best is not None:
            found.extend([best, (best[0], trim(best[1], best[0].text, question))])
    out: dict[tuple[int, int, int], tuple[Citation, Span]] = {}
    for where, span in sorted(found, key=lambda f: -f[1].overlap):
        out.setdefault((where.document, where.start + span.start, where.start + span.end), (where, span))
    return list(out.values())
