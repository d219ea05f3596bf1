"""`llmkit templates`: saved prompts. A template is a system prompt, options, a model
and (optionally) a prompt, under a name, in a TOML file of its own:

    llmkit ask -s "Answer in one sentence." -t 0 -m mock:echo --save brief
    llmkit ask -T brief "Why is the sky blue?"      # -m, -s, -t and -o given here still win
    llmkit chat -T brief
    llmkit templates                 list them (also: show NAME, edit NAME, delete NAME, path)

$LLMKIT_HOME/templates/brief.toml:

    model = "mock:echo"
    system = "Answer in one sentence."
    prompt = "Summarise: $input"     # optional (ask): $input is your text, else it follows
    [options]
    temperature = 0

Design: one file per template so that a template is easy to read, edit, copy and
share; written atomically (llmkit.atomic), owner-only; checked when read, so a bad
hand edit is an error naming the file and the key. Options that look like credentials
(api_key, headers, ...) are refused: keys belong in `llmkit keys` or the environment.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["add_arguments", "run", "Template", "load", "save", "names", "directory", "check_name", "KEYS"]

KEYS = {"model": "the model id", "system": "the system prompt", "prompt": "a prompt ($input: your text)",
        "options": "a table of options, e.g. temperature = 0"}  # fmt: skip
MAX_TEMPLATE_BYTES = 1_000_000
_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$")
_SKELETON = """\
# llmkit template: `llmkit ask -T {name} ...` or `llmkit chat -T {name}`; every key is optional
# model = "openai:gpt-4o-mini"
# system = "You are a concise assistant."
# prompt = "Summarise this: $input"      # ask only; $input is your text (else it is added after)
# [options]
# temperature = 0
"""


@dataclass
class Template:
    name: str
    model: str | None = None
    system: str | None = None
    prompt: str | None = None
    options: dict[str, Any] = field(default_factory=dict)
    path: Path | None = None

    def fill(self, text: str) -> str:
        """The prompt to send: the template's prompt with $input replaced by `text`
        (or `text` after it), or `text` alone when the template has no prompt."""
        if not self.prompt:
            return text
        if "$input" in self.prompt:
            return self.prompt.replace("$input", text)
        return f"{self.prompt}\n\n{text}" if text.strip() else self.prompt


def directory() -> Path:
    from llmkit.config import home

    return home() / "templates"


def check_name(name: str) -> str:
    from llmkit.errors import UsageError

    if not _NAME.match(name or "") or name.endswith(".toml"):
        raise UsageError(f"{name!r} is not a template name",
                         hint="Use letters, digits, '_', '-' and '.', e.g. summarise or code-review.")  # fmt: skip
    return name


def _path(name: str) -> Path:
    return directory() / f"{check_name(name)}.toml"


def names() -> list[str]:
    d = directory()
    if not d.is_dir():
        return []
    return sorted(p.stem for p in d.glob("*.toml") if _NAME.match(p.stem) and p.is_file())


def load(name: str) -> Template:
    """The template `name`; UsageError (listing the saved ones) when there is none."""
    from llmkit.errors import UsageError

    p = _path(name)
    if not p.is_file():
        saved = names()
        raise UsageError(f"no template {name!r}",
                         hint=(f"Saved templates: {', '.join(saved)}." if saved else "None is saved yet.")
                         + " Save one with `llmkit ask ... --save NAME`.")  # fmt: skip
    return _parse(name, p)


def _parse(name: str, p: Path) -> Template:
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        import tomli as tomllib  # type: ignore[no-redef, unused-ignore]
    from llmkit.errors import ConfigurationError, UsageError
    from llmkit.userfiles import read_capped

    fix = f"Fix it with `llmkit templates edit {name}`, or delete it."
    try:
        data = tomllib.loads(read_capped(p, MAX_TEMPLATE_BYTES, "a template").decode("utf-8"))
    except UsageError as exc:
        raise ConfigurationError(exc.message, hint=fix) from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigurationError(f"the template {p} is not valid TOML: {exc}", hint=fix) from None
    unknown = set(data) - set(KEYS)
    if unknown:
        raise ConfigurationError(f"unknown key(s) {', '.join(sorted(unknown))} in the template {p}",
                                 hint=f"A template has: {', '.join(KEYS)}. {fix}")  # fmt: skip
    for key in ("model", "system", "prompt"):
        if key in data and (not isinstance(data[key], str) or (key == "model" and not data[key].strip())):
            raise ConfigurationError(f"{key} in the template {p} must be {KEYS[key]} (a string)", hint=fix)
    options = data.get("options", {})
    if not isinstance(options, dict):
        raise ConfigurationError(f"options in the template {p} must be a table ([options])", hint=fix)
    _check_options(options, f"the template {p}")
    return Template(name, data.get("model"), data.get("system"), data.get("prompt"), dict(options), p)


def _check_options(options: dict[str, Any], where: str) -> None:
    from llmkit.errors import UsageError
    from llmkit.logs import safe_options

    kept = safe_options(options)
    left = sorted(k for k, v in options.items() if k not in kept or kept[k] != v or v is None)
    if left:
        raise UsageError(f"{where}: {', '.join(left)} cannot go in a template (a credential, null, or not plain data)",
                         hint="Keys belong in the environment or `llmkit keys set NAME`.")  # fmt: skip


def save(template: Template) -> Path:
    """Write (or replace) the template's file, atomically; returns its path."""
    from llmkit.atomic import write_text_atomic
    from llmkit.errors import ConfigurationError

    _check_options(template.options, f"template {template.name!r}")
    try:
        import tomli_w
    except ModuleNotFoundError:
        raise ConfigurationError("saving a template needs the package tomli-w",
                                 hint="pip install 'llmkit[cli]'") from None  # fmt: skip
    data: dict[str, Any] = {k: v for k, v in (("model", template.model), ("system", template.system),
                                               ("prompt", template.prompt)) if v}  # fmt: skip
    if template.options:
        data["options"] = template.options
    p = _path(template.name)
    text = f"# llmkit template: `llmkit ask -T {template.name} ...` or `llmkit chat -T {template.name}`\n"
    write_text_atomic(p, text + tomli_w.dumps(data), check=lambda tmp: _parse(template.name, tmp))
    return p


