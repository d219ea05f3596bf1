"""A tiny random bundled-architecture model (2 layers, 64 positions), built in-process
through the real checkpoint code: fast enough to code hundreds of inputs, and its
64-token window makes even short inputs several chunks and batches."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("constriction")
torch = pytest.importorskip("torch")

CORPUS = [
    "The cat sat on the mat. The dog sat on the log. A bird sang in the tree.\n",
    "def add(a, b):\n    return a + b\n\nprint(add(2, 3))\n",
    "Héllo wörld, naïve café, 日本語のテキスト, emoji 🙂 and more ünïcödé text.\n",
]


@pytest.fixture(scope="session")
def tiny_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from llmkit.mini.checkpoint import save_checkpoint
    from llmkit.mini.model import GPT, GPTConfig
    from llmkit.mini.tokenizer import train_tokenizer

    tokenizer = train_tokenizer(CORPUS * 20, 300)
    torch.manual_seed(0)
    model = GPT(GPTConfig(vocab_size=tokenizer.vocab_size, n_layer=2, n_head=2, n_embd=32, block_size=64)).eval()
    path = tmp_path_factory.mktemp("compress") / "tiny"
    save_checkpoint(path, model, tokenizer, metadata={"note": "random, for compression tests"})
    return path


@pytest.fixture(scope="session")
def tiny(tiny_path: Path):
    import llmkit

    return llmkit.Client(f"mini:{tiny_path}", threads=1)


@pytest.fixture(scope="session")
def mini():
    import llmkit

    return llmkit.Client("mini", threads=1)


@pytest.fixture(scope="session")
def tiny_hf(tmp_path_factory: pytest.TempPathFactory):
    """The tiny random llama of tests/hf (a Hugging Face model behind the same API)."""
    pytest.importorskip("transformers")
    from hf.conftest import build_model_dir

    import llmkit

    return llmkit.Client(f"hf:{build_model_dir(tmp_path_factory.mktemp('compress-hf') / 'tiny-llama')}", threads=1)
