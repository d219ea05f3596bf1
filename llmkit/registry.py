"""Model ids -> backends: built-in providers, config aliases and endpoints, plugins.

An id is "provider:model" ("openai:gpt-4o-mini", "hf:/path/to/dir", "local:qwen2.5"),
a bare provider ("mini"), or an alias from the config file. Backend classes are named
by import path and imported only when used; plugins (entry-point group "llmkit") are
discovered once, on the first id that nothing else knows, or when listing providers.
"""

from __future__ import annotations

import difflib
import importlib
import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from . import config as _config
from .cache import on_clear
from .errors import ConfigurationError, PluginError, UnknownModelError

if TYPE_CHECKING:
    from .backends.base import Backend

__all__ = [
    "register_provider",
    "unregister_provider",
    "resolve",
    "create_backend",
    "backend_class",
    "providers",
    "load_plugins",
    "default_model",
    "default_model_reason",
    "Resolved",
    "plugins",
    "BUILTIN",
    "ENTRY_POINT_GROUP",
]

log = logging.getLogger("llmkit")

# provider -> (backend class import path, pip extra that provides its dependencies)
BUILTIN: dict[str, tuple[str, str | None]] = {
    "openai": ("llmkit.backends.openai:OpenAIBackend", "openai"),
    "hf": ("llmkit.backends.hf:HFBackend", "hf"),
    "mini": ("llmkit.backends.mini:MiniBackend", "mini"),
    "mock": ("llmkit.backends.mock:MockBackend", None),
}
ENTRY_POINT_GROUP = "llmkit"


@dataclass
class Resolved:
    """What an id resolved to: the backend class path, the model, and settings."""

    provider: str
    model: str
    target: str | type
    extra: str | None = None
    settings: dict[str, Any] = field(default_factory=dict)

    @property
    def model_id(self) -> str:
        return f"{self.provider}:{self.model}" if self.model else self.provider


class _Plugins:
    """Providers added at run time: registered in-process (`register_provider`) or
    discovered once from the entry-point group "llmkit". `clear()` (also run by
    `llmkit.clear_caches()`) forgets the discovery, so the next unknown id scans again;
    in-process registrations stay until `unregister_provider`."""

    def __init__(self) -> None:
        self.registered: dict[str, tuple[str | type, str | None]] = {}
        self.discovered: dict[str, tuple[str | type, str | None]] = {}
        self.errors: dict[str, str] = {}  # entry-point name -> what went wrong
        self.loaded = False

    def get(self, name: str) -> tuple[str | type, str | None] | None:
        return self.registered.get(name) or self.discovered.get(name)

    def names(self) -> list[str]:
        return [*self.registered, *(n for n in self.discovered if n not in self.registered)]

    def clear(self) -> None:
        self.discovered.clear()
        self.errors.clear()
        self.loaded = False


plugins = _Plugins()
on_clear(plugins.clear)


def register_provider(name: str, backend: str | type, extra: str | None = None) -> None:
    """Add a provider (for plugins): `backend` is a Backend subclass or "module:Class"."""
    if not name.isidentifier():
        raise PluginError(f"provider name {name!r} is not a valid identifier")
    (plugins.discovered if _discovering else plugins.registered)[name] = (backend, extra)


def unregister_provider(name: str) -> None:
    """Remove a provider added with `register_provider` (e.g. at the end of a test)."""
    plugins.registered.pop(name, None)
    plugins.discovered.pop(name, None)


_discovering = False  # register_provider calls from an entry point count as discovered


def load_plugins() -> None:
    """Discover plugins once. A broken plugin is reported, not fatal to the others."""
    global _discovering
    if plugins.loaded:
        return
    plugins.loaded = True
    from importlib.metadata import entry_points

    for ep in entry_points(group=ENTRY_POINT_GROUP):
        _discovering = True
        try:
            obj = ep.load()
            if isinstance(obj, type):
                register_provider(ep.name, obj)
            elif hasattr(obj, "register"):
                obj.register()
            elif callable(obj):
                obj()
            else:
                raise TypeError(f"{ep.value} is neither a Backend class nor a register function")
        except Exception as exc:  # a plugin's bug must not break llmkit
            plugins.errors[ep.name] = f"{type(exc).__name__}: {exc}"
            log.warning("plugin %r failed to load: %s", ep.name, plugins.errors[ep.name])
        finally:
            _discovering = False


