"""Fitting the code around a cursor into a context window: the end of the prefix and
the start of the suffix, in whole lines, as many as `room` tokens hold by the model's
own count. A prompt that starts at a line start never starts mid-token; only a single
line longer than the whole room is cut, at spaces, keeping the words nearest the cursor.
"""

from __future__ import annotations

from typing import Any

__all__ = ["fit_context", "fit_prefix", "fit_suffix"]

_CHARS_PER_TOKEN = 16  # no tokenizer packs more on average: longer texts are cut before counting


def fit_prefix(prefix: str, room: int, count: Any) -> str:
    """The end of `prefix` in whole lines (the cursor's line at least) within `room`
    tokens; a cursor line longer than that alone keeps its last words."""
    cut = max(0, len(prefix) - _CHARS_PER_TOKEN * room)  # more than this many characters cannot fit
    if not cut and count(prefix) <= room:
        return prefix
    lines = prefix[cut:].split("\n")
    if cut and len(lines) > 1:
        lines = lines[1:]  # the first one starts mid-line
    if count(lines[-1]) > room:
        words = lines[-1].split(" ")
        k = _largest(len(words), lambda k: count(" ".join(words[-k:])) <= room)
        return " ".join(words[-k:]) if k else ""
    k = _largest(len(lines), lambda k: count("\n".join(lines[-k:])) <= room)
    return "\n".join(lines[-k:])


def fit_suffix(suffix: str, room: int, count: Any) -> str:
    """The start of `suffix` in whole lines within `room` tokens (the first line's
    first words when even that line is too long)."""
    limit = _CHARS_PER_TOKEN * room
    if len(suffix) <= limit and count(suffix) <= room:
        return suffix
    lines = suffix[:limit].split("\n")
    if len(suffix) > limit and len(lines) > 1:
        lines = lines[:-1]  # the last one ends mid-line
    k = _largest(len(lines), lambda k: count("\n".join(lines[:k])) <= room)
    if k == 0:
        words = lines[0].split(" ")
        n = _largest(len(words), lambda n: count(" ".join(words[:n])) <= room)
        return " ".join(words[:n])
    return "\n".join(lines[:k])


def fit_context(prefix: str, suffix: str, room: int, count: Any) -> tuple[str, str]:
    """The nearest context within `room` tokens: the end of the prefix (at least three
    quarters of the room, or all it needs) and the start of the suffix, in whole lines."""
    limit = _CHARS_PER_TOKEN * room
    need_pre, need_suf = count(prefix[-limit:]), count(suffix[:limit])
    if need_pre + need_suf <= room and len(prefix) <= limit and len(suffix) <= limit:
        return prefix, suffix
    suffix_room = min(need_suf, room - min(need_pre, room * 3 // 4))
    before = fit_prefix(prefix, room - suffix_room, count)
    return before, fit_suffix(suffix, room - count(before), count)


def _largest(n: int, fits: Any) -> int:
    """The largest k in 0..n with fits(k) (fits is monotone: true, then false)."""
    lo, hi = 0, n
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if fits(mid):
            lo = mid
        else:
            hi = mid - 1
    return lo
