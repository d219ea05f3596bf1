"""`llmkit config`: show the config file; set the default model and aliases.

    llmkit config                          the path and what is in it
    llmkit config set default_model fast   (unset default_model to remove it)
    llmkit config alias fast openai:gpt-4o-mini
    llmkit config unalias fast

Edits change only the line concerned, so comments and everything else in the file stay
as they were; the result is checked (parsed and validated) before it replaces the file,
atomically. Keys are never written: they belong in the environment.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from pathlib import Path
from typing import Any

__all__ = ["add_arguments", "run", "show", "set_value", "remove_value", "write", "SETTABLE"]

SETTABLE = {"default_model": "the model used when none is given (an id or an alias)"}
_HEADER = re.compile(r"^\s*\[")
_BARE_KEY = re.compile(r"^[A-Za-z0-9_-]+$")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", action="store_true", help="machine-readable output (when showing)")
    sub = p.add_subparsers(dest="action", metavar="ACTION")
    s = sub.add_parser("set", help="set a top-level value: " + ", ".join(SETTABLE))
    s.add_argument("key")
    s.add_argument("value")
    u = sub.add_parser("unset", help="remove a top-level value")
    u.add_argument("key")
    a = sub.add_parser("alias", help="name a model: llmkit config alias fast openai:gpt-4o-mini")
    a.add_argument("name")
    a.add_argument("model")
    r = sub.add_parser("unalias", help="remove an alias")
    r.add_argument("name")
    sub.add_parser("path", help="print the config file's path")


def run(args: argparse.Namespace) -> int:
    from llmkit import config

    path = config.config_path()
    if args.action == "path":
        print(path)
        return 0
    if args.action is None:
        return show(path, args.json)
    text = path.read_text(encoding="utf-8") if path.exists() else ""
    data = _loads(text, path)
    if args.action in ("set", "unset"):
        _check_key(args.key)
        if args.action == "set":
            data[args.key] = args.value
            text = set_value(text, None, args.key, args.value)
        elif args.key in data:
            del data[args.key]
            text = remove_value(text, None, args.key)
    else:
        _check_alias_name(args.name)
        aliases = data.setdefault("aliases", {})
        if args.action == "alias":
            aliases[args.name] = args.model
            _check_no_loop(aliases, args.name)
            text = set_value(text, "aliases", args.name, args.model)
        elif args.name in aliases:
            del aliases[args.name]
            text = remove_value(text, "aliases", args.name)
        else:
            print(f"no alias {args.name!r} in {path}", file=sys.stderr)
            return 1
    write(path, text, data)
    _report(args)
    return 0


# --- showing ---------------------------------------------------------------------------


def show(path: Path, as_json: bool) -> int:
    from llmkit import config, registry

    cfg = config.load()
    from llmkit.errors import redact_url

    providers = {name: {k: v for k, v in spec.items()} for name, spec in cfg.providers.items()}
    for spec in providers.values():  # header values and URL passwords are often secrets: never shown
        if spec.get("base_url"):
            spec["base_url"] = redact_url(spec["base_url"])
        if isinstance(spec.get("headers"), dict):
            spec["headers"] = {name: "***" for name in spec["headers"]}
    for spec in providers.values():  # the NAME of the key's variable, and whether it is set
        if spec.get("api_key_env"):
            spec["api_key_set"] = bool(os.environ.get(spec["api_key_env"]))
    info = {"path": str(path), "exists": path.exists(), "default_model": cfg.default_model,
            "effective_default_model": registry.default_model(), "reason": registry.default_model_reason(),
            "aliases": cfg.aliases, "providers": providers}  # fmt: skip
    if as_json:
        print(json.dumps(info, indent=2))
        return 0
    print(f"config file:   {path}" + ("" if path.exists() else " (not created yet)"))
    print(f"default_model: {cfg.default_model or '(not set)'}")
    print(f"  in effect:   {info['effective_default_model']} ({info['reason']})")
    for name, target in sorted(cfg.aliases.items()):
        print(f"alias {name} = {target}")
    for name, spec in sorted(providers.items()):
        key = spec.get("api_key_env")
        key_note = f", key from ${key} ({'set' if spec.get('api_key_set') else 'NOT set'})" if key else ""
        print(f"provider {name}: {spec.get('kind')} at {spec.get('base_url')}{key_note}")
    return 0


# --- editing the text ----------------------------------------------------------------------


def _key(name: str) -> str:
    return name if _BARE_KEY.match(name) else json.dumps(name)


def _assignment(name: str, value: str) -> str:
    return f"{_key(name)} = {json.dumps(value, ensure_ascii=False)}\n"  # a JSON string is a TOML basic string


def _region(lines: list[str], table: str | None) -> tuple[int, int] | None:
    """[start, end) of the lines that belong to `table` (None: the top level), header excluded."""
    if table is None:
        start = 0
    else:
        pattern = re.compile(rf"^\s*\[\s*{re.escape(table)}\s*\]\s*(#.*)?$")
        header = next((i for i, line in enumerate(lines) if pattern.match(line.rstrip("\n"))), None)
        if header is None:
            return None
        start = header + 1
    end = next((i for i in range(start, len(lines)) if _HEADER.match(lines[i])), len(lines))
    return start, end


def _find(lines: list[str], region: tuple[int, int], name: str) -> int | None:
    pattern = re.compile(rf"^\s*({re.escape(name)}|\"{re.escape(name)}\"|'{re.escape(name)}')\s*=")
    return next((i for i in range(*region) if pattern.match(lines[i])), None)


def set_value(text: str, table: str | None, name: str, value: str) -> str:
    lines = text.splitlines(keepends=True)
    if lines and not lines[-1].endswith("\n"):
        lines[-1] += "\n"
    region = _region(lines, table)
    if region is None:  # no such table yet: add it at the end
        sep = "\n" if lines and lines[-1].strip() else ""
        return "".join(lines) + f"{sep}[{table}]\n" + _assignment(name, value)
    found = _find(lines, region, name)
    if found is not None:
        lines[found] = _assignment(name, value)
    else:  # after the region's last non-blank line
        at = region[1]
        while at > region[0] and not lines[at - 1].strip():
            at -= 1
        lines.insert(at, _assignment(name, value))
        if table is None and at < len(lines) - 1 and lines[at + 1].strip():
            lines.insert(at + 1, "\n")  # keep a blank line before the next table
    return "".join(lines)


def remove_value(text: str, table: str | None, name: str) -> str:
    lines = text.splitlines(keepends=True)
    region = _region(lines, table)
    found = _find(lines, region, name) if region else None
    if found is not None:
        del lines[found]
    return "".join(lines)


def write(path: Path, text: str, expected: dict[str, Any]) -> None:
    """Check that the edited text means `expected` (else write `expected` with tomli-w,
    which keeps every value but not the comments), validate it, and replace the file."""
    from llmkit import config
    from llmkit.errors import ConfigurationError

    if _loads(text, path) != expected:  # an unusual layout (inline table, dotted keys...)
        try:
            import tomli_w
        except ImportError:
            raise ConfigurationError(
                f"cannot edit {path} safely (unusual layout)", hint=f"Edit {path} by hand, or pip install tomli-w."
            ) from None
        text = tomli_w.dumps(expected)
    from llmkit.atomic import write_text_atomic

    write_text_atomic(path, text, check=config._parse)  # the same checks every command makes when it reads it


def _loads(text: str, path: Path) -> dict[str, Any]:
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        import tomli as tomllib  # type: ignore[no-redef, unused-ignore]
    from llmkit.errors import ConfigurationError

    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigurationError(
            f"the config file {path} is not valid TOML: {exc}", hint="Fix it by hand first."
        ) from None


# --- checks ------------------------------------------------------------------------------


def _check_key(key: str) -> None:
    from llmkit.errors import ConfigurationError, InvalidOptionError
    from llmkit.options import suggest

    if re.search(r"(?i)key|secret|token|password", key):
        raise ConfigurationError(
            f"{key!r} cannot go in the config file: keys are never stored there",
            hint="Set OPENAI_API_KEY in the environment, or name another variable with api_key_env.",
        )
    if key not in SETTABLE:
        raise InvalidOptionError(f"cannot set {key!r}.{suggest(key, SETTABLE)}",
                                 hint="Settable: " + ", ".join(f"{k} ({v})" for k, v in SETTABLE.items()) +
                                 "; aliases: llmkit config alias NAME MODEL; endpoints: edit the file.")  # fmt: skip


def _check_alias_name(name: str) -> None:
    from llmkit.errors import InvalidOptionError

    if not re.fullmatch(r"[A-Za-z0-9_.-]+", name):
        raise InvalidOptionError(f"alias name {name!r} is not allowed", hint="Use letters, digits, '_', '-' and '.'.")


def _check_no_loop(aliases: dict[str, str], name: str) -> None:
    from llmkit.errors import ConfigurationError

    seen = [name]
    target = aliases[name]
    while target in aliases:
        if target in seen:
            raise ConfigurationError(f"alias loop: {' -> '.join(seen + [target])}")
        seen.append(target)
        target = aliases[target]


def _report(args: argparse.Namespace) -> None:
    from llmkit import config, registry
    from llmkit.errors import LLMKitError

    what = {"set": f"{getattr(args, 'key', '')} = {getattr(args, 'value', '')}",
            "unset": f"removed {getattr(args, 'key', '')}",
            "alias": f"alias {getattr(args, 'name', '')} = {getattr(args, 'model', '')}",
            "unalias": f"removed alias {getattr(args, 'name', '')}"}[args.action]  # fmt: skip
    print(f"{what} ({config.config_path()})")
    target = {"set": getattr(args, "value", None), "alias": getattr(args, "model", None)}.get(args.action)
    if target:
        try:
            registry.resolve(target)
        except LLMKitError as exc:
            print(f"warning: {str(exc).splitlines()[0]}", file=sys.stderr)
