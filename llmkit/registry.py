"""Model ids -> backends: built-in providers, config aliases and endpoints, plugins.

An id is "provider:model" ("openai:gpt-4o-mini", "hf:/path/to/dir", "local:qwen2.5"),
a bare provider ("mini"), or an alias from the config file. Providers come from one table
(llmkit.plugins): the built-ins, in-process registrations and plugins, each backend class
named by import path and imported only when used.
"""

from __future__ import annotations

import difflib
import importlib
import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from . import config as _config
from . import plugins as _plugins
from . import pulled as _pulled
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
    "BUILTIN",
    "ENTRY_POINT_GROUP",
]

log = logging.getLogger("llmkit")

BUILTIN = _plugins.BUILTIN_PROVIDERS  # provider -> (backend class path, pip extra); one table with the plugins'
ENTRY_POINT_GROUP = "llmkit.providers"


@dataclass
class Resolved:
    """What an id resolved to: the backend class path, the model, and settings."""

    provider: str
    model: str
    target: str | type
    extra: str | None = None
    settings: dict[str, Any] = field(default_factory=dict)
    owner: str = "llmkit"  # who registered the provider: llmkit, a plugin's distribution, in-process

    @property
    def model_id(self) -> str:
        return f"{self.provider}:{self.model}" if self.model else self.provider


def register_provider(name: str, backend: str | type, extra: str | None = None) -> None:
    """Add a provider in-process (scripts, tests, a plugin's register() hook): `backend` is a
    Backend subclass or "module:Class". A plugin package declares it in its metadata instead
    (entry-point group "llmkit.providers"); see llmkit.plugins."""
    if not isinstance(name, str) or not name.isidentifier():
        raise PluginError(f"provider name {name!r} is not a valid identifier",
                          hint="Use letters, digits and underscores, e.g. 'my_server'.")  # fmt: skip
    if name in BUILTIN:
        raise PluginError(f"provider {name!r} is built into llmkit and cannot be replaced",
                          hint="Register it under another name.")  # fmt: skip
    _plugins.register("provider", name, backend)


def unregister_provider(name: str) -> None:
    """Remove a provider added with `register_provider` (e.g. at the end of a test)."""
    _plugins.unregister("provider", name)


def load_plugins() -> None:
    """Discover plugins now (it otherwise happens on first need). Metadata only: no plugin is
    imported; a broken one is reported (`llmkit.plugins.problems()`), never fatal."""
    _plugins.plugins()


def providers() -> dict[str, str]:
    """All known providers -> where they come from (built-in, config, plugin)."""
    out = {name: "built-in" for name in BUILTIN if name != "mock"}
    out.update({name: "config" for name in _config.load().providers})
    out.update({name: "plugin" for name in _plugins.names("provider") if name not in out})
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
    if ":" not in model_id and model_id not in cfg.providers and model_id not in BUILTIN:
        pulled = _pulled.get(model_id.strip())
        if pulled is not None:  # a name from `llmkit pull`
            model_id = pulled.model
    provider, _, model = model_id.partition(":")
    provider = provider.strip()
    if provider in cfg.providers:
        spec = _config.provider_settings(provider, cfg.providers[provider])
        path, extra = BUILTIN["openai"]
        return Resolved(provider, model, path, extra, spec)
    reg = _plugins.get("provider", provider) if provider.isidentifier() else None
    if reg is None:
        raise _unknown(model_id, provider, cfg)
    if reg.owner == _plugins.BUILTIN:
        return Resolved(provider, model, reg.target, reg.extra)
    target = reg.load()  # a plugin's: imported now, a failure is a PluginError naming the plugin
    if not (isinstance(target, type) and issubclass(target, _backend_base())):
        raise PluginError(f"provider {provider!r} of {reg.owner} is not a Backend subclass ({reg.target!r})",
                          hint=f"This is a bug in {reg.owner}: report it there, or uninstall it.")  # fmt: skip
    return Resolved(provider, model, target, reg.extra, owner=reg.owner)


def _backend_base() -> type:
    from .backends.base import Backend

    return Backend


def _unknown(model_id: str, provider: str, cfg: _config.Config) -> UnknownModelError:
    names = list(providers()) + list(cfg.aliases)
    close = difflib.get_close_matches(provider, names, n=3, cutoff=0.5)
    from .tokens import known_models

    close += [f"openai:{m}" for m in difflib.get_close_matches(model_id, known_models(), n=2)]
    hint = f"Known providers: {', '.join(sorted(providers()))}."
    if close:
        hint = f"Did you mean {', '.join(repr(c) for c in close)}? " + hint
    troubles = _plugins.problems()
    if troubles:
        hint += f" {len(troubles)} plugin problem(s): `llmkit plugins` shows them."
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
    chat model pulled last (`llmkit pull smollm2`), else the bundled model (which needs no
    key and no network, and is a code model)."""
    return _default()[0]


def default_model_reason() -> str:
    """Why default_model() chose what it chose (shown in banners)."""
    return _default()[1]


def _stored_openai_key() -> bool:
    from . import keys

    try:
        return bool(keys.lookup("OPENAI_API_KEY"))
    except Exception:  # an unreadable keys file is reported where keys are used, not here
        return False


def _default() -> tuple[str, str]:
    import os

    if _config.load().default_model:
        return _config.load().default_model or "", f"default_model in {_config.config_path()}"
    if os.environ.get("LLMKIT_MODEL"):
        return os.environ["LLMKIT_MODEL"], "LLMKIT_MODEL is set"
    if os.environ.get("OPENAI_API_KEY"):
        return "openai:gpt-4o-mini", "OPENAI_API_KEY is set"
    if _stored_openai_key():
        return "openai:gpt-4o-mini", "an OpenAI key is stored (`llmkit keys`)"
    pulled = _pulled.default_chat_model()
    if pulled is not None:
        return pulled.name, "the chat model you pulled; `llmkit config set default_model MODEL` picks another"
    return "mini", ("no API key, configured default or pulled chat model: using the bundled code model "
                    "(`llmkit pull smollm2` gets a small chat model)")
