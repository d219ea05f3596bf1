"""Where the trainer runs and in what precision: TrainConfig's `device` and `amp`.

- `device="auto"` is cuda when torch sees one, else the CPU; asking for cuda without
  one is a ConfigurationError naming what works.
- `amp` runs the forward pass under bf16 autocast; the weights, gradients and AdamW
  state stay float32. "auto" turns it on for cuda, and for a CPU that computes bfloat16
  natively (AVX512-BF16 or AMX; llmkit.cpu): there the matmuls run about twice as fast
  (benchmarks/mini_train_speed.py: a 6 x 256 model, batch 16, 1 thread, 2.2x the tokens/s)
  for a validation loss within 0.3% of float32's after 300 steps (README, Training
  speed). Where bfloat16 is emulated it is slower than float32, so "auto" stays off.
"""

from __future__ import annotations

import contextlib
from typing import Any

import torch

from llmkit.cpu import cpu_supports
from llmkit.errors import ConfigurationError

__all__ = ["resolve_device", "use_amp", "autocast", "to_device"]


def resolve_device(name: str) -> torch.device:
    """TrainConfig.device -> a torch.device: "auto" is cuda when torch sees one, else cpu."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise ConfigurationError("device='cuda' was asked for, but torch sees no CUDA device on this machine",
                                 hint="What works: device='cpu' (--device cpu), or 'auto' to use a GPU when "
                                      "there is one.")  # fmt: skip
    if name not in ("cpu", "cuda"):
        raise ConfigurationError(f"unknown device {name!r}", hint="Use auto, cpu or cuda.")
    return torch.device(name)


def use_amp(mode: str, device: torch.device) -> bool:
    """TrainConfig.amp -> whether to run under bf16 autocast ("auto": on cuda, and on a
    CPU with native bfloat16)."""
    if mode != "auto":
        return mode == "on"
    return device.type == "cuda" or (device.type == "cpu" and cpu_supports(torch.bfloat16))


def autocast(device: torch.device, enabled: bool) -> contextlib.AbstractContextManager[Any]:
    if not enabled:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=torch.bfloat16)


def to_device(t: torch.Tensor, device: torch.device) -> torch.Tensor:
    """A batch onto the device: from pinned memory without blocking on cuda."""
    if device.type != "cuda":
        return t.to(device)
    return t.pin_memory().to(device, non_blocking=True)
