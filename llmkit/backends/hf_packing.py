"""oneDNN-prepacked weights for an `hf:` model's linear layers on a CPU.

torch computes a bfloat16 `F.linear` on a CPU with oneDNN, which first reorders the
weight into its blocked layout, at every call. Decoding uses each weight for one row (or
a batch's few) per step, so that reorder costs about as much as the multiply itself.
`pack_linears` reorders each `nn.Linear`'s weight once, at load (what torch.compile's
freezing pass does, `torch.ops.mkldnn._reorder_linear_weight`), and the layer then calls
oneDNN's linear on the packed copy: the same kernel on the same blocks, so the same bits
(each layer is checked on a probe input when it is packed, and one that differs is left
as it was). Decoding SmolLM2-135M went from 29 to 40 tokens/s in one stream and from 154
to 227 in a batch of 8 (2 threads, AVX512-BF16; benchmarks/hf_vs_vllm.py).

float32 `F.linear` runs on the BLAS (MKL), whose small-batch kernels are slow here: a
batch of 8 rows took 2.6x one row's time through SmolLM2's output layer, against 1.5x on
oneDNN's packed weights, and one row 1.8x oneDNN's (AVX2, 2 threads; benchmarks/
hf_batch_throughput.py measures the whole). oneDNN also computes each row the same
whatever the batch's size, where MKL's result depends on it, so batched greedy answers
equal one-by-one ones. But its bits differ from MKL's, and log-probabilities and the
compressor (whose files must decode as they were written) rely on float32 as it is. So a
packed float32 layer uses oneDNN only inside `generating()` (which the engine enters to
generate) and the plain weight everywhere else. Its packed copy doubles the memory of the
linears, so float32 is packed only when that copy fits in a quarter of the machine's RAM.

The modules stay `nn.Linear` with their weights, so state dicts, weight digests, hooks
and attention maps see the ordinary model; the packed copy sits beside each weight.
"""

from __future__ import annotations

import contextlib
import os
import threading
import types
import weakref
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from typing import Any, NamedTuple

import torch
from torch import nn

__all__ = ["Packer", "fp32_budget", "generating", "pack_linears", "packed_count"]


class _Packed(NamedTuple):
    weight: torch.Tensor  # oneDNN's opaque, blocked copy
    source: tuple[int, int]  # the weight it was made from (_stamp): one cast or written since runs plain
    exact: bool  # the same bits as F.linear (bfloat16), so used everywhere


def _stamp(weight: torch.Tensor) -> tuple[int, int]:
    """Which weight, as it is now: its storage and its count of in-place writes (an
    inference-mode tensor counts none: it cannot be written outside inference mode)."""
    return weight.data_ptr(), -1 if weight.is_inference() else weight._version


# layer -> its packed weight. Kept outside the module: oneDNN's opaque tensors cannot be
# deep-copied, so a copy of a packed model (copy.deepcopy) gets layers that are not in
# here and run the ordinary way.
_PACKED: weakref.WeakKeyDictionary[nn.Module, _Packed] = weakref.WeakKeyDictionary()

# True while the engine generates: float32 layers may then use their oneDNN copies.
_GENERATING: ContextVar[bool] = ContextVar("llmkit_hf_generating", default=False)


@contextlib.contextmanager
def generating() -> Iterator[None]:
    """Within: packed float32 layers compute on oneDNN (generation); outside, on the BLAS."""
    token = _GENERATING.set(True)
    try:
        yield
    finally:
        _GENERATING.reset(token)


def _available() -> bool:
    ops = getattr(torch.ops, "mkldnn", None)
    return (torch.backends.mkldnn.is_available() and hasattr(ops, "_reorder_linear_weight")
            and hasattr(ops, "_linear_pointwise"))  # fmt: skip


