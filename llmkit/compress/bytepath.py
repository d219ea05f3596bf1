"""The byte-level path: pieces of the input that the model cannot code (bytes that are
not UTF-8, control characters of binary data, text its tokenizer does not give back
exactly) are stored with the smallest of a few classic codecs, chunk by chunk.

Each codec runs in its headerless form (raw LZMA2, raw DEFLATE), so a short piece
costs little more than its coded bytes; a piece that no codec shrinks is stored. The
kind numbers are those of the container's chunk table.
"""

from __future__ import annotations

import bz2
import lzma
import zlib

from ..errors import CompressedFileError

__all__ = ["encode", "decode", "MAX_PIECE"]

MAX_PIECE = 1 << 20  # bytes per binary chunk: bounds memory, keeps chunks independent
_XZ_FILTERS = [{"id": lzma.FILTER_LZMA2, "preset": 9 | lzma.PRESET_EXTREME}]
STORED, XZ, ZLIB, BZ2 = 1, 2, 3, 4


def encode(data: bytes) -> tuple[int, bytes]:
    """(kind, coded bytes): the smallest of stored, xz, zlib and bz2."""
    best = (STORED, bytes(data))
    if len(data) > 8:  # below this every codec's framing costs more than it saves
        candidates = [
            (XZ, lzma.compress(data, format=lzma.FORMAT_RAW, filters=_XZ_FILTERS)),
            (ZLIB, _deflate(data)),
            (BZ2, bz2.compress(data, 9)),
        ]
        for kind, coded in candidates:
            if len(coded) < len(best[1]):
                best = (kind, coded)
    return best


def decode(kind: int, coded: bytes, length: int) -> bytes:
    if kind not in (STORED, XZ, ZLIB, BZ2):
        raise CompressedFileError(f"unknown byte-path kind {kind}")
    try:
        if kind == STORED:
            data = bytes(coded)
        elif kind == XZ:
            data = lzma.decompress(coded, format=lzma.FORMAT_RAW, filters=_XZ_FILTERS)
        elif kind == ZLIB:
            data = zlib.decompress(coded, wbits=-15)
        else:
            data = bz2.decompress(coded)
    except (lzma.LZMAError, zlib.error, OSError, ValueError) as exc:
        raise CompressedFileError(f"a byte-level chunk does not decode ({exc})",
                                  hint="The file is damaged; use an intact copy.") from None  # fmt: skip
    if len(data) != length:
        raise CompressedFileError(f"a byte-level chunk decoded to {len(data)} bytes, not {length}")
    return data


def _deflate(data: bytes) -> bytes:
    c = zlib.compressobj(9, zlib.DEFLATED, -15)
    return c.compress(data) + c.flush()