def providers() -> dict[str, str]:
    """All known providers -> where they come from (built-in, config, plugin)."""
    load_plugins()
    out = {name: "built-in" for name in BUILTIN if name != "mock"}
    out.update({name: "config" for name in _config.load().providers})
    out.update({name: "plugin" for name in plugins.names()})
    return out


def resolve(model_id: str) -> Resolved:
    if not isinstance(model_id, str) or not model_id.strip():
        raise UnknownModelError(
            f"model id {model_id!r} is empty or not a string",
            hint='Use "provider:model", e.g. "openai:gpt-4o-mini", "hf:/path/to/model" or "mini".',
        )
    cfg = _config.load()
    seen = [model_id]
    while model_id in cfg.aliases:
        model_id = cfg.aliases[model_id]
        if model_id in seen:
            raise ConfigurationError(f"alias loop in {cfg.path}: {' -> '.join(seen + [model_id])}")
        seen.append(model_id)
    provider, _, model = model_id.partition(":")
    provider = provider.strip()
    if provider in cfg.providers:
        spec = _config.provider_settings(provider, cfg.providers[provider])
        path, extra = BUILTIN["openai"]
        return Resolved(provider, model, path, extra, spec)
    if provider in BUILTIN:
        path, extra = BUILTIN[provider]
        return Resolved(provider, model, path, extra)
    if plugins.get(provider) is None:
        load_plugins()
    found = plugins.get(provider)
    if found is not None:
        target, extra = found
        return Resolved(provider, model, target, extra)
    raise _unknown(model_id, provider, cfg)


def _unknown(model_id: str, provider: str, cfg: _config.Config) -> UnknownModelError:
    names = list(providers()) + list(cfg.aliases)
    close = difflib.get_close_matches(provider, names, n=3, cutoff=0.5)
    from .tokens import known_models

    close += [f"openai:{m}" for m in difflib.get_close_matches(model_id, known_models(), n=2)]
    hint = f"Known providers: {', '.join(sorted(providers()))}."
    if close:
        hint = f"Did you mean {', '.join(repr(c) for c in close)}? " + hint
    if provider in plugins.errors:
        hint += f" Plugin {provider!r} failed to load: {plugins.errors[provider]}"
    hint += " Endpoints and aliases go in " + str(cfg.path or _config.config_path()) + "."
    return UnknownModelError(f"unknown model {model_id!r}", hint=hint)


def backend_class(resolved: Resolved) -> type[Backend]:
    target = resolved.target
    if isinstance(target, type):
        return target
    module_name, _, attr = target.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        extra = f" Install it with: pip install 'llmkit[{resolved.extra}]'." if resolved.extra else ""
        raise ConfigurationError(
            f"provider {resolved.provider!r} is not available: {exc}",
            hint=f"A package it needs is missing.{extra}",
        ) from None
    return getattr(module, attr)


def create_backend(model_id: str | Resolved, **settings: Any) -> Backend:
    """Build the backend for an id; explicit settings override config ones."""
    resolved = model_id if isinstance(model_id, Resolved) else resolve(model_id)
    cls = backend_class(resolved)
    merged = {**resolved.settings, **settings}
    backend = cls(resolved.model, **merged)
    backend.provider = resolved.provider  # "local:qwen2.5" keeps its own provider name
    return backend


def default_model() -> str:
    """The configured default, else LLMKIT_MODEL, else OpenAI when a key is set, else the
    bundled model (which needs no key and no network)."""
    import os

    return (
        _config.load().default_model
        or os.environ.get("LLMKIT_MODEL")
        or ("openai:gpt-4o-mini" if os.environ.get("OPENAI_API_KEY") else "mini")
    )


def default_model_reason() -> str:
    """Why default_model() chose what it chose (shown in banners)."""
    import os

    if _config.load().default_model:
        return f"default_model in {_config.config_path()}"
    if os.environ.get("LLMKIT_MODEL"):
        return "LLMKIT_MODEL is set"
    if os.environ.get("OPENAI_API_KEY"):
        return "OPENAI_API_KEY is set"
    return "no API key or configured default: using the bundled model"
