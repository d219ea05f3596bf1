"""What this CPU computes in natively: the one check that both the `hf:` backend's
precision choice (backends/hf_precision) and the bundled model's trainer (mini/device)
make before they use bfloat16 or float16 on a CPU.

Native means oneDNN has kernels for it here (bfloat16: AVX512-BF16 or AMX; float16:
AVX512-FP16 or AMX-FP16). Elsewhere torch emulates the dtype, which is slower than
float32, so the callers fall back to float32 or refuse with what works instead.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch

__all__ = ["cpu_supports"]


def cpu_supports(dtype: torch.dtype) -> bool:
    """Whether this CPU computes in `dtype` natively (oneDNN's own check)."""
    import torch

    if dtype == torch.float32:
        return True
    check = {torch.bfloat16: "_is_mkldnn_bf16_supported", torch.float16: "_is_mkldnn_fp16_supported"}.get(dtype)
    try:
        return bool(check and getattr(torch.ops.mkldnn, check)())
    except (AttributeError, RuntimeError):
        return False
