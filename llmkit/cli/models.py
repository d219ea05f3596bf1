"""`llmkit models`: providers, aliases and endpoints, with what each can do."""

from __future__ import annotations

import argparse
import json


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", action="store_true", help="machine-readable output")


def run(args: argparse.Namespace) -> int:
    from llmkit import config, registry

    cfg = config.load()
    rows = []
    for name, source in sorted(registry.providers().items()):
        resolved = registry.resolve(name)
        try:
            caps = registry.backend_class(resolved).capabilities.names()
            note = ""
        except Exception as exc:  # missing optional dependency: say so, keep listing
            caps, note = [], str(exc).splitlines()[0]
        spec = cfg.providers.get(name, {})
        rows.append({"provider": name, "source": source, "base_url": spec.get("base_url"),
                     "capabilities": caps, "note": note})  # fmt: skip
    if args.json:
        print(json.dumps({"providers": rows, "aliases": cfg.aliases, "default_model": registry.default_model(),
                          "config": str(config.config_path())}, indent=2))  # fmt: skip
        return 0
    for row in rows:
        where = f" -> {row['base_url']}" if row["base_url"] else ""
        caps = ", ".join(row["capabilities"]) or row["note"]
        print(f"{row['provider']:<10} {row['source']:<8}{where}  [{caps}]")
    for alias, target in sorted(cfg.aliases.items()):
        print(f"alias {alias} = {target}")
    print(f"default model: {registry.default_model()} ({registry.default_model_reason()})")
    print(f"config file:   {config.config_path()}")
    return 0
