"""GPTConfig: the bundled GPT's architecture, importable without torch (so that
`llmkit train --help` can show its defaults without loading torch)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any

__all__ = ["GPTConfig"]


@dataclass
class GPTConfig:
    # Defaults: the shipped model (6.8M parameters, trained in hours on a laptop CPU).
    # The metadata names `llmkit train`'s flag for each (llmkit.mini.train_config).
    vocab_size: int = field(default=8192, metadata={"flag": "--vocab", "help": "BPE vocabulary size"})
    n_layer: int = field(default=6, metadata={"flag": "--layers", "help": "transformer blocks"})
    n_head: int = field(default=4, metadata={"flag": "--heads", "help": "attention heads"})
    n_embd: int = field(default=256, metadata={"flag": "--width", "help": "embedding width (n_embd)"})
    block_size: int = field(default=256, metadata={"flag": "--context", "help": "context window in tokens"})
    dropout: float = 0.0
    bias: bool = False  # biases in Linear/LayerNorm: slightly worse and slower without benefit
    rope_theta: float = 10000.0

    def __post_init__(self) -> None:
        if self.n_embd % self.n_head:
            raise ValueError(f"n_embd ({self.n_embd}) must be a multiple of n_head ({self.n_head})")
        if (self.n_embd // self.n_head) % 2:
            raise ValueError("the head size (n_embd / n_head) must be even for rotary embeddings")
        for name in ("vocab_size", "n_layer", "n_head", "n_embd", "block_size"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be positive, got {getattr(self, name)}")

    @property
    def head_dim(self) -> int:
        return self.n_embd // self.n_head

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> GPTConfig:
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"unknown GPTConfig fields: {sorted(unknown)}")
        return cls(**data)
