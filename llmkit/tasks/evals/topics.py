"""Topic extraction on a real document set: llmkit's TF-IDF + NMF topics against plain
LDA on the same documents and the same k.

Data: gensim's `lee_background.cor` (300 news articles), read from the gensim wheel
at run time. The anchor is scikit-learn's LatentDirichletAllocation on raw word
counts (same tokenizer and vocabulary as ours: English stop words and numbers out,
words in at least 2 and at most 95% of the documents; batch learning, fixed seed).
Both are scored the same way (llmkit.tasks._coherence): mean NPMI of each topic's
top-10 words by document co-occurrence in these 300 documents, and diversity.

    python -m llmkit.tasks.evals.topics [K]
"""

from __future__ import annotations

import json
import sys
import time
from typing import Any

__all__ = ["evaluate_topics", "lda_topics"]

_TOP_N = 10


def lda_topics(documents: list[str], k: int, top_n: int = _TOP_N) -> dict[str, Any]:
    """Plain LDA's top words, NPMI and diversity on `documents` (the anchor)."""
    from sklearn.decomposition import LatentDirichletAllocation
    from sklearn.feature_extraction.text import CountVectorizer

    from .._coherence import diversity, document_sets, topic_npmi

    vectorizer = CountVectorizer(stop_words="english", token_pattern=r"(?u)\b[^\W\d_][^\W\d_]+\b",
                                 min_df=2, max_df=0.95)  # fmt: skip
    counts = vectorizer.fit_transform(documents)
    lda = LatentDirichletAllocation(n_components=k, learning_method="batch", max_iter=50, random_state=0)
    lda.fit(counts)
    vocab = vectorizer.get_feature_names_out()
    words = [[str(vocab[i]) for i in row.argsort()[::-1][:top_n]] for row in lda.components_]
    analyse = vectorizer.build_analyzer()
    sets = document_sets([analyse(d) for d in documents])
    return {"npmi": round(sum(topic_npmi(w, sets) for w in words) / k, 4), "diversity": round(diversity(words), 4),
            "topics": [w[:5] for w in words]}  # fmt: skip


def evaluate_topics(k: int | None = None) -> dict[str, Any]:
    """NPMI and diversity of `extract_topics` (k given, or its own choice) and of plain
    LDA with the same k, on the Lee background corpus."""
    from .. import extract_topics
    from ._gensim import lee_background

    documents = lee_background()
    started = time.perf_counter()
    ours = extract_topics(documents, k=k, top_n=_TOP_N)
    seconds = time.perf_counter() - started
    anchor = lda_topics(documents, ours.k)
    return {
        "data": "gensim lee_background.cor", "documents": len(documents), "k": ours.k, "k_by": ours.k_by,
        "coherence_measure": ours.coherence_measure, "top_n": _TOP_N,
        "llmkit": {"method": ours.strategy, "npmi": ours.coherence, "diversity": ours.diversity,
                   "seconds": round(seconds, 2), "topics": [t.words[:5] for t in ours.topics]},
        "lda": {"method": "sklearn LatentDirichletAllocation on raw counts", **anchor},
    }  # fmt: skip


if __name__ == "__main__":
    print(json.dumps(evaluate_topics(int(sys.argv[1]) if len(sys.argv) > 1 else None), indent=2))
