"""The compressed file's layout, read and written in one place. A file that adapts
(dynamic evaluation) is version 2; any other is written as version 1, as before, so
the llmkit versions that read only version 1 still read it.

    magic        4 bytes   b"LLMZ"
    version      1 byte    1 or 2
    length       varint    bytes of the original
    sha256       16 bytes  the first half of the original's SHA-256
    fingerprint  8 + 8     digests of the weights and of the tokenizer (Client.fingerprint)
    model        string    the llmkit id it was compressed with ("mini", "hf:...")
    settings     varints   chunk_tokens, batch, precision (bits), threads, mixing (0 none,
                           1 ngram, 2 bias+ngram), coder (0: constriction's range coder); then strings
                           dtype and device, and (version 2) adapt: "none" or the
                           Adaptation's settings ("segment=256,lr=0.0001,layers=all"):
                           what decoding must replay
    versions     string    "torch=2.13.0": named in errors when a chunk decodes wrong
    chunks       varint count, then per chunk: varint kind (0 model, 1 stored, 2 xz,
                 3 zlib, 4 bz2), varint original bytes, varint tokens (0 unless kind 0),
                 varint coded bytes, 4 bytes CRC-32 of the original chunk
    crc          4 bytes   CRC-32 of everything above
    payload      the chunks' coded bytes, in order
    crc          4 bytes   CRC-32 of the payload

A string is a varint length and UTF-8 bytes; a varint is LEB128 (7 bits a byte, low
first); fixed-size numbers are little endian. The container costs about 60 bytes plus
the model id and 8 a chunk. Both CRCs are checked before any decoding, so a flipped or
missing byte is an error at once; the per-chunk CRC names the first chunk that decodes
wrong (the model gave other numbers than when compressing); the SHA-256 vouches for the
whole result.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass, field
from typing import Any

from ..adaptation import Adaptation
from ..errors import CompressedFileError, InvalidOptionError
from .mixing import MIXINGS

__all__ = ["MAGIC", "VERSION", "KINDS", "Chunk", "Header", "pack", "unpack", "is_compressed"]

MAGIC = b"LLMZ"
VERSION = 2
READS = (1, 2)  # version 1: no adapt field (never adapted)
KINDS = {0: "model", 1: "stored", 2: "xz", 3: "zlib", 4: "bz2"}
CODERS = ("constriction-range",)


@dataclass
class Chunk:
    """One independently coded piece of the original."""

    kind: int  # a key of KINDS
    length: int  # original bytes
    tokens: int  # model chunks: tokens coded (the decoder's step count)
    coded: int  # bytes of payload
    crc: int  # CRC-32 of the original bytes


@dataclass
class Header:
    model: str
    fingerprint: dict[str, Any]
    settings: dict[str, Any]
    length: int
    sha256: str  # hex of the first 16 bytes of the original's SHA-256
    versions: dict[str, str] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"model": self.model, "fingerprint": self.fingerprint, "settings": self.settings,
                "length": self.length, "sha256": self.sha256, "versions": self.versions}  # fmt: skip


def is_compressed(blob: bytes) -> bool:
    return bytes(blob[: len(MAGIC)]) == MAGIC


def pack(header: Header, chunks: list[Chunk], payloads: list[bytes]) -> bytes:
    st = header.settings
    adapt = st.get("adapt", "none")
    version = 1 if adapt == "none" else VERSION
    out = bytearray(MAGIC)
    out.append(version)
    out += _varint(header.length) + bytes.fromhex(header.sha256)[:16]
    out += bytes.fromhex(header.fingerprint["weights"]) + bytes.fromhex(header.fingerprint["tokenizer"])
    out += _string(header.model)
    for value in (st["chunk_tokens"], st["batch"], st["precision"], st["threads"], MIXINGS.index(st["mixing"]),
                  CODERS.index(st["coder"])):  # fmt: skip
        out += _varint(value)
    out += _string(st["dtype"]) + _string(st["device"]) + (_string(adapt) if version >= 2 else b"")
    out += _string(";".join(f"{k}={v}" for k, v in sorted(header.versions.items())))
    out += _varint(len(chunks))
    for c in chunks:
        out += _varint(c.kind) + _varint(c.length) + _varint(c.tokens) + _varint(c.coded)
        out += c.crc.to_bytes(4, "little")
    out += zlib.crc32(out).to_bytes(4, "little")
    payload = b"".join(payloads)
    return bytes(out) + payload + zlib.crc32(payload).to_bytes(4, "little")


def unpack(blob: bytes) -> tuple[Header, list[Chunk], memoryview]:
    """(header, chunks, payload), or CompressedFileError saying what is wrong."""
    view = memoryview(blob)
    if not is_compressed(blob):
        raise CompressedFileError("this is not an llmkit compressed file (it does not start with b'LLMZ')",
                                  hint="Compress it first with llmkit.compress() or `llmkit compress FILE`.")
    if len(view) < 5:
        raise _truncated()
    version = view[4]
    if version not in READS:
        raise CompressedFileError(f"the file is format version {version}; this llmkit reads versions "
                                  f"{', '.join(map(str, READS))}", hint="Decompress it with the llmkit version that wrote it.")  # fmt: skip
    pos = 5
    try:
        length, pos = _read_varint(view, pos)
        digests = bytes(view[pos : pos + 32])
        if len(digests) < 32:
            raise IndexError
        pos += 32
        model, pos = _read_string(view, pos)
        numbers = []
        for _ in range(6):
            value, pos = _read_varint(view, pos)
            numbers.append(value)
        dtype, pos = _read_string(view, pos)
        device, pos = _read_string(view, pos)
        adapt, pos = _read_string(view, pos) if version >= 2 else ("none", pos)
        versions, pos = _read_string(view, pos)
        count, pos = _read_varint(view, pos)
        chunks = []
        for _ in range(count):
            fields = []
            for _ in range(4):
                value, pos = _read_varint(view, pos)
                fields.append(value)
            if pos + 4 > len(view):
                raise IndexError
            crc = int.from_bytes(view[pos : pos + 4], "little")
            pos += 4
            chunks.append(Chunk(fields[0], fields[1], fields[2], fields[3], crc))
    except (IndexError, UnicodeDecodeError):  # the file ends inside the header, or a damaged one reads past it
        raise _truncated() from None
    if pos + 4 > len(view):
        raise _truncated()
    if zlib.crc32(view[:pos]) != int.from_bytes(view[pos : pos + 4], "little"):
        raise _corrupt("its header")
    pos += 4
    payload = view[pos:-4] if len(view) >= pos + 4 else view[pos:pos]
    expected = sum(c.coded for c in chunks)
    if len(view) < pos + 4 or len(payload) < expected:
        raise _truncated(f"{expected + 4} bytes of payload expected, {max(len(view) - pos, 0)} found")
    if len(payload) > expected:
        raise CompressedFileError(f"{len(payload) - expected} unexpected bytes follow the compressed data",
                                  hint="The file was joined with something else, or damaged.")
    if zlib.crc32(payload) != int.from_bytes(view[-4:], "little"):
        raise _corrupt("its payload")
    chunk_tokens, batch, precision, threads, mixing, coder = numbers
    if mixing >= len(MIXINGS) or coder >= len(CODERS):
        raise _corrupt("its header (unknown mixing or coder)")
    header = Header(
        model=model, fingerprint={"weights": digests[16:24].hex(), "tokenizer": digests[24:].hex()},
        settings={"chunk_tokens": chunk_tokens, "batch": batch, "precision": precision, "threads": threads,
                  "mixing": MIXINGS[mixing], "coder": CODERS[coder], "dtype": dtype, "device": device,
                  "adapt": adapt},
        length=length, sha256=digests[:16].hex(),
        versions=dict(part.split("=", 1) for part in versions.split(";") if "=" in part),
    )  # fmt: skip
    if adapt != "none":
        try:
            Adaptation.parse(adapt)
        except InvalidOptionError:
            raise CompressedFileError(f"the file was coded with adaptation {adapt!r}, which is not one this llmkit knows",
                                      hint="Decompress it with the llmkit version that wrote it.") from None  # fmt: skip
    for c in chunks:
        if c.kind not in KINDS:
            raise _corrupt(f"a chunk of unknown kind {c.kind}")
    if sum(c.length for c in chunks) != header.length:
        raise _corrupt("its chunk table (the chunks do not add up to the original length)")
    return header, chunks, payload


def _string(text: str) -> bytes:
    raw = text.encode("utf-8")
    return _varint(len(raw)) + raw


def _read_string(view: memoryview, pos: int) -> tuple[str, int]:
    size, pos = _read_varint(view, pos)
    raw = bytes(view[pos : pos + size])
    if len(raw) < size:
        raise IndexError
    return raw.decode("utf-8"), pos + size


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        byte, n = n & 0x7F, n >> 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _read_varint(view: memoryview, pos: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        byte = view[pos]  # IndexError: the file ends inside the header
        pos += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, pos
        shift += 7
        if shift > 63:
            raise _corrupt("its header (a number is too long)")


def _truncated(detail: str = "it ends inside the header") -> CompressedFileError:
    return CompressedFileError(f"the compressed file is truncated or damaged: {detail}",
                               hint="Copy the whole file again; a partial file cannot be decoded.")  # fmt: skip


def _corrupt(where: str) -> CompressedFileError:
    return CompressedFileError(f"the compressed file is corrupt: the checksum of {where} does not match",
                               hint="The file was damaged after it was written; use an intact copy.")  # fmt: skip
