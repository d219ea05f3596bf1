"""Safe tools that ship with llmkit (`llmkit chat --tools`, or `Agent(tools=[...])`).

    calculate("2 ** 10 + sqrt(16)")        arithmetic, parsed (never evaluated as code)
    now("Europe/Oslo")                     the date and time, in a time zone
    Files("~/notes")                       read_file, list_files, search_files (literal text): under that folder only

Nothing a model sends is run as code. `calculate` walks the parsed expression and allows
numbers, + - * / // % **, parentheses and a few math functions, with limits on exponents
and sizes. `Files` resolves every path (symlinks included) and refuses any that lands
outside its root, so `..`, absolute paths and links cannot leave it; it only reads.
"""

from __future__ import annotations

import ast
import datetime as _dt
import math
import operator
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .. import plugins as _plugins
from ..tools import tool

__all__ = ["calculate", "now", "Files", "default_tools", "ToolInputError"]


class ToolInputError(ValueError):
    """What a built-in tool refuses; its message goes back to the model."""


_BINARY: dict[type, Callable[[Any, Any], Any]] = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv,
           ast.FloorDiv: operator.floordiv, ast.Mod: operator.mod, ast.Pow: operator.pow}  # fmt: skip
_UNARY: dict[type, Callable[[Any], Any]] = {ast.UAdd: operator.pos, ast.USub: operator.neg}
_FUNCTIONS: dict[str, Callable[..., Any]] = {"sqrt": math.sqrt, "abs": abs, "round": round, "min": min, "max": max, "log": math.log,
              "exp": math.exp, "sin": math.sin, "cos": math.cos, "tan": math.tan, "floor": math.floor,
              "ceil": math.ceil}  # fmt: skip
_CONSTANTS = {"pi": math.pi, "e": math.e}
MAX_EXPONENT = 1000
MAX_DIGITS = 100


@tool
def calculate(expression: str) -> int | float:
    """Evaluate an arithmetic expression, e.g. "(2 + 3) * 4" or "sqrt(2) ** 3"."""
    if len(expression) > 500:
        raise ToolInputError("the expression is longer than 500 characters")
    try:
        tree = ast.parse(expression.strip(), mode="eval")
    except SyntaxError:
        raise ToolInputError(f"not an arithmetic expression: {expression!r}") from None
    return _value(tree.body)


def _value(node: ast.AST) -> Any:
    if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)) and not isinstance(node.value, bool):
        return node.value
    if isinstance(node, ast.Name) and node.id in _CONSTANTS:
        return _CONSTANTS[node.id]
    if isinstance(node, ast.UnaryOp) and type(node.op) in _UNARY:
        return _UNARY[type(node.op)](_value(node.operand))
    if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
        left, right = _value(node.left), _value(node.right)
        if isinstance(node.op, ast.Pow) and abs(right) > MAX_EXPONENT:
            raise ToolInputError(f"exponent {right} is too large (at most {MAX_EXPONENT})")
        try:
            result = _BINARY[type(node.op)](left, right)
        except ZeroDivisionError:
            raise ToolInputError("division by zero") from None
        if isinstance(result, int) and abs(result) >= 10**MAX_DIGITS:
            raise ToolInputError(f"the result has more than {MAX_DIGITS} digits")
        return result
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in _FUNCTIONS and not node.keywords:
        try:
            return _FUNCTIONS[node.func.id](*(_value(a) for a in node.args))
        except (ValueError, TypeError, OverflowError) as exc:
            raise ToolInputError(f"{node.func.id}(): {exc}") from None
    raise ToolInputError(f"not allowed in an arithmetic expression: {ast.unparse(node)!r}")


