"""What the task commands (`llmkit complete`, `translate`, `qa`, `topics`, `summarize`,
`sentiment`, `extract`) share: the model option, reading files or stdin (size-capped,
text only), printing for people or `--json` for scripts."""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from typing import Any

from .ask import add_model_options, client_kwargs

__all__ = ["MAX_INPUT_BYTES", "add_task_options", "emit", "read_input", "read_inputs", "task_client"]

MAX_INPUT_BYTES = 20_000_000  # a task input past 20 MB is almost surely the wrong file


def add_task_options(p: argparse.ArgumentParser, *, json_help: str = "print the result as JSON") -> None:
    p.add_argument("-m", "--model", help="model id (default: see `llmkit models`)")
    add_model_options(p)
    p.add_argument("--json", action="store_true", help=json_help)


def task_client(args: argparse.Namespace) -> Any:
    """The Client for -m/--model and the model options."""
    from llmkit import Client

    return Client(args.model, **client_kwargs(args))


def read_input(path: str | None) -> str:
    """A text file's contents, or stdin for None or "-". A binary, unreadable or huge
    file is a UsageError saying which."""
    from llmkit.errors import UsageError

    if path in (None, "-"):
        if sys.stdin.isatty():
            raise UsageError("no input: give a file, or pipe the text in", hint="e.g. `cat notes.txt | llmkit ...`")
        data = sys.stdin.buffer.read(MAX_INPUT_BYTES + 1)
        name = "stdin"
    else:
        name = path
        try:
            with open(path, "rb") as f:
                data = f.read(MAX_INPUT_BYTES + 1)
        except IsADirectoryError:
            raise UsageError(f"{path} is a folder, not a file") from None
        except OSError as exc:
            raise UsageError(f"cannot read {path}: {exc.strerror or exc}") from None
    if len(data) > MAX_INPUT_BYTES:
        raise UsageError(f"{name} is larger than {MAX_INPUT_BYTES // 1_000_000} MB", hint="Split it first.")
    if b"\x00" in data[:8192]:
        raise UsageError(f"{name} looks binary (it holds NUL bytes)", hint="Give a text file.")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise UsageError(f"{name} is not UTF-8 text (byte {exc.start})", hint="Convert it to UTF-8 first.") from None


def read_inputs(paths: list[str]) -> list[tuple[str, str]]:
    """(name, text) for each path, or stdin alone when there are none."""
    if not paths:
        return [("stdin", read_input(None))]
    return [(p, read_input(p)) for p in paths]


def to_jsonable(value: Any) -> Any:
    """Dataclasses, pydantic models and errors as plain JSON values."""
    from llmkit.errors import LLMKitError

    if isinstance(value, LLMKitError):
        return {"error": value.one_line(), "type": type(value).__name__}
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if hasattr(value, "model_dump") and not isinstance(value, type):
        return value.model_dump(mode="json")
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_jsonable(v) for v in value]
    return value


def emit(args: argparse.Namespace, result: Any, human: str) -> None:
    """Print `result` as JSON with --json, else the human-readable text."""
    if getattr(args, "json", False):
        print(json.dumps(to_jsonable(result), ensure_ascii=False, indent=2))
    else:
        print(human)
