"""llmkit-tools: safe tools for llmkit agents.

    convert_units(value, from_unit, to_unit)     units through pint (temperatures right)
    date_tools                                   date_add, date_diff, date_info (ISO dates)
    SQLiteTools("data.db")                       list_tables, describe_table, query: read-only

Each is registered in the entry-point group `llmkit.tools` (convert_units, date_calc,
sqlite), so `llmkit.plugins.get_tool("sqlite", "data.db")` or `llmkit chat --tool
sqlite=data.db` finds it without importing this package first. The names below are
imported on first use, so importing the package costs nothing.

What a model sends is data: arguments are validated by llmkit before a tool runs, and a
tool refuses what it cannot do safely with a `ToolInputError`, whose message goes back
to the model so that it can correct its call.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_EXPORTS = {
    "ToolInputError": "llmkit_tools.refusals",
    "convert_units": "llmkit_tools.units",
    "date_tools": "llmkit_tools.dates",
    "DateTools": "llmkit_tools.dates",
    "SQLiteTools": "llmkit_tools.sql",
}

__all__ = sorted([*_EXPORTS, "__version__"])


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'llmkit_tools' has no attribute {name!r}")
    value = getattr(importlib.import_module(_EXPORTS[name]), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__


if TYPE_CHECKING:
    from .dates import DateTools, date_tools  # noqa: F401
    from .refusals import ToolInputError  # noqa: F401
    from .sql import SQLiteTools  # noqa: F401
    from .units import convert_units  # noqa: F401
