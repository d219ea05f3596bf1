"""Train the bundled GPT on your own text: `train(["notes/", "book.txt"], "my-model")`.

The output directory is a checkpoint `MiniEngine.load` reads. It is rewritten atomically
every `checkpoint_every` steps, at the end, and on Ctrl-C, and it carries what resuming
needs: optimizer.pt (AdamW state, tensors only, read back with weights_only=True) and
trainer_state.json (step, history, settings). Batches are a function of (seed, step),
so a resumed run continues exactly as the uninterrupted run would have.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from llmkit.errors import CheckpointError, ConfigurationError
from llmkit.mini.checkpoint import is_checkpoint, load_checkpoint, save_checkpoint
from llmkit.mini.corpus import read_corpus, split_documents
from llmkit.mini.data import TrainData, eval_windows, plain_stream
from llmkit.mini.model import GPT, GPTConfig
from llmkit.mini.tokenizer import MiniTokenizer, train_tokenizer
from llmkit.mini.trainlog import TrainDisplay, plot_loss_curve

__all__ = ["TrainResult", "StepInfo", "train", "lr_at"]

OPTIMIZER_FILE = "optimizer.pt"
STATE_FILE = "trainer_state.json"


@dataclass
class StepInfo:
    step: int
    loss: float
    lr: float
    elapsed: float
    val_loss: float | None = None
    val_bpb: float | None = None


@dataclass
class TrainResult:
    path: Path
    steps: int
    tokens_seen: int
    train_loss: float | None
    val_loss: float | None
    val_bpb: float | None
    elapsed: float
    history: list[dict[str, float]] = field(default_factory=list, repr=False)


def lr_at(step: int, *, lr: float, min_lr: float, warmup: int, progress: float) -> float:
    """Linear warmup over `warmup` steps, then cosine decay to min_lr as progress goes 0 -> 1."""
    if step < warmup:
        return lr * (step + 1) / warmup
    progress = min(max(progress, 0.0), 1.0)
    return min_lr + 0.5 * (lr - min_lr) * (1 + math.cos(math.pi * progress))


def make_optimizer(model: GPT, lr: float, weight_decay: float, betas: tuple[float, float]) -> torch.optim.AdamW:
    # Decay only matrices (linear weights, embedding); decaying norms' gains and
    # biases only pulls them towards zero without regularising anything useful.
    params = [p for p in model.parameters() if p.requires_grad]
    decay = [p for p in params if p.dim() >= 2]
    no_decay = [p for p in params if p.dim() < 2]
    groups = [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    return torch.optim.AdamW(groups, lr=lr, betas=betas)


@torch.no_grad()
def evaluate(model: GPT, tokenizer: MiniTokenizer, windows: list[tuple[torch.Tensor, torch.Tensor]]) -> dict[str, float]:
    """Validation loss (nats/token) and bits per byte = nats * tokens / bytes / ln 2."""
    was_training = model.training
    model.eval()
    nats = 0.0
    tokens = 0
    n_bytes = 0
    for x, y in windows:
        logits, _ = model(x)
        losses = torch.nn.functional.cross_entropy(logits[0].float(), y[0], reduction="sum")
        nats += losses.item()
        tokens += y.numel()
        n_bytes += sum(len(tokenizer.token_bytes(i)) for i in y[0].tolist() if i not in tokenizer.special_ids)
    model.train(was_training)
    return {"val_loss": nats / max(tokens, 1), "val_bpb": nats / max(n_bytes, 1) / math.log(2)}


class _SigintFlag:
    """First Ctrl-C: finish the current step, save, then raise KeyboardInterrupt.
    A second Ctrl-C interrupts at once (the handler is back to Python's default)."""

    def __init__(self) -> None:
        self.raised = False
        self._old: Any = None

    def __enter__(self) -> _SigintFlag:
        try:
            self._old = signal.signal(signal.SIGINT, self._handle)
        except ValueError:  # not the main thread: leave signals alone
            self._old = None
        return self

    def _handle(self, signum: int, frame: object) -> None:
        self.raised = True
        signal.signal(signal.SIGINT, signal.default_int_handler)

    def __exit__(self, *exc: object) -> None:
        if self._old is not None:
            signal.signal(signal.SIGINT, self._old)


def train(corpus_paths: list[str | os.PathLike[str]] | str | os.PathLike[str], out_dir: str | os.PathLike[str], *,
          config: GPTConfig | None = None, max_steps: int | None = 2000, time_budget: float | None = None,
          batch_size: int = 16, lr: float = 1e-3, min_lr: float | None = None, warmup: int = 100,
          grad_accum: int = 1, clip: float | None = 1.0, weight_decay: float = 0.1,
          betas: tuple[float, float] = (0.9, 0.95), val_fraction: float = 0.1, eval_every: int = 200,
          eval_windows_max: int = 32, checkpoint_every: int = 500, fim_rate: float = 0.5, resume: bool = False,
          overwrite: bool = False, seed: int = 0, threads: int | None = None, progress: bool = True,
          dtype: str = "float32", on_step: Callable[[StepInfo], None] | None = None) -> TrainResult:
    """Train (or resume training) a GPT on text files/folders and save it to `out_dir`.

    Stops after `max_steps` optimizer steps or `time_budget` seconds, whichever comes
    first (the cosine schedule follows whichever is closer to its end). The tokenizer is
    trained on the training documents with `config.vocab_size` tokens (and reused on
    resume); the saved config records the tokenizer's actual size. `on_step` is called
    after every step (for a CLI or a test); an exception it raises ends training like
    Ctrl-C does: a checkpoint is saved, then the exception propagates.
    """
    if max_steps is None and time_budget is None:
        raise ConfigurationError("train needs max_steps or time_budget", hint="Pass max_steps=... or time_budget=...")
    for name, value in (("batch_size", batch_size), ("grad_accum", grad_accum), ("eval_every", eval_every),
                        ("checkpoint_every", checkpoint_every)):
        if value < 1:
            raise ConfigurationError(f"{name} must be >= 1, got {value}")
    if not 0 <= fim_rate <= 1:
        raise ConfigurationError(f"fim_rate must be in [0, 1], got {fim_rate}")
    if threads is not None:
        torch.set_num_threads(threads)
    out = Path(out_dir)
    min_lr = lr / 10 if min_lr is None else min_lr

    corpus = read_corpus(corpus_paths)
    train_docs, val_docs = split_documents(corpus.documents, val_fraction, seed)

    state: dict[str, Any] = {"step": 0, "tokens_seen": 0, "elapsed": 0.0, "history": []}
    optimizer_state = None
    if resume:
        if not is_checkpoint(out):
            raise CheckpointError(f"cannot resume: {out} holds no checkpoint",
                                  hint="Train without resume=True first, or check the path.")
        ckpt = load_checkpoint(out)
        if config is not None and config != ckpt.config:
            raise ConfigurationError(f"config differs from the checkpoint's in {out}",
                                     hint="Resume without a config (the checkpoint's is used) or train afresh.")
        model, tokenizer, config = ckpt.model, ckpt.tokenizer, ckpt.config
        state = _read_state(out)
        optimizer_state = _read_optimizer(out)
    else:
        if out.exists() and any(out.iterdir()) and not overwrite:
            raise ConfigurationError(f"{out} already exists and is not empty",
                                     hint="Pass resume=True to continue training it, overwrite=True to replace "
                                          "it, or choose another directory.")
        config = config or GPTConfig()
        tokenizer = train_tokenizer([d.text for d in train_docs], config.vocab_size)
        config = dataclasses.replace(config, vocab_size=tokenizer.vocab_size)
        torch.manual_seed(seed)
        model = GPT(config)

    data = TrainData(tokenizer, train_docs, block_size=config.block_size, batch_size=batch_size,
                     grad_accum=grad_accum, fim_rate=fim_rate, seed=seed)
    val_set = eval_windows(plain_stream(tokenizer, val_docs), config.block_size, eval_windows_max) if val_docs else []
    optimizer = make_optimizer(model, lr, weight_decay, betas)
    if optimizer_state is not None:
        optimizer.load_state_dict(optimizer_state)
    model.train()

    settings = {"batch_size": batch_size, "lr": lr, "min_lr": min_lr, "warmup": warmup, "grad_accum": grad_accum,
                "clip": clip, "weight_decay": weight_decay, "val_fraction": val_fraction, "fim_rate": fim_rate,
                "seed": seed, "max_steps": max_steps, "time_budget": time_budget}
    corpus_info = {"documents": len(corpus.documents), "bytes": corpus.n_bytes, "skipped": len(corpus.skipped),
                   "train_documents": len(train_docs), "val_documents": len(val_docs),
                   "train_tokens": data.n_tokens}
    step: int = state["step"]
    history: list[dict[str, float]] = state["history"]
    last_loss: float | None = None
    last_val: dict[str, float] | None = None

    saved_step = [-1]

    def save() -> None:
        state.update(step=step, history=history, settings=settings, corpus=corpus_info)
        metadata = {"training": {"step": step, "tokens_seen": state["tokens_seen"], "train_loss": last_loss,
                                 **(last_val or {}), "elapsed_s": round(state["elapsed"], 1),
                                 "corpus": corpus_info, "settings": settings, "torch": torch.__version__}}

        def extra(tmp: Path) -> None:
            torch.save(optimizer.state_dict(), tmp / OPTIMIZER_FILE)
            (tmp / STATE_FILE).write_text(json.dumps(state, indent=1), encoding="utf-8")
            plot_loss_curve(history, tmp / "loss.png")

        save_checkpoint(out, model, tokenizer, metadata=metadata, dtype=dtype, extra=extra)
        saved_step[0] = step

    display = TrainDisplay(max_steps, step, progress)
    if corpus.skipped:
        display.note(f"skipped {len(corpus.skipped)} binary or empty files")
    started = time.monotonic() - state["elapsed"]
    try:
        with _SigintFlag() as sigint:
            while True:
                elapsed = time.monotonic() - started
                if (max_steps is not None and step >= max_steps) or (time_budget is not None and elapsed >= time_budget):
                    break
                fractions = [step / max_steps] if max_steps else []
                fractions += [elapsed / time_budget] if time_budget else []
                step_lr = lr_at(step, lr=lr, min_lr=min_lr, warmup=warmup, progress=max(fractions))
                for group in optimizer.param_groups:
                    group["lr"] = step_lr
                loss_sum = 0.0
                for micro in range(grad_accum):
                    x, y = data.batch(step, micro)
                    _, loss = model(x, y)
                    (loss / grad_accum).backward()
                    loss_sum += loss.item()
                if clip:
                    torch.nn.utils.clip_grad_norm_(model.parameters(), clip)
                optimizer.step()
                optimizer.zero_grad(set_to_none=True)
                step += 1
                last_loss = loss_sum / grad_accum
                state["tokens_seen"] += x.numel() * grad_accum
                state["elapsed"] = time.monotonic() - started
                history.append({"step": step, "loss": last_loss, "lr": step_lr})
                finished = (max_steps is not None and step >= max_steps) or (
                    time_budget is not None and state["elapsed"] >= time_budget)
                val = None
                if val_set and (step % eval_every == 0 or finished):
                    val = last_val = evaluate(model, tokenizer, val_set)
                    history.append({"step": step, **val})
                display.update(step, last_loss, step_lr, val)
                if on_step is not None:
                    on_step(StepInfo(step, last_loss, step_lr, state["elapsed"], **(val or {})))
                if step % checkpoint_every == 0 and not finished:
                    save()
                if sigint.raised:
                    raise KeyboardInterrupt
    except BaseException:
        # Ctrl-C (or a failing callback): keep the work done so far, then re-raise.
        if step > max(saved_step[0], 0):
            display.note(f"interrupted: saving a checkpoint at step {step} to {out}")
            try:
                save()
            except Exception as exc:  # do not hide the interruption behind a save failure
                display.note(f"could not save the checkpoint: {exc}")
        display.close()
        raise
    save()
    display.close()
    return TrainResult(path=out, steps=step, tokens_seen=state["tokens_seen"], train_loss=last_loss,
                       val_loss=(last_val or {}).get("val_loss"), val_bpb=(last_val or {}).get("val_bpb"),
                       elapsed=state["elapsed"], history=history)


def _read_state(path: Path) -> dict[str, Any]:
    try:
        state = json.loads((path / STATE_FILE).read_text(encoding="utf-8"))
        int(state["step"])
        return state
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise CheckpointError(f"cannot resume from {path}: {STATE_FILE} is missing or corrupt ({exc})",
                              hint="The checkpoint can still be used for inference; start a new training run "
                                   "to keep training.") from exc


def _read_optimizer(path: Path) -> dict[str, Any]:
    try:
        return torch.load(path / OPTIMIZER_FILE, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises several types for a bad file
        raise CheckpointError(f"cannot resume from {path}: {OPTIMIZER_FILE} is missing or corrupt ({exc})",
                              hint="Start a new training run from the checkpoint's weights, or retrain.") from exc
