"""The bundled decoder-only GPT, readable top to bottom (in the spirit of nanoGPT).

Token embedding -> n pre-norm blocks (causal self-attention + MLP) -> final norm ->
output projection tied to the token embedding.

Positions are encoded with rotary embeddings (RoPE) rather than a learned table:
  * attention then depends on *relative* offsets, so a key cached at absolute position
    p is rotated once and stays valid for every later query (cached decoding needs no
    bookkeeping beyond "which absolute position is this token at");
  * there is no position table to train, which matters for a model trained on small
    corpora, and no hard-coded maximum baked into the weights.

Decoding one token at a time is bound by reading the weights and by per-op overhead, not
by arithmetic: the KV cache is preallocated and written in place, q and k are rotated
in one pass, for inference the weight matrices are stored column-major
(`GPT.inference_layout`, which MiniEngine applies at load), and `Decoder` runs the same
operations without nn.Module dispatch, projecting only the last position to logits.
"""

from __future__ import annotations

import math
from typing import cast

import torch
import torch.nn.functional as F
from torch import nn

from llmkit.mini.config import GPTConfig

__all__ = ["GPTConfig", "GPT", "Decoder", "KVCache", "attention_mask"]  # GPTConfig lives in mini/config.py (no torch)


class KVCache:
    """Keys and values of the tokens seen so far, one preallocated buffer per layer.

    `length` is the number of cached positions; the next token fed to the model sits at
    absolute position `length`. Buffers are preallocated to `max_len` so decoding does
    not reallocate (and copy) the cache at every step.
    """

    def __init__(self, config: GPTConfig, batch_size: int, max_len: int | None = None,
                 dtype: torch.dtype = torch.float32, device: torch.device | str = "cpu") -> None:
        self.max_len = max_len or config.block_size
        shape = (batch_size, config.n_head, self.max_len, config.head_dim)
        self.k = [torch.zeros(shape, dtype=dtype, device=device) for _ in range(config.n_layer)]
        self.v = [torch.zeros(shape, dtype=dtype, device=device) for _ in range(config.n_layer)]
        self.length = 0

    @property
    def batch_size(self) -> int:
        return self.k[0].shape[0]

    def append(self, layer: int, k: torch.Tensor, v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Store k, v (B, H, T, D) at positions length..length+T; return all keys/values so far."""
        t = k.shape[2]
        end = self.length + t
        if end > self.max_len:
            raise ValueError(f"KV cache full: {self.length} + {t} positions > {self.max_len}")
        keys, values = self.k[layer], self.v[layer]
        keys.narrow(2, self.length, t).copy_(k)  # in place: no reallocation, no torch.cat
        values.narrow(2, self.length, t).copy_(v)
        return keys.narrow(2, 0, end), values.narrow(2, 0, end)

    def expand(self, batch_size: int) -> KVCache:
        """A cache for `batch_size` rows, each a copy of this (batch 1) cache.

        Used to prefill a prompt once and then sample n continuations as a batch.
        """
        if self.batch_size != 1:
            raise ValueError("only a batch-1 cache can be expanded")
        new = KVCache.__new__(KVCache)
        new.max_len = self.max_len
        new.k = [k.repeat(batch_size, 1, 1, 1) for k in self.k]
        new.v = [v.repeat(batch_size, 1, 1, 1) for v in self.v]
        new.length = self.length
        return new


def attention_mask(n_queries: int, n_keys: int, device: torch.device | str = "cpu") -> torch.Tensor:
    """Boolean (n_queries, n_keys) mask, True where attention is allowed.

    The queries are the *last* n_queries positions: query i sits at absolute position
    past + i with past = n_keys - n_queries, and may attend keys 0..past+i. (SDPA's
    `is_causal=True` aligns the mask to the top-left instead, which is wrong as soon as
    there are fewer queries than keys.)
    """
    past = n_keys - n_queries
    q_pos = torch.arange(n_queries, device=device).unsqueeze(1) + past
    k_pos = torch.arange(n_keys, device=device).unsqueeze(0)
    return k_pos <= q_pos


def rope_tables(head_dim: int, max_len: int, theta: float) -> tuple[torch.Tensor, torch.Tensor]:
    """(cos, sin), each (max_len, head_dim), in the form apply_rope uses: the angle of
    pair i sits at columns i and i + D/2, and sin is negated in the first half."""
    inv_freq = 1.0 / (theta ** (torch.arange(0, head_dim, 2, dtype=torch.float32) / head_dim))
    angles = torch.outer(torch.arange(max_len, dtype=torch.float32), inv_freq)  # (T, D/2)
    cos, sin = angles.cos(), angles.sin()
    return torch.cat((cos, cos), dim=-1), torch.cat((-sin, sin), dim=-1)


def apply_rope(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Rotate pairs (x1, x2) = (x[..., :D/2], x[..., D/2:]) by position-dependent angles:
    (x1 cos - x2 sin, x2 cos + x1 sin), computed as x * cos + (x2, x1) * sin with the
    tables of rope_tables (4 tensor ops instead of 8). x is (..., T, D)."""
    return x * cos + x.roll(x.shape[-1] // 2, dims=-1) * sin


def split_heads(qkv: torch.Tensor, n_head: int, cos: torch.Tensor,
                sin: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The fused projection's output (B, T, 3C) -> q, k, v (B, H, T, D), q and k rotated
    (together: half the ops)."""
    b, t, c3 = qkv.shape
    heads = qkv.view(b, t, 3, n_head, c3 // (3 * n_head)).permute(2, 0, 3, 1, 4)
    q, k = apply_rope(heads[:2], cos, sin)
    return q, k, heads[2]


def attend(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, dropout: float = 0.0) -> torch.Tensor:
    """Causal attention of the queries (B, H, T, D), the *last* T of the N positions whose
    keys and values (B, H, N, D) are given."""
    t, n_keys = q.shape[2], k.shape[2]
    if t == n_keys:  # no past: the ordinary square causal mask
        return F.scaled_dot_product_attention(q, k, v, is_causal=True, dropout_p=dropout)
    if t == 1:  # one new token may see every cached key
        return F.scaled_dot_product_attention(q, k, v, dropout_p=dropout)
    # a chunk of new tokens after a cached past: bottom-right aligned mask
    mask = attention_mask(t, n_keys, device=q.device)
    return F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=dropout)


class CausalSelfAttention(nn.Module):
    def __init__(self, config: GPTConfig) -> None:
        super().__init__()
        self.n_head = config.n_head
        self.head_dim = config.head_dim
        self.qkv = nn.Linear(config.n_embd, 3 * config.n_embd, bias=config.bias)
        self.proj = nn.Linear(config.n_embd, config.n_embd, bias=config.bias)
        self.dropout = config.dropout

    def forward(self, x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor,
                kv_cache: KVCache | None, layer: int) -> torch.Tensor:
        b, t, c = x.shape
        q, k, v = split_heads(self.qkv(x), self.n_head, cos, sin)
        if kv_cache is not None:
            k, v = kv_cache.append(layer, k, v)
        y = attend(q, k, v, self.dropout if self.training else 0.0)
        y = y.transpose(1, 2).contiguous().view(b, t, c)
        return F.dropout(self.proj(y), self.dropout, self.training)


class MLP(nn.Module):
    def __init__(self, config: GPTConfig) -> None:
        super().__init__()
        self.fc = nn.Linear(config.n_embd, 4 * config.n_embd, bias=config.bias)
        self.proj = nn.Linear(4 * config.n_embd, config.n_embd, bias=config.bias)
        self.dropout = config.dropout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.dropout(self.proj(F.gelu(self.fc(x))), self.dropout, self.training)


class Block(nn.Module):
    """Pre-norm residual block: normalising the branch input keeps deep stacks trainable."""

    def __init__(self, config: GPTConfig) -> None:
        super().__init__()
        self.ln_1 = nn.LayerNorm(config.n_embd, bias=config.bias)
        self.attn = CausalSelfAttention(config)
        self.ln_2 = nn.LayerNorm(config.n_embd, bias=config.bias)
        self.mlp = MLP(config)

    def forward(self, x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor,
                kv_cache: KVCache | None, layer: int) -> torch.Tensor:
        x = x + self.attn(self.ln_1(x), cos, sin, kv_cache, layer)
        return x + self.mlp(self.ln_2(x))


class GPT(nn.Module):
    rope_cos: torch.Tensor  # buffers, declared for type checkers
    rope_sin: torch.Tensor

    def __init__(self, config: GPTConfig) -> None:
        super().__init__()
        self.config = config
        self.wte = nn.Embedding(config.vocab_size, config.n_embd)
        self.blocks = nn.ModuleList(Block(config) for _ in range(config.n_layer))
        self.ln_f = nn.LayerNorm(config.n_embd, bias=config.bias)
        self.lm_head = nn.Linear(config.n_embd, config.vocab_size, bias=False)
        # Tied weights: the output projection reuses the embedding matrix (fewer
        # parameters, and rare tokens get a useful output vector from their embedding).
        self.lm_head.weight = self.wte.weight
        cos, sin = rope_tables(config.head_dim, config.block_size, config.rope_theta)
        # Not persistent: derived from the config, so never stored in checkpoints.
        self.register_buffer("rope_cos", cos, persistent=False)
        self.register_buffer("rope_sin", sin, persistent=False)
        self.apply(self._init_weights)
        # GPT-2: scale residual projections so the residual stream's variance does not
        # grow with depth.
        for name, p in self.named_parameters():
            if name.endswith("proj.weight"):
                nn.init.normal_(p, mean=0.0, std=0.02 / math.sqrt(2 * config.n_layer))

    @staticmethod
    def _init_weights(module: nn.Module) -> None:
        if isinstance(module, nn.Linear):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, nn.Embedding):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())

    @torch.no_grad()
    def inference_layout(self) -> GPT:
        """Store every weight matrix transposed in memory, for inference (MiniEngine does
        this at load): same shapes and values, column-major strides. Returns self.

        `linear` then multiplies by a row-major W.T, which CPU BLAS streams fastest when
        one token is decoded at a time (decoding about 1.3x faster on the benchmark
        machine). Outputs agree with the default layout to float32 rounding, not bit for
        bit. Checkpoints and weight digests still see ordinary contiguous tensors. Not for
        training: torch's fused CPU AdamW mixes up elements when a gradient's layout
        differs from its parameter's.
        """
        for p in self.parameters():  # deduplicated: the tied embedding is moved once
            if p.dim() == 2:
                p.data = p.data.t().contiguous().t()
        return self

    def new_cache(self, batch_size: int = 1, max_len: int | None = None) -> KVCache:
        p = self.wte.weight
        return KVCache(self.config, batch_size, max_len, dtype=p.dtype, device=p.device)

    def forward(self, idx: torch.Tensor, targets: torch.Tensor | None = None,
                kv_cache: KVCache | None = None) -> tuple[torch.Tensor, torch.Tensor | None]:
        """idx (B, T) token ids -> (logits (B, T, vocab), loss or None).

        With `kv_cache`, idx holds the tokens *after* the cached ones: they sit at
        absolute positions cache.length.. and the cache is extended by T positions.
        Targets equal to -1 are ignored in the loss (padding).
        """
        logits = self.lm_head(self.hidden_states(idx, kv_cache))
        loss = None
        if targets is not None:
            loss = F.cross_entropy(logits.view(-1, logits.size(-1)).float(), targets.reshape(-1),
                                   ignore_index=-1)
        return logits, loss

    def hidden_states(self, idx: torch.Tensor, kv_cache: KVCache | None = None) -> torch.Tensor:
        """idx (B, T) -> the final normalised hidden states (B, T, n_embd), before the
        output projection (what embeddings are pooled from)."""
        _, t = idx.shape
        past = kv_cache.length if kv_cache is not None else 0
        cos, sin = self.positions(past, t)
        x = F.dropout(self.wte(idx), self.config.dropout, self.training)
        for i, block in enumerate(self.blocks):
            x = block(x, cos, sin, kv_cache, i)
        if kv_cache is not None:
            kv_cache.length += t
        return self.ln_f(x)

    def positions(self, past: int, t: int) -> tuple[torch.Tensor, torch.Tensor]:
        """The rotary tables (cos, sin) of positions past..past+t; refuses a sequence
        longer than the context window."""
        if past + t > self.config.block_size:
            raise ValueError(
                f"sequence of {past + t} tokens exceeds the context window ({self.config.block_size})")
        return self.rope_cos[past:past + t], self.rope_sin[past:past + t]


class Decoder:
    """Cached decoding for inference, the hot loop of generation and of the compressor's
    stepper: `decoder(idx, cache)` is `model(idx, kv_cache=cache)[0][:, -1]`, the same
    operations on the same weights (bit-identical logits when each row feeds one token),
    without what only training needs. No nn.Module dispatch and no dropout calls, the
    weights looked up once, and the output projection computed for the last position
    only: decoding about 1.2x faster at the shipped size, where each step is a few dozen
    small ops (benchmarks/mini_vs_hf_gpt2.py).

    It holds the model's Parameter objects, so it sees their updates (inference_layout
    included) but not a module or Parameter put in place of one. No autograd: call it
    under torch.inference_mode() or no_grad().
    """

    def __init__(self, model: GPT) -> None:
        self.model = model
        self.n_head = model.config.n_head
        blocks = cast("list[Block]", list(model.blocks))
        self.eps = model.ln_f.eps  # every LayerNorm of the model is built alike
        self.layers = [
            (b.ln_1.weight, b.ln_1.bias, b.attn.qkv.weight, b.attn.qkv.bias, b.attn.proj.weight, b.attn.proj.bias,
             b.ln_2.weight, b.ln_2.bias, b.mlp.fc.weight, b.mlp.fc.bias, b.mlp.proj.weight, b.mlp.proj.bias)
            for b in blocks
        ]  # fmt: skip
        self.ln_f = (model.ln_f.weight, model.ln_f.bias)
        self.wte = model.wte.weight

    def __call__(self, idx: torch.Tensor, kv_cache: KVCache) -> torch.Tensor:
        """idx (B, T), the tokens after the cached ones -> logits (B, vocab) of the last."""
        b, t = idx.shape
        cos, sin = self.model.positions(kv_cache.length, t)
        x = F.embedding(idx, self.wte)
        c = (x.shape[-1],)
        eps = self.eps
        for i, (ln1_w, ln1_b, qkv_w, qkv_b, attn_w, attn_b, ln2_w, ln2_b, fc_w, fc_b, out_w, out_b) in enumerate(
                self.layers):  # fmt: skip
            q, k, v = split_heads(F.linear(F.layer_norm(x, c, ln1_w, ln1_b, eps), qkv_w, qkv_b), self.n_head, cos, sin)
            k, v = kv_cache.append(i, k, v)
            y = attend(q, k, v).transpose(1, 2).contiguous().view(b, t, c[0])
            x = x + F.linear(y, attn_w, attn_b)
            x = x + F.linear(F.gelu(F.linear(F.layer_norm(x, c, ln2_w, ln2_b, eps), fc_w, fc_b)), out_w, out_b)
        kv_cache.length += t
        return F.linear(F.layer_norm(x[:, -1], c, *self.ln_f, eps), self.wte)
