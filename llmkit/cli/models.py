"""`llmkit models`: providers, aliases and endpoints, with what each can do."""

from __future__ import annotations

import argparse
import json
from typing import Any

__all__ = ["add_arguments", "run", "local_models", "model_candidates"]


def add_arguments(p: argparse.ArgumentParser) -> None:
    from llmkit.cli import model_options

    p.add_argument("--json", action="store_true", help="machine-readable output")
    sub = p.add_subparsers(dest="models_action", metavar="ACTION")
    model_options.add_arguments(sub.add_parser("options", help="default options per model (set, list, clear)",
                                               description="Default options per model, used by ask and chat."))


def run(args: argparse.Namespace) -> int:
    if getattr(args, "models_action", None) == "options":
        from llmkit.cli import model_options

        return model_options.run(args)
    from llmkit import config, registry
    from llmkit.errors import LLMKitError, redact_url

    cfg = config.load()
    rows: list[dict[str, Any]] = []
    for name, source in sorted({**registry.providers(), "mock": "built-in"}.items()):
        try:  # a missing optional dependency or a broken plugin: said on its row, the rest listed
            caps = registry.backend_class(registry.resolve(name)).capabilities.names()
            note = ""
        except LLMKitError as exc:
            caps, note = [], exc.one_line()
        except Exception as exc:
            caps, note = [], str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        spec = cfg.providers.get(name, {})
        rows.append({"provider": name, "source": source, "base_url": redact_url(spec.get("base_url")),
                     "capabilities": caps, "note": note})  # fmt: skip
    caps_of = {row["provider"]: row["capabilities"] for row in rows}
    local = [{**m, "capabilities": caps_of.get(m["provider"], [])} for m in local_models()]
    if args.json:
        print(json.dumps({"providers": rows, "aliases": cfg.aliases, "default_model": registry.default_model(),
                          "local_models": local, "config": str(config.config_path())}, indent=2))  # fmt: skip
        return 0
    print("providers (use as PROVIDER:MODEL):")
    for row in rows:
        where = f" -> {row['base_url']}" if row["base_url"] else ""
        shown = ", ".join(row["capabilities"]) or row["note"]
        print(f"  {row['provider']:<10} {row['source']:<8}{where}  [{shown}]")
    print("local models (on this machine, no download):")
    for m in local:
        print(f"  {m['id']:<24} {m['note']}  [{', '.join(m['capabilities'])}]")
    if not any(m.get("pulled") for m in local):
        print("  (`llmkit pull smollm2` adds a small chat model)")
    if cfg.aliases:
        print(f"aliases (in {config.config_path()}):")
        for alias, target in sorted(cfg.aliases.items()):
            print(f"  {alias} = {target}")
    print(f"default model: {registry.default_model()} ({registry.default_model_reason()})")
    print(f"config file:   {config.config_path()}")
    return 0


def local_models() -> list[dict[str, str]]:
    """Models on this machine that need no download: the bundled checkpoint and the
    Hugging Face hub cache (a directory listing; nothing is loaded)."""
    import os
    from pathlib import Path

    from llmkit import pulled
    from llmkit.backends.mini import SHIPPED
    from llmkit.errors import ConfigurationError

    out = []
    try:
        for m in pulled.all_models():
            kind = "chat model" if m.chat else "completion model"
            provider, _, path = m.model.partition(":")
            out.append({"id": m.name, "provider": provider, "path": path,
                        "note": f"pulled {kind}: {m.model}{_precision_note(provider, path)}", "pulled": "yes"})  # fmt: skip
    except ConfigurationError as exc:  # a broken models.json: said, and the rest still listed
        out.append({"id": "(pulled models)", "provider": "", "path": "", "note": exc.one_line()})
    if (SHIPPED / "model.safetensors").is_file() or any(SHIPPED.glob("*.safetensors")):
        out.append({"id": "mini", "provider": "mini", "path": str(SHIPPED), "note": "the bundled code model (a completion model)"})
    hub = os.environ.get("HF_HUB_CACHE") or os.path.join(
        os.environ.get("HF_HOME") or os.path.join(os.environ.get("XDG_CACHE_HOME") or "~/.cache", "huggingface"),
        "hub",
    )
    hub_dir = Path(hub).expanduser()
    try:
        entries = sorted(e.name for e in os.scandir(hub_dir) if e.name.startswith("models--") and e.is_dir())
    except OSError:
        entries = []
    for name in entries:
        snapshots = hub_dir / name / "snapshots"
        if snapshots.is_dir() and any(snapshots.iterdir()):
            repo = name[len("models--") :].replace("--", "/")
            out.append(
                {"id": f"hf:{repo}", "provider": "hf", "path": str(hub_dir / name), "note": "Hugging Face cache"}
            )
    return out


def _precision_note(provider: str, path: str) -> str:
    """What dtype=auto measured for a local hf model here (nothing is loaded)."""
    if provider != "hf":
        return ""
    from pathlib import Path

    from llmkit.backends.hf_precision import measured

    verdict, threads = measured(Path(path).name), measured(Path(path).name, "threads")
    counted = f"; threads=auto: {threads['threads']} of {threads.get('cores', '?')} cores" if threads else ""
    if verdict is None:
        return f"; float32 by default (dtype=auto: not measured here yet){counted}"
    return f"; float32 by default, dtype=auto: {verdict['dtype']} ({verdict.get('speedup', '?')}x measured here){counted}"


def model_candidates() -> list[str]:
    """Model ids worth offering when a user types a model name (Tab after /model):
    aliases, the bundled and locally cached models, the OpenAI chat models llmkit knows,
    and every other provider as "name:"."""
    from llmkit import config, registry, tokens

    cfg = config.load()
    ids = sorted(cfg.aliases)
    ids += [m["id"] for m in local_models()]
    ids += [f"openai:{name}" for name in sorted(tokens.chat_models())]
    ids += [f"{name}:" for name in sorted(registry.providers()) if name not in ("mini",)]
    return list(dict.fromkeys(ids))  # in order, once each
