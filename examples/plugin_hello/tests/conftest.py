import sys
from pathlib import Path

import pytest

# the plugin's folder, as `pip install -e .` would make it importable
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


@pytest.fixture(autouse=True)
def quiet_home(tmp_path, monkeypatch):
    monkeypatch.setenv("LLMKIT_HOME", str(tmp_path / "home"))  # no user config, no history
