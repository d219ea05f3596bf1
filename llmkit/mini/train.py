"""Train the bundled GPT on your own text: `train(["notes/", "book.txt"], "my-model", time_budget=1800)`.

Every setting and its default is a field of TrainConfig (llmkit/mini/train_config.py);
`train()` takes one (or its fields as keywords) and runs a Trainer, whose set-up, step,
evaluation and checkpointing read top to bottom.

The output directory is a checkpoint `MiniEngine.load` reads. It is rewritten atomically
every `checkpoint_every` steps, at the end, and on Ctrl-C, and it carries what resuming
needs: optimizer.pt (AdamW state, tensors only, read back with weights_only=True) and
trainer_state.json (step, history, settings). Batches are a function of (seed, step),
so a resumed run continues exactly as the uninterrupted run would have.

Several processes (DDP): launch the same command under `torchrun`, e.g. two processes
on one machine, or two machines with four processes each:

    torchrun --nproc_per_node=2 -m llmkit.cli train my_notes/ -o my-model --steps 2000
    torchrun --nnodes=2 --node_rank=0 --nproc_per_node=4 --master_addr=HOST --master_port=29500 \
        -m llmkit.cli train my_notes/ -o /shared/my-model --time 2h      # node_rank=1 on the other

(`python -m torch.distributed.run` is the same launcher.) Each rank joins the process
group (gloo on CPU, nccl with one GPU per local rank), the model is wrapped in
DistributedDataParallel, and every step each rank draws its own `batch_size` x
`grad_accum` windows (keyed on seed, step and rank), so a step sees world_size times as
many tokens: 2 ranks with grad_accum=1 train on the batches one process draws with
grad_accum=2. Rank 0 trains the tokenizer and sends it to the others; validation is
split across ranks and its loss summed over all of them; only rank 0 writes checkpoints
and shows progress (all ranks wait at a barrier around each save), and Ctrl-C (which
torchrun forwards to every rank) stops all ranks after the same step. To resume, every
rank reads `out_dir`: with several machines it must be on storage they all see. On CPU,
torchrun sets OMP_NUM_THREADS=1 per process; pass --threads to choose otherwise.

On a GPU (`device="auto"` or "cuda"): the model, every batch (from pinned memory, copied
without blocking) and validation run on the device; matmuls use TF32; `amp` runs the
forward pass under bf16 autocast (the weights and AdamW state stay fp32, the fused AdamW
kernel updates them on the device); the attention calls `scaled_dot_product_attention(
is_causal=True)`, which picks the flash kernel for bf16 on cuda by itself; `compile`
wraps the model in torch.compile (the uncompiled module is what gets saved). The loss
is read back to the host once per step, not per micro-batch. Checkpoints are written
from CPU copies in the same format as a CPU run's, so a cuda run resumes on the cpu.
On a CPU that computes bfloat16 natively, `amp="auto"` turns autocast on there too
(about twice the tokens per second; mini/device.py says what was measured).
"""

from __future__ import annotations

import contextlib
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

from llmkit.errors import CheckpointError, ConfigurationError, UsageError
from llmkit.mini.checkpoint import is_checkpoint, load_checkpoint, save_checkpoint
from llmkit.mini.corpus import Corpus, read_corpus, split_documents
from llmkit.mini.data import TrainData, eval_windows, plain_stream
from llmkit.mini.device import autocast, resolve_device, to_device, use_amp
from llmkit.mini.distributed import Dist, rank_batch
from llmkit.mini.distributed import setup as setup_distributed
from llmkit.mini.model import GPT, GPTConfig
from llmkit.mini.tokenizer import MiniTokenizer, train_tokenizer
from llmkit.mini.train_config import TrainConfig
from llmkit.mini.trainlog import TrainDisplay, plot_loss_curve

