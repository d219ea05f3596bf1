"""Shared fixtures for the bundled GPT: a small synthetic corpus, a tokenizer trained on
it, a random tiny model saved through the real checkpoint code, and a briefly trained
model. Everything is built in-process in a few seconds; nothing is downloaded."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
import torch

from llmkit.mini.checkpoint import save_checkpoint
from llmkit.mini.engine import MiniEngine
from llmkit.mini.model import GPT, GPTConfig
from llmkit.mini.tokenizer import MiniTokenizer, train_tokenizer
from llmkit.mini.train import TrainResult, train

WORDS = ("the cat sat on mat and dog ran to park while bird sang in tree under sun "
         "a small house stood near river where old man fished every morning").split()


def make_prose(seed: int, n_sentences: int) -> str:
    rng = random.Random(seed)
    sentences = []
    for _ in range(n_sentences):
        words = [rng.choice(WORDS) for _ in range(rng.randint(4, 10))]
        sentences.append(" ".join(words).capitalize() + ".")
    return " ".join(sentences) + "\n"


def make_code(seed: int, n_functions: int) -> str:
    rng = random.Random(seed)
    out = []
    for i in range(n_functions):
        name = rng.choice(["add", "scale", "clip", "mix", "shift"]) + str(i % 7)
        arg = rng.choice(["x", "y", "value"])
        out.append(f"def {name}({arg}):\n    return {arg} + {rng.randint(1, 9)}\n\n")
    return "".join(out)


@pytest.fixture(scope="session")
def corpus_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("corpus")
    for i in range(6):
        (root / f"prose{i}.txt").write_text(make_prose(i, 60), encoding="utf-8")
        (root / f"code{i}.py").write_text(make_code(100 + i, 40), encoding="utf-8")
    (root / "unicode.txt").write_text("Café naïve résumé — 日本語のテキスト. Ünïcödé ✓\n" * 20, encoding="utf-8")
    return root


@pytest.fixture(scope="session")
def tokenizer(corpus_dir: Path) -> MiniTokenizer:
    return train_tokenizer(sorted(corpus_dir.iterdir()), 400)


@pytest.fixture(scope="session")
def tiny_config(tokenizer: MiniTokenizer) -> GPTConfig:
    return GPTConfig(vocab_size=tokenizer.vocab_size, n_layer=2, n_head=2, n_embd=32, block_size=64)


@pytest.fixture(scope="session")
def random_model(tiny_config: GPTConfig) -> GPT:
    torch.manual_seed(0)
    return GPT(tiny_config).eval()


@pytest.fixture(scope="session")
def random_ckpt(tmp_path_factory: pytest.TempPathFactory, random_model: GPT, tokenizer: MiniTokenizer) -> Path:
    path = tmp_path_factory.mktemp("ckpt") / "random"
    save_checkpoint(path, random_model, tokenizer, metadata={"note": "random"})
    return path


@pytest.fixture(scope="session")
def engine(random_ckpt: Path) -> MiniEngine:
    return MiniEngine.load(random_ckpt)


@pytest.fixture(scope="session")
def trained(tmp_path_factory: pytest.TempPathFactory, corpus_dir: Path) -> TrainResult:
    """A model trained for a few seconds: it learns the corpus' most frequent patterns."""
    out = tmp_path_factory.mktemp("trained") / "model"
    config = GPTConfig(vocab_size=400, n_layer=2, n_head=2, n_embd=64, block_size=64)
    return train([corpus_dir], out, model=config, max_steps=100, batch_size=8, lr=4e-3, warmup=10,
                 eval_every=50, checkpoint_every=1000, fim_rate=0.3, progress=False, seed=0)


@pytest.fixture(scope="session")
def trained_engine(trained: TrainResult) -> MiniEngine:
    return MiniEngine.load(trained.path)
