"""Answer spans inside a passage: words with their offsets, aligning a model's free
answer to the passage text it most likely means, and short candidate spans.

A small model asked a question answers in a sentence ("The Norse leader was Rollo."),
often with words of the question in it. Aligning takes the words of the answer that
the question does not already hold ("Rollo") and finds the passage span with the best
token F1 against them (SQuAD's own measure), preferring the shorter span on a tie. The
span's text is the passage's own characters, so a citation built from it is always
verifiable; how well it matched (`overlap`) is kept, since a free answer that matches
nothing in the passage is the model answering from elsewhere.
"""

from __future__ import annotations

import re
import string
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

from ._retrieval import STOP_WORDS, stem

__all__ = ["Span", "align", "first_clause", "norm_words", "overlap", "question_words", "trim", "words"]

# a word, keeping "1,000", "U.S", "Norman-French", "Rollo's" whole
_WORD = re.compile(r"[^\W_]+(?:[.,'\u2019\-][^\W_]+)*", re.UNICODE)
_ARTICLES = frozenset({"a", "an", "the"})
_PUNCTUATION = str.maketrans("", "", string.punctuation + "\u2019\u2018\u201c\u201d")
# words of a small model's preamble ("The answer to the question is: ...")
_META = frozenset({"answer", "question", "context", "text", "passage", "mentioned", "unclear", "according"})
_PREAMBLE = re.compile(r"^[^:\n]{0,40}\b(?:answer|question)\b[^:\n]{0,30}:\s*", re.IGNORECASE)
# where a one-phrase answer goes on to say more: ", who ...", " which ...", "; ...", " (...)"
_CLAUSE = re.compile(
    r",\s+(?:who|which|whose|where|when|a|an|the|but|while|as|also|known|led)\b|\s+(?:who|which|whose)\s|;|\s+\(",
    re.IGNORECASE,
)
_LONGEST = 12  # words in a span: SQuAD answers are short (95% under 10 words)


@dataclass(frozen=True)
class Span:
    """`text == source[start:end]`; `overlap` is its token F1 against what it was aligned to."""

    start: int
    end: int
    text: str
    overlap: float = 1.0


def words(text: str) -> list[tuple[int, int]]:
    """(start, end) of each word of `text`."""
    return [(m.start(), m.end()) for m in _WORD.finditer(text)]


def _norm(word: str) -> str:
    word = word.lower()
    if word.endswith(("'s", "\u2019s")):  # "Rollo's" is Rollo
        word = word[:-2]
    return word.translate(_PUNCTUATION)


def norm_words(text: str) -> list[str]:
    """The words of `text` as SQuAD compares them: lower case, no punctuation, no articles."""
    out = [_norm(text[a:b]) for a, b in words(text)]
    return [w for w in out if w and w not in _ARTICLES]


def question_words(question: str) -> set[str]:
    """Stems of the question's words (stop words included: "was", "did" are no answer)."""
    return {stem(w) for w in norm_words(question)}


def overlap(a: list[str], b: list[str]) -> float:
    """Token F1 of two word lists (SQuAD's F1)."""
    if not a or not b:
        return float(a == b)
    same = sum((Counter(a) & Counter(b)).values())
    if not same:
        return 0.0
    precision, recall = same / len(a), same / len(b)
    return 2 * precision * recall / (precision + recall)


def _keeper(tokens: list[str], asked: set[str]) -> Callable[[str], bool]:
    """Which words count when comparing with `tokens` (an answer): its content words
    that the question does not hold; failing those, any word the question does not
    hold; failing those, every word."""
    tests: list[Callable[[str], bool]] = [
        lambda w: w not in STOP_WORDS and w not in _META and stem(w) not in asked,
        lambda w: stem(w) not in asked,
        lambda w: True,
    ]
    return next((t for t in tests if any(t(w) for w in tokens)), tests[-1])


def align(answer: str, text: str, question: str = "", within: tuple[int, int] | None = None) -> Span | None:
    """The span of `text` (inside `within`, a (start, end) range, if given) that best
    matches the free `answer`, by token F1 on the answer's content words that the
    question does not hold; None when no such word of the answer is in the text.
    Shorter spans win ties, then those with words the answer says later (its
    subject tends to come first), then earlier ones."""
    tokens = norm_words(answer)
    if not tokens:
        return None
    keep = _keeper(tokens, question_words(question))
    target = [w for w in tokens if keep(w)]
    lo, hi = within or (0, len(text))
    spans = [(a, b) for a, b in words(text) if a >= lo and b <= hi]
    normed = [_norm(text[a:b]) for a, b in spans]
    useful = set(target)  # a span starts and ends on a word that counts: others only lower the F1
    # on a tie, the words said last: "Normandy is in France" answers with France
    last = {w: i for i, w in enumerate(target)}
    best: tuple[float, int, int, int, int] | None = None  # (f1, -length, said last, -start, end index)
    longest = min(_LONGEST, len(target) + 4)
    for i, first in enumerate(normed):
        if first not in useful:
            continue
        for j in range(i, min(len(normed), i + longest)):
            if normed[j] not in useful:
                continue
            chunk = [w for w in normed[i : j + 1] if w and w not in _ARTICLES and keep(w)]
            key = (overlap(chunk, target), -(j - i), max(last.get(w, -1) for w in chunk), -i, j)
            if best is None or key > best:
                best = key
    if best is None:
        return None
    f1, _, _, minus_i, j = best
    start, end = spans[-minus_i][0], spans[j][1]  # minus_i is -(index of the first word)
    return Span(start, end, text[start:end], round(f1, 4))


def first_clause(answer: str) -> str:
    """A free answer without a preamble ("The answer is: ...") and cut before the
    clause that goes on after the answer ("Rollo, a Danish pirate who ...")."""
    answer = _PREAMBLE.sub("", answer.strip(), count=1)
    cut = _CLAUSE.search(answer)
    return answer[: cut.start()] if cut and cut.start() > 0 else answer


def trim(span: Span, source: str, question: str = "") -> Span:
    """`span` without leading or trailing articles, stop words and question words, and
    without its outer punctuation; unchanged when nothing would be left."""
    asked = question_words(question)
    inner = [(a, b) for a, b in words(source) if a >= span.start and b <= span.end]

    def keep(pair: tuple[int, int]) -> bool:
        w = _norm(source[pair[0] : pair[1]])
        return bool(w) and w not in _ARTICLES and w not in STOP_WORDS and stem(w) not in asked

    while inner and not keep(inner[0]):
        inner.pop(0)
    while inner and not keep(inner[-1]):
        inner.pop()
    if not inner:
        return span
    start, end = inner[0][0], inner[-1][1]
    return Span(start, end, source[start:end], span.overlap)
