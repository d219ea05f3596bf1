"""Arithmetic coding of token chunks with a model's next-token distributions.

One function, `_lockstep`, drives encoding and decoding alike: it steps a
`TokenStepper` (Client.token_stepper) over a batch of chunks, one token of every
chunk per step, turns each row's log-probabilities into the distribution to code with
(float64, optionally corrected by the file's bias head and mixed with the n-gram model
of mixing.py), and hands it to
`pick`, which either encodes the known token or decodes the next one. The encoder
and the decoder thus make the same calls, with the same shapes, dtype and thread
count, in the same order: the decoder sees bit-identical distributions.

Coding is constriction's range coder (32-bit words) with categorical models that
quantise each distribution to integer frequencies of 24-bit precision, every symbol
at least one unit ("leaky" quantisation, perfect=False): a token the model thinks
impossible still codes, at about 24 bits. Each chunk has its own coder, so chunks are
independent and their sizes are known.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..errors import CompressedFileError, InvalidOptionError
from .mixing import BiasHead, NgramMixer

if TYPE_CHECKING:
    import numpy as np

    from ..types import TokenStepper

__all__ = ["PRECISION", "CODER", "BatchResult", "encode_rows", "decode_rows"]

PRECISION = 24  # constriction's default range coder: 24-bit probabilities in 32-bit words
CODER = "constriction-range"
Progress = Callable[[int, float], None]  # (tokens coded in this step, bits they cost)


@dataclass
class BatchResult:
    payloads: list[bytes]
    coded_bits: float  # what the model (and mixer) promised: -log2 p of each coded token
    model_bits: float  # the model alone, before mixing


def _family() -> Any:
    import constriction

    return constriction.stream.model.Categorical(perfect=False)


def _lockstep(stepper: TokenStepper, counts: list[int], pick: Callable[[int, int, np.ndarray], int],
              mixer: NgramMixer | None, progress: Progress | None = None,
              head: BiasHead | None = None) -> tuple[list[list[int]], float, float]:  # fmt: skip
    """Step every row through its `counts[i]` tokens; `pick(row, t, p)` returns the
    row's token t given its distribution p. Returns (tokens, coded bits, model bits)."""
    import numpy as np

    rows = len(counts)
    history: list[list[int]] = [[] for _ in range(rows)]
    coded_bits = model_bits = 0.0
    feed: list[int | None] | None = None
    for t in range(max(counts, default=0)):
        logp = stepper.step(feed)  # (rows, vocab) float32
        step_bits = 0.0
        picked: list[tuple[int, int, float]] = []
        for i in range(rows):
            if t >= counts[i]:
                continue
            model_p = np.exp(logp[i].astype(np.float64))
            model_p /= model_p.sum()
            base = head.apply(i, model_p) if head is not None else model_p
            p = mixer.mix(base, history[i]) if mixer is not None else base
            token = pick(i, t, p)
            if not 0 <= token < p.shape[0]:
                raise InvalidOptionError(f"token id {token} is outside the model's vocabulary ({p.shape[0]})")
            step_bits -= math.log2(max(float(p[token]), 1e-300))
            model_bits -= float(logp[i, token]) / math.log(2)
            picked.append((i, token, float(base[token])))
        for i, token, p_token in picked:  # after the step, in row order: the decoder's order too
            if head is not None:
                head.update(i, token)
            if mixer is not None:
                mixer.update(history[i], token, p_token)
            history[i].append(token)
        coded_bits += step_bits
        if progress is not None:
            progress(len(picked), step_bits)
        # a finished row is fed None (the stepper repeats its last token; nothing reads it or learns from it)
        feed = [h[-1] if t < counts[i] else None for i, h in enumerate(history)]
    return history, coded_bits, model_bits


def encode_rows(stepper: TokenStepper, rows: list[list[int]], mixer: NgramMixer | None,
                progress: Progress | None = None, head: BiasHead | None = None) -> BatchResult:  # fmt: skip
    import constriction
    import numpy as np

    family = _family()
    encoders = [constriction.stream.queue.RangeEncoder() for _ in rows]

    def pick(i: int, t: int, p: np.ndarray) -> int:
        token = rows[i][t]
        if 0 <= token < p.shape[0]:
            encoders[i].encode(np.array([token], dtype=np.int32), family, p[None, :])
        return token

    _, coded, model = _lockstep(stepper, [len(r) for r in rows], pick, mixer, progress, head)
    payloads = [e.get_compressed().astype("<u4").tobytes() for e in encoders]
    return BatchResult(payloads, coded, model)


def decode_rows(stepper: TokenStepper, counts: list[int], payloads: list[bytes], mixer: NgramMixer | None,
                progress: Progress | None = None, head: BiasHead | None = None) -> list[list[int]]:  # fmt: skip
    import constriction
    import numpy as np

    family = _family()
    decoders = []
    for payload in payloads:
        if len(payload) % 4:
            raise CompressedFileError("a model chunk's coded size is not a whole number of 32-bit words",
                                      hint="The file is damaged; use an intact copy.")  # fmt: skip
        decoders.append(constriction.stream.queue.RangeDecoder(np.frombuffer(payload, dtype="<u4").astype(np.uint32)))

    def pick(i: int, t: int, p: np.ndarray) -> int:
        return int(decoders[i].decode(family, p[None, :])[0])

    tokens, _, _ = _lockstep(stepper, counts, pick, mixer, progress, head)
    return tokens