def _onednn_linear(x: torch.Tensor, packed: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
    return torch.ops.mkldnn._linear_pointwise(x, packed, bias, "none", [], "")


def _packed_forward(self: nn.Linear, x: torch.Tensor) -> torch.Tensor:
    entry = _PACKED.get(self)
    if (entry is None or entry.source != _stamp(self.weight)  # a copy, or weights cast or loaded since
            or (torch.is_grad_enabled() and self.weight.requires_grad)  # training
            or not (entry.exact or _GENERATING.get())):  # fmt: skip
        return nn.Linear.forward(self, x)
    return _onednn_linear(x, entry.weight, self.bias)


# The batch size oneDNN lays a float32 weight out for. Laid out for 1 row, a batch of 8
# took 2x one row's time through SmolLM2's linears and rows depended on the batch's size;
# for 8 to 512 rows, 1.45-1.5x and they did not (AVX2, 2 threads), one row no slower.
_FP32_ROWS = 32


def _pack(layer: nn.Linear) -> bool:
    weight = layer.weight.detach()
    packed = torch.ops.mkldnn._reorder_linear_weight(weight, 1 if weight.dtype == torch.bfloat16 else _FP32_ROWS)
    probe = torch.linspace(-1, 1, 3 * layer.in_features, dtype=weight.dtype).view(3, layer.in_features)
    bias = None if layer.bias is None else layer.bias.detach()
    with torch.inference_mode():
        got, want = _onednn_linear(probe, packed, bias), torch.nn.functional.linear(probe, weight, bias)
    if weight.dtype == torch.bfloat16:
        exact = torch.equal(got, want)
        if not exact:  # bfloat16 is packed only where it gives F.linear's bits
            return False
    else:  # float32: another kernel, so other rounding; anything more is a broken build
        exact = False
        if not torch.allclose(got, want, rtol=1e-4, atol=1e-4):
            return False
    _PACKED[layer] = _Packed(packed, _stamp(layer.weight), exact)  # beside the weight: not in the state dict
    layer.forward = types.MethodType(_packed_forward, layer)  # type: ignore[method-assign]
    return True


def fp32_budget() -> int:
    """Bytes a float32 model's packed copy may take: a quarter of the machine's memory."""
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE") // 4
    except (ValueError, OSError, AttributeError):  # no sysconf (Windows): pack only small models
        return 1 << 30


def _linears(model: Any) -> list[nn.Linear]:
    return [m for m in model.modules() if type(m) is nn.Linear and m.weight.device.type == "cpu"
            and m.weight.dtype in (torch.bfloat16, torch.float32)]  # fmt: skip


def pack_linears(model: Any, budget: int | None = None, stop: threading.Event | None = None) -> int:
    """Pack the `nn.Linear` weights of a CPU model in place (bfloat16 always, float32 when
    its copy fits in `budget` bytes, by default `fp32_budget()`); how many were packed now
    (0 where oneDNN is not there, or the model is on another device). `stop` set ends it
    after the layer at hand."""
    if not _available():
        return 0
    todo = [m for m in _linears(model) if not _current(m)]
    fp32_bytes = sum(m.weight.numel() * 4 for m in todo if m.weight.dtype == torch.float32)
    if fp32_bytes > (fp32_budget() if budget is None else budget):
        todo = [m for m in todo if m.weight.dtype != torch.float32]
    count = 0
    for module in todo:
        if stop is not None and stop.is_set():
            break
        _PACKED.pop(module, None)  # a copy of weights since cast or loaded
        try:
            count += _pack(module)
        except RuntimeError:  # a shape or build oneDNN does not take: this layer stays as it was
            continue
    return count


def packed_count(model: Any) -> int:
    """How many of the model's linear layers run on packed weights (float32 ones while generating)."""
    return sum(1 for m in model.modules() if _current(m))


def _current(layer: nn.Module) -> bool:
    entry = _PACKED.get(layer)
    return entry is not None and entry.source == _stamp(layer.weight)  # type: ignore[arg-type]


class Packer:
    """`pack_linears(model)` in a thread, started at once: reordering SmolLM2's weights
    takes about 0.6 s here, which loading (and a chat whose user is still typing) need not
    wait for. `on_done(count)` runs in the thread when it ends. Not a daemon thread:
    interpreter shutdown waits for the layer being reordered."""

    def __init__(self, model: Any, on_done: Callable[[int], None]) -> None:
        self._stop = threading.Event()

        def work() -> None:
            try:
                packed = pack_linears(model, stop=self._stop)
            except Exception:  # noqa: BLE001 - whatever oneDNN raises, the model runs unpacked
                return
            on_done(packed)

        self._thread = threading.Thread(target=work, name="llmkit-hf-packing")
        self._thread.start()

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    def wait(self) -> None:
        """Until the packing has ended."""
        self._thread.join()

    def stop(self) -> None:
        """End the packing after the layer at hand, and wait for it."""
        self._stop.set()
        self._thread.join()
