import pytest

import llmkit
from llmkit import retry
from llmkit.testing.openai_server import OpenAICompatibleServer


@pytest.fixture(autouse=True)
def isolated_home(tmp_path, monkeypatch):
    """Every test gets its own empty llmkit home and no real keys from the environment."""
    monkeypatch.setenv("LLMKIT_HOME", str(tmp_path / "llmkit-home"))
    # installed plugins (plugins/ is installed by the test command) stay out of the core's tests;
    # the plugin tests turn them on
    monkeypatch.setenv("LLMKIT_PLUGINS", "")
    for name in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "LLMKIT_MODEL", "OPENAI_ORG_ID", "OPENAI_PROJECT_ID"):
        monkeypatch.delenv(name, raising=False)
    return tmp_path / "llmkit-home"


@pytest.fixture
def no_sleep(monkeypatch):
    """Record backoff delays instead of sleeping."""
    delays: list[float] = []
    monkeypatch.setattr(retry, "sleep", delays.append)

    async def asleep(d):
        delays.append(d)

    monkeypatch.setattr(retry, "asleep", asleep)
    return delays


@pytest.fixture
def api():
    """respx routes for the OpenAI API (needs the httpx2 alias: tests/httpx2_alias.py)."""
    import respx
    from openai_payloads import API

    with respx.mock(base_url=API, assert_all_called=False) as mock:
        yield mock


@pytest.fixture
def openai_key(monkeypatch):
    """A fake OpenAI key in the environment (the secret tests scan for it)."""
    from openai_payloads import KEY

    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    return KEY


@pytest.fixture
def server():
    with OpenAICompatibleServer() as s:
        yield s


@pytest.fixture
def local_client(server):
    return llmkit.Client("openai:test-model", base_url=server.base_url)
