"""`llmkit plugins [--json]`: the installed plugins, what each registers, and what went wrong.

Unlike `llmkit --help`, this imports every plugin's registrations, so that an import that
fails, an entry point naming a missing object or a name conflict shows up here, once.
"""

from __future__ import annotations

import argparse
import json

__all__ = ["add_arguments", "run"]


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", action="store_true", help="print JSON for scripts")
    p.add_argument("--no-check", action="store_true", help="only read metadata: do not import the plugins")


class _OwnReport:
    """Drops the plugin problems llmkit logs (the "plugin NAME: ..." warnings) while this
    command runs: it shows each one itself, under its plugin."""

    def filter(self, record: object) -> bool:
        return getattr(record, "msg", None) != "plugin %s: %s"


def run(args: argparse.Namespace) -> int:
    import logging

    quiet = _OwnReport()
    logger = logging.getLogger("llmkit")
    logger.addFilter(quiet)
    try:
        return _run(args)
    finally:
        logger.removeFilter(quiet)


def _run(args: argparse.Namespace) -> int:
    import os

    from llmkit import plugins

    if not args.no_check:
        import llmkit.agents.builtin  # noqa: F401  (registers llmkit's own tool names, so conflicts show)
        from llmkit.cli import COMMANDS

        plugins.add_builtin("command", {name: module for name, (module, _) in COMMANDS.items()})
    found = plugins.plugins() if args.no_check else plugins.check_all()
    restricted = os.environ.get("LLMKIT_PLUGINS")
    unmatched = _unmatched(restricted, found)
    if args.json:
        print(json.dumps({"plugins": [p.as_dict() for p in found], "LLMKIT_PLUGINS": restricted,
                          "LLMKIT_PLUGINS_unmatched": unmatched}, indent=2))  # fmt: skip
        return 0
    if restricted is not None and not restricted.strip():
        print("LLMKIT_PLUGINS is empty: no plugin is loaded (unset it to load all).")
        return 0
    if unmatched:  # a typo there loads nothing, silently: say it
        installed = ", ".join(p.name for p in found) or "none"
        print(f"LLMKIT_PLUGINS names {', '.join(repr(n) for n in unmatched)}, which no installed plugin is "
              f"(installed: {installed})")  # fmt: skip
    if not found:
        print("No plugins installed. A plugin is a package with entry points in the groups "
              "llmkit.providers, llmkit.tools, llmkit.tasks or llmkit.commands (see docs/plugins.md).")
        return 0
    for p in found:
        requires = f", needs llmkit{p.requires}" if p.requires else ", declares no llmkit version"
        print(f"{p.name} {p.version}{requires}" + (f": {p.summary}" if p.summary else ""))
        if p.skipped:
            print(f"  skipped: {p.skipped}")
        for r in p.registrations:
            state = "" if args.no_check else ("  FAILED" if r.error is not None else "  ok")
            print(f"  {r.kind:<8} {r.name:<20} {r.target if isinstance(r.target, str) else type(r.target).__name__}{state}")
        for problem in p.problems:
            if problem != p.skipped:  # the reason it is skipped is on its line already
                print(f"  problem: {problem}")
    return 1 if unmatched or any(p.problems for p in found) else 0


def _unmatched(restricted: str | None, found: list) -> list[str]:
    """The names in LLMKIT_PLUGINS that are no installed plugin ("x" also means "llmkit-x")."""
    import re

    def normal(name: str) -> str:
        return re.sub(r"[-_.]+", "-", name).lower()

    installed = {normal(p.name) for p in found}
    items = [item.strip() for item in (restricted or "").split(",") if item.strip()]
    return [item for item in items if normal(item) not in installed and normal("llmkit-" + item) not in installed]
