"""oneDNN-prepacked weights for an `hf:` model's bfloat16 linear layers on a CPU.

torch computes a bfloat16 `F.linear` on a CPU with oneDNN, which first reorders the
weight into its blocked layout, at every call. Decoding uses each weight for one row (or
a batch's few) per step, so that reorder costs about as much as the multiply itself.
`pack_linears` reorders each `nn.Linear`'s weight once, at load (what torch.compile's
freezing pass does, `torch.ops.mkldnn._reorder_linear_weight`), and the layer then calls
oneDNN's linear on the packed copy: the same kernel on the same blocks, so the same bits
(each layer is checked on a probe input when it is packed, and one that differs is left
as it was). Decoding SmolLM2-135M went from 29 to 40 tokens/s in one stream and from 154
to 227 in a batch of 8 (2 threads; benchmarks/hf_vs_vllm.py measures it against vLLM).

The modules stay `nn.Linear` with their weights, so state dicts, weight digests, hooks
and attention maps see the ordinary model; the packed copy sits beside each weight. A
bfloat16 model's linear weights therefore take the memory a float32 model's would.
float32 layers are not packed: oneDNN's float32 kernel rounds differently from the BLAS
that `F.linear` uses, and the compressor and log-probabilities rely on float32 as it is.
"""

from __future__ import annotations

import types
import weakref
from typing import Any

import torch
from torch import nn

__all__ = ["pack_linears", "packed_count"]

# layer -> its packed weight. Kept outside the module: oneDNN's opaque tensors cannot be
# deep-copied, so a copy of a packed model (copy.deepcopy) gets layers that are not in
# here and run the ordinary way.
_PACKED: weakref.WeakKeyDictionary[nn.Module, torch.Tensor] = weakref.WeakKeyDictionary()


def _available() -> bool:
    ops = getattr(torch.ops, "mkldnn", None)
    return (torch.backends.mkldnn.is_available() and hasattr(ops, "_reorder_linear_weight")
            and hasattr(ops, "_linear_pointwise"))  # fmt: skip


def _onednn_linear(x: torch.Tensor, packed: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
    return torch.ops.mkldnn._linear_pointwise(x, packed, bias, "none", [], "")


def _packed_forward(self: nn.Linear, x: torch.Tensor) -> torch.Tensor:
    packed = _PACKED.get(self)
    if packed is None or (torch.is_grad_enabled() and self.weight.requires_grad):  # a copy, or training
        return nn.Linear.forward(self, x)
    return _onednn_linear(x, packed, self.bias)


def _pack(layer: nn.Linear) -> bool:
    weight = layer.weight.detach()
    packed = torch.ops.mkldnn._reorder_linear_weight(weight, 1)
    probe = torch.linspace(-1, 1, 3 * layer.in_features, dtype=weight.dtype).view(3, layer.in_features)
    bias = None if layer.bias is None else layer.bias.detach()
    with torch.inference_mode():
        same = torch.equal(_onednn_linear(probe, packed, bias), torch.nn.functional.linear(probe, weight, bias))
    if not same:
        return False
    _PACKED[layer] = packed  # beside the weight: not in the state dict, not moved by .to()
    layer.forward = types.MethodType(_packed_forward, layer)  # type: ignore[method-assign]
    return True


def pack_linears(model: Any) -> int:
    """Pack the bfloat16 `nn.Linear` weights of a CPU model in place; how many were packed
    (0 where oneDNN is not there, or the model is not a bfloat16 CPU model)."""
    if not _available():
        return 0
    count = 0
    for module in model.modules():
        if (type(module) is nn.Linear and module.weight.device.type == "cpu"
                and module.weight.dtype == torch.bfloat16 and module not in _PACKED):  # fmt: skip
            try:
                count += _pack(module)
            except RuntimeError:  # a shape or build oneDNN does not take: this layer stays as it was
                continue
    return count


def packed_count(model: Any) -> int:
    """How many of the model's linear layers run on packed weights."""
    return sum(1 for m in model.modules() if m in _PACKED)
