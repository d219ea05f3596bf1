"""The user's config file: default model, aliases and OpenAI-compatible endpoints.

It lives at $LLMKIT_HOME/config.toml (default: the platform's user config dir), e.g.

    default_model = "local:qwen2.5"

    [aliases]
    fast = "openai:gpt-4o-mini"

    [providers.local]              # used as "local:<model>"
    kind = "openai"
    base_url = "http://localhost:8000/v1"
    api_key_env = "LOCAL_API_KEY"  # optional: the env var holding the key (never the key)
    context_window = 32768         # optional
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .cache import on_clear
from .errors import ConfigurationError

__all__ = ["Config", "load", "home", "cache_dir", "config_path", "PROVIDER_KINDS", "PROVIDER_KEYS"]

PROVIDER_KINDS = ("openai",)
PROVIDER_KEYS = {"kind", "base_url", "api_key_env", "context_window", "headers", "stream_usage"}


def home() -> Path:
    """llmkit's directory for config, history and caches."""
    env = os.environ.get("LLMKIT_HOME")
    if env:
        return Path(env).expanduser()
    import platformdirs

    return Path(platformdirs.user_config_dir("llmkit", appauthor=False))


def cache_dir() -> Path:
    """Where llmkit keeps large derived files (converted models): $LLMKIT_HOME/cache, else
    the platform's user cache dir, so they stay out of the config directory and backups."""
    env = os.environ.get("LLMKIT_HOME")
    if env:
        return Path(env).expanduser() / "cache"
    import platformdirs

    return Path(platformdirs.user_cache_dir("llmkit", appauthor=False))


def config_path() -> Path:
    return home() / "config.toml"


@dataclass
class Config:
    default_model: str | None = None
    aliases: dict[str, str] = field(default_factory=dict)
    providers: dict[str, dict[str, Any]] = field(default_factory=dict)
    path: Path | None = None


_cache: tuple[Path, float, Config] | None = None  # the last file read; llmkit.clear_caches() forgets it


def _forget() -> None:
    global _cache
    _cache = None


on_clear(_forget)


def load() -> Config:
    """Read the config file (cached until the file changes). A missing file is empty."""
    global _cache
    path = config_path()
    try:
        mtime = path.stat().st_mtime
    except FileNotFoundError:
        return Config(path=path)
    if _cache and _cache[0] == path and _cache[1] == mtime:
        return _cache[2]
    config = _parse(path)
    _cache = (path, mtime, config)
    return config


def _parse(path: Path) -> Config:
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        import tomli as tomllib  # type: ignore[no-redef, unused-ignore]
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigurationError(
            f"the config file {path} is not valid TOML: {exc}",
            hint="Fix the file, or move it away to start from an empty config.",
        ) from None
    unknown = set(data) - {"default_model", "aliases", "providers"}
    if unknown:
        raise ConfigurationError(
            f"unknown key(s) {', '.join(sorted(unknown))} in {path}",
            hint="Top-level keys are: default_model, [aliases], [providers.NAME].",
        )
    aliases = data.get("aliases", {})
    providers = data.get("providers", {})
    if not isinstance(aliases, dict) or not all(isinstance(v, str) for v in aliases.values()):
        raise ConfigurationError(f"[aliases] in {path} must map names to model ids (strings)")
    for name, spec in providers.items():
        _check_provider(path, name, spec)
    return Config(data.get("default_model"), dict(aliases), dict(providers), path)


def _check_provider(path: Path, name: str, spec: Any) -> None:
    where = f"[providers.{name}] in {path}"
    if not isinstance(spec, dict):
        raise ConfigurationError(f"{where} must be a table")
    if spec.get("kind") not in PROVIDER_KINDS:
        raise ConfigurationError(
            f"{where} has kind={spec.get('kind')!r}",
            hint=f"Supported kinds: {', '.join(PROVIDER_KINDS)} (any OpenAI-compatible server).",
        )
    if not spec.get("base_url"):
        raise ConfigurationError(f"{where} needs a base_url, e.g. http://localhost:8000/v1")
    if "api_key" in spec:  # keys stay out of files that get shared and backed up
        raise ConfigurationError(
            f"{where} holds an api_key", hint="Put the key in an env var and name it in api_key_env."
        )
    unknown = set(spec) - PROVIDER_KEYS
    if unknown:
        raise ConfigurationError(
            f"{where} has unknown key(s): {', '.join(sorted(unknown))}",
            hint=f"Allowed keys: {', '.join(sorted(PROVIDER_KEYS))}.",
        )
