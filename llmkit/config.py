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
    headers = {Authorization = "Bearer ${CORP_TOKEN}"}  # optional; ${VAR}: from the environment

Credentials never go in the file itself (it gets shared and backed up): an api_key, a
credential-like header (Authorization, X-API-Key, Cookie, ...), a password in base_url
or a key in its query are refused unless written as ${VAR}, read from the environment
when the provider is used.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .cache import on_clear
from .errors import ConfigurationError, UsageError
from .userfiles import read_capped

__all__ = ["Config", "load", "home", "cache_dir", "config_path", "PROVIDER_KINDS", "PROVIDER_KEYS"]

PROVIDER_KINDS = ("openai",)
PROVIDER_KEYS = {"kind", "base_url", "api_key_env", "context_window", "headers", "stream_usage"}
MAX_CONFIG_BYTES = 1_000_000  # a config file is a few lines; anything bigger is a mistake


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
        data = tomllib.loads(read_capped(path, MAX_CONFIG_BYTES, "a config file").decode("utf-8"))
    except UsageError as exc:
        raise ConfigurationError(exc.message, hint=f"{path} should be a small TOML file; move it away to start "
                                 "from an empty config.") from None  # fmt: skip
    except OSError as exc:
        raise ConfigurationError(f"cannot read the config file {path}: {exc.strerror or exc}",
                                 hint="Check its permissions, or move it away to start from an empty config.") from None  # fmt: skip
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
    default = data.get("default_model")
    if default is not None and (not isinstance(default, str) or not default.strip()):
        raise ConfigurationError(f"default_model in {path} must be a model id (a string), not {default!r}")
    if not isinstance(aliases, dict) or not all(isinstance(v, str) for v in aliases.values()):
        raise ConfigurationError(f"[aliases] in {path} must map names to model ids (strings)")
    if not isinstance(providers, dict):
        raise ConfigurationError(f"providers in {path} must be tables, [providers.NAME], not {type(providers).__name__}",
                                 hint='e.g. [providers.local] with kind = "openai" and a base_url.')  # fmt: skip
    for name, spec in providers.items():
        _check_provider(path, name, spec)
    return Config(default, dict(aliases), dict(providers), path)


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
    if name in BUILTIN_PROVIDERS:  # "mini:..." would silently stop meaning the bundled model
        raise ConfigurationError(f"{where} shadows the built-in provider {name!r}",
                                 hint="Give the endpoint another name, e.g. [providers.my-" + name + "].")  # fmt: skip
    for key, (types, what) in _TYPES.items():
        value = spec.get(key)
        if value is not None and (not isinstance(value, types) or isinstance(value, bool) is not (bool in types)):
            raise ConfigurationError(f"{where}: {key} must be {what}")
    if spec.get("context_window") is not None and spec["context_window"] < 1:
        raise ConfigurationError(f"{where}: context_window must be an int >= 1")
    headers = spec.get("headers") or {}
    if not all(isinstance(k, str) and isinstance(v, str) for k, v in headers.items()):
        raise ConfigurationError(f"{where}: headers must map header names to strings")
    _check_no_literal_credentials(where, spec["base_url"], headers)


BUILTIN_PROVIDERS = ("openai", "hf", "mini", "mock")
_TYPES: dict[str, tuple[tuple[type, ...], str]] = {
    "base_url": ((str,), "a URL (a string)"), "api_key_env": ((str,), "an environment variable's name"),
    "context_window": ((int,), "an int >= 1"), "headers": ((dict,), "a table of header names to strings"),
    "stream_usage": ((bool,), "true or false"),
}  # fmt: skip
_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
_CREDENTIAL = re.compile(r"(?i)auth|key|token|secret|passw|cookie|session|credential|signature")
_ADVICE = ("Keys stay out of the config file: put the value in an environment variable and write ${NAME} "
           'in its place, e.g. Authorization = "Bearer ${CORP_TOKEN}" (or name the key\'s variable in api_key_env).')


def _check_no_literal_credentials(where: str, base_url: str, headers: dict[str, str]) -> None:
    """A credential in the file must be an ${ENV} reference: the same rule as api_key."""
    from urllib.parse import parse_qsl, urlsplit

    for name, value in headers.items():
        if _CREDENTIAL.search(name) and not _ENV_REF.search(value):
            raise ConfigurationError(f"{where} holds a credential in its {name} header", hint=_ADVICE)
    try:
        parts = urlsplit(base_url)
        password = parts.password
        query = parse_qsl(parts.query, keep_blank_values=True)
    except ValueError:
        raise ConfigurationError(f"{where}: base_url is not a URL") from None
    if password and not _ENV_REF.search(password):
        raise ConfigurationError(f"{where} holds a password in its base_url", hint=_ADVICE)
    for key, value in query:
        if _CREDENTIAL.search(key) and value and not _ENV_REF.search(value):
            raise ConfigurationError(f"{where} holds a credential in its base_url's {key}= parameter", hint=_ADVICE)


def provider_settings(name: str, spec: dict[str, Any]) -> dict[str, Any]:
    """A configured provider's backend settings, ${VAR} references filled in from the
    environment (a missing variable is an error that names it)."""
    settings = {k: v for k, v in spec.items() if k != "kind"}

    def fill(value: str, what: str) -> str:
        def env(m: re.Match[str]) -> str:
            found = os.environ.get(m.group(1))
            if found is None:
                raise ConfigurationError(f"[providers.{name}] {what} needs ${m.group(1)}, which is not set",
                                         hint=f"export {m.group(1)}=... before using {name}:.")  # fmt: skip
            from .errors import remember_secret

            remember_secret(found)  # read from the environment for a credential: never shown
            return found

        return _ENV_REF.sub(env, value)

    if isinstance(settings.get("base_url"), str):
        settings["base_url"] = fill(settings["base_url"], "base_url")
    if isinstance(settings.get("headers"), dict):
        settings["headers"] = {k: fill(v, f"header {k}") for k, v in settings["headers"].items()}
    return settings
