"""The fixtures of the llmkit-tools tests, imported by each test file (a conftest.py
would clash, as the module `conftest`, with other plugins' under --doctest-modules).
Every llmkit-tools test gets an empty llmkit home, no API keys, and no real model."""

import pytest

from llmkit.testing.models import block_model_requests

__all__ = ["_isolated"]  # the fixtures, taken by each test file with import *


@pytest.fixture(autouse=True)
def _isolated(tmp_path, monkeypatch):
    monkeypatch.setenv("LLMKIT_HOME", str(tmp_path / "llmkit-home"))
    for name in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "ANTHROPIC_API_KEY", "LLMKIT_MODEL"):
        monkeypatch.delenv(name, raising=False)
    with block_model_requests():
        yield
