"""What the plugin knows of Claude models: context windows, output limits, list prices.

llmkit's own price table (llmkit/data/openai_models.json, read by llmkit.tokens) covers
OpenAI models, and llmkit has no public hook through which a backend registers prices,
so a backend that knows prices fills in `Usage.cost` itself: this table is where this
plugin's come from. Prices are USD per million tokens, from Anthropic's public pricing
and model pages; they change, so the `prices` setting overrides them per client.

An id matches an entry exactly or as a dated snapshot of it (`claude-sonnet-4-5-20250929`
is `claude-sonnet-4-5`), never by a looser prefix: `claude-opus-4-7` must not be priced
as `claude-opus-4`. A model not listed has no price (cost None) and no known window.

Prompt caching is billed apart: writes to the 5-minute cache at 1.25 times the input
price, to the 1-hour cache at 2 times, reads at 0.1 times. Sonnet 4 and 4.5 bill a
request whose input passes 200k tokens (the 1M-token context, a beta) at higher prices.

    >>> info("claude-sonnet-4-5-20250929")["input"], info("claude-opus-4-7") is None
    (3.0, True)
    >>> round(cost("claude-haiku-4-5", input_tokens=1_000_000, output_tokens=100_000), 4)
    1.5
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

__all__ = ["AS_OF", "MODELS", "info", "cost", "CACHE_WRITE_5M", "CACHE_WRITE_1H", "CACHE_READ"]

AS_OF = "2026-06"
CACHE_WRITE_5M, CACHE_WRITE_1H, CACHE_READ = 1.25, 2.0, 0.1  # times the input price
_LONG_SONNET = {"above": 200_000, "input": 6.0, "output": 22.5}

# id -> context (tokens; None: not known here), max_output, input and output USD per 1M tokens
MODELS: dict[str, dict[str, Any]] = {
    "claude-opus-5-5":   {"context": 1_000_000, "max_output": 128_000, "input": 4.0,  "output": 20.0},
    "claude-sonnet-5-5": {"context": 1_000_000, "max_output": 128_000, "input": 2.0,  "output": 10.0},
    "claude-fable-5-1":  {"context": 1_000_000, "max_output": 128_000, "input": 10.0, "output": 50.0},
    "claude-opus-5":     {"context": 1_000_000, "max_output": 128_000, "input": 5.0,  "output": 25.0},
    "claude-sonnet-5":   {"context": 1_000_000, "max_output": 128_000, "input": 2.0,  "output": 10.0},
    "claude-opus-4-6":   {"context": None,      "max_output": 128_000, "input": 5.0,  "output": 25.0},
    "claude-sonnet-4-6": {"context": None,      "max_output": 64_000,  "input": 3.0,  "output": 15.0},
    "claude-opus-4-5":   {"context": 200_000,   "max_output": 64_000,  "input": 5.0,  "output": 25.0},
    "claude-haiku-4-5":  {"context": 200_000,   "max_output": 64_000,  "input": 1.0,  "output": 5.0},
    "claude-sonnet-4-5": {"context": 200_000,   "max_output": 64_000,  "input": 3.0,  "output": 15.0, "long": _LONG_SONNET},
    "claude-opus-4-1":   {"context": 200_000,   "max_output": 32_000,  "input": 15.0, "output": 75.0},
    "claude-opus-4":     {"context": 200_000,   "max_output": 32_000,  "input": 15.0, "output": 75.0},
    "claude-sonnet-4":   {"context": 200_000,   "max_output": 64_000,  "input": 3.0,  "output": 15.0, "long": _LONG_SONNET},
    "claude-3-7-sonnet": {"context": 200_000,   "max_output": 64_000,  "input": 3.0,  "output": 15.0},
    "claude-3-5-haiku":  {"context": 200_000,   "max_output": 8_192,   "input": 0.8,  "output": 4.0},
    "claude-3-haiku":    {"context": 200_000,   "max_output": 4_096,   "input": 0.25, "output": 1.25},
}  # fmt: skip
# the API's own aliases of a family
_ALIASES = {"claude-opus-4-0": "claude-opus-4", "claude-sonnet-4-0": "claude-sonnet-4",
            "claude-3-7-sonnet-latest": "claude-3-7-sonnet", "claude-3-5-haiku-latest": "claude-3-5-haiku"}  # fmt: skip
_SNAPSHOT = re.compile(r"(.+)-\d{8}")


def info(model: str) -> dict[str, Any] | None:
    """The table's entry for a model id, or None."""
    name = _ALIASES.get(model, model)
    if name in MODELS:
        return MODELS[name]
    dated = _SNAPSHOT.fullmatch(name)
    if dated:
        base = _ALIASES.get(dated.group(1), dated.group(1))
        return MODELS.get(base)
    return None


def cost(model: str, *, input_tokens: int, output_tokens: int, cache_write_5m: int = 0, cache_write_1h: int = 0,
         cache_read: int = 0, prices: Mapping[str, Any] | None = None) -> float | None:  # fmt: skip
    """US dollars for one request, or None when the model's price is not known.
    `input_tokens` are the uncached ones (Anthropic's usage.input_tokens); `prices`
    ({"input": ..., "output": ...} per 1M tokens) overrides the table."""
    entry = dict(prices) if prices else info(model)
    if entry is None:
        return None
    price_in, price_out = float(entry["input"]), float(entry["output"])
    long = entry.get("long")
    if long and input_tokens + cache_write_5m + cache_write_1h + cache_read > long["above"]:
        price_in, price_out = float(long["input"]), float(long["output"])
    billed_in = (input_tokens + cache_write_5m * CACHE_WRITE_5M + cache_write_1h * CACHE_WRITE_1H
                 + cache_read * CACHE_READ)  # fmt: skip
    return (billed_in * price_in + output_tokens * price_out) / 1_000_000
