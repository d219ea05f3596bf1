"""What the tools refuse. A ToolInputError raised inside a tool goes back to the model as
the call's result ("the tool raised ToolInputError: ..."), so its message says what was
wrong and how to call the tool instead; it is a llmkit UsageError, so a program calling
the tool directly can catch it as one."""

from __future__ import annotations

import difflib
from collections.abc import Iterable

from llmkit.errors import UsageError

__all__ = ["ToolInputError", "close_matches"]


class ToolInputError(UsageError):
    """A tool call that cannot be done as asked (a bad unit, date or SQL statement)."""


def close_matches(word: str, candidates: Iterable[str], n: int = 5) -> list[str]:
    """Known names that look like `word` (case-insensitive first, then by similarity)."""
    pool = list(dict.fromkeys(candidates))
    lower: dict[str, str] = {}
    for c in pool:
        lower.setdefault(c.casefold(), c)
    out = [lower[word.casefold()]] if word.casefold() in lower and lower[word.casefold()] != word else []
    for match in difflib.get_close_matches(word.casefold(), list(lower), n=n, cutoff=0.6):
        if lower[match] not in out and lower[match] != word:
            out.append(lower[match])
    return out[:n]
