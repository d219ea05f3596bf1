"""Stored API keys (`llmkit keys set NAME`): a JSON file in llmkit's home, readable by
its owner only, consulted after the environment.

A stored key stands in for an environment variable of the same name: the openai backend
reads `OPENAI_API_KEY` (or an endpoint's `api_key_env`) from the environment first and
from here only when it is not set, so an exported variable always wins.
`openai` is a short name for `OPENAI_API_KEY`, and a configured endpoint's name for its
`api_key_env` (`normalize`).

    >>> store("openai", "sk-test-0123456789abcdef")    # in $LLMKIT_HOME/keys.json
    'OPENAI_API_KEY'
    >>> names(), oct(path().stat().st_mode & 0o777)
    (['OPENAI_API_KEY'], '0o600')
    >>> lookup("OPENAI_API_KEY")
    'sk-test-0123456789abcdef'
    >>> delete("openai"), names()
    (True, [])

Design: the file is written by creating a new 0600 temporary file beside it and
renaming it over the old one (never a chmod after the fact, never a half-written file);
a key read from it is registered with `llmkit.errors.remember_secret`, so no error,
log line or repr shows it. Keys never go in the config file or the history.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from pathlib import Path

from .config import home
from .config import load as load_config
from .errors import ConfigurationError, UsageError, remember_secret

__all__ = ["path", "lookup", "names", "store", "delete", "normalize", "SHORT_NAMES", "MAX_KEYS_BYTES"]

SHORT_NAMES = {"openai": "OPENAI_API_KEY"}
MAX_KEYS_BYTES = 1_000_000  # a keys file holds a few lines
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def path() -> Path:
    """$LLMKIT_HOME/keys.json."""
    return home() / "keys.json"


def normalize(name: str) -> str:
    """The environment variable a key name stands for: `openai` -> OPENAI_API_KEY, a
    configured endpoint's name -> its api_key_env, a variable's name -> itself."""
    name = name.strip()
    if name.lower() in SHORT_NAMES:
        return SHORT_NAMES[name.lower()]
    spec = load_config().providers.get(name)
    if isinstance(spec, dict) and isinstance(spec.get("api_key_env"), str):
        return str(spec["api_key_env"])
    if not _NAME.match(name):
        raise UsageError(f"{name!r} is not a key name",
                         hint="Name the environment variable the key stands for (e.g. OPENAI_API_KEY), "
                              "'openai', or a configured endpoint that has api_key_env.")  # fmt: skip
    return name


def _read() -> dict[str, str]:
    p = path()
    try:
        with open(p, "rb") as f:
            data = f.read(MAX_KEYS_BYTES + 1)
    except FileNotFoundError:
        return {}
    except OSError as exc:
        raise ConfigurationError(f"cannot read the keys file {p}: {exc.strerror or exc}",
                                 hint="Check its permissions, or remove it and set the keys again.") from None  # fmt: skip
    try:
        keys = json.loads(data.decode("utf-8")) if len(data) <= MAX_KEYS_BYTES else None
    except (UnicodeDecodeError, json.JSONDecodeError):
        keys = None
    if not isinstance(keys, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in keys.items()):
        raise ConfigurationError(f"the keys file {p} is not a JSON object of names to keys",
                                 hint="Remove it (`llmkit keys path` names it) and set the keys again.")  # fmt: skip
    for value in keys.values():
        remember_secret(value)  # read, so never shown
    return keys


def _write(keys: dict[str, str]) -> None:
    """Replace the file: a new owner-only temporary file, flushed, renamed over it."""
    p = path()
    if not p.parent.exists():
        p.parent.mkdir(parents=True, mode=0o700)  # as the history makes it
    fd, tmp = tempfile.mkstemp(dir=p.parent, prefix=".keys.json.", suffix=".tmp")  # created 0600
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(keys, f, indent=2, sort_keys=True)
            f.write("\n")
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, p)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def lookup(name: str) -> str | None:
    """The stored key for environment variable `name`, or None. Callers read the
    environment first: this is the fallback."""
    if not path().exists():  # the usual case: one stat, nothing read
        return None
    return _read().get(name)


def names() -> list[str]:
    """The names of the stored keys, sorted (never the keys)."""
    return sorted(_read())


def store(name: str, key: str) -> str:
    """Store `key` under `name` (normalized); returns the name it is stored under."""
    canonical = normalize(name)
    key = key.strip()
    if not key:
        raise UsageError("the key is empty", hint="Paste the key when asked, or pipe it in.")
    if any(c.isspace() for c in key) or not key.isprintable():
        raise UsageError("the key holds spaces or control characters",
                         hint="Paste the key alone, on one line.")  # fmt: skip
    remember_secret(key)
    keys = _read()
    keys[canonical] = key
    _write(keys)
    return canonical


def delete(name: str) -> bool:
    """Remove a stored key; False when there was none of that name."""
    canonical = normalize(name)
    keys = _read()
    if canonical not in keys:
        return False
    del keys[canonical]
    _write(keys)
    return True
