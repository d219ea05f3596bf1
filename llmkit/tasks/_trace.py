"""Pointing generated text back into its source: sentence spans and word overlap.

A summary sentence is traced to the source sentences that share most of its content
words (lower-cased words less a short stop list, plurals folded: a ROUGE-1-like
recall of the summary sentence against each source sentence). The best one is taken,
then more while each adds at least two new words of the sentence, at most three in
all. A sentence that shares no content word with the source gets no span: it is not
claimed to come from anywhere.
"""

from __future__ import annotations

import re

__all__ = ["content_words", "sentence_spans", "trace"]

_SENTENCE_END = re.compile(r"(?<=[.!?])\s+|\n\s*")
_WORD = re.compile(r"\w+")
_STOP = frozenset(
    "a an and are as at be been but by can could did do does for from had has have he her his i if in into is it "
    "its itself me my no not of on or our she so than that the their them then there these they this those to "
    "too was we were what when where which while who will with would you your also very just about after before "
    "over under more most some such only own same other".split()
)  # fmt: skip
_MAX_SOURCES = 3


def sentence_spans(text: str) -> list[tuple[int, int]]:
    """(start, end) of each sentence or line of `text`, surrounding spaces left out."""
    spans, start = [], 0
    for m in [*_SENTENCE_END.finditer(text), None]:
        end = m.start() if m is not None else len(text)
        piece = text[start:end]
        if piece.strip():
            lead = len(piece) - len(piece.lstrip())
            spans.append((start + lead, start + len(piece.rstrip())))
        if m is not None:
            start = m.end()
    return spans


def content_words(text: str) -> set[str]:
    """The words of `text` that carry meaning, lower-cased, plural -s folded."""
    out = set()
    for w in _WORD.findall(text.lower()):
        if w in _STOP or (len(w) < 2 and not w.isdigit()):
            continue
        out.add(w[:-1] if len(w) > 3 and w.endswith("s") and not w.endswith("ss") else w)
    return out


def trace(
    sentence: str, source: str, spans: list[tuple[int, int]] | None = None
) -> tuple[list[tuple[int, int]], float]:
    """The source spans `sentence` most overlaps with (in source order), and the
    fraction of its content words they hold (0.0 and no spans when it shares none)."""
    spans = sentence_spans(source) if spans is None else spans
    wanted = content_words(sentence)
    if not wanted:
        return [], 0.0
    words = [content_words(source[s:e]) for s, e in spans]
    chosen: list[int] = []
    covered: set[str] = set()
    while len(chosen) < _MAX_SOURCES:
        gains = [(len((w & wanted) - covered), -i) for i, w in enumerate(words) if i not in chosen]
        if not gains:
            break
        gain, neg_i = max(gains)
        if gain == 0 or (chosen and gain < 2):
            break
        chosen.append(-neg_i)
        covered |= words[-neg_i] & wanted
    return [spans[i] for i in sorted(chosen)], round(len(covered) / len(wanted), 3)
