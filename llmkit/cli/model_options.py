"""`llmkit models options`: default options per model, applied by `llmkit ask` and
`llmkit chat` whenever that model is used.

    llmkit models options set mini temperature 0      VALUE is read as JSON when it parses
    llmkit models options list [MODEL]
    llmkit models options clear MODEL [NAME]          one option, or all of the model's

Stored in $LLMKIT_HOME/model_options.json under the model's full id (an alias names the
model it points at, so `fast` and `openai:gpt-4o-mini` share them). What is given for
one run wins: `-t`, `--max-tokens` and `-o` over a template's options, and those over
these defaults.

Design: the CLI applies them, not `llmkit.Client`: a program's behaviour should not
depend on a file in its user's home (a script that wants the same passes the options
itself: `Client("mini", temperature=0)`). Only generation options can be set (no
backend settings such as base_url, and nothing that looks like a credential), each
checked against what the model takes when it is set.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

__all__ = ["add_arguments", "run", "path", "defaults_for", "model_key"]

MAX_BYTES = 1_000_000


def path() -> Path:
    from llmkit.config import home

    return home() / "model_options.json"


def model_key(model: str) -> str:
    """The id options are stored under: the alias resolved, the provider spelled out."""
    from llmkit import registry

    return registry.resolve(model).model_id


def _read() -> dict[str, dict[str, Any]]:
    from llmkit.errors import ConfigurationError
    from llmkit.userfiles import read_capped

    p = path()
    if not p.exists():
        return {}
    fix = "Fix or remove it (`llmkit models options clear MODEL` rewrites it)."
    try:
        data = json.loads(read_capped(p, MAX_BYTES, "the model options file").decode("utf-8"))
    except (ValueError, OSError) as exc:
        raise ConfigurationError(f"cannot read {p}: {exc}", hint=fix) from None
    if not isinstance(data, dict) or not all(isinstance(v, dict) for v in data.values()):
        raise ConfigurationError(f"{p} must map model ids to objects of options", hint=fix)
    return data


def _write(data: dict[str, dict[str, Any]]) -> None:
    from llmkit.atomic import write_text_atomic

    write_text_atomic(path(), json.dumps({k: v for k, v in sorted(data.items()) if v}, indent=2) + "\n")


def defaults_for(model: str | None) -> dict[str, Any]:
    """The stored options of `model` (the default model when None); {} when it has none
    or the id does not resolve (the command then says why, when it builds the client)."""
    from llmkit import registry
    from llmkit.errors import LLMKitError

    if not path().exists():
        return {}
    try:
        key = model_key(model or registry.default_model())
    except LLMKitError:
        return {}
    return dict(_read().get(key, {}))


def add_arguments(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="options_action", metavar="ACTION", required=True)
    s = sub.add_parser("set", help="set a default option: llmkit models options set mini temperature 0")
    s.add_argument("model")
    s.add_argument("name")
    s.add_argument("value", help="read as JSON when it parses (0, true, [\"END\"]), else as text")
    ls = sub.add_parser("list", help="the stored defaults (of one model, or all)")
    ls.add_argument("model", nargs="?")
    ls.add_argument("--json", action="store_true", help="machine-readable output")
    c = sub.add_parser("clear", help="remove one default option of a model, or all of them")
    c.add_argument("model")
    c.add_argument("name", nargs="?")


def run(args: argparse.Namespace) -> int:
    data = _read()
    if args.options_action == "list":
        shown = {model_key(args.model): data.get(model_key(args.model), {})} if args.model else data
        if args.json:
            print(json.dumps(shown, indent=2))
            return 0
        if not any(shown.values()):
            print(f"no default options{' for ' + next(iter(shown)) if args.model else ''} ({path()})", file=sys.stderr)
        for model, options in sorted(shown.items()):
            for name, value in options.items():
                print(f"{model}  {name} = {json.dumps(value)}")
        return 0
    key = model_key(args.model)
    if args.options_action == "set":
        value = _value(args.value)
        _check(key, args.name, value)
        data.setdefault(key, {})[args.name] = value
        _write(data)
        print(f"{key}: {args.name} = {json.dumps(value)} (used by ask and chat; -o {args.name} VALUE overrides it)",
              file=sys.stderr)  # fmt: skip
        return 0
    options = data.get(key, {})  # clear
    if args.name is not None and args.name not in options:
        print(f"error: {key} has no default option {args.name!r}", file=sys.stderr)
        return 1
    if args.name is None:
        data.pop(key, None)
    else:
        del options[args.name]
    _write(data)
    print(f"cleared {args.name or 'every default option'} of {key}", file=sys.stderr)
    return 0


def _value(text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def _check(model_id: str, name: str, value: Any) -> None:
    """An option the model takes, of the right type, and no credential or setting."""
    from llmkit import registry
    from llmkit.errors import InvalidOptionError
    from llmkit.logs import safe_options
    from llmkit.options import validate

    cls = registry.backend_class(registry.resolve(model_id))
    if name in cls.settings:
        raise InvalidOptionError(f"{name} is a backend setting of {model_id}, not a generation option",
                                 hint="Settings go in the config file (`llmkit config`), per endpoint.")  # fmt: skip
    if safe_options({name: value}) != {name: value} or value is None:
        raise InvalidOptionError(f"{name}={json.dumps(value)} cannot be stored as a default option",
                                 hint="Credentials belong in `llmkit keys` or the environment.")  # fmt: skip
    validate({name: value}, cls.options | cls.complete_options, model_id)
