"""Checkpoint directories of the bundled GPT.

    model.safetensors   weights (fp32 or bf16; always loaded as fp32 for CPU compute)
    config.json         {"format_version", "model": GPTConfig, "metadata": {...}}
    tokenizer.json      the byte-level BPE (a standard `tokenizers` file)
    ...                 extra files the trainer adds (optimizer state, loss curve)

No pickle anywhere: weights are safetensors, everything else is JSON. Saves are atomic:
the directory is written under a temporary name and renamed into place, so an
interrupted save leaves the previous checkpoint (or nothing), never half of one.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from llmkit.atomic import fsync_files, replace_dir, temporary_dir
from llmkit.errors import CheckpointError
from llmkit.mini.model import GPT, GPTConfig
from llmkit.mini.tokenizer import MiniTokenizer

__all__ = ["FORMAT_VERSION", "Checkpoint", "save_checkpoint", "load_checkpoint", "is_checkpoint"]

FORMAT_VERSION = 1
WEIGHTS = "model.safetensors"
CONFIG = "config.json"
TOKENIZER = "tokenizer.json"
# Tied with wte.weight: stored once, re-tied by the model's constructor on load.
_TIED_KEYS = ("lm_head.weight",)
_DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16}


@dataclass
class Checkpoint:
    model: GPT
    config: GPTConfig
    tokenizer: MiniTokenizer
    metadata: dict[str, Any] = field(default_factory=dict)
    path: Path | None = None


def is_checkpoint(path: str | os.PathLike[str]) -> bool:
    path = Path(path)
    return all((path / name).is_file() for name in (WEIGHTS, CONFIG, TOKENIZER))


def save_checkpoint(path: str | os.PathLike[str], model: GPT, tokenizer: MiniTokenizer, *,
                    metadata: dict[str, Any] | None = None, dtype: str = "float32",
                    extra: Callable[[Path], None] | None = None) -> Path:
    """Write a checkpoint directory atomically and return its path.

    `extra(tmp_dir)` may write more files (e.g. optimizer state) into the new checkpoint
    before it is moved into place. An existing checkpoint at `path` is replaced.
    """
    from safetensors.torch import save_file

    if dtype not in _DTYPES:
        raise ValueError(f"dtype must be one of {sorted(_DTYPES)}, got {dtype!r}")
    path = Path(path)
    with temporary_dir(path) as tmp:
        state = {k: v.detach().to("cpu", _DTYPES[dtype]).contiguous()
                 for k, v in model.state_dict().items() if k not in _TIED_KEYS}
        save_file(state, str(tmp / WEIGHTS), metadata={"format": "pt", "llmkit_mini": str(FORMAT_VERSION)})
        config = {
            "format_version": FORMAT_VERSION,
            "model": model.config.to_dict(),
            "dtype": dtype,
            "metadata": metadata or {},
        }
        (tmp / CONFIG).write_text(json.dumps(config, indent=2, sort_keys=True), encoding="utf-8")
        tokenizer.save(tmp / TOKENIZER)
        if extra is not None:
            extra(tmp)
        fsync_files(tmp)
        replace_dir(tmp, path)
    return path


def read_config(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The parsed and version-checked config.json of a checkpoint directory."""
    path = Path(path)
    if not path.exists():
        backup = path.with_name(path.name + ".old")
        hint = (f"An interrupted save left a complete previous checkpoint at {backup}: rename it to {path.name}."
                if backup.is_dir() else "Check the path, or train a model first (llmkit.mini.train.train).")
        raise CheckpointError(f"checkpoint {path} does not exist", hint=hint)
    if not path.is_dir():
        raise CheckpointError(f"checkpoint {path} is not a directory",
                              hint="Pass the checkpoint directory (holding model.safetensors and config.json).")
    for name in (CONFIG, WEIGHTS, TOKENIZER):
        if not (path / name).is_file():
            raise CheckpointError(f"checkpoint {path} is incomplete: {name} is missing",
                                  hint="Re-save or retrain the checkpoint; it may have been copied partially.")
    try:
        config = json.loads((path / CONFIG).read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CheckpointError(f"{path / CONFIG} is corrupt: {exc}",
                              hint="Re-save or retrain the checkpoint.") from exc
    version = config.get("format_version") if isinstance(config, dict) else None
    if not isinstance(version, int):
        raise CheckpointError(f"{path / CONFIG} has no format_version: not a llmkit mini checkpoint",
                              hint="Point at a directory written by llmkit.mini (save_checkpoint or train).")
    if version > FORMAT_VERSION:
        raise CheckpointError(
            f"checkpoint {path} has format version {version}; this llmkit reads up to {FORMAT_VERSION}",
            hint="Upgrade llmkit to load it.")
    if version < 1:
        raise CheckpointError(f"checkpoint {path} has an unknown format version {version}",
                              hint="Retrain the model with this llmkit version.")
    return config


def load_checkpoint(path: str | os.PathLike[str]) -> Checkpoint:
    """Load a checkpoint directory to fp32 on CPU; raise CheckpointError if unusable."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    path = Path(path)
    config_data = read_config(path)
    try:
        config = GPTConfig.from_dict(config_data["model"])
    except (KeyError, TypeError, ValueError) as exc:
        raise CheckpointError(f"{path / CONFIG} holds an invalid model config: {exc}",
                              hint="Re-save or retrain the checkpoint.") from exc
    try:
        state = load_file(str(path / WEIGHTS), device="cpu")
    except (SafetensorError, OSError, ValueError) as exc:
        raise CheckpointError(f"{path / WEIGHTS} is corrupt or truncated: {exc}",
                              hint="Re-save or retrain the checkpoint.") from exc
    tokenizer = MiniTokenizer.load(path / TOKENIZER)
    if tokenizer.vocab_size > config.vocab_size:
        raise CheckpointError(
            f"checkpoint {path}: the tokenizer has {tokenizer.vocab_size} tokens but the model only "
            f"{config.vocab_size}", hint="The tokenizer.json does not belong to these weights; retrain.")
    model = GPT(config)
    expected = {k: v.shape for k, v in model.state_dict().items() if k not in _TIED_KEYS}
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    wrong = sorted(k for k in set(expected) & set(state) if state[k].shape != expected[k])
    if missing or unexpected or wrong:
        raise CheckpointError(
            f"{path / WEIGHTS} does not match its config: missing {missing[:5]}, unexpected "
            f"{unexpected[:5]}, wrong shapes {wrong[:5]}",
            hint="The weights and config.json come from different models; re-save or retrain.")
    bad = sorted(k for k, v in state.items() if v.is_floating_point() and not torch.isfinite(v).all())
    if bad:
        raise CheckpointError(f"{path / WEIGHTS} holds NaN or infinite values in {bad[:5]}",
                              hint="The training run diverged or the file is damaged; use an earlier checkpoint.")
    state = {k: v.float() for k, v in state.items()}
    model.load_state_dict(state, strict=False)  # strict=False only for the tied lm_head
    model.eval()
    return Checkpoint(model=model, config=config, tokenizer=tokenizer,
                      metadata=config_data.get("metadata") or {}, path=path)
