"""Tiny random Hugging Face models, built on the spot (no hub, no downloads).

A byte-level BPE tokenizer is trained with `tokenizers` on a few sentences, wrapped as
a PreTrainedTokenizerFast with a ChatML template, and saved next to a 2-layer
LlamaForCausalLM with random weights. Variants: no chat template, a template without a
system role, and a tokenizer with fill-in-the-middle tokens.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

# Test modules skip themselves when transformers is missing (pytest.importorskip at their
# top); this file imports nothing heavy at module level so that collection still works.

CHATML = (
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n{{ message['content'] }}<|im_end|>\n"
    "{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
NO_SYSTEM = (
    "{% for message in messages %}{% if message['role'] == 'system' %}"
    "{{ raise_exception('System role not supported') }}{% endif %}"
    "<start_of_turn>{{ message['role'] }}\n{{ message['content'] }}<end_of_turn>\n"
    "{% endfor %}{% if add_generation_prompt %}<start_of_turn>model\n{% endif %}"
)
CORPUS = [
    "The cat sat on the mat. The dog sat on the log. A bird sang in the tree.",
    "What is the capital of France? Paris is the capital of France.",
    "Once upon a time there was a small model that answered questions about cats and dogs.",
    "def add(a, b):\n    return a + b\n\nprint(add(2, 3))\n",
    "Héllo wörld, naïve café, 日本語のテキスト, emoji 🙂 and more ünïcödé text.",
]
SPECIAL = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<pad>"]
FIM = ["<fim_prefix>", "<fim_suffix>", "<fim_middle>"]


def build_tokenizer(fim: bool | list[str] = False, template: str | None = CHATML):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    special = SPECIAL + (fim if isinstance(fim, list) else FIM if fim else [])
    trainer = trainers.BpeTrainer(
        vocab_size=400, special_tokens=special, initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )  # fmt: skip
    tok.train_from_iterator(CORPUS * 5, trainer)
    kwargs = {"chat_template": template} if template else {}
    return PreTrainedTokenizerFast(
        tokenizer_object=tok, bos_token="<|endoftext|>", eos_token="<|im_end|>", pad_token="<pad>", **kwargs
    )


def build_model_dir(path: Path, *, fim: bool | list[str] = False, template: str | None = CHATML, seed: int = 0,
                    positions: int = 128) -> Path:  # fmt: skip
    """Save a tiny random llama + tokenizer to `path` (as save_pretrained would)."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # no "Writing model shards" bars in the test output
    tokenizer = build_tokenizer(fim=fim, template=template)
    config = LlamaConfig(
        vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
        num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=positions,
        bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id, tie_word_embeddings=True,
        initializer_range=0.3,  # spread-out logits: greedy choices are far from ties
    )  # fmt: skip
    torch.manual_seed(seed)
    model = LlamaForCausalLM(config)
    path.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path


@pytest.fixture(scope="session")
def tiny_dir(tmp_path_factory) -> Path:
    return build_model_dir(tmp_path_factory.mktemp("hf") / "tiny-llama")


@pytest.fixture(scope="session")
def long_context_dir(tmp_path_factory) -> Path:
    """The tiny model with 2048 positions (room for long prompts and outputs)."""
    return build_model_dir(tmp_path_factory.mktemp("hf-long") / "tiny-llama-2k", positions=2048)


@pytest.fixture(scope="session")
def fim_dir(tmp_path_factory) -> Path:
    return build_model_dir(tmp_path_factory.mktemp("hf") / "tiny-fim", fim=True)


@pytest.fixture(scope="session")
def no_template_dir(tmp_path_factory) -> Path:
    return build_model_dir(tmp_path_factory.mktemp("hf") / "tiny-base", template=None)


@pytest.fixture(scope="session")
def no_system_dir(tmp_path_factory, tiny_dir) -> Path:
    target = tmp_path_factory.mktemp("hf") / "tiny-nosystem"
    shutil.copytree(tiny_dir, target)
    (target / "chat_template.jinja").write_text(NO_SYSTEM)
    return target


@pytest.fixture
def tiny(tiny_dir):
    import llmkit

    return llmkit.Client(f"hf:{tiny_dir}", threads=1)


@pytest.fixture(autouse=True)
def _offline(monkeypatch):
    """Nothing here may reach for the hub."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