__all__ = [
    "TrainConfig", "TrainResult", "StepInfo", "Trainer", "train", "lr_at", "evaluate", "make_optimizer", "resume_point"]

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
    # The fused kernel updates each tensor in one pass: on CPU ~4x faster than the default
    # per-op loop (~7 vs ~25-35 ms a step for the 6.8M-parameter model, 1 thread).
    try:
        return torch.optim.AdamW(groups, lr=lr, betas=betas, fused=True)
    except (RuntimeError, ValueError, TypeError):  # an older torch or an unsupported device/dtype
        return torch.optim.AdamW(groups, lr=lr, betas=betas)


def evaluate(model: GPT, tokenizer: MiniTokenizer, windows: list[tuple[torch.Tensor, torch.Tensor]], *,
             device: torch.device | None = None, amp: bool = False) -> dict[str, float]:
    """Validation loss (nats/token) and bits per byte = nats * tokens / bytes / ln 2."""
    return _val_metrics(*_eval_sums(model, tokenizer, windows, device, amp))


def _val_metrics(nats: float, tokens: float, n_bytes: float) -> dict[str, float]:
    return {"val_loss": nats / max(tokens, 1), "val_bpb": nats / max(n_bytes, 1) / math.log(2)}


@torch.no_grad()
def _eval_sums(model: GPT, tokenizer: MiniTokenizer, windows: list[tuple[torch.Tensor, torch.Tensor]],
               device: torch.device | None = None, amp: bool = False, batch: int = 16) -> tuple[float, int, int]:
    """(nats, tokens, bytes) summed over `windows`: sums, so ranks' shares can be added.
    Windows of one length are stacked `batch` at a time; the loss is read back once."""
    was_training = model.training
    model.eval()
    device = device or next(model.parameters()).device
    lengths = torch.tensor([len(tokenizer.token_bytes(i)) for i in range(tokenizer.vocab_size)], dtype=torch.long)
    lengths[sorted(tokenizer.special_ids)] = 0
    nats = torch.zeros((), dtype=torch.float64, device=device)
    tokens = 0
    n_bytes = 0
    i = 0
    while i < len(windows):
        j = i + 1
        while j < len(windows) and j - i < batch and windows[j][0].shape == windows[i][0].shape:
            j += 1
        x = torch.cat([w[0] for w in windows[i:j]]).long()
        y = torch.cat([w[1] for w in windows[i:j]]).long()
        with autocast(device, amp):
            logits, _ = model(x.to(device))
        losses = torch.nn.functional.cross_entropy(logits.flatten(0, 1).float(), y.flatten().to(device),
                                                   reduction="sum")
        nats += losses.double()
        tokens += y.numel()
        n_bytes += int(lengths[y.clamp_max(len(lengths) - 1)].sum())
        i = j
    model.train(was_training)
    return float(nats.item()), tokens, n_bytes


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


def train(corpus_paths: list[str | os.PathLike[str]] | str | os.PathLike[str], out_dir: str | os.PathLike[str],
          config: TrainConfig | None = None, *, resume: bool = False, overwrite: bool = False, progress: bool = True,
          on_step: Callable[[StepInfo], None] | None = None, **settings: Any) -> TrainResult:
    """Train (or resume training) a GPT on text files/folders and save it to `out_dir`.

    `config` (or the same as keyword `settings`: max_steps=, time_budget=, batch_size=,
    lr=, model=GPTConfig(...), ...; see TrainConfig for all of them and their defaults)
    says how. Training stops after max_steps optimizer steps or time_budget seconds,
    whichever comes first (the cosine schedule follows whichever is closer to its end).
    The tokenizer is trained on the training documents with `model.vocab_size` tokens
    (and reused on resume); the saved config records the tokenizer's actual size.
    `on_step` is called after every step (for a CLI or a test); an exception it raises
    ends training like Ctrl-C does: a checkpoint is saved, then the exception propagates.

    Under torchrun (WORLD_SIZE > 1) this runs as one rank of a DDP job: see the module
    docstring. `on_step` and the progress display are then rank 0's only.
    """
    if isinstance(config, GPTConfig):
        raise UsageError("train()'s config is a TrainConfig; the architecture goes in model=",
                         hint="train(paths, out, model=GPTConfig(...), max_steps=...), or "
                              "TrainConfig(model=GPTConfig(...), ...).")  # fmt: skip
    if config is None:
        config = TrainConfig(**settings)
    elif settings:
        config = dataclasses.replace(config, **settings)
    ddp = setup_distributed()
    try:
        trainer = Trainer(corpus_paths, out_dir, config, ddp, resume=resume, overwrite=overwrite,
                          progress=progress, on_step=on_step)  # fmt: skip
        return trainer.run()
    finally:
        ddp.close()


