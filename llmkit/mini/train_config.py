"""TrainConfig: every setting of a training run and its default, in one place.

`llmkit train` builds its flags from these fields (their help texts too), `train()`
takes one, and the shipped checkpoint's recipe is `SHIPPED_RECIPE.command()`:

    >>> SHIPPED_RECIPE.command()
    'llmkit train --stdlib -o stdlib-mini --time 220m --threads 2'
    >>> TrainConfig(max_steps=500, lr=3e-3).changed()
    {'max_steps': 500, 'lr': 0.003}

The architecture is a GPTConfig (`model`); None means the default one for a new run,
and the checkpoint's own when resuming.

The machine: `device` ("auto" picks cuda when torch sees one), `amp` (bf16 autocast;
"auto" turns it on for cuda and for a CPU with native bfloat16: mini/device.py) and
`compile` (torch.compile of the model, off by default: it costs seconds to minutes on
the first step and pays off only on long runs).
None of them changes what a checkpoint holds, so a run trained on cuda resumes on cpu.
"""

from __future__ import annotations

import argparse
import re
from dataclasses import dataclass, field, fields
from typing import Any

from llmkit.errors import ConfigurationError
from llmkit.mini.config import GPTConfig

__all__ = ["TrainConfig", "SHIPPED_RECIPE", "add_flags", "from_flags", "duration", "DEVICES", "AMP_MODES"]

DEVICES = ("auto", "cpu", "cuda")
AMP_MODES = ("auto", "on", "off")


def duration(text: str) -> float:
    """'90', '90s', '30m', '1.5h' -> seconds."""
    m = re.fullmatch(r"\s*([\d.]+)\s*([smh]?)\s*", text)
    if not m:
        raise argparse.ArgumentTypeError(f"not a duration: {text!r} (use e.g. 300s, 30m, 2h)")
    return float(m.group(1)) * {"": 1, "s": 1, "m": 60, "h": 3600}[m.group(2)]


def _flag(name: str, help: str, **extra: Any) -> dict[str, Any]:
    return {"flag": name, "help": help, **extra}


@dataclass(frozen=True)
class TrainConfig:
    model: GPTConfig | None = None
    # how long: at least one of the two; the learning-rate schedule follows whichever ends first
    max_steps: int | None = field(default=None, metadata=_flag("--steps", "stop after this many optimizer steps",
                                                               type=int))
    time_budget: float | None = field(default=None, metadata=_flag(
        "--time", "stop after this long (e.g. 30m, 2h); the LR schedule follows it", type=duration))
    # optimisation
    batch_size: int = field(default=16, metadata=_flag("--batch", "sequences per micro-batch"))
    grad_accum: int = field(default=1, metadata=_flag("--grad-accum", "micro-batches per optimizer step"))
    lr: float = field(default=1e-3, metadata=_flag("--lr", "peak learning rate"))
    min_lr: float | None = field(default=None, metadata=_flag("--min-lr", "final learning rate (default lr / 10)",
                                                              type=float))
    warmup: int = field(default=100, metadata=_flag("--warmup", "steps of linear warmup"))
    weight_decay: float = field(default=0.1, metadata=_flag("--weight-decay", "AdamW decay (matrices only)"))
    betas: tuple[float, float] = (0.9, 0.95)
    clip: float | None = field(default=1.0, metadata=_flag("--clip", "gradient norm clipping (0: off)"))
    # data
    val_fraction: float = field(default=0.1, metadata=_flag("--val-fraction", "documents held out for validation"))
    fim_rate: float = field(default=0.5, metadata=_flag(
        "--fim-rate", "fraction of documents trained as fill-in-the-middle"))
    seed: int = field(default=0, metadata=_flag("--seed", "seed of the weights, the split and every batch"))
    # evaluation, checkpoints, machine
    eval_every: int = field(default=200, metadata=_flag("--eval-every", "steps between validations"))
    eval_windows: int = field(default=32, metadata=_flag("--eval-windows", "validation windows per evaluation"))
    checkpoint_every: int = field(default=200, metadata=_flag("--checkpoint-every", "steps between checkpoints"))
    dtype: str = field(default="float32", metadata=_flag(
        "--dtype", "weights on disk", choices=["float32", "bfloat16"]))
    threads: int | None = field(default=None, metadata=_flag("--threads", "torch threads (default: torch's choice)",
                                                             type=int))
    device: str = field(default="auto", metadata=_flag(
        "--device", "where to train (auto: cuda when available, else cpu)", choices=list(DEVICES)))
    amp: str = field(default="auto", metadata=_flag(
        "--amp", "bf16 autocast (auto: on for cuda and for a CPU with native bf16)", choices=list(AMP_MODES)))
    compile: bool = field(default=False, metadata=_flag("--compile", "torch.compile the model (slow first step)"))

    def __post_init__(self) -> None:
        if self.max_steps is None and self.time_budget is None:
            raise ConfigurationError("say how long to train: max_steps (--steps 2000) or time_budget (--time 30m)")
        for name in ("batch_size", "grad_accum", "eval_every", "eval_windows", "checkpoint_every"):
            if getattr(self, name) < 1:
                raise ConfigurationError(f"{name} must be >= 1, got {getattr(self, name)}")
        for name in ("max_steps", "threads"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise ConfigurationError(f"{name} must be >= 1, got {value}")
        if self.time_budget is not None and self.time_budget <= 0:
            raise ConfigurationError(f"time_budget must be > 0 seconds, got {self.time_budget}")
        for name in ("fim_rate", "val_fraction"):
            if not 0 <= getattr(self, name) <= 1:
                raise ConfigurationError(f"{name} must be in [0, 1], got {getattr(self, name)}")
        if self.dtype not in ("float32", "bfloat16"):
            raise ConfigurationError(f"dtype must be float32 or bfloat16, got {self.dtype!r}")
        if self.device not in DEVICES:
            raise ConfigurationError(f"device must be one of {', '.join(DEVICES)}, got {self.device!r}")
        if self.amp not in AMP_MODES:
            raise ConfigurationError(f"amp must be one of {', '.join(AMP_MODES)}, got {self.amp!r}")

    @property
    def final_lr(self) -> float:
        return self.lr / 10 if self.min_lr is None else self.min_lr

    def changed(self) -> dict[str, Any]:
        """The settings that differ from the defaults (what a recipe needs to say)."""
        return {f.name: getattr(self, f.name) for f in fields(self) if f.name != "model"
                and getattr(self, f.name) != f.default}  # fmt: skip

    def command(self, data: str = "--stdlib", out: str = "stdlib-mini") -> str:
        """The `llmkit train` command line that runs this configuration."""
        parts = ["llmkit train", data, "-o", out]
        model, default = self.model or GPTConfig(), GPTConfig()
        for f in fields(model):
            if "flag" in f.metadata and getattr(model, f.name) != getattr(default, f.name):
                parts += [f.metadata["flag"], str(getattr(model, f.name))]
        for name, value in self.changed().items():
            meta = TrainConfig.__dataclass_fields__[name].metadata
            if "flag" in meta and isinstance(value, bool):
                parts.append(meta["flag"] if value else "--no-" + meta["flag"][2:])
            elif "flag" in meta:
                parts += [meta["flag"], _minutes(value) if meta.get("type") is duration else str(value)]
        return " ".join(parts)

    def settings(self) -> dict[str, Any]:
        """Every setting but the architecture, JSON-friendly (what a checkpoint records)."""
        out = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "model"}
        out["betas"], out["min_lr"] = list(self.betas), self.final_lr
        return out


