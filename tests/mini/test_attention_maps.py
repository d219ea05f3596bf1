"""`llmkit attention`: the maps are the weights the model really used."""

from __future__ import annotations

import subprocess
import sys

import torch

from llmkit.mini.attention_maps import attention_maps
from llmkit.mini.model import apply_rope


def test_maps_are_causal_distributions(random_model, tokenizer):
    ids = tokenizer.encode("The cat sat on the mat")
    maps = attention_maps(random_model, ids)
    cfg = random_model.config
    assert maps.shape == (cfg.n_layer, cfg.n_head, len(ids), len(ids))
    assert torch.allclose(maps.sum(-1), torch.ones(cfg.n_layer, cfg.n_head, len(ids)), atol=1e-5)
    assert torch.all(maps.triu(diagonal=1) == 0)


def test_maps_reproduce_the_attention_output(random_model, tokenizer):
    """softmax(QK^T/sqrt d) @ V must equal what the fused SDPA computed in the layer."""
    torch.manual_seed(1)
    for p in random_model.parameters():  # sharper weights than the init, so the check bites
        p.data.mul_(3)
    try:
        torch.set_grad_enabled(False)
        ids = tokenizer.encode("the dog ran to park while bird sang")
        maps = attention_maps(random_model, ids)
        attn = random_model.blocks[1].attn
        seen = {}
        hook = attn.register_forward_pre_hook(lambda m, a: seen.update(args=a))
        random_model(torch.tensor([ids]))
        hook.remove()
        x, cos, sin = seen["args"][:3]
        t, c = x.shape[1], x.shape[2]
        q, k, v = attn.qkv(x).split(c, dim=2)
        v = v.view(1, t, attn.n_head, attn.head_dim).transpose(1, 2)
        expected = torch.nn.functional.scaled_dot_product_attention(
            apply_rope(q.view(1, t, attn.n_head, attn.head_dim).transpose(1, 2), cos, sin),
            apply_rope(k.view(1, t, attn.n_head, attn.head_dim).transpose(1, 2), cos, sin),
            v, is_causal=True)
        assert torch.allclose(maps[1] @ v[0], expected[0], atol=1e-5)
    finally:
        torch.set_grad_enabled(True)
        for p in random_model.parameters():
            p.data.div_(3)


def test_attention_command_renders(random_ckpt, tmp_path):
    r = subprocess.run([sys.executable, "-m", "llmkit.cli", "attention", "The cat sat on the mat",
                        "-m", f"mini:{random_ckpt}", "--layer", "1", "--head", "0"],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert "layer 1 head 0" in r.stdout and "layer 0" not in r.stdout
    assert "The·" in r.stdout or "The" in r.stdout
    bad = subprocess.run([sys.executable, "-m", "llmkit.cli", "attention", "x", "-m", f"mini:{random_ckpt}",
                          "--layer", "9"], capture_output=True, text=True, timeout=120)
    assert bad.returncode == 1 and "out of range" in bad.stderr
