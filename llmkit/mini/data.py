"""Token streams for training: documents joined by <|endoftext|>, FIM rearrangement,
and random windows drawn deterministically from the step number.

Batches depend only on (seed, step, micro-step), never on an RNG carried through the
run, so a resumed run sees exactly the batches the uninterrupted run would have seen.
"""

from __future__ import annotations

import random

import torch

from llmkit.mini.corpus import Document
from llmkit.mini.tokenizer import MiniTokenizer

__all__ = ["TrainData", "split_pieces", "fim_ids", "plain_stream", "eval_windows"]


def split_pieces(text: str, max_chars: int) -> list[str]:
    """Cut text into pieces of at most ~max_chars, preferring line boundaries."""
    pieces = []
    start = 0
    while len(text) - start > max_chars:
        end = text.rfind("\n", start + max_chars // 2, start + max_chars)
        end = end + 1 if end >= 0 else start + max_chars
        pieces.append(text[start:end])
        start = end
    pieces.append(text[start:])
    return pieces


def fim_ids(tokenizer: MiniTokenizer, text: str, rng: random.Random) -> list[int]:
    """PSM fill-in-the-middle example: <pre>prefix<suf>suffix<mid>middle.

    The cuts are in characters and each part is tokenized on its own, exactly as the
    engine's `infill` tokenizes a prefix and a suffix.
    """
    a, b = sorted((rng.randint(0, len(text)), rng.randint(0, len(text))))
    prefix, middle, suffix = text[:a], text[a:b], text[b:]
    tok = tokenizer
    return [tok.fim_prefix_id, *tok.encode(prefix), tok.fim_suffix_id, *tok.encode(suffix),
            tok.fim_middle_id, *tok.encode(middle)]


def plain_stream(tokenizer: MiniTokenizer, documents: list[Document]) -> list[int]:
    """<eot> doc1 <eot> doc2 <eot> ...: every document follows an end-of-text token."""
    ids = [tokenizer.eot_id]
    for doc_ids in tokenizer.encode_batch([d.text for d in documents]):
        ids.extend(doc_ids)
        ids.append(tokenizer.eot_id)
    return ids


class TrainData:
    """The training stream, rebuilt with fresh FIM cuts on every pass over the data."""

    def __init__(self, tokenizer: MiniTokenizer, documents: list[Document], *, block_size: int,
                 batch_size: int, grad_accum: int, fim_rate: float, seed: int) -> None:
        self.tokenizer = tokenizer
        self.block_size = block_size
        self.batch_size = batch_size
        self.grad_accum = grad_accum
        self.fim_rate = fim_rate
        self.seed = seed
        # A FIM example should fit in the context window: ~3 characters per token.
        self._pieces: list[str] = []
        self._doc_ends: set[int] = set()  # index of each document's last piece
        for doc in documents:
            self._pieces.extend(split_pieces(doc.text, 3 * block_size))
            self._doc_ends.add(len(self._pieces) - 1)
        self._plain = tokenizer.encode_batch(self._pieces)
        self.n_tokens = sum(len(x) for x in self._plain) + len(documents) + 1
        tokens_per_step = block_size * batch_size * grad_accum
        self.steps_per_pass = max(1, self.n_tokens // tokens_per_step)
        self._pass = -1
        self._stream = torch.empty(0, dtype=torch.long)

    def _build(self, pass_index: int) -> torch.Tensor:
        rng = random.Random(self.seed * 1_000_003 + pass_index)
        tok = self.tokenizer
        ids = [tok.eot_id]
        for i, (text, plain) in enumerate(zip(self._pieces, self._plain, strict=True)):
            if self.fim_rate > 0 and len(text) > 1 and rng.random() < self.fim_rate:
                ids.extend(fim_ids(tok, text, rng))
                ids.append(tok.eot_id)  # a FIM example is a document of its own
                continue
            ids.extend(plain)
            if i in self._doc_ends:
                ids.append(tok.eot_id)
        return torch.tensor(ids, dtype=torch.long)

    def stream_for_step(self, step: int) -> torch.Tensor:
        pass_index = step // self.steps_per_pass
        if pass_index != self._pass:
            self._stream = self._build(pass_index)
            self._pass = pass_index
        return self._stream

    def batch(self, step: int, micro: int) -> tuple[torch.Tensor, torch.Tensor]:
        """(x, y) of shape (batch, T): random windows, y shifted by one token."""
        stream = self.stream_for_step(step)
        t = min(self.block_size, len(stream) - 1)
        g = torch.Generator().manual_seed((self.seed * 1_000_003 + step) * 64 + micro)
        starts = torch.randint(0, len(stream) - t, (self.batch_size,), generator=g)
        offsets = torch.arange(t + 1)
        windows = stream[starts.unsqueeze(1) + offsets]
        return windows[:, :-1], windows[:, 1:]


def eval_windows(stream: list[int], block_size: int, max_windows: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Non-overlapping (x, y) windows over a validation stream, in order (deterministic)."""
    data = torch.tensor(stream, dtype=torch.long)
    windows: list[tuple[torch.Tensor, torch.Tensor]] = []
    start = 0
    while start < len(data) - 1 and len(windows) < max_windows:
        chunk = data[start:start + block_size + 1]
        windows.append((chunk[:-1].unsqueeze(0), chunk[1:].unsqueeze(0)))
        start += block_size
    return windows
