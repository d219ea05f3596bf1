"""Training: loss goes down, validation bits per byte, exact resume, Ctrl-C, errors."""

from __future__ import annotations

import json
import math
import os
import signal
from pathlib import Path

import pytest
import torch

import llmkit
from llmkit.errors import CheckpointError, ConfigurationError
from llmkit.mini.checkpoint import load_checkpoint
from llmkit.mini.corpus import Document
from llmkit.mini.data import eval_windows, plain_stream
from llmkit.mini.model import GPT, GPTConfig
from llmkit.mini.tokenizer import MiniTokenizer
from llmkit.mini.train import StepInfo, TrainResult, evaluate, lr_at, make_optimizer, train

TINY = GPTConfig(vocab_size=320, n_layer=1, n_head=2, n_embd=32, block_size=32)
FAST = {"batch_size": 4, "lr": 3e-3, "warmup": 2, "eval_every": 3, "progress": False, "seed": 7}


def test_short_run_lowers_loss_and_writes_a_usable_checkpoint(trained: TrainResult) -> None:
    losses = [h["loss"] for h in trained.history if "loss" in h]
    assert trained.steps == 100 and len(losses) == 100
    assert sum(losses[-10:]) / 10 < sum(losses[:5]) / 5 - 1.0
    vals = [h["val_loss"] for h in trained.history if "val_loss" in h]
    assert len(vals) == 2 and vals[-1] < math.log(trained_vocab(trained))
    assert trained.val_bpb is not None and 0 < trained.val_bpb < 8
    ckpt = load_checkpoint(trained.path)
    meta = ckpt.metadata["training"]
    assert meta["step"] == 100 and meta["val_bpb"] == pytest.approx(trained.val_bpb)
    assert meta["corpus"]["documents"] == 13 and meta["corpus"]["val_documents"] >= 1
    assert (trained.path / "optimizer.pt").is_file() and (trained.path / "trainer_state.json").is_file()


def trained_vocab(result: TrainResult) -> int:
    return load_checkpoint(result.path).config.vocab_size


def test_bits_per_byte_is_nats_per_byte_over_ln2(tokenizer: MiniTokenizer, random_model: GPT) -> None:
    docs = [Document("a", "The cat sat on the mat. " * 10), Document("b", "Café ✓ " * 5)]
    windows = eval_windows(plain_stream(tokenizer, docs), random_model.config.block_size, 10)
    result = evaluate(random_model, tokenizer, windows)
    nats = n_tok = n_bytes = 0.0
    with torch.no_grad():
        for x, y in windows:
            logp = torch.log_softmax(random_model(x)[0][0], -1)
            nats -= logp[torch.arange(y.shape[1]), y[0]].sum().item()
            n_tok += y.shape[1]
            n_bytes += len(tokenizer.decode_bytes(y[0].tolist(), skip_special=True))
    assert result["val_loss"] == pytest.approx(nats / n_tok, rel=1e-5)
    assert result["val_bpb"] == pytest.approx(result["val_loss"] * n_tok / n_bytes / math.log(2), rel=1e-5)


def test_lr_schedule() -> None:
    kw = {"lr": 1.0, "min_lr": 0.1, "warmup": 10}
    assert lr_at(0, progress=0.0, **kw) == pytest.approx(0.1)
    assert lr_at(9, progress=0.09, **kw) == pytest.approx(1.0)
    assert lr_at(10, progress=0.0, **kw) == pytest.approx(1.0)
    assert lr_at(50, progress=0.5, **kw) == pytest.approx(0.55)
    assert lr_at(100, progress=1.0, **kw) == pytest.approx(0.1)


def test_weight_decay_only_on_matrices(random_model: GPT) -> None:
    opt = make_optimizer(random_model, 1e-3, 0.1, (0.9, 0.95))
    decay, no_decay = opt.param_groups
    assert decay["weight_decay"] == 0.1 and no_decay["weight_decay"] == 0.0
    assert all(p.dim() == 2 for p in decay["params"]) and all(p.dim() == 1 for p in no_decay["params"])
    assert len(decay["params"]) + len(no_decay["params"]) == len(list(random_model.parameters()))


def _interrupt_at(step: int):
    def callback(info: StepInfo) -> None:
        if info.step == step:
            raise KeyboardInterrupt

    return callback


def test_resume_continues_exactly(tmp_path: Path, corpus_dir: Path) -> None:
    """Stopped at step 3 and resumed, a run ends bit-identical to an uninterrupted one."""
    straight = train([corpus_dir], tmp_path / "a", model=TINY, max_steps=6, **FAST)
    with pytest.raises(KeyboardInterrupt):
        train([corpus_dir], tmp_path / "b", model=TINY, max_steps=6, on_step=_interrupt_at(3), **FAST)
    resumed = train([corpus_dir], tmp_path / "b", max_steps=6, resume=True, **FAST)
    assert resumed.steps == 6
    a, b = load_checkpoint(straight.path), load_checkpoint(resumed.path)
    for (name, x), (_, y) in zip(a.model.state_dict().items(), b.model.state_dict().items(), strict=True):
        assert torch.equal(x, y), name
    assert a.tokenizer.to_str() == b.tokenizer.to_str()
    opt_a = torch.load(tmp_path / "a" / "optimizer.pt", weights_only=True)
    opt_b = torch.load(tmp_path / "b" / "optimizer.pt", weights_only=True)
    assert all(torch.equal(opt_a["state"][k]["exp_avg"], opt_b["state"][k]["exp_avg"]) for k in opt_a["state"])
    assert straight.history == resumed.history


