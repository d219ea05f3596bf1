"""Doctests in llmkit's docstrings get what every test gets (tests/conftest.py): an
empty llmkit home of their own and no API keys from the environment."""

import pytest
from _pytest.doctest import DoctestItem


@pytest.fixture(autouse=True)
def _doctest_home(request, tmp_path, monkeypatch):
    if isinstance(request.node, DoctestItem):
        monkeypatch.setenv("LLMKIT_HOME", str(tmp_path / "llmkit-home"))
        for name in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "LLMKIT_MODEL"):
            monkeypatch.delenv(name, raising=False)