# The shipped checkpoint's recipe (its model card has the legs of the actual run).
SHIPPED_RECIPE = TrainConfig(time_budget=220 * 60, threads=2)


def _minutes(seconds: float) -> str:
    return f"{seconds / 60:g}m" if seconds % 60 == 0 else f"{seconds:g}s"


def add_flags(p: argparse.ArgumentParser) -> None:
    """One flag per architecture and training setting, with TrainConfig's defaults."""
    model = p.add_argument_group("model (a new run; --resume keeps the checkpoint's)")
    for f in fields(GPTConfig):
        if "flag" in f.metadata:
            model.add_argument(f.metadata["flag"], dest=f"model_{f.name}", type=type(f.default), default=f.default,
                               metavar=_metavar(f.metadata["flag"]), help=f"{f.metadata['help']} (default {f.default})")  # fmt: skip
    run = p.add_argument_group("training")
    for f in fields(TrainConfig):
        meta = f.metadata
        if "flag" not in meta:
            continue
        if isinstance(f.default, bool):  # --compile / --no-compile
            run.add_argument(meta["flag"], dest=f.name, action=argparse.BooleanOptionalAction, default=f.default,
                             help=meta["help"] + f" (default {'on' if f.default else 'off'})")
            continue
        kind = meta.get("type") or type(f.default)
        shown = "" if f.default is None else f" (default {f.default})"
        run.add_argument(meta["flag"], dest=f.name, type=kind, default=f.default, choices=meta.get("choices"),
                         metavar=None if "choices" in meta else _metavar(meta["flag"]), help=meta["help"] + shown)  # fmt: skip


def from_flags(args: argparse.Namespace, *, resume: bool) -> TrainConfig:
    """The TrainConfig the parsed flags describe."""
    model = None if resume else GPTConfig(**{f.name: getattr(args, f"model_{f.name}") for f in fields(GPTConfig)
                                             if "flag" in f.metadata})  # fmt: skip
    values = {f.name: getattr(args, f.name) for f in fields(TrainConfig) if "flag" in f.metadata}
    if values.get("clip") == 0:
        values["clip"] = None
    return TrainConfig(model=model, **values)


def _metavar(flag: str) -> str:
    return flag.lstrip("-").upper().replace("-", "_")
