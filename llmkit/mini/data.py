"""Token streams for training: documents joined by <|endoftext|>, FIM rearrangement,
and random windows drawn deterministically from the step number.

Batches depend only on (seed, step, micro-step), never on an RNG carried through the
run, so a resumed run sees exactly the batches the uninterrupted run would have seen.
"""

from __future__ import annotations

import random
import threading
from collections.abc import Iterator

import numpy as np
import torch

from llmkit.mini.corpus import Document
from llmkit.mini.tokenizer import MiniTokenizer

__all__ = ["TrainData", "split_pieces", "fim_ids", "plain_stream", "plain_array", "eval_windows"]

_CHUNK = 1024  # texts (pieces of ~3 x block_size characters) per encode_batch call: parallel enough, and no huge list of Python ints at once


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
    return plain_array(tokenizer, [d.text for d in documents]).tolist()


def plain_array(tokenizer: MiniTokenizer, texts: list[str]) -> np.ndarray:
    """plain_stream as an int32 array, tokenized in parallel chunks (no list of Python ints)."""
    eot = tokenizer.eot_id
    parts = [np.array([eot], dtype=np.int32)]
    for ids in _encode_chunks(tokenizer, texts):
        parts += [ids, np.array([eot], dtype=np.int32)]
    return np.concatenate(parts)


def _encode_chunks(tokenizer: MiniTokenizer, texts: list[str], chunk: int = _CHUNK) -> Iterator[np.ndarray]:
    """Each text's ids as an int32 array, in order; `encode_batch` runs each chunk on every core."""
    for i in range(0, len(texts), chunk):
        for ids in tokenizer.encode_batch(texts[i:i + chunk]):
            yield np.array(ids, dtype=np.int32)