# --- the command ---------------------------------------------------------------------------


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", action="store_true", help="machine-readable output (list, show)")
    sub = p.add_subparsers(dest="action", metavar="ACTION")
    ls = sub.add_parser("list", help="the saved templates (the default)")
    s = sub.add_parser("show", help="print a template's file")
    s.add_argument("name")
    for q in (ls, s):  # after the action too: llmkit templates show NAME --json
        q.add_argument("--json", action="store_true", default=argparse.SUPPRESS, help="machine-readable output")
    e = sub.add_parser("edit", help="open a template in $EDITOR (a new one starts from a commented skeleton)")
    e.add_argument("name")
    d = sub.add_parser("delete", help="remove a template")
    d.add_argument("name")
    sub.add_parser("path", help="print the folder the templates are in")


def run(args: argparse.Namespace) -> int:
    import json

    if args.action == "path":
        print(directory())
        return 0
    if args.action == "show":
        t = load(args.name)
        if args.json:
            print(json.dumps(_as_json(t), indent=2, ensure_ascii=False))
        else:
            assert t.path is not None
            print(t.path.read_text(encoding="utf-8"), end="")
        return 0
    if args.action == "edit":
        return _edit(args.name)
    if args.action == "delete":
        p = _path(args.name)
        if not p.is_file():
            load(args.name)  # the error, with the names that exist
        p.unlink()
        print(f"deleted template {args.name}", file=sys.stderr)
        return 0
    found = [load(n) for n in names()]
    if args.json:
        print(json.dumps([_as_json(t) for t in found], indent=2, ensure_ascii=False))
        return 0
    if not found:
        print(f"no templates yet ({directory()}); save one with `llmkit ask -s SYSTEM ... --save NAME`",
              file=sys.stderr)  # fmt: skip
    for t in found:
        parts = [f"model {t.model}" if t.model else "", f"system: {_short(t.system)}" if t.system else "",
                 f"prompt: {_short(t.prompt)}" if t.prompt else "",
                 " ".join(f"{k}={json.dumps(v)}" for k, v in t.options.items())]  # fmt: skip
        print(f"{t.name:<16} {'  '.join(x for x in parts if x)}")
    return 0


def _as_json(t: Template) -> dict[str, Any]:
    return {"name": t.name, "model": t.model, "system": t.system, "prompt": t.prompt, "options": t.options,
            "path": str(t.path)}  # fmt: skip


def _short(text: str | None, width: int = 40) -> str:
    text = " ".join((text or "").split())
    return text if len(text) <= width else text[: width - 1] + "…"


def _edit(name: str) -> int:
    """$VISUAL or $EDITOR (else vi) on the template's file, then check what was written."""
    import shlex
    import subprocess

    from llmkit.atomic import write_text_atomic
    from llmkit.errors import LLMKitError, UsageError

    p = _path(name)
    if not p.exists():
        write_text_atomic(p, _SKELETON.format(name=name))
    editor = os.environ.get("VISUAL") or os.environ.get("EDITOR") or "vi"
    try:
        code = subprocess.call([*shlex.split(editor), str(p)])
    except OSError as exc:
        raise UsageError(f"cannot run the editor {editor!r}: {exc.strerror or exc}",
                         hint=f"Set $EDITOR to your editor, or edit {p} by hand.") from None  # fmt: skip
    if code != 0:
        print(f"error: the editor exited with status {code}; {p} is as it left it", file=sys.stderr)
        return 1
    try:
        _parse(name, p)
    except LLMKitError as exc:
        print(f"error: {exc.one_line()}", file=sys.stderr)
        return 1
    print(f"saved template {name} ({p})", file=sys.stderr)
    return 0
