"""Generation options: one catalogue, checked before any request leaves the process.

Each backend says which of these it supports; `validate` rejects an unknown or
ill-typed option with a message that names the allowed ones (and the closest match).
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from .errors import InvalidOptionError

__all__ = ["CATALOGUE", "COMMON", "validate", "suggest", "stop_list"]

Check = Callable[[Any], bool]


def _number(lo: float | None = None, hi: float | None = None, *, above: float | None = None,
            infinite: bool = False) -> Check:  # fmt: skip
    def check(v: Any) -> bool:
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            return False
        if not math.isfinite(v) and not (infinite and v == math.inf):  # NaN passes no comparison; inf is no number
            return False
        return (lo is None or v >= lo) and (hi is None or v <= hi) and (above is None or v > above)

    return check


def _int(lo: int | None = None, hi: int | None = None) -> Check:
    return lambda v: isinstance(v, int) and not isinstance(v, bool) and (lo is None or v >= lo) and (hi is None or v <= hi)


def _stop(v: Any) -> bool:
    strings = [v] if isinstance(v, str) else v
    return isinstance(strings, (list, tuple)) and all(isinstance(s, str) and s for s in strings)


def _is(*types: type) -> Check:
    return lambda v: isinstance(v, types)


def _response_format(v: Any) -> bool:
    # a pydantic model *class*: an instance has the same methods but names no schema of its own
    return v == "json" or isinstance(v, Mapping) or (isinstance(v, type) and hasattr(v, "model_json_schema"))


def _tools(v: Any) -> bool:
    return isinstance(v, (list, tuple)) and all(callable(t) or isinstance(t, Mapping) for t in v)


# name -> (check, what it must be)
CATALOGUE: dict[str, tuple[Check, str]] = {
    "max_tokens": (_int(1), "an int >= 1"),
    "temperature": (_number(0, 2), "a number in [0, 2] (0 = greedy)"),
    "top_p": (_number(hi=1, above=0), "a number in (0, 1] (1 = off; for greedy use temperature=0)"),
    "top_k": (_int(1), "an int >= 1"),
    "stop": (_stop, "a non-empty string or a list of non-empty strings"),
    "seed": (_int(0, 2**63 - 1), "an int from 0 to 2**63 - 1"),
    "n": (_int(1), "an int >= 1"),
    "tools": (_tools, "a list of functions or OpenAI tool dicts"),
    "tool_choice": (_is(str, Mapping), "'auto', 'none', 'required', a tool name, or a dict"),
    "parallel_tool_calls": (_is(bool), "a bool"),
    "response_format": (_response_format, "'json', a JSON-schema dict, or a pydantic model class"),
    "presence_penalty": (_number(-2, 2), "a number in [-2, 2]"),
    "frequency_penalty": (_number(-2, 2), "a number in [-2, 2]"),
    "repetition_penalty": (_number(above=0), "a number > 0"),
    "logit_bias": (_is(Mapping), "a dict of token id -> bias"),
    "user": (_is(str), "a string"),
    "suffix": (_is(str), "a string (text after the insertion point)"),
    "timeout": (_number(above=0, infinite=True), "a number of seconds > 0 (a total limit; inf: none)"),
    "reasoning_effort": (_is(str), "'minimal', 'low', 'medium' or 'high'"),
    "extra_body": (_is(Mapping), "a dict merged into the request body"),
    "extra_headers": (_is(Mapping), "a dict of HTTP headers"),
    "dimensions": (_int(1), "an int >= 1 (length of the embedding vectors)"),
    "truncate": (lambda v: v in ("left", "right", None), "'left', 'right' or None"),
}

COMMON = frozenset({"max_tokens", "temperature", "top_p", "stop", "seed", "n"})


def suggest(name: str, candidates: Iterable[str]) -> str:
    close = difflib.get_close_matches(name, list(candidates), n=3, cutoff=0.6)
    return f" Did you mean {' or '.join(repr(c) for c in close)}?" if close else ""


def validate(options: Mapping[str, Any], allowed: Iterable[str], where: str) -> dict[str, Any]:
    """Return the options without None values, or raise InvalidOptionError. A known
    option set to None means "not given", even where the backend does not take it."""
    allowed = set(allowed)
    out: dict[str, Any] = {}
    for name, value in options.items():
        if value is None and name in CATALOGUE:
            continue
        if name not in allowed:
            known = ", ".join(sorted(allowed))
            raise InvalidOptionError(
                f"unknown option {name!r} for {where}.{suggest(name, allowed)}",
                hint=f"Allowed options: {known}.",
            )
        if value is None:
            continue
        check, expected = CATALOGUE.get(name, (lambda v: True, ""))
        if not check(value):
            raise InvalidOptionError(
                f"option {name}={value!r} is invalid for {where}: it must be {expected}.",
                hint=f"Allowed options: {', '.join(sorted(allowed))}.",
            )
        out[name] = value
    return out


def stop_list(stop: str | list[str] | None) -> list[str]:
    if not stop:
        return []
    return [stop] if isinstance(stop, str) else [s for s in stop if s]
