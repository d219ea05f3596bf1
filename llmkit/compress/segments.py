"""Cutting the input into chunks: text the model codes, and bytes it does not.

1. Runs: the input is read as UTF-8 with every undecodable byte escaped; bytes that
   are not UTF-8, and control characters that text does not use (NUL, ...), make
   binary runs. A short text run between binary ones joins them: a binary file's
   stray ASCII is not worth a model chunk. A mostly-text file with one bad byte is
   text, one tiny binary run, text: it still compresses almost as well as without it.
2. Text runs are cut into pieces of at most `max_tokens` tokens, after a newline
   where there is one (a chunk then starts where a line starts, as in training), else
   before a space. Each piece is tokenized on its own, and a piece whose tokens do not
   detokenize to exactly its text (a normalising tokenizer) goes the byte path, so
   decoding can never give back other text than was coded.
3. Binary runs are cut into pieces of at most bytepath.MAX_PIECE bytes.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from .bytepath import MAX_PIECE

__all__ = ["Piece", "plan", "runs"]

MIN_TEXT_RUN = 64  # bytes: shorter text between binary runs is coded with them
_BINARY = re.compile("[\udc80-\udcff\x00-\x08\x0e-\x1a\x1c-\x1f\x7f]+")  # escaped bytes, control chars


@dataclass
class Piece:
    data: bytes
    tokens: list[int] | None  # None: the byte path


def runs(data: bytes) -> list[tuple[bool, str]]:
    """[(is_text, text with undecodable bytes escaped)], in order, covering `data`."""
    s = data.decode("utf-8", errors="surrogateescape")
    out: list[tuple[bool, str]] = []
    pos = 0
    for m in _BINARY.finditer(s):
        if m.start() > pos:
            out.append((True, s[pos : m.start()]))
        out.append((False, m.group()))
        pos = m.end()
    if pos < len(s):
        out.append((True, s[pos:]))
    merged: list[tuple[bool, str]] = []
    for i, (is_text, part) in enumerate(out):
        near_binary = (i > 0 and not out[i - 1][0]) or (i + 1 < len(out) and not out[i + 1][0])
        if is_text and near_binary and len(part.encode("utf-8")) < MIN_TEXT_RUN and len(out) > 1:
            is_text = False
        if merged and merged[-1][0] == is_text:
            merged[-1] = (is_text, merged[-1][1] + part)
        else:
            merged.append((is_text, part))
    return merged


def plan(data: bytes, tokenize: Callable[[str], list[int]], detokenize: Callable[[list[int]], str],
         max_tokens: int) -> list[Piece]:  # fmt: skip
    pieces: list[Piece] = []
    for is_text, part in runs(data):
        if not is_text:
            raw = part.encode("utf-8", errors="surrogateescape")
            pieces += [Piece(raw[i : i + MAX_PIECE], None) for i in range(0, len(raw), MAX_PIECE)]
            continue
        ratio = _chars_per_token(part, tokenize)
        for text in _cut(part, max(16, int(max_tokens * ratio * 0.9))):
            pieces += _tokenized(text, tokenize, detokenize, max_tokens)
    return pieces


def _chars_per_token(text: str, tokenize: Callable[[str], list[int]]) -> float:
    sample = text[:4000]
    return max(1.0, len(sample) / max(1, len(tokenize(sample))))


def _cut(text: str, target: int) -> list[str]:
    """Pieces of about `target` characters, cut after a newline, else before a space."""
    out, start = [], 0
    while len(text) - start > target:
        end = start + target
        cut = text.rfind("\n", start + target // 2, end)
        if cut >= 0:
            cut += 1
        else:
            cut = text.rfind(" ", start + target // 2, end)
            if cut <= start:
                cut = end
        out.append(text[start:cut])
        start = cut
    if start < len(text):
        out.append(text[start:])
    return out


def _tokenized(text: str, tokenize: Callable[[str], list[int]], detokenize: Callable[[list[int]], str],
               max_tokens: int) -> list[Piece]:  # fmt: skip
    """`text` as model pieces of at most max_tokens tokens that detokenize exactly; a
    piece that does not goes the byte path."""
    ids = tokenize(text)
    if len(ids) > max_tokens and len(text) > 1:
        halves = _cut(text, (len(text) + 1) // 2)
        if len(halves) == 1:  # no cut found within the text: halve it
            halves = [text[: len(text) // 2], text[len(text) // 2 :]]
        return [p for half in halves for p in _tokenized(half, tokenize, detokenize, max_tokens)]
    raw = text.encode("utf-8")
    if ids and len(ids) <= max_tokens and detokenize(ids) == text:
        return [Piece(raw, ids)]
    return [Piece(raw, None)]
