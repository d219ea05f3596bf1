"""Text handling the tasks share: checking inputs, and splitting long ones by the
model's own token counts (`Client.count_tokens`) and context window, never by a guessed
number of characters.

Splitting keeps paragraphs whole where they fit, then sentences, then words, and
returns each piece with its character offset in the original text, so that results
(citations, summary sentences) can point back into the source.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from ..client import Client
from ..errors import TaskError

__all__ = ["Piece", "budget", "check_text", "client_split", "split"]

_PARAGRAPH = re.compile(r"\n\s*\n")
_SENTENCE = re.compile(r"(?<=[.!?])\s+(?=\S)")
_WORD = re.compile(r"\s+")

# what a model needs beside the text in a task prompt, when its window is small
_DEFAULT_RESERVE = 256


@dataclass(frozen=True)
class Piece:
    """A part of a text and where it starts in it (`text == source[start:start+len(text)]`)."""

    text: str
    start: int

    @property
    def end(self) -> int:
        return self.start + len(self.text)


def check_text(text: object, what: str = "text") -> str:
    """The text, or a clear TaskError for empty, non-string or binary input."""
    if isinstance(text, bytes):
        raise TaskError(f"the {what} is bytes, not text", hint="Decode it first (e.g. data.decode('utf-8')).")
    if not isinstance(text, str):
        raise TaskError(f"the {what} must be a string, not {type(text).__name__}")
    if "\x00" in text:
        raise TaskError(f"the {what} looks binary (it holds NUL bytes)", hint="Give a text file, not a binary one.")
    if not text.strip():
        raise TaskError(f"the {what} is empty", hint="Give some text to work on.")
    return text


def budget(client: Client, reserve: int = _DEFAULT_RESERVE, cap: int = 2048) -> int:
    """Tokens of input text a task can put into one prompt for this model: its context
    window less `reserve` (instructions and the answer), at most `cap` (long prompts
    make small models worse and every model slower)."""
    window = client.context_window()
    if window is None:
        return cap
    room = min(cap, window - reserve)
    if room < 16:
        raise TaskError(
            f"{client.model}'s context window ({window} tokens) leaves no room for the text "
            f"beside the task's {reserve} tokens of instructions and answer",
            hint="Use a model with a larger context window.",
        )
    return room


def split(text: str, max_tokens: int, count: Callable[[str], int]) -> list[Piece]:
    """`text` in pieces of at most `max_tokens` tokens by `count`, in order, cut at
    paragraph breaks where possible, then sentences, then words (a single word longer
    than the budget is cut by characters)."""
    if count(text) <= max_tokens:
        return [Piece(text, 0)]
    pieces: list[Piece] = []
    for level in (_PARAGRAPH, _SENTENCE, _WORD, None):
        parts = _parts(text, level)
        if len(parts) > 1 or level is None:
            break
    current: Piece | None = None
    for part in parts:
        if count(part.text) > max_tokens:
            if current is not None:
                pieces.append(current)
                current = None
            inner = split(part.text, max_tokens, count) if level is not None else _by_chars(part.text, max_tokens, count)
            pieces.extend(Piece(p.text, part.start + p.start) for p in inner)
            continue
        if current is None:
            current = part
            continue
        joined = Piece(text[current.start : part.end], current.start)
        if count(joined.text) <= max_tokens:
            current = joined
        else:
            pieces.append(current)
            current = part
    if current is not None:
        pieces.append(current)
    return pieces


def client_split(client: Client, text: str, max_tokens: int) -> list[Piece]:
    """`split` with the model's own token counts."""
    return split(text, max_tokens, lambda t: int(client.count_tokens(t)))


def _parts(text: str, separator: re.Pattern[str] | None) -> list[Piece]:
    if separator is None:
        return [Piece(text, 0)]
    parts, start = [], 0
    for m in separator.finditer(text):
        if m.start() > start:
            parts.append(Piece(text[start : m.start()], start))
        start = m.end()
    if start < len(text):
        parts.append(Piece(text[start:], start))
    return parts


def _by_chars(text: str, max_tokens: int, count: Callable[[str], int]) -> list[Piece]:
    pieces, start = [], 0
    while start < len(text):
        lo, hi = start + 1, len(text)
        while lo < hi:  # the longest prefix that fits
            mid = (lo + hi + 1) // 2
            if count(text[start:mid]) <= max_tokens:
                lo = mid
            else:
                hi = mid - 1
        pieces.append(Piece(text[start:lo], start))
        start = lo
    return pieces
