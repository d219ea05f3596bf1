"""Fixtures of the llmkit-anthropic tests: an empty llmkit home, no real keys, only this
plugin enabled, respx routes for Anthropic's API, and backoff that records instead of
sleeping (as the root tests' no_sleep does)."""

from __future__ import annotations

import pytest
from anthropic_payloads import API, KEY

import llmkit
from llmkit import retry

_ENV = ("OPENAI_API_KEY", "OPENAI_BASE_URL", "LLMKIT_MODEL", "ANTHROPIC_API_KEY", "ANTHROPIC_AUTH_TOKEN",
        "ANTHROPIC_BASE_URL", "ANTHROPIC_PROFILE", "ANTHROPIC_CONFIG_DIR", "ANTHROPIC_CUSTOM_HEADERS")


@pytest.fixture(autouse=True)
def isolated_home(tmp_path, monkeypatch):
    """Every test gets its own llmkit home, no keys from the environment, and only this
    plugin among the installed ones (the discovery tests lift that)."""
    monkeypatch.setenv("LLMKIT_HOME", str(tmp_path / "llmkit-home"))
    monkeypatch.setenv("LLMKIT_PLUGINS", "llmkit-anthropic")
    for name in _ENV:
        monkeypatch.delenv(name, raising=False)
    llmkit.clear_caches()
    _forget()
    yield tmp_path / "llmkit-home"
    llmkit.clear_caches()
    _forget()


def _forget() -> None:
    """The backend's process-wide memory: models known to refuse the forced tool, notes logged."""
    from llmkit_anthropic import backend

    backend._PROMPTED.clear()
    backend._DROPPED_NOTED.clear()


@pytest.fixture
def key(monkeypatch):
    monkeypatch.setenv("ANTHROPIC_API_KEY", KEY)
    return KEY


@pytest.fixture
def api(key):
    """respx routes for Anthropic's API (the SDK's httpx2 is aliased to httpx for respx:
    tests/httpx2_alias.py, loaded with -p by the root pytest config)."""
    import respx

    with respx.mock(base_url=API, assert_all_called=False) as mock:
        yield mock


@pytest.fixture(autouse=True)
def no_sleep(monkeypatch):
    """Record backoff delays instead of sleeping."""
    delays: list[float] = []
    monkeypatch.setattr(retry, "sleep", delays.append)

    async def asleep(d):
        delays.append(d)

    monkeypatch.setattr(retry, "asleep", asleep)
    return delays
