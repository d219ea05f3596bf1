"""The classic compressors `llmkit bpb` and the benchmark set beside the models: gzip,
bz2 and xz from the standard library at their strongest settings, and zstd and
brotli when their packages (zstandard, brotli) are installed."""

from __future__ import annotations

import bz2
import gzip
import lzma
from collections.abc import Callable

__all__ = ["compressors", "sizes"]


def compressors() -> dict[str, Callable[[bytes], bytes]]:
    """name -> compress function, for every compressor available here."""
    found: dict[str, Callable[[bytes], bytes]] = {
        "gzip -9": lambda d: gzip.compress(d, 9, mtime=0),
        "bz2 -9": lambda d: bz2.compress(d, 9),
        "xz -9e": lambda d: lzma.compress(d, preset=9 | lzma.PRESET_EXTREME),
    }
    try:
        import zstandard

        found["zstd -19"] = lambda d: zstandard.ZstdCompressor(level=19).compress(d)
    except ImportError:
        pass
    try:
        import brotli

        found["brotli -11"] = lambda d: brotli.compress(d, quality=11)
    except ImportError:
        pass
    return found


def sizes(data: bytes) -> dict[str, int]:
    """Compressed size in bytes of `data` under each available compressor."""
    return {name: len(fn(data)) for name, fn in compressors().items()}