class TrainData:
    """The training stream, rebuilt with fresh FIM cuts on every pass over the data.

    Memory and time scale to a few hundred MB of text: the pieces' plain tokens live in
    one compact array (uint16 when the vocabulary fits, else int32) with an end-of-text
    after each document's last piece, so a pass copies runs of plain pieces as slices and
    re-tokenizes only the FIM pieces' three parts, in parallel batches. The pass's stream
    is an int32 tensor; batches are int64, as the model's embedding wants.

    `prefetch=True` (the Trainer's choice on cuda) builds the next pass in a background
    thread while this one trains (tokenizers release the GIL), so the GPU does not wait
    ~seconds per pass; the streams are the same either way (a pass is a pure function of
    seed and pass number).
    """

    def __init__(self, tokenizer: MiniTokenizer, documents: list[Document], *, block_size: int,
                 batch_size: int, grad_accum: int, fim_rate: float, seed: int, prefetch: bool = False) -> None:
        self.tokenizer = tokenizer
        self.block_size = block_size
        self.batch_size = batch_size
        self.grad_accum = grad_accum
        self.fim_rate = fim_rate
        self.seed = seed
        # A FIM example should fit in the context window: ~3 characters per token.
        self._pieces: list[str] = []
        doc_end: list[bool] = []
        for doc in documents:
            pieces = split_pieces(doc.text, 3 * block_size)
            self._pieces.extend(pieces)
            doc_end.extend([False] * (len(pieces) - 1) + [True])
        small = tokenizer.vocab_size <= np.iinfo(np.uint16).max + 1
        dtype = np.uint16 if small else np.int32
        eot = np.array([tokenizer.eot_id], dtype=dtype)
        chunks: list[np.ndarray] = []
        lengths = np.empty(len(self._pieces), dtype=np.int64)
        for i, ids in enumerate(_encode_chunks(tokenizer, self._pieces)):
            chunks.append(ids.astype(dtype))
            lengths[i] = len(ids) + doc_end[i]
            if doc_end[i]:
                chunks.append(eot)
        # piece i's plain tokens (and the <eot> after a document's last piece): _plain[_starts[i]:_starts[i + 1]]
        self._plain = np.concatenate(chunks) if chunks else np.empty(0, dtype=dtype)
        self._starts = np.concatenate([[0], np.cumsum(lengths)])
        self._doc_end = np.array(doc_end, dtype=bool)
        self.n_tokens = len(self._plain) + 1
        tokens_per_step = block_size * batch_size * grad_accum
        self.steps_per_pass = max(1, self.n_tokens // tokens_per_step)
        self._pass = -1
        self._stream = torch.empty(0, dtype=torch.int32)
        self.prefetch = prefetch
        self._next: tuple[int, threading.Thread, list[torch.Tensor]] | None = None

    def _build(self, pass_index: int) -> torch.Tensor:
        rng = random.Random(self.seed * 1_000_003 + pass_index)
        tok = self.tokenizer
        # The same draws, in the same order, as one fim_ids() call per FIM piece.
        fim: list[int] = []
        cuts: list[str] = []
        if self.fim_rate > 0:
            for i, text in enumerate(self._pieces):
                if len(text) > 1 and rng.random() < self.fim_rate:
                    a, b = sorted((rng.randint(0, len(text)), rng.randint(0, len(text))))
                    fim.append(i)
                    cuts += [text[:a], text[b:], text[a:b]]  # prefix, suffix, middle: PSM order
        encoded = _encode_chunks(tok, cuts)

        def special(*ids: int) -> np.ndarray:
            return np.array(ids, dtype=np.int32)

        eot = special(tok.eot_id)
        parts: list[np.ndarray] = [eot]
        done = 0  # pieces before `done` are in `parts`
        for i in fim:
            parts.append(self._plain[self._starts[done]:self._starts[i]])
            prefix, suffix, middle = next(encoded), next(encoded), next(encoded)
            parts += [special(tok.fim_prefix_id), prefix, special(tok.fim_suffix_id), suffix,
                      special(tok.fim_middle_id), middle, eot]  # a FIM example is a document of its own
            done = i + 1
        parts.append(self._plain[self._starts[done]:])
        return torch.from_numpy(np.concatenate([p.astype(np.int32, copy=False) for p in parts]))

    def stream_for_step(self, step: int) -> torch.Tensor:
        """The int32 token stream of the pass `step` belongs to (built once per pass)."""
        pass_index = step // self.steps_per_pass
        if pass_index != self._pass:
            self._stream = self._take_prefetched(pass_index)
            self._pass = pass_index
            if self.prefetch:
                box: list[torch.Tensor] = []
                thread = threading.Thread(target=lambda: box.append(self._build(pass_index + 1)), daemon=True,
                                          name="llmkit-mini-next-pass")  # fmt: skip
                thread.start()
                self._next = (pass_index + 1, thread, box)
        return self._stream

    def _take_prefetched(self, pass_index: int) -> torch.Tensor:
        if self._next is not None and self._next[0] == pass_index:
            _, thread, box = self._next
            thread.join()
            self._next = None
            if box:  # else the build failed in the thread: build here, so its error is raised here
                return box[0]
        return self._build(pass_index)

    def batch(self, step: int, micro: int) -> tuple[torch.Tensor, torch.Tensor]:
        """(x, y) of shape (batch, T), int64: random windows, y shifted by one token."""
        stream = self.stream_for_step(step)
        t = min(self.block_size, len(stream) - 1)
        g = torch.Generator().manual_seed((self.seed * 1_000_003 + step) * 64 + micro)
        starts = torch.randint(0, len(stream) - t, (self.batch_size,), generator=g)
        offsets = torch.arange(t + 1)
        windows = stream[starts.unsqueeze(1) + offsets].long()
        return windows[:, :-1], windows[:, 1:]


def eval_windows(stream: list[int] | np.ndarray, block_size: int, max_windows: int) -> list[tuple[torch.Tensor,
                                                                                                torch.Tensor]]:
    """Non-overlapping (x, y) windows over a validation stream, in order (deterministic)."""
    data = torch.as_tensor(np.asarray(stream, dtype=np.int64))
    windows: list[tuple[torch.Tensor, torch.Tensor]] = []
    start = 0
    while start < len(data) - 1 and len(windows) < max_windows:
        chunk = data[start:start + block_size + 1]
        windows.append((chunk[:-1].unsqueeze(0), chunk[1:].unsqueeze(0)))
        start += block_size
    return windows
