"""Checkpoint directories: exact round trips, bf16, atomic saves, clear errors."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch

from llmkit.errors import CheckpointError
from llmkit.mini.checkpoint import FORMAT_VERSION, is_checkpoint, load_checkpoint, save_checkpoint
from llmkit.mini.model import GPT
from llmkit.mini.tokenizer import MiniTokenizer


def _copy(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst)
    return dst


def test_round_trip_identical_weights_and_logits(random_ckpt: Path, random_model: GPT,
                                                 tokenizer: MiniTokenizer) -> None:
    ckpt = load_checkpoint(random_ckpt)
    assert ckpt.config == random_model.config
    assert ckpt.metadata == {"note": "random"}
    assert ckpt.model.lm_head.weight is ckpt.model.wte.weight  # tying survives loading
    for (name, a), (_, b) in zip(random_model.state_dict().items(), ckpt.model.state_dict().items(), strict=True):
        assert torch.equal(a, b), name
    idx = torch.tensor([tokenizer.encode("the cat sat on the mat")])
    with torch.no_grad():
        assert torch.equal(random_model(idx)[0], ckpt.model(idx)[0])
    assert ckpt.tokenizer.to_str() == tokenizer.to_str()


def test_bf16_checkpoint_loads_as_fp32(tmp_path: Path, random_model: GPT, tokenizer: MiniTokenizer) -> None:
    save_checkpoint(tmp_path / "bf16", random_model, tokenizer, dtype="bfloat16")
    ckpt = load_checkpoint(tmp_path / "bf16")
    assert all(p.dtype == torch.float32 for p in ckpt.model.parameters())
    assert (tmp_path / "bf16" / "model.safetensors").stat().st_size < 0.6 * sum(
        p.numel() * 4 for p in random_model.parameters())
    w, w16 = random_model.wte.weight, ckpt.model.wte.weight
    assert torch.allclose(w, w16, rtol=1e-2, atol=1e-3) and not torch.equal(w, w16)


def test_save_replaces_previous_and_leaves_no_temp_dirs(tmp_path: Path, random_model: GPT,
                                                        tokenizer: MiniTokenizer) -> None:
    target = tmp_path / "ck"
    save_checkpoint(target, random_model, tokenizer, metadata={"v": 1})
    save_checkpoint(target, random_model, tokenizer, metadata={"v": 2})
    assert load_checkpoint(target).metadata == {"v": 2}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ck"]


def test_interrupted_save_keeps_the_old_checkpoint(tmp_path: Path, random_model: GPT,
                                                   tokenizer: MiniTokenizer) -> None:
    target = tmp_path / "ck"
    save_checkpoint(target, random_model, tokenizer, metadata={"v": 1})

    def crash(tmp: Path) -> None:
        (tmp / "optimizer.pt").write_bytes(b"partial")
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        save_checkpoint(target, random_model, tokenizer, metadata={"v": 2}, extra=crash)
    assert load_checkpoint(target).metadata == {"v": 1}
    assert not (target / "optimizer.pt").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ck"]


def test_missing_checkpoint(tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match="does not exist") as info:
        load_checkpoint(tmp_path / "nothing")
    assert str(tmp_path / "nothing") in str(info.value)
    assert not is_checkpoint(tmp_path / "nothing")


def test_leftover_backup_is_pointed_out(tmp_path: Path, random_ckpt: Path) -> None:
    _copy(random_ckpt, tmp_path / "ck.old")
    with pytest.raises(CheckpointError, match="rename it"):
        load_checkpoint(tmp_path / "ck")


@pytest.mark.parametrize("missing", ["model.safetensors", "config.json", "tokenizer.json"])
def test_incomplete_checkpoint(tmp_path: Path, random_ckpt: Path, missing: str) -> None:
    path = _copy(random_ckpt, tmp_path / "ck")
    (path / missing).unlink()
    with pytest.raises(CheckpointError, match=f"{missing} is missing"):
        load_checkpoint(path)


def test_truncated_weights(tmp_path: Path, random_ckpt: Path) -> None:
    path = _copy(random_ckpt, tmp_path / "ck")
    weights = path / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:1000])
    with pytest.raises(CheckpointError, match="corrupt or truncated"):
        load_checkpoint(path)


def test_garbage_weights_and_config(tmp_path: Path, random_ckpt: Path) -> None:
    path = _copy(random_ckpt, tmp_path / "ck")
    (path / "config.json").write_text("{oops", encoding="utf-8")
    with pytest.raises(CheckpointError, match="config.json is corrupt"):
        load_checkpoint(path)
    path = _copy(random_ckpt, tmp_path / "ck2")
    (path / "model.safetensors").write_bytes(b"\x00" * 64)
    with pytest.raises(CheckpointError, match="corrupt or truncated"):
        load_checkpoint(path)


def test_newer_format_version(tmp_path: Path, random_ckpt: Path) -> None:
    path = _copy(random_ckpt, tmp_path / "ck")
    config = json.loads((path / "config.json").read_text())
    config["format_version"] = FORMAT_VERSION + 1
    (path / "config.json").write_text(json.dumps(config))
    with pytest.raises(CheckpointError, match="Upgrade llmkit"):
        load_checkpoint(path)
    del config["format_version"]
    (path / "config.json").write_text(json.dumps(config))
    with pytest.raises(CheckpointError, match="no format_version"):
        load_checkpoint(path)


def test_weights_that_do_not_match_config(tmp_path: Path, random_ckpt: Path) -> None:
    path = _copy(random_ckpt, tmp_path / "ck")
    config = json.loads((path / "config.json").read_text())
    config["model"]["n_layer"] = 3
    (path / "config.json").write_text(json.dumps(config))
    with pytest.raises(CheckpointError, match="does not match its config"):
        load_checkpoint(path)


def test_non_finite_weights_rejected(tmp_path: Path, random_model: GPT, tokenizer: MiniTokenizer) -> None:
    broken = GPT(random_model.config)
    broken.load_state_dict(random_model.state_dict())
    with torch.no_grad():
        broken.blocks[0].mlp.fc.weight[0, 0] = float("nan")
    save_checkpoint(tmp_path / "ck", broken, tokenizer)
    with pytest.raises(CheckpointError, match="NaN"):
        load_checkpoint(tmp_path / "ck")


def test_no_pickle_in_checkpoint(random_ckpt: Path) -> None:
    names = {p.name for p in random_ckpt.iterdir()}
    assert names == {"model.safetensors", "config.json", "tokenizer.json"}
