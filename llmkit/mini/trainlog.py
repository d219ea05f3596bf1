"""What training shows and leaves behind: a rich progress display and a loss-curve PNG.

Both are optional extras: rich and matplotlib are imported lazily, and training goes on
without them (plain log lines; a note instead of the PNG).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from llmkit.cache import on_clear

__all__ = ["TrainDisplay", "plot_loss_curve"]

log = logging.getLogger("llmkit.mini.train")
_noted: set[str] = set()  # notes given once per process
on_clear(_noted.clear)


class TrainDisplay:
    """A progress bar with step, loss, validation loss/bits per byte and time left."""

    def __init__(self, total_steps: int | None, start_step: int, enabled: bool) -> None:
        self._progress: Any = None
        self._task: Any = None
        self._last_log = start_step
        if not enabled:
            return
        try:
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeElapsedColumn,
                TimeRemainingColumn,
            )
        except ImportError:
            log.info("rich is not installed: showing plain log lines")
            return
        self._progress = Progress(
            TextColumn("[bold]training"), BarColumn(), MofNCompleteColumn(),
            TextColumn("{task.fields[stats]}"), TimeElapsedColumn(), TimeRemainingColumn(),
        )
        self._task = self._progress.add_task("train", total=total_steps, completed=start_step, stats="")
        self._progress.start()

    def update(self, step: int, loss: float, lr: float, val: dict[str, float] | None) -> None:
        stats = f"loss {loss:.3f}  lr {lr:.2e}"
        if val:
            stats += f"  val {val['val_loss']:.3f} ({val['val_bpb']:.3f} bpb)"
        if self._progress is not None:
            self._progress.update(self._task, completed=step, stats=stats)
        elif step - self._last_log >= 50:
            log.info("step %d: %s", step, stats)
            self._last_log = step

    def note(self, message: str) -> None:
        if self._progress is not None:
            self._progress.console.print(message)
        else:
            log.info(message)

    def close(self) -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress = None


def plot_loss_curve(history: list[dict[str, float]], path: Path) -> bool:
    """Write a PNG of training and validation loss; False (and a log note) without matplotlib."""
    try:
        import matplotlib

        matplotlib.use("Agg")  # no display needed
        import matplotlib.pyplot as plt
    except ImportError:
        if not _noted:  # once per process (until llmkit.clear_caches()), not at every checkpoint
            log.info("matplotlib is not installed: skipping the loss-curve PNG "
                     "(the numbers are in trainer_state.json)")
            _noted.add("matplotlib")
        return False
    train = [(h["step"], h["loss"]) for h in history if "loss" in h]
    val = [(h["step"], h["val_loss"]) for h in history if "val_loss" in h]
    fig, ax = plt.subplots(figsize=(7, 4))
    if train:
        ax.plot(*zip(*train, strict=True), label="train loss", linewidth=1)
    if val:
        ax.plot(*zip(*val, strict=True), label="validation loss", marker="o")
    ax.set_xlabel("step")
    ax.set_ylabel("cross-entropy (nats/token)")
    ax.legend()
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return True
