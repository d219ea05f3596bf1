"""`threads="auto"` on an `hf:` model: the torch thread count chosen by measurement.

More threads are not always faster. A small model's decode step is a few hundred short
matmuls, and with one prompt each is too small to split well: on 2 cores one thread can
match two, and on a loaded machine two threads wait on each other (README: the
compressor was ~20x slower with 2 threads than 1 under load). A batch of 8 splits better.
So "auto" times decode steps of the loaded model at 1, 2, 4, ... up to the cores this
process may use, at batch 1 and at the backend's batch size, and keeps the count whose
slower shape is nearest its own best (the fewest threads within `SLACK` of that). Each
count is timed twice, interleaved, and its faster time kept, so a burst of other work
during one pass does not decide (a count 3x behind at every shape is not timed again:
under load, 2 threads on 2 busy cores took 10x as long as 1). It takes ~5 s for
SmolLM2-135M on 2 idle cores (benchmarks/hf_threads.py).

The verdict is remembered per model, dtype and machine (cache/precision.json, beside
dtype=auto's), so only a model's first load measures; `runtime()` and `llmkit models`
show it. Threads are process-wide in torch: the count is set for the whole process, as
an integer `threads=` already is.
"""

from __future__ import annotations

import os
from typing import Any

from . import hf_precision  # decode_seconds looked up there, so a test can stand in for the clock

__all__ = ["SLACK", "candidates", "choose_threads", "measure", "usable_cores"]

SLACK = 1.03  # a count within 3% of the best is as good: fewer threads leave cores free
_STEPS = 6  # decode steps timed per count and shape, per pass
_HOPELESS = 3.0  # a count this much slower than the best at every shape in the first pass is not timed again


def usable_cores() -> int:
    """The cores this process may run on (its affinity mask where the OS has one)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        return os.cpu_count() or 1


def candidates(cores: int) -> list[int]:
    """1, 2, 4, ... below `cores`, and `cores` itself."""
    counts, n = [], 1
    while n < cores:
        counts.append(n)
        n *= 2
    return [*counts, cores]


def _key(model: Any, cores: int, batch: int) -> str:
    import torch

    cfg = model.config
    size = sum(p.numel() for p in model.parameters())
    dtype = str(next(model.parameters()).dtype).removeprefix("torch.")
    layout = f"{type(model).__name__}:{getattr(cfg, 'hidden_size', '?')}x{getattr(cfg, 'num_hidden_layers', '?')}"
    return f"threads:{layout}:{size}:{dtype}:{torch.backends.cpu.get_cpu_capability()}:cores={cores}:batch={batch}"


def choose_threads(model: Any, name: str, batch: int) -> dict[str, Any]:
    """Measure (or recall) the thread count for `model` here and set it; the verdict says
    what was measured: {"threads", "why", "single", "batched"} (ms per step by count)."""
    import torch

    cores = usable_cores()
    key = _key(model, cores, batch)
    verdict = hf_precision.remembered(key)
    if verdict is None or not isinstance(verdict.get("threads"), int):
        verdict = measure(model, name, cores, batch)
        hf_precision.remember(key, verdict)
    torch.set_num_threads(verdict["threads"])
    return verdict


def measure(model: Any, name: str, cores: int, batch: int) -> dict[str, Any]:
    import torch

    counts = candidates(cores)
    previous = torch.get_num_threads()
    shapes = sorted({1, batch})
    best: dict[tuple[int, int], float] = {}
    try:
        for again in (False, True):  # two interleaved passes; each count keeps its faster time
            for n in counts:
                if again and all(best[n, rows] > _HOPELESS * min(best[m, rows] for m in counts) for rows in shapes):
                    continue  # far behind at every shape (threads fighting other work): not timed again
                torch.set_num_threads(n)
                for rows in shapes:
                    seconds = hf_precision.decode_seconds(model, rows, _STEPS)
                    best[n, rows] = min(seconds, best.get((n, rows), seconds))
    finally:
        torch.set_num_threads(previous)
    fastest = {rows: min(best[n, rows] for n in counts) for rows in shapes}
    worst = {n: max(best[n, rows] / fastest[rows] for rows in shapes) for n in counts}
    floor = min(worst.values())
    chosen = min(n for n in counts if worst[n] <= floor * SLACK)

    def per_step(rows: int) -> dict[str, float]:
        return {str(n): round(best[n, rows] * 1000, 1) for n in counts}

    tried = ", ".join(f"{n}: {best[n, 1] * 1000:.0f}/{best[n, batch] * 1000:.0f} ms" for n in counts)
    return {"kind": "threads", "model": name, "threads": chosen, "cores": cores, "batch": batch,
            "single": per_step(1), "batched": per_step(batch),
            "why": f"threads=auto: {chosen} of {cores} cores; ms per decode step at batch 1/{batch}: {tried}"}  # fmt: skip
