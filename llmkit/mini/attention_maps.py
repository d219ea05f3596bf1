"""Looking inside: the attention weights softmax(QK^T / sqrt(d_k)) of every layer and head.

The model computes attention with fused SDPA, which never materialises the weights; here
hooks catch each attention layer's input and recompute Q and K the same way (rotary
positions included), so the maps are exactly what the model used.
"""

from __future__ import annotations

import math
from typing import Any

import torch

from llmkit.mini.model import GPT, apply_rope

__all__ = ["attention_maps"]


@torch.inference_mode()
def attention_maps(model: GPT, ids: list[int]) -> torch.Tensor:
    """(n_layer, n_head, T, T) attention weights for the token ids (rows: queries)."""
    captured: list[tuple[Any, torch.Tensor, torch.Tensor, torch.Tensor]] = []
    blocks: list[Any] = list(model.blocks)
    hooks = [
        block.attn.register_forward_pre_hook(lambda mod, args: captured.append((mod, args[0], args[1], args[2])))
        for block in blocks
    ]
    try:
        model(torch.tensor([ids], dtype=torch.long))
    finally:
        for hook in hooks:
            hook.remove()
    maps = []
    for mod, x, cos, sin in captured:
        _, t, c = x.shape
        q, k, _ = mod.qkv(x).split(c, dim=2)
        q = apply_rope(q.view(1, t, mod.n_head, mod.head_dim).transpose(1, 2), cos, sin)
        k = apply_rope(k.view(1, t, mod.n_head, mod.head_dim).transpose(1, 2), cos, sin)
        scores = (q @ k.transpose(-2, -1)) / math.sqrt(mod.head_dim)
        causal = torch.ones(t, t, dtype=torch.bool).tril()
        maps.append(scores.masked_fill(~causal, float("-inf")).softmax(dim=-1)[0])
    return torch.stack(maps)
