"""The topic and sentiment evaluations: figures of the right shape on stand-in data, and
(slow, needs the gensim wheel from the package index) llmkit's topics ahead of plain
LDA on the Lee corpus."""

import pytest

from llmkit.errors import UsageError
from llmkit.tasks.evals import _gensim
from llmkit.tasks.evals import sentiment as sentiment_eval
from llmkit.tasks.evals import topics as topics_eval

ROWS = [("a dull , tedious film .", "negative")] * 3 + [("a warm , funny , moving film .", "positive")] * 3


def test_sentiment_eval_is_balanced_and_counts_both_strategies(tiny_hf, monkeypatch):
    monkeypatch.setattr(_gensim, "pang_lee_polarity", lambda: ROWS)
    assert [label for _, label in sentiment_eval._data(4)] == ["negative", "positive"] * 2
    figures = sentiment_eval.evaluate_sentiment(tiny_hf, limit=4)
    assert figures["items"] == 4
    for strategy in ("logprobs", "prompted"):
        f = figures[strategy]
        assert 0 <= f["accuracy"] <= 1 and sum(f["predicted"].values()) == 4
        assert f["failed"] == f["predicted"].get("error", 0)


def test_plain_lda_anchor_scores_its_own_topics():
    docs = [f"{a} {b} {c} report" for a, b, c in [("rocket", "orbit", "launch"), ("bread", "oven", "flour")] * 12]
    out = topics_eval.lda_topics(docs, k=2, top_n=3)
    assert -1 <= out["npmi"] <= 1 and 0 < out["diversity"] <= 1 and len(out["topics"]) == 2


@pytest.mark.slow
def test_topics_beat_plain_lda_on_the_lee_corpus():
    try:
        figures = topics_eval.evaluate_topics(k=5)
    except UsageError as exc:
        pytest.skip(f"the gensim wheel could not be fetched: {exc}")
    assert figures["documents"] == 300 and figures["k"] == 5
    assert figures["llmkit"]["npmi"] > figures["lda"]["npmi"]
    assert figures["llmkit"]["diversity"] > figures["lda"]["diversity"]
