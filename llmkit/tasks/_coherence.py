"""Topic quality measured on the documents themselves: NPMI coherence and diversity.

NPMI (normalised pointwise mutual information, Bouma 2009) of two words is
log(p(a,b) / (p(a) p(b))) / -log p(a,b), from -1 (never together) through 0
(independent) to 1 (always together). Probabilities here are by **document
co-occurrence**: p(a) is the fraction of documents that hold `a`, p(a,b) the
fraction that hold both (the "boolean document" estimate; no sliding window, no
outside reference corpus). A topic's coherence is the mean NPMI over all pairs of its
top words; a model's is the mean over its topics.

Diversity is the fraction of distinct words among all topics' top-N keywords: 1.0
when no two topics share a keyword, 1/k when all k topics have the same ones.

Both take the documents as sets of word types, made by the same analyzer that
built the topic model's vocabulary, so that "the words" mean the same thing in both.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from itertools import combinations

__all__ = ["diversity", "document_sets", "npmi", "topic_npmi"]


def document_sets(documents: Sequence[Sequence[str]]) -> list[frozenset[str]]:
    """Each document as the set of its word types."""
    return [frozenset(words) for words in documents]


def npmi(a: str, b: str, docs: Sequence[frozenset[str]]) -> float:
    """NPMI of two words by document co-occurrence (-1 when they never co-occur or
    either is absent; 1 when both are in every document)."""
    n = len(docs)
    na = nb = nab = 0
    for d in docs:
        ia, ib = a in d, b in d
        na += ia
        nb += ib
        nab += ia and ib
    if nab == 0 or n == 0:
        return -1.0
    if nab == n:  # together in every document: perfectly associated
        return 1.0
    p_ab, p_a, p_b = nab / n, na / n, nb / n
    return math.log(p_ab / (p_a * p_b)) / -math.log(p_ab)


def topic_npmi(words: Sequence[str], docs: Sequence[frozenset[str]]) -> float:
    """Mean NPMI over the pairs of `words` (0.0 for fewer than two words)."""
    pairs = list(combinations(words, 2))
    if not pairs:
        return 0.0
    return sum(npmi(a, b, docs) for a, b in pairs) / len(pairs)


def diversity(topics: Sequence[Sequence[str]]) -> float:
    """Fraction of distinct words among all the topics' keywords."""
    words = [w for t in topics for w in t]
    return len(set(words)) / len(words) if words else 0.0
