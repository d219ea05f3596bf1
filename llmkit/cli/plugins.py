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


def run(args: argparse.Namespace) -> int:
    import os

    from llmkit import plugins

    if not args.no_check:
        import llmkit.agents.builtin  # noqa: F401  (registers llmkit's own tool names, so conflicts show)
        from llmkit.cli import COMMANDS

        plugins.add_builtin("command", {name: module for name, (module, _) in COMMANDS.items()})
    found = plugins.plugins() if args.no_check else plugins.check_all()
    restricted = os.environ.get("LLMKIT_PLUGINS")
    if args.json:
        print(json.dumps({"plugins": [p.as_dict() for p in found], "LLMKIT_PLUGINS": restricted}, indent=2))
        return 0
    if restricted is not None and not restricted.strip():
        print("LLMKIT_PLUGINS is empty: no plugin is loaded (unset it to load all).")
        return 0
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
            print(f"  problem: {problem}")
    return 1 if any(p.problems for p in found) else 0
