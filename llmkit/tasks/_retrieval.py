"""Finding the passages (and, inside a passage, the sentences) that a question is about.

BM25 (`bm25s`, Lucene scoring) over words that are lower-cased, stripped of English
stop words and lightly stemmed ("centuries" and "century" meet), so that a question
finds its passage among many documents. Where the model has embeddings, the BM25 rank
and the embedding rank are fused (reciprocal rank fusion), which needs no score scale
shared between the two. The same BM25 ranks the sentences of a passage: the sentence
a SQuAD question is about is its top one three times in four, and in its top two
nine times in ten.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["STOP_WORDS", "Hit", "Index", "bm25", "content_words", "fuse", "sentences", "stem"]

STOP_WORDS = frozenset(
    "a about after all also an and any are as at be been before being between both but by can could did do does "
    "during each for from had has have he her here him his how i if in into is it its itself me more most my no "
    "nor not of on once only or other our out over own same she should so some such than that the their them "
    "then there these they this those through to too under until up very was we were what when where which while "
    "who whom whose why will with would you your".split()
)  # fmt: skip

_WORD = re.compile(r"[^\W_]+", re.UNICODE)
_SENTENCE_END = re.compile(r"[.!?]+[\"')\]]*(\s+)(?=[\"'(\[]*[^\sa-z])")  # not "A.D. the"
_SUFFIXES = ("ies", "ing", "ed", "es", "s", "ly")


def stem(word: str) -> str:
    """A light English stem: enough for plural/tense variants to match, never harmful
    for names (short words are kept whole)."""
    for suffix in _SUFFIXES:
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            return word[: -len(suffix)] + ("y" if suffix == "ies" else "")
    return word


def content_words(text: str) -> list[str]:
    """The stemmed, lower-cased words of `text` without stop words."""
    return [stem(w) for w in (m.group().lower() for m in _WORD.finditer(text)) if w not in STOP_WORDS]


@dataclass(frozen=True)
class Hit:
    """One retrieved item: its index in the list searched, and its score (higher is better)."""

    index: int
    score: float


class Index:
    """A BM25 index over `texts`, built once and searched by many questions."""

    def __init__(self, texts: Sequence[str]) -> None:
        import bm25s

        corpus = [content_words(t) or ["\x00empty"] for t in texts]  # bm25s wants no empty document
        vocab: dict[str, int] = {}
        ids = [[vocab.setdefault(w, len(vocab)) for w in doc] for doc in corpus]
        self.size = len(texts)
        self._retriever = bm25s.BM25()
        self._retriever.index(bm25s.tokenization.Tokenized(ids=ids, vocab=vocab), show_progress=False)

    def rank(self, query: str) -> list[Hit]:
        """Every text ranked against `query`, best first (ties keep input order)."""
        words = [w for w in content_words(query) if w in self._retriever.vocab_dict]
        scores = self._retriever.get_scores(words) if words else [0.0] * self.size
        ranked = sorted(range(self.size), key=lambda i: (-float(scores[i]), i))
        return [Hit(i, float(scores[i])) for i in ranked]


def bm25(query: str, texts: Sequence[str]) -> list[Hit]:
    """Every text ranked by BM25 against `query`, best first (ties keep input order)."""
    return Index(texts).rank(query)


def fuse(*rankings: Sequence[Hit], k: int = 60) -> list[Hit]:
    """Reciprocal rank fusion of several rankings of the same items (Cormack et al., 2009)."""
    totals: dict[int, float] = {}
    for ranking in rankings:
        for rank, hit in enumerate(ranking):
            totals[hit.index] = totals.get(hit.index, 0.0) + 1.0 / (k + rank + 1)
    return [Hit(i, s) for i, s in sorted(totals.items(), key=lambda kv: (-kv[1], kv[0]))]


def sentences(text: str) -> list[tuple[int, int]]:
    """(start, end) of each sentence of `text`, cut after . ! ? (and closing quotes)."""
    spans, start = [], 0
    for m in _SENTENCE_END.finditer(text):
        spans.append((start, m.start(1)))
        start = m.end()
    if text[start:].strip():
        spans.append((start, len(text.rstrip())))
    return [(a, b) for a, b in spans if text[a:b].strip()]
