"""Which dtype an `hf:` model runs in on a CPU, and `dtype="auto"` chosen by measurement.

Decoding reads every weight once per step, so bfloat16 (half the bytes of float32) makes
a small model up to ~2x faster per token on CPUs that compute in it natively (AVX512-BF16,
AMX); where it is emulated it is slower. `dtype="auto"` on a CPU therefore measures: a few
decode steps of the loaded model in float32, then in bfloat16 (a copy), and keeps
bfloat16 when it is at least `GAIN` faster. The verdict is remembered per model and
machine (`cache/precision.json`, keyed by the weights' size and shape, the CPU's
instruction set and the thread count), so only a model's first load measures.

float32 stays the default on a CPU: bfloat16 rounds differently at different batch
shapes, so greedy answers can differ from float32's and batched answers from one-by-one
ones (benchmarks/hf_vs_vllm.py counts both). On CUDA the default is bfloat16 (float16
without bf16 support) and "auto" is the checkpoint's own dtype, as transformers reads it.

A dtype the CPU cannot compute in natively (bfloat16 without AVX512-BF16/AMX, float16
without AVX512-FP16/AMX-FP16) is refused with what works instead.
"""

from __future__ import annotations

import copy
import json
import time
from typing import TYPE_CHECKING, Any

from ..cpu import cpu_supports  # looked up in this module, so a test can patch what the CPU "has"
from ..errors import ConfigurationError

if TYPE_CHECKING:
    import torch

__all__ = ["GAIN", "check_cpu_dtype", "choose_cpu_dtype", "decode_seconds", "measured", "remember", "remembered", "verdict_for"]

GAIN = 1.1  # bfloat16 must be this much faster to be chosen
_STEPS = 4  # decode steps timed per dtype (after one untimed step)


def check_cpu_dtype(dtype: torch.dtype) -> None:
    import torch

    if cpu_supports(dtype):
        return
    name = str(dtype).removeprefix("torch.")
    works = ["float32"] + [n for n, d in (("bfloat16", torch.bfloat16), ("float16", torch.float16)) if cpu_supports(d)]
    raise ConfigurationError(
        f"dtype={name!r}: this CPU ({torch.backends.cpu.get_cpu_capability()}) cannot compute in {name} natively",
        hint=f"Use dtype={' or '.join(repr(w) for w in works)} here (or 'auto', which measures), or run on a GPU.",
    )


def _key(model: Any) -> str:
    import torch

    shapes = sum(p.numel() for p in model.parameters())
    cfg = model.config
    layout = f"{type(model).__name__}:{getattr(cfg, 'hidden_size', '?')}x{getattr(cfg, 'num_hidden_layers', '?')}"
    return f"{layout}:{shapes}:{torch.backends.cpu.get_cpu_capability()}:threads={torch.get_num_threads()}"


def _path() -> Any:
    from ..config import cache_dir

    return cache_dir() / "precision.json"


def _read() -> dict[str, Any]:
    try:
        data = json.loads(_path().read_text())
        return data if isinstance(data, dict) else {}
    except (OSError, ValueError):
        return {}


def verdict_for(model: Any) -> dict[str, Any] | None:
    """The remembered measurement for this model on this machine, if any."""
    return remembered(_key(model))


def decode_seconds(model: Any, batch: int = 1, steps: int = _STEPS) -> float:
    """Seconds per decode step of `batch` rows, after a 32-token prompt (also hf_threads)."""
    import torch

    from .hf_cache import growing_cache
    from .hf_loading import forward_arguments
    from .hf_packing import generating

    key, last_only = forward_arguments(model)
    vocab = int(model.get_input_embeddings().weight.shape[0])
    generator = torch.Generator().manual_seed(0)
    ids = torch.randint(0, vocab, (batch, 32), generator=generator)
    cache = growing_cache()  # the cache and kernels generation runs on (hf_cache, hf_packing)
    with torch.inference_mode(), generating():
        model(input_ids=ids, use_cache=True, **{key: cache}, **last_only)
        step = ids[:, -1:]
        model(input_ids=step, use_cache=True, **{key: cache})
        start = time.perf_counter()
        for _ in range(steps):
            model(input_ids=step, use_cache=True, **{key: cache})
    return (time.perf_counter() - start) / steps


def measured(name: str, kind: str = "dtype") -> dict[str, Any] | None:
    """The `kind` of measurement ("dtype", or "threads": hf_threads) remembered for the
    model called `name` (any thread count), for listings that do not load the model
    (`llmkit models`)."""
    found = [v for v in _read().values()
             if isinstance(v, dict) and v.get("model") == name and v.get("kind", "dtype") == kind]  # fmt: skip
    return found[-1] if found else None


def choose_cpu_dtype(model: Any, name: str) -> tuple[Any, dict[str, Any]]:
    """(the model to use, the verdict): a float32 model, or its bfloat16 copy when that is
    measurably faster here. The verdict says what was measured (or remembered)."""
    import torch

    from .hf_packing import pack_linears

    if not cpu_supports(torch.bfloat16):
        return model, {"dtype": "float32", "why": "dtype=auto: this CPU has no native bfloat16"}
    verdict = verdict_for(model)
    if verdict is None:
        pack_linears(model)  # each dtype timed as it would run (hf_packing); a copy is not packed
        fp32 = decode_seconds(model)
        fast = copy.deepcopy(model).to(torch.bfloat16)
        pack_linears(fast)
        bf16 = decode_seconds(fast)
        del fast
        speedup = fp32 / bf16
        verdict = {"dtype": "bfloat16" if speedup >= GAIN else "float32", "speedup": round(speedup, 2), "model": name,
                   "why": f"dtype=auto: bfloat16 measured {speedup:.2f}x float32 per decode step here"}  # fmt: skip
        _remember(model, verdict)
    if verdict.get("dtype") == "bfloat16":
        return model.to(torch.bfloat16), verdict
    return model, verdict


def _remember(model: Any, verdict: dict[str, Any]) -> None:
    remember(_key(model), verdict)


def remembered(key: str) -> dict[str, Any] | None:
    """A verdict stored under `key` in cache/precision.json (also hf_threads')."""
    found = _read().get(key)
    return found if isinstance(found, dict) else None


def remember(key: str, verdict: dict[str, Any]) -> None:
    from ..atomic import write_text_atomic

    data = _read()
    data[key] = verdict
    try:
        path = _path()
        path.parent.mkdir(parents=True, exist_ok=True)
        write_text_atomic(path, json.dumps(data, indent=1, sort_keys=True))
    except OSError:
        pass  # a read-only cache: measured again next time
