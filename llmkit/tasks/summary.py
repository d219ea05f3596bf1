"""Summaries of any length of text, each sentence traced back to the source.

Strategy, reported on the result (`strategy`, `chunks`, `rounds`):
- "single": the text fits one prompt (by the model's own token counts and context
  window, llmkit.tasks._text.budget): one request.
- "map-reduce": the text is cut into pieces that fit (paragraphs, then sentences,
  then words), each piece is summarised, the piece summaries are joined and
  summarised again, recursively, until one prompt holds them. A round that does not
  shrink the text is an error, never an endless loop.

Length: `words=N` (about N words) or `sentences=N`; neither: 3 sentences. Every
answer is checked: an empty one, or one longer than what it summarises, is re-asked
once, then a TaskError with the model's output.

Traceability (llmkit.tasks._trace): each summary sentence gets the span(s) of the
original text whose sentences share most of its content words, and `overlap`, the
fraction of its content words found there. A sentence with no word in common with
the source gets no span (`sources == []`): an unsupported sentence is shown as such.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from ..client import Client
from ..errors import LLMKitError, TaskError
from ..types import user
from ._core import Task, ask_parsed, failed, run_many, run_one, using
from ._text import budget, check_text, client_split
from ._trace import sentence_spans, trace

__all__ = ["Summary", "SummarySentence", "summarize", "summarize_batch"]

DEFAULT_SENTENCES = 3
_MAX_ROUNDS = 8
_PREAMBLE = re.compile(r"^\s*(?:\*\*)?(?:(?:here is|here's)\b[^\n:]*:|summary\s*:)(?:\*\*)?\s*", re.I)


@dataclass
class SummarySentence:
    """One sentence of the summary (`text == Summary.text[start:end]`), the spans
    `(start, end)` of the source it most overlaps with, and how much of it they hold."""

    text: str
    start: int
    end: int
    sources: list[tuple[int, int]] = field(default_factory=list)
    overlap: float = 0.0


@dataclass
class Summary:
    """A summary, its sentences traced to the source, and how it was made."""

    text: str
    sentences: list[SummarySentence]
    strategy: str
    chunks: int
    rounds: int

    @property
    def words(self) -> int:
        return len(self.text.split())

    @property
    def untraced(self) -> list[SummarySentence]:
        """Sentences that share no content word with the source."""
        return [s for s in self.sentences if not s.sources]


def summarize(
    text: str, words: int | None = None, sentences: int | None = None, model: Client | str | None = None
) -> Summary:
    """A summary of `text` of about `words` words or `sentences` sentences (default
    3 sentences); long texts are summarised by map-reduce. A TaskError when the
    model's answer stays empty or too long."""
    target = _Target(words, sentences)
    return using(model, lambda client: run_one(_summarize(client, text, target), client))


def summarize_batch(
    texts: Sequence[str],
    words: int | None = None,
    sentences: int | None = None,
    model: Client | str | None = None,
    *,
    concurrency: int = 8,
    progress: bool | None = None,
) -> list[Summary | LLMKitError]:
    """Summaries of several texts, in order; a failed item holds its TaskError."""
    if isinstance(texts, str):
        raise TaskError("summarize_batch takes a list of texts", hint="Use summarize() for one text.")
    target = _Target(words, sentences)
    items = list(texts)

    def work(client: Client) -> list[Any]:
        tasks = [_summarize(client, t, target) for t in items]
        return run_many(tasks, client, concurrency=concurrency, progress=progress, label="summaries")

    return using(model, work)


class _Target:
    """The length asked for, as words in a prompt and tokens to allow."""

    def __init__(self, words: int | None, sentences: int | None) -> None:
        if words is not None and sentences is not None:
            raise TaskError("give words= or sentences=, not both")
        for name, value in (("words", words), ("sentences", sentences)):
            if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
                raise TaskError(f"{name}= must be a positive whole number, not {value!r}")
        self.words = words
        self.sentences = sentences if sentences is not None or words is not None else DEFAULT_SENTENCES

    def phrase(self) -> str:
        if self.words is not None:
            return f"in about {self.words} words"
        return "in one sentence" if self.sentences == 1 else f"in {self.sentences} sentences"

    def max_tokens(self) -> int:
        # room to finish a sentence; small models' tokenizers take 1.3-2 tokens a word
        return 2 * self.words + 24 if self.words is not None else 48 * (self.sentences or 1) + 16


def _prompt(text: str, target: _Target, part: bool) -> str:
    what = "this part of a longer text" if part else "the following text"
    return f"Summarize {what} {target.phrase()}. Write only the summary.\n\nText:\n{text}"


def _summarize(client: Client, text: str, target: _Target) -> Task[Summary]:
    source = check_text(text)
    options = {"temperature": 0, "max_tokens": target.max_tokens()}
    overhead = int(client.count_tokens([user(_prompt("", target, part=True))]))
    room = budget(client, reserve=overhead + target.max_tokens() + 8)
    current, rounds, chunks = source, 0, 1
    while True:
        pieces = client_split(client, current, room)
        rounds += 1
        if len(pieces) == 1:
            summary = yield from _ask(pieces[0].text, target, options, part=False)
            break
        if rounds == 1:
            chunks = len(pieces)
        if rounds >= _MAX_ROUNDS:
            raise failed(f"summary: still {len(pieces)} pieces after {rounds - 1} rounds of map-reduce",
                         hint="Ask for a shorter summary (words=/sentences=) or use a model with a larger "
                              "context window.")  # fmt: skip
        partial = []
        for piece in pieces:
            if target.words is not None and len(piece.text.split()) <= target.words:
                partial.append(piece.text.strip())  # already as short as asked: kept as it is
            else:
                partial.append((yield from _ask(piece.text, target, options, part=True)))
        joined = "\n\n".join(partial)
        if int(client.count_tokens(joined)) >= int(client.count_tokens(current)):
            raise failed("summary: the pieces' summaries are no shorter than the pieces, so map-reduce cannot "
                         "finish", hint="Ask for a shorter summary, or use a larger model.", output=joined)  # fmt: skip
        current = joined
    return Summary(summary, _traced(summary, source), "single" if rounds == 1 else "map-reduce", chunks, rounds)


def _ask(text: str, target: _Target, options: dict[str, Any], *, part: bool) -> Task[str]:
    limit = len(text.split())
    return (yield from ask_parsed(_prompt(text, target, part), lambda reply: _checked(reply, limit), options,
                                  "summary"))  # fmt: skip


def _checked(reply: str, limit: int) -> str:
    """The summary in a reply (a leading "Summary:" or "Here is ...:" dropped), or
    ValueError when it is empty or longer than its source."""
    text = _PREAMBLE.sub("", reply.strip(), count=1).strip()
    if not text:
        raise ValueError("the summary is empty")
    if len(text.split()) > limit:
        raise ValueError(f"the summary ({len(text.split())} words) is longer than the text ({limit} words)")
    return text


def _traced(summary: str, source: str) -> list[SummarySentence]:
    spans = sentence_spans(source)
    out = []
    for start, end in sentence_spans(summary):
        sources, overlap = trace(summary[start:end], source, spans)
        out.append(SummarySentence(summary[start:end], start, end, sources, overlap))
    return out
