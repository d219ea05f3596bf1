"""Checkpoint directories of the bundled GPT.

    model.safetensors   weights (fp32 or bf16; always loaded as fp32 for CPU compute), or
    model-00001-of-0000N.safetensors ... + model.safetensors.index.json: the same weights
                        in shards (`max_shard_bytes`), Hugging Face style
    config.json         {"format_version", "model": GPTConfig, "metadata": {...}}
    tokenizer.json      the byte-level BPE (a standard `tokenizers` file)
    ...                 extra files the trainer adds (optimizer state, loss curve)

No pickle anywhere: weights are safetensors, everything else is JSON. Saves are atomic:
the directory is written under a temporary name and renamed into place, so an
interrupted save leaves the previous checkpoint (or nothing), never half of one.

Shards: with `max_shard_bytes`, no weights file is larger than the limit (e.g. the
largest file a remote machine can send back). Tensors are packed into shards in order;
the index's "weight_map" says which file holds each one (as in Hugging Face's
model.safetensors.index.json). A tensor larger than a shard is cut along its first
dimension into parts named "NAME.part0", "NAME.part1", ...; the index lists them under
"llmkit_parts" and the loader concatenates them again. A missing or damaged shard is a
CheckpointError that names the file.
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

__all__ = ["FORMAT_VERSION", "Checkpoint", "save_checkpoint", "load_checkpoint", "is_checkpoint", "weight_files"]

FORMAT_VERSION = 1
WEIGHTS = "model.safetensors"
INDEX = "model.safetensors.index.json"
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
    weights = (path / WEIGHTS).is_file() or (path / INDEX).is_file()
    return weights and all((path / name).is_file() for name in (CONFIG, TOKENIZER))


def weight_files(path: str | os.PathLike[str]) -> list[Path]:
    """The weights files of a checkpoint: [model.safetensors], or the index and its shards."""
    path = Path(path)
    if not (path / INDEX).is_file():
        return [path / WEIGHTS]
    return [path / INDEX] + [path / name for name in sorted(set(_read_index(path)["weight_map"].values()))]


def save_checkpoint(path: str | os.PathLike[str], model: GPT, tokenizer: MiniTokenizer, *,
                    metadata: dict[str, Any] | None = None, dtype: str = "float32",
                    extra: Callable[[Path], None] | None = None, max_shard_bytes: int | None = None) -> Path:
    """Write a checkpoint directory atomically and return its path.

    `extra(tmp_dir)` may write more files (e.g. optimizer state) into the new checkpoint
    before it is moved into place. An existing checkpoint at `path` is replaced.
    `max_shard_bytes`: write the weights as shards of at most this size (see the module
    docstring) instead of one model.safetensors.
    """
    if dtype not in _DTYPES:
        raise ValueError(f"dtype must be one of {sorted(_DTYPES)}, got {dtype!r}")
    if max_shard_bytes is not None and max_shard_bytes < 4096:
        raise CheckpointError(f"max_shard_bytes={max_shard_bytes} is too small for a safetensors shard",
                              hint="Allow at least 4096 bytes (a shard also holds a header).")
    path = Path(path)
    with temporary_dir(path) as tmp:
        state = {k: v.detach().to("cpu", _DTYPES[dtype]).contiguous()
                 for k, v in model.state_dict().items() if k not in _TIED_KEYS}
        _save_weights(tmp, state, max_shard_bytes)
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


_ST_METADATA = {"format": "pt", "llmkit_mini": str(FORMAT_VERSION)}


def _save_weights(tmp: Path, state: dict[str, torch.Tensor], max_shard_bytes: int | None) -> None:
    from safetensors.torch import save_file

    total = sum(v.numel() * v.element_size() for v in state.values())
    if max_shard_bytes is None:
        save_file(state, str(tmp / WEIGHTS), metadata=_ST_METADATA)
        return
    # Each shard holds a JSON header (~100 bytes a tensor) besides the tensors: keep room for it.
    budget = max_shard_bytes - min(64 * 1024, max_shard_bytes // 4)
    pieces: list[tuple[str, torch.Tensor]] = []
    parts: dict[str, list[str]] = {}
    for name, tensor in state.items():
        size = tensor.numel() * tensor.element_size()
        if size <= budget or tensor.dim() == 0:
            pieces.append((name, tensor))
            continue
        row = size // tensor.shape[0]
        if row > budget:
            raise CheckpointError(f"{name} has rows of {row} bytes, more than a shard of {max_shard_bytes} bytes "
                                  "can hold", hint="Allow larger shards (max_shard_bytes).")  # fmt: skip
        chunks = tensor.split(max(1, budget // row))
        parts[name] = [f"{name}.part{i}" for i in range(len(chunks))]
        pieces += [(key, chunk.contiguous()) for key, chunk in zip(parts[name], chunks, strict=True)]
    shards: list[dict[str, torch.Tensor]] = [{}]
    used = 0
    for key, tensor in pieces:
        size = tensor.numel() * tensor.element_size()
        if shards[-1] and used + size > budget:
            shards.append({})
            used = 0
        shards[-1][key] = tensor
        used += size
    weight_map: dict[str, str] = {}
    for i, shard in enumerate(shards, 1):
        name = f"model-{i:05d}-of-{len(shards):05d}.safetensors"
        save_file(shard, str(tmp / name), metadata=_ST_METADATA)
        if (tmp / name).stat().st_size > max_shard_bytes:  # the header outgrew its room: should not happen
            raise CheckpointError(f"shard {name} came out larger than max_shard_bytes={max_shard_bytes}",
                                  hint="Allow larger shards (max_shard_bytes).")
        weight_map.update(dict.fromkeys(shard, name))
    index = {"metadata": {"total_size": total}, "weight_map": weight_map, "llmkit_parts": parts}
    (tmp / INDEX).write_text(json.dumps(index, indent=1, sort_keys=True), encoding="utf-8")


def _read_index(path: Path) -> dict[str, Any]:
    try:
        index = json.loads((path / INDEX).read_text(encoding="utf-8"))
        if not isinstance(index.get("weight_map"), dict) or not isinstance(index.get("llmkit_parts", {}), dict):
            raise ValueError("no weight_map")
        return index
    except (OSError, UnicodeDecodeError, ValueError, AttributeError) as exc:
        raise CheckpointError(f"{path / INDEX} is missing or corrupt: {exc}",
                              hint="Re-save or retrain the checkpoint.") from exc


def _load_weights(path: Path) -> dict[str, torch.Tensor]:
    """The state dict in model.safetensors, or reassembled from the index's shards."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    if not (path / INDEX).is_file():
        files, parts = [path / WEIGHTS], {}
    else:
        index = _read_index(path)
        files, parts = [path / name for name in sorted(set(index["weight_map"].values()))], index.get("llmkit_parts", {})
    state: dict[str, torch.Tensor] = {}
    for file in files:
        if not file.is_file():
            raise CheckpointError(f"checkpoint {path} is incomplete: the shard {file.name} is missing",
                                  hint="Copy the whole checkpoint directory again, or re-save it.")
        try:
            state.update(load_file(str(file), device="cpu"))
        except (SafetensorError, OSError, ValueError) as exc:
            raise CheckpointError(f"{file} is corrupt or truncated: {exc}",
                                  hint="Re-save or retrain the checkpoint.") from exc
    for name, keys in parts.items():
        missing = [k for k in keys if k not in state]
        if missing:
            raise CheckpointError(f"{path / INDEX}: the parts {missing[:3]} of {name} are in no shard",
                                  hint="Re-save or retrain the checkpoint.")
        state[name] = torch.cat([state.pop(k) for k in keys])
    return state


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
    weights = INDEX if (path / INDEX).is_file() else WEIGHTS
    for name in (CONFIG, weights, TOKENIZER):
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
    path = Path(path)
    config_data = read_config(path)
    try:
        config = GPTConfig.from_dict(config_data["model"])
    except (KeyError, TypeError, ValueError) as exc:
        raise CheckpointError(f"{path / CONFIG} holds an invalid model config: {exc}",
                              hint="Re-save or retrain the checkpoint.") from exc
    state = _load_weights(path)
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
