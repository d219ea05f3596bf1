"""Task modules: the everyday jobs of a language model, each a small typed function on
the public `Client` that works on every backend and says which strategy it used.

    >>> from llmkit import tasks
    >>> tasks.extract_topics(["cats purr", "dogs bark"] * 3, k=2).topics  # doctest: +SKIP

Each task takes the model as `model=` (a `Client`, an id such as "mini" or
"hf:PATH", or None for the default model) and returns a dataclass. Its batch form
(`*_batch`) takes a list and returns a list in the same order, where an item that
failed holds its `llmkit.TaskError` instead of a result.

Imported lazily: `from llmkit import tasks` loads nothing heavy until a task runs.
"""

from __future__ import annotations

import importlib
from typing import Any

# public name -> module that defines it
_EXPORTS = {
    "complete_code": "code", "complete_code_batch": "code", "CodeCompletion": "code",
    "generate_code": "code", "generate_code_batch": "code", "translate_code": "code", "CodeResult": "code", "CodeCheck": "code",
    "translate": "translation", "translate_batch": "translation", "Translation": "translation",
    "language_name": "translation",
    "answer": "qa", "answer_batch": "qa", "Answer": "qa", "Citation": "qa",
    "extract_topics": "topics", "Topics": "topics", "Topic": "topics",
    "summarize": "summary", "summarize_batch": "summary", "Summary": "summary",
    "sentiment": "sentiments", "Sentiment": "sentiments",
    "extract": "extraction", "extract_batch": "extraction", "Extraction": "extraction",
}  # fmt: skip

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'llmkit.tasks' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"llmkit.tasks.{_EXPORTS[name]}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__