@tool
def now(timezone: str | None = None) -> str:
    """The current date and time (ISO 8601), in a time zone such as "Europe/Oslo" (default: UTC)."""
    if timezone:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            zone: _dt.tzinfo = ZoneInfo(timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise ToolInputError(f"unknown time zone {timezone!r} (use a name like Europe/Oslo)") from None
    else:
        zone = _dt.timezone.utc
    return _dt.datetime.now(zone).isoformat(timespec="seconds")


class Files:
    """Read-only tools over one folder: nothing outside `root` can be read or listed."""

    MAX_READ = 100_000  # bytes of one file handed to a model
    MAX_MATCHES = 50
    MAX_SEARCHED_FILES = 2_000  # a search stops after this many files ...
    MAX_SEARCHED_BYTES = 20_000_000  # ... or this many bytes read, and says so
    MAX_SEARCHED_FILE = 1_000_000  # bigger files are skipped by search

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root).expanduser().resolve()
        if not self.root.is_dir():
            raise ToolInputError(f"{root} is not a folder")

    def _inside(self, path: str) -> Path:
        target = (self.root / path).resolve()  # resolves `..` and every symlink on the way
        if target != self.root and not target.is_relative_to(self.root):
            raise ToolInputError(f"{path!r} is outside the folder these tools may read")
        return target

    def read_file(self, path: str) -> str:
        """The text of a file (a path relative to the folder)."""
        target = self._inside(path)
        if not target.is_file():
            raise ToolInputError(f"no such file: {path}")
        with target.open("rb") as f:  # never more than MAX_READ bytes, however big the file
            data = f.read(self.MAX_READ + 1)
        if b"\0" in data[:4096]:
            raise ToolInputError(f"{path} is a binary file")
        if len(data) <= self.MAX_READ:
            return data.decode("utf-8", errors="replace")
        # "ignore" drops only a character split by the cut
        text = data[: self.MAX_READ].decode("utf-8", errors="ignore")
        return text + f"\n[... cut at {self.MAX_READ} bytes of {target.stat().st_size}]"

    def list_files(self, path: str = ".") -> list[str]:
        """The files and folders in a folder (relative paths; folders end with /)."""
        target = self._inside(path)
        if not target.is_dir():
            raise ToolInputError(f"no such folder: {path}")
        entries = []
        for entry in sorted(target.iterdir()):
            try:
                self._inside(str(entry.relative_to(self.root)))  # a link that leaves the folder is not shown
            except ToolInputError:
                continue
            entries.append(str(entry.relative_to(self.root)) + ("/" if entry.is_dir() else ""))
        return entries

    def search_files(self, text: str, path: str = ".") -> list[str]:
        """Lines containing some text (any case) in the files under a folder, as "file:line: text"."""
        if not text:
            raise ToolInputError("give some text to search for")
        # Literal, not a regular expression: a model's pattern cannot stall the search.
        needle = text.casefold()
        start = self._inside(path)
        if not start.is_dir():
            raise ToolInputError(f"no such folder: {path}")
        matches: list[str] = []
        files = read = 0
        for folder, dirs, names in os.walk(start):  # does not follow links to folders
            dirs.sort()
            for name in sorted(names):
                if files >= self.MAX_SEARCHED_FILES or read >= self.MAX_SEARCHED_BYTES:
                    return matches + [f"[search stopped after {files} files; search a smaller folder]"]
                try:
                    inside = self._inside(str((Path(folder) / name).relative_to(self.root)))
                    if not inside.is_file() or inside.stat().st_size > self.MAX_SEARCHED_FILE:
                        continue
                    data = inside.read_bytes()
                except (ToolInputError, OSError):
                    continue
                files += 1
                read += len(data)
                if b"\0" in data[:4096]:
                    continue  # binary
                shown = (Path(folder) / name).relative_to(self.root)
                for number, line in enumerate(data.decode("utf-8", errors="replace").splitlines(), 1):
                    if needle in line.casefold():
                        matches.append(f"{shown}:{number}: {line.strip()[:200]}")
                        if len(matches) >= self.MAX_MATCHES:
                            return matches
        return matches


def default_tools(root: str | Path | None = None) -> list[Any]:
    """The built-in tools: calculate and now, and file tools when given a root folder."""
    tools: list[Any] = [calculate, now]
    if root is not None:
        tools.append(Files(root))
    return tools


# the same names through llmkit.plugins (`llmkit chat --tool calculate`, `--tool files=~/notes`):
# they are llmkit's, so a plugin tool of the same name is reported and ignored
_plugins.add_builtin("tool", {"calculate": calculate, "now": now, "files": Files})