class Trainer:
    """One training run: set up (a new model, or the checkpoint in `out_dir` resumed),
    then `step()` until the budget is spent, evaluating and saving on the way.

    `corpus_paths` may also be a Corpus already read (e.g. from an archive), and
    `tokenizer` one trained beforehand (a new run then skips training its own)."""

    model: GPT
    tokenizer: MiniTokenizer

    def __init__(self, corpus_paths: list[str | os.PathLike[str]] | str | os.PathLike[str] | Corpus,
                 out_dir: str | os.PathLike[str], config: TrainConfig, ddp: Dist, *, resume: bool = False,
                 overwrite: bool = False, progress: bool = True,
                 on_step: Callable[[StepInfo], None] | None = None,
                 tokenizer: MiniTokenizer | None = None) -> None:  # fmt: skip
        self.config, self.ddp, self.out, self.on_step = config, ddp, Path(out_dir), on_step
        if config.threads is not None:
            torch.set_num_threads(config.threads)
        self.device = ddp.device if ddp.enabled else resolve_device(config.device)
        self.amp = use_amp(config.amp, self.device)
        if self.device.type == "cuda":
            torch.backends.cuda.matmul.allow_tf32 = True
            torch.backends.cudnn.allow_tf32 = True
        self.given_tokenizer = tokenizer
        self.corpus = corpus_paths if isinstance(corpus_paths, Corpus) else read_corpus(corpus_paths)
        self.train_docs, val_docs = split_documents(self.corpus.documents, config.val_fraction, config.seed)
        self.state: dict[str, Any] = {"step": 0, "tokens_seen": 0, "elapsed": 0.0, "history": []}
        optimizer_state = None
        if resume:
            optimizer_state = self._resume()
        else:
            self._start(overwrite)
        # A step's batch is world_size x grad_accum micro-batches (rank r takes the r-th
        # grad_accum of them): the data stream's pass length counts all of them.
        block = self.model.config.block_size
        self.data = TrainData(self.tokenizer, self.train_docs, block_size=block, batch_size=config.batch_size,
                              grad_accum=config.grad_accum * ddp.world_size, fim_rate=config.fim_rate,
                              seed=config.seed, prefetch=self.device.type == "cuda")  # fmt: skip
        self.data.stream_for_step(self.step_number)  # this pass's stream now, not on the training clock
        self.val_set = eval_windows(plain_stream(self.tokenizer, val_docs), block, config.eval_windows) if val_docs else []
        self.has_val = bool(self.val_set)  # the same on every rank (a rank's share below may be empty)
        self.model = self.model.to(self.device)  # before the optimizer: fused AdamW works on the device's tensors
        self.stepper = self._distribute() if ddp.enabled else self.model
        if config.compile:
            self.stepper = torch.compile(self.stepper)  # type: ignore[assignment]  # an OptimizedModule
        self.optimizer = make_optimizer(self.model, config.lr, config.weight_decay, config.betas)
        if optimizer_state is not None:
            self.optimizer.load_state_dict(optimizer_state)
        self.corpus_info = {"documents": len(self.corpus.documents), "bytes": self.corpus.n_bytes,
                            "skipped": len(self.corpus.skipped), "train_documents": len(self.train_docs),
                            "val_documents": len(val_docs), "train_tokens": self.data.n_tokens}  # fmt: skip
        self.last_loss: float | None = None
        self.last_val: dict[str, float] | None = None
        self.saved_step = -1
        self.display = TrainDisplay(config.max_steps, self.step_number, progress and ddp.is_main)

    @property
    def step_number(self) -> int:
        return int(self.state["step"])

    # --- set-up --------------------------------------------------------------------

    def _start(self, overwrite: bool) -> None:
        out, ddp = self.out, self.ddp
        if out.exists() and any(out.iterdir()) and not overwrite:
            raise ConfigurationError(f"{out} already exists and is not empty",
                                     hint="Pass resume=True to continue training it, overwrite=True to replace "
                                          "it, or choose another directory.")  # fmt: skip
        model_config = self.config.model or GPTConfig()
        texts = [d.text for d in self.train_docs]
        if self.given_tokenizer is not None:
            self.tokenizer = self.given_tokenizer
        elif ddp.enabled:  # one tokenizer for all ranks: rank 0 trains it, the others receive it
            trained = train_tokenizer(texts, model_config.vocab_size) if ddp.is_main else None
            self.tokenizer = MiniTokenizer.from_str(ddp.broadcast_text(trained.to_str() if trained else None))
        else:
            self.tokenizer = train_tokenizer(texts, model_config.vocab_size)
        torch.manual_seed(self.config.seed)
        self.model = GPT(dataclasses.replace(model_config, vocab_size=self.tokenizer.vocab_size))

    def _resume(self) -> dict[str, Any]:
        out = self.out
        if not is_checkpoint(out):
            raise CheckpointError(f"cannot resume: {out} holds no checkpoint",
                                  hint="Train without resume=True first, or check the path.")  # fmt: skip
        ckpt = load_checkpoint(out)
        if self.config.model is not None and self.config.model != ckpt.config:
            raise ConfigurationError(f"config differs from the checkpoint's in {out}",
                                     hint="Resume without a model config (the checkpoint's is used) or train afresh.")
        self.model, self.tokenizer = ckpt.model, ckpt.tokenizer
        self.state = _read_state(out)
        return _read_optimizer(out)

    def _distribute(self) -> torch.nn.Module:
        """Wrap the model for DDP: rank 0's weights go to every rank; gradients are averaged."""
        from torch.nn.parallel import DistributedDataParallel

        ddp = self.ddp
        self.model = self.model.to(ddp.device)
        torch.manual_seed(self.config.seed * 1_000_003 + ddp.rank)  # dropout masks differ between ranks
        self.val_set = self.val_set[ddp.rank::ddp.world_size]  # each rank evaluates its share; sums are added
        device_ids = [ddp.device.index] if ddp.device.type == "cuda" else None
        return DistributedDataParallel(self.model, device_ids=device_ids)

    # --- the loop ------------------------------------------------------------------

    def run(self) -> TrainResult:
        ddp, config = self.ddp, self.config
        if ddp.enabled and ddp.is_main:
            self.display.note(f"DDP: {ddp.world_size} processes ({ddp.backend}), "
                              f"{config.batch_size * config.grad_accum * ddp.world_size} sequences per step")
        if self.corpus.skipped:
            self.display.note(f"skipped {len(self.corpus.skipped)} binary or empty files")
        self.stepper.train()
        started = time.monotonic() - self.state["elapsed"]
        all_stop = False  # set when every rank stops together (a synchronised Ctrl-C)
        try:
            with _SigintFlag() as sigint:
                while not self.finished(elapsed := self.clock(started)):
                    info, interrupted = self.step(started, elapsed, sigint)
                    self.after_step(info)
                    if interrupted or (sigint.raised and not ddp.enabled):
                        all_stop = True
                        raise KeyboardInterrupt
        except BaseException:
            self.save_after_interruption(all_stop)
            raise
        self.save_all()
        self.display.close()
        return self.result()

    def clock(self, started: float) -> float:
        """Seconds trained, on one clock for every rank (same LR, same last step)."""
        elapsed = time.monotonic() - started
        return self.ddp.from_main(elapsed) if self.config.time_budget is not None else elapsed

    def finished(self, elapsed: float) -> bool:
        c = self.config
        return (c.max_steps is not None and self.step_number >= c.max_steps) or (
            c.time_budget is not None and elapsed >= c.time_budget)  # fmt: skip

    def learning_rate(self, elapsed: float) -> float:
        c, step = self.config, self.step_number
        fractions = ([step / c.max_steps] if c.max_steps else []) + ([elapsed / c.time_budget] if c.time_budget else [])
        return lr_at(step, lr=c.lr, min_lr=c.final_lr, warmup=c.warmup, progress=max(fractions))

    def step(self, started: float, elapsed: float, sigint: _SigintFlag | None = None) -> tuple[StepInfo, bool]:
        """One optimizer step over grad_accum micro-batches, `elapsed` seconds into the
        run; returns what it did and whether any rank was interrupted (Ctrl-C) by then."""
        c, ddp = self.config, self.ddp
        step_lr = self.learning_rate(elapsed)
        for group in self.optimizer.param_groups:
            group["lr"] = step_lr
        losses, tokens = [], 0
        for micro in range(c.grad_accum):
            loss, n = self._micro_step(micro)
            losses.append(loss)
            tokens += n
        loss_sum = float(torch.stack(losses).sum().item())  # one host sync a step
        if c.clip:
            torch.nn.utils.clip_grad_norm_(self.stepper.parameters(), c.clip)
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        interrupted = False
        if ddp.enabled:  # the mean loss over ranks, and whether any rank got Ctrl-C (read now, at the reduce)
            loss_sum, n_interrupted = ddp.sum([loss_sum / ddp.world_size, float(sigint is not None and sigint.raised)])
            interrupted = n_interrupted > 0
        self.last_loss = loss_sum / c.grad_accum
        self.state["step"] += 1
        self.state["tokens_seen"] += tokens * ddp.world_size
        self.state["elapsed"] = self.clock(started)
        self.state["history"].append({"step": self.step_number, "loss": self.last_loss, "lr": step_lr})
        return StepInfo(self.step_number, self.last_loss, step_lr, self.state["elapsed"]), interrupted

    def _micro_step(self, micro: int) -> tuple[torch.Tensor, int]:
        """Forward and backward on one micro-batch: (its loss, detached, on the device; its tokens)."""
        c, ddp = self.config, self.ddp
        if not ddp.enabled:
            x, y = self.data.batch(self.step_number, micro)
            x, y = to_device(x, self.device), to_device(y, self.device)
            with autocast(self.device, self.amp):
                _, loss = self.stepper(x, y)
            (loss / c.grad_accum).backward()
            return loss.detach(), x.numel()
        x, y = rank_batch(self.data, self.step_number, ddp.rank * c.grad_accum + micro)
        x, y = to_device(x, self.device), to_device(y, self.device)
        sync = micro == c.grad_accum - 1  # gradients are all-reduced once per step, on the last micro-batch
        stepper: Any = self.stepper  # DistributedDataParallel here (maybe compiled)
        no_sync = getattr(stepper, "no_sync", None) or stepper._orig_mod.no_sync
        with contextlib.nullcontext() if sync else no_sync():
            with autocast(self.device, self.amp):
                _, loss = self.stepper(x, y)
            (loss / c.grad_accum).backward()
        return loss.detach(), x.numel()

    def after_step(self, info: StepInfo) -> None:
        """Validate, report and checkpoint on their schedules."""
        c = self.config
        finished = self.finished(self.state["elapsed"])
        val = None
        if self.has_val and (info.step % c.eval_every == 0 or finished):
            val = self.last_val = self.evaluate()
            self.state["history"].append({"step": info.step, **val})
            info = dataclasses.replace(info, val_loss=val["val_loss"], val_bpb=val["val_bpb"])
        self.display.update(info.step, info.loss, info.lr, val)
        if self.on_step is not None and self.ddp.is_main:
            self.on_step(info)
        if info.step % c.checkpoint_every == 0 and not finished:
            self.save_all()

    def evaluate(self) -> dict[str, float]:
        if not self.ddp.enabled:
            return evaluate(self.model, self.tokenizer, self.val_set, device=self.device, amp=self.amp)
        return _val_metrics(*self.ddp.sum(list(_eval_sums(self.model, self.tokenizer, self.val_set, self.device,
                                                          self.amp))))

    # --- checkpoints ---------------------------------------------------------------

    def save(self) -> None:
        """Write the checkpoint (rank 0: the others hold identical weights and optimizer state)."""
        config, state = self.config, self.state
        state.update(settings=config.settings(), corpus=self.corpus_info)
        training = {"step": self.step_number, "tokens_seen": state["tokens_seen"], "train_loss": self.last_loss,
                    **(self.last_val or {}), "elapsed_s": round(state["elapsed"], 1), "corpus": self.corpus_info,
                    "settings": config.settings(), "torch": torch.__version__}  # fmt: skip

        def extra(tmp: Path) -> None:
            torch.save(self.optimizer.state_dict(), tmp / OPTIMIZER_FILE)
            (tmp / STATE_FILE).write_text(json.dumps(state, indent=1), encoding="utf-8")
            plot_loss_curve(state["history"], tmp / "loss.png")

        if self.ddp.is_main:
            save_checkpoint(self.out, self.model, self.tokenizer, metadata={"training": training},
                            dtype=config.dtype, extra=extra)  # fmt: skip
        self.saved_step = self.step_number

    def save_all(self) -> None:
        """Save from rank 0 while the other ranks wait, so none runs ahead of (or exits before) the save."""
        self.ddp.barrier()
        try:
            self.save()
        finally:
            self.ddp.barrier()

    def save_after_interruption(self, all_ranks: bool) -> None:
        """Ctrl-C (or a failing callback): keep the work done so far. Under DDP only a
        Ctrl-C all ranks saw together may wait at barriers; an exception on one rank
        (e.g. its on_step) saves from rank 0 without waiting."""
        if self.step_number > max(self.saved_step, 0):
            self.display.note(f"interrupted: saving a checkpoint at step {self.step_number} to {self.out}")
            try:
                self.save_all() if all_ranks else self.save()
            except Exception as exc:  # do not hide the interruption behind a save failure
                self.display.note(f"could not save the checkpoint: {exc}")
        self.display.close()

    def result(self) -> TrainResult:
        val = self.last_val or {}
        return TrainResult(path=self.out, steps=self.step_number, tokens_seen=self.state["tokens_seen"],
                           train_loss=self.last_loss, val_loss=val.get("val_loss"), val_bpb=val.get("val_bpb"),
                           elapsed=self.state["elapsed"], history=self.state["history"])  # fmt: skip


def resume_point(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Where the checkpoint in `path` stopped: {"step", "elapsed" (seconds trained), "settings"
    (the TrainConfig settings it was trained with)}. CheckpointError when there is none."""
    out = Path(path)
    if not is_checkpoint(out):
        raise CheckpointError(f"cannot resume: {out} holds no checkpoint",
                              hint="Train without resume=True first, or check the path.")  # fmt: skip
    state = _read_state(out)
    return {"step": int(state["step"]), "elapsed": float(state.get("elapsed") or 0.0),
            "settings": dict(state.get("settings") or {})}  # fmt: skip


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
