"""gensim's test corpora, read from the gensim wheel at run time (llmkit.tasks.evals._wheels).

- `lee_background.cor`: 300 news articles from the Australian Broadcasting
  Corporation, one per line (Lee, Pincombe & Welsh, 2005).
- `pang_lee_polarity.cor`: 200 movie-review sentences, 100 `__label__neg` then 100
  `__label__pos`, from Pang & Lee's sentence polarity data (encoded cp1252, not UTF-8).
"""

from __future__ import annotations

from ._wheels import member

__all__ = ["lee_background", "pang_lee_polarity"]

_DATA = "gensim/test/test_data/"
_LABELS = {"__label__neg": "negative", "__label__pos": "positive"}


def lee_background() -> list[str]:
    """The 300 Lee background news articles, one document each."""
    text = member("gensim", _DATA + "lee_background.cor").decode("utf-8")
    return [line for line in text.splitlines() if line.strip()]


def pang_lee_polarity() -> list[tuple[str, str]]:
    """(sentence, "negative" | "positive") for the 200 labelled review sentences."""
    out = []
    for line in member("gensim", _DATA + "pang_lee_polarity.cor").decode("cp1252").splitlines():
        tag, _, text = line.partition(" ")
        if tag in _LABELS and text.strip():
            out.append((text.strip(), _LABELS[tag]))
    return out
