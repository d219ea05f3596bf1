"""Token healing for the bundled GPT (see MiniEngine's module docstring for why).

The engine backs up over the prompt's last token (`back_up`), then constrains the first
generated tokens (`allowed`) until the removed bytes are re-created (`remaining`).
"""

from __future__ import annotations

import torch

from llmkit.mini.tokenizer import MiniTokenizer

__all__ = ["TokenHealer"]


class TokenHealer:
    """Per-tokenizer token healing: which tokens may start the bytes still to re-create.
    The masks are cached per remaining byte string (bounded)."""

    def __init__(self, tokenizer: MiniTokenizer, vocab_size: int, cache_size: int = 1024) -> None:
        self.tokenizer = tokenizer
        self.vocab_size = vocab_size  # the model's (may exceed the tokenizer's: padding rows)
        self._masks: dict[bytes, torch.Tensor] = {}
        self._cache_size = cache_size
        self._everything = torch.ones(vocab_size, dtype=torch.bool)

    def back_up(self, ids: list[int], max_tokens: int = 3) -> tuple[list[int], bytes]:
        """Remove the tokens token healing regenerates; return (kept ids, removed bytes).

        The last token always goes; earlier ones too while everything removed is
        whitespace (a run like "\\n    " is split unlike in training, across tokens).
        """
        tok = self.tokenizer
        removed = b""
        while ids and ids[-1] not in tok.special_ids:
            data = tok.token_bytes(ids[-1])
            if removed and (not data.isspace() or not removed.isspace() or max_tokens <= 0):
                break
            removed = data + removed
            ids = ids[:-1]
            max_tokens -= 1
        return ids, removed

    def allowed(self, rests: list[bytes]) -> torch.Tensor:
        """(len(rests), vocab) True where a token may come next for each sample."""
        return torch.stack([self._mask(r) if r else self._everything for r in rests])

    def remaining(self, rest: bytes, token: int) -> bytes:
        """What is left to re-create after `token` was chosen."""
        data = self.tokenizer.token_bytes(token)
        return b"" if data.startswith(rest) else rest[len(data) :]

    def _mask(self, rest: bytes) -> torch.Tensor:
        """True for the tokens that can start `rest`: those that begin with all of it, or
        are a (non-empty) prefix of it."""
        mask = self._masks.get(rest)
        if mask is None:
            tok = self.tokenizer
            mask = torch.zeros(self.vocab_size, dtype=torch.bool)
            allowed = []
            for i in range(tok.vocab_size):
                data = tok.token_bytes(i)
                if i not in tok.special_ids and data and (data.startswith(rest) or rest.startswith(data)):
                    allowed.append(i)
            mask[allowed] = True
            if len(self._masks) >= self._cache_size:
                self._masks.clear()
            self._masks[rest] = mask
        return mask
