"""Progress of a long compression on stderr: bytes done, bytes per second and the
running bits per byte, as a rich progress bar when stderr is a terminal (and nothing
otherwise, so scripts and pipes stay clean)."""

from __future__ import annotations

import sys
from typing import Any

__all__ = ["Progress"]


class Progress:
    """`advance(nbytes, bits)` as work is done; `close()` at the end (also on errors)."""

    def __init__(self, total: int, label: str, enabled: bool | None = None) -> None:
        self.total, self.done, self.bits = total, 0.0, 0.0
        if enabled is None:
            enabled = sys.stderr.isatty()
        self._bar: Any = None
        if enabled and total > 0:
            from rich.console import Console
            from rich.progress import (
                BarColumn,
                DownloadColumn,
                TextColumn,
                TimeRemainingColumn,
                TransferSpeedColumn,
            )
            from rich.progress import Progress as Bar

            self._bar = Bar(TextColumn("{task.description}"), BarColumn(), DownloadColumn(), TransferSpeedColumn(),
                            TextColumn("{task.fields[bpb]}"), TimeRemainingColumn(),
                            console=Console(stderr=True), transient=True)  # fmt: skip
            self._task = self._bar.add_task(label, total=total, bpb="")
            self._bar.start()

    def advance(self, nbytes: float, bits: float = 0.0) -> None:
        self.done += nbytes
        self.bits += bits
        if self._bar is not None:
            bpb = f"{self.bits / self.done:.3f} bits/byte" if self.done else ""
            self._bar.update(self._task, completed=min(self.done, self.total), bpb=bpb)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.stop()
            self._bar = None
