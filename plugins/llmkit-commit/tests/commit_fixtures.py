"""The fixtures of the llmkit-commit tests, imported by each test file (a conftest.py
would clash, as the module `conftest`, with other plugins' under --doctest-modules).
The llmkit-commit tests get an empty llmkit home, no API keys, no real model, and git that
reads no user or system config (its author and committer are set here)."""

import subprocess

import pytest

from llmkit.testing.models import block_model_requests

__all__ = ["_isolated", "repo", "run_git"]  # the fixtures, taken by each test file with import *


@pytest.fixture(autouse=True)
def _isolated(tmp_path, monkeypatch):
    monkeypatch.setenv("LLMKIT_HOME", str(tmp_path / "llmkit-home"))
    for name in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "ANTHROPIC_API_KEY", "LLMKIT_MODEL", "GIT_DIR",
                 "GIT_WORK_TREE", "GIT_INDEX_FILE", "VISUAL", "EDITOR", "GIT_EDITOR"):
        monkeypatch.delenv(name, raising=False)
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(home / ".gitconfig"))
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path))  # no repository above the test's folders
    for who in ("AUTHOR", "COMMITTER"):
        monkeypatch.setenv(f"GIT_{who}_NAME", "Test Person")
        monkeypatch.setenv(f"GIT_{who}_EMAIL", "test@example.com")
    with block_model_requests():
        yield


def git(repo, *args, input=None):
    r = subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True, input=input)
    assert r.returncode == 0, r.stderr
    return r.stdout


@pytest.fixture
def repo(tmp_path):
    """A repository with one commit (README.md), nothing staged."""
    path = tmp_path / "repo"
    path.mkdir()
    git(path, "init", "-q", "-b", "main")
    (path / "README.md").write_text("# project\n")
    git(path, "add", "README.md")
    git(path, "commit", "-q", "-m", "Initial commit")
    return path


@pytest.fixture
def run_git():
    """git(repo, *args) -> stdout, asserting success."""
    return git