def test_interrupt_saves_a_checkpoint_then_resume(tmp_path: Path, corpus_dir: Path) -> None:
    out = tmp_path / "run"
    with pytest.raises(KeyboardInterrupt):
        train([corpus_dir], out, model=TINY, max_steps=50, on_step=_interrupt_at(4), **FAST)
    assert load_checkpoint(out).metadata["training"]["step"] == 4
    assert json.loads((out / "trainer_state.json").read_text())["step"] == 4
    result = train([corpus_dir], out, max_steps=6, resume=True, **FAST)
    assert result.steps == 6


def test_sigint_finishes_the_step_saves_and_raises(tmp_path: Path, corpus_dir: Path) -> None:
    def ctrl_c_at_2(info: StepInfo) -> None:
        if info.step == 2:
            os.kill(os.getpid(), signal.SIGINT)

    before = signal.getsignal(signal.SIGINT)
    with pytest.raises(KeyboardInterrupt):
        train([corpus_dir], tmp_path / "run", model=TINY, max_steps=50, on_step=ctrl_c_at_2, **FAST)
    assert load_checkpoint(tmp_path / "run").metadata["training"]["step"] == 2
    assert signal.getsignal(signal.SIGINT) is before


def test_time_budget_stops_training(tmp_path: Path, corpus_dir: Path) -> None:
    result = train([corpus_dir], tmp_path / "run", model=TINY, max_steps=None, time_budget=0.5, **FAST)
    assert result.steps >= 1 and result.elapsed < 30  # stopped by the clock (no step limit), not hung


def test_corpus_errors(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ConfigurationError, match="contains no text"):
        train([empty], tmp_path / "out", model=TINY, max_steps=1, progress=False)
    binary = tmp_path / "bin"
    binary.mkdir()
    (binary / "a.bin").write_bytes(bytes(range(256)) * 10)
    with pytest.raises(ConfigurationError, match="1 files skipped"):
        train([binary], tmp_path / "out", model=TINY, max_steps=1, progress=False)
    with pytest.raises(ConfigurationError, match="does not exist"):
        train([tmp_path / "missing"], tmp_path / "out", model=TINY, max_steps=1, progress=False)


def test_output_directory_rules(tmp_path: Path, corpus_dir: Path) -> None:
    out = tmp_path / "out"
    with pytest.raises(CheckpointError, match="cannot resume"):
        train([corpus_dir], out, max_steps=1, resume=True, progress=False)
    out.mkdir()
    (out / "notes.txt").write_text("keep me")
    with pytest.raises(ConfigurationError, match="not empty"):
        train([corpus_dir], out, model=TINY, max_steps=1, progress=False)
    with pytest.raises(ConfigurationError, match="say how long to train: max_steps"):
        train([corpus_dir], tmp_path / "x", model=TINY, max_steps=None, progress=False)


def test_loss_curve_png_or_note(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    import importlib.util

    import llmkit.mini.trainlog as trainlog

    history = [{"step": 1, "loss": 3.0}, {"step": 2, "loss": 2.5}, {"step": 2, "val_loss": 2.7}]
    llmkit.clear_caches()  # the "no matplotlib" note is given once per process: start afresh
    with caplog.at_level("INFO", logger="llmkit.mini.train"):
        written = trainlog.plot_loss_curve(history, tmp_path / "loss.png")
    if importlib.util.find_spec("matplotlib") is None:
        assert written is False and not (tmp_path / "loss.png").exists()
        assert "matplotlib is not installed" in caplog.text
    else:
        assert written is True and (tmp_path / "loss.png").read_bytes().startswith(b"\x89PNG")


def test_the_trainer_steps_evaluates_and_saves_on_its_own(corpus_dir: Path, tmp_path: Path) -> None:
    from llmkit.mini.distributed import Dist
    from llmkit.mini.train import Trainer
    from llmkit.mini.train_config import TrainConfig

    out = tmp_path / "by-hand"
    trainer = Trainer([corpus_dir], out, TrainConfig(model=TINY, max_steps=4, **{k: v for k, v in FAST.items()
                                                                                if k != "progress"}), Dist(),
                      progress=False)  # fmt: skip
    started = __import__("time").monotonic()
    first, _ = trainer.step(started, 0.0)
    for _ in range(3):
        info, interrupted = trainer.step(started, 0.0)
    assert first.step == 1 and info.step == 4 and not interrupted and trainer.finished(0.0)
    assert trainer.state["tokens_seen"] == 4 * 4 * TINY.block_size
    metrics = trainer.evaluate()
    assert set(metrics) == {"val_loss", "val_bpb"} and metrics["val_loss"] > 0
    trainer.save()
    assert load_checkpoint(out).metadata["training"]["step"] == 4
    assert json.loads((out / "trainer_state.json").read_text())["settings"]["batch_size"] == 4


def test_every_default_lives_in_train_config_and_the_recipe_is_built_from_it() -> None:
    import argparse

    from llmkit.cli.train import add_arguments
    from llmkit.mini.train_config import SHIPPED_RECIPE, TrainConfig, from_flags

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    assert SHIPPED_RECIPE.command() in readme  # the README shows the recipe the code holds
    card = (Path(__file__).resolve().parents[2] / "llmkit/mini/weights/MODEL_CARD.md").read_text()
    card_command = next(line for line in card.splitlines() if line.startswith("llmkit train --stdlib"))
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    card_config = from_flags(parser.parse_args(card_command.split()[2:]), resume=False)
    assert card_config == TrainConfig(model=GPTConfig(), **SHIPPED_RECIPE.changed())  # the card's run, same recipe
    defaults = from_flags(parser.parse_args(["-o", "x", "--steps", "1"]), resume=False)
    assert defaults == TrainConfig(model=GPTConfig(), max_steps=1)  # the CLI's defaults are TrainConfig's
