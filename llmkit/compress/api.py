"""compress(), decompress() and measure(): the compressor on the public Client only.

The client's capability `distributions` gives everything needed: tokenize and
detokenize, a TokenStepper for the next-token distributions and a fingerprint of the
weights and tokenizer. Model chunks are coded in batches of `batch` chunks that run in
lockstep; the decoder forms the same batches from the chunk table, so it replays the
very same steps.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import time
import zlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..errors import CompressedFileError, InvalidOptionError
from . import bytepath, coder, container, segments
from .mixing import BiasHead, NgramMixer
from .progress import Progress

if TYPE_CHECKING:
    from ..adaptation import Adaptation
    from ..client import Client

__all__ = ["compress", "compress_with_stats", "decompress", "measure", "inspect", "CompressionStats", "DEFAULT_BATCH", "MAX_CHUNK_TOKENS",
           "MIXING_DEFAULT"]  # fmt: skip

DEFAULT_BATCH = 16  # chunks coded together in lockstep
MIXED = "bias+ngram"  # what mixing=True codes with (mixing.MIXINGS)
# Context per chunk. alice29 with SmolLM2 (estimate, n-gram mixing): 1024 tokens 1.160 bits/byte,
# 2048 1.132, 4096 1.117; with a bias per row: 4096 1.088, 8192 1.076. The KV cache of a
# batch of 16 rows of 8192 tokens is ~6 GB for SmolLM2 (fewer rows: less).
MAX_CHUNK_TOKENS = 8192
# measured (benchmarks/compress.py): the bias head and the n-gram model lower bits on prose,
# code and with mini; each is gated off in a row or context where it has not paid so far
MIXING_DEFAULT = True


@dataclass
class CompressionStats:
    """What one compression cost. Ideal bits: the cross-entropy of the model chunks
    under the distributions coded with, plus the coded bits of byte-path chunks."""

    original_bytes: int
    file_bytes: int  # the whole compressed file
    payload_bytes: int  # the chunks' coded bytes, without the container
    ideal_bits: float
    model_bits: float  # the model alone on the model chunks (before mixing)
    model_chunk_bytes: int  # original bytes coded by the model
    chunks: int
    model_chunks: int
    tokens: int
    seconds: float
    model_bytes: int = 0  # the weights' size as loaded (Client.fingerprint()["bytes"])

    def _per_byte(self, bits: float) -> float:
        return bits / max(self.original_bytes, 1)

    @property
    def ideal_bpb(self) -> float:
        return self._per_byte(self.ideal_bits)

    @property
    def coded_bpb(self) -> float:
        """Bits per byte of the whole file, container included."""
        return self._per_byte(8 * self.file_bytes)

    @property
    def payload_bpb(self) -> float:
        return self._per_byte(8 * self.payload_bytes)

    @property
    def gap(self) -> float:
        """How much the coded file exceeds the ideal, as a fraction (0.01 = 1%)."""
        return 8 * self.file_bytes / self.ideal_bits - 1 if self.ideal_bits else 0.0

    @property
    def bpb_with_model(self) -> float:
        """Bits per byte counting the model's own weights as part of the output."""
        return self._per_byte(8 * (self.file_bytes + self.model_bytes))

    @property
    def bytes_per_second(self) -> float:
        return self.original_bytes / self.seconds if self.seconds else 0.0


def compress(data: bytes, model: str | Client = "mini", *, batch: int = DEFAULT_BATCH,
             chunk_tokens: int | None = None, mixing: bool = MIXING_DEFAULT, threads: int | None = None,
             adapt: Adaptation | bool | None = None, progress: bool | None = None,
             verify: bool = False) -> bytes:  # fmt: skip
    """Losslessly compress `data` with a local model (an id or a Client with capability
    `distributions`): arithmetic coding of its next-token probabilities.

    batch: chunks coded together in lockstep (throughput); chunk_tokens: tokens per
    chunk (default: the model's window, at most 8192); mixing: correct the model with a
    bias head and blend in an n-gram model, both learned from the text coded so far;
    threads: torch threads for coding (default: the current count; decoding uses the
    same); adapt: dynamic evaluation (an llmkit.Adaptation, or True for its defaults): a
    copy of the model trained online on each batch of chunks as it is coded, the decoder
    training its own identically (fewer bits, about twice the time; README,
    Compression); progress: a bar on stderr (default: when stderr is a terminal);
    verify: decode the result and compare before returning."""
    return compress_with_stats(data, model, batch=batch, chunk_tokens=chunk_tokens, mixing=mixing, threads=threads,
                   adapt=adapt, progress=progress, verify=verify)[0]  # fmt: skip


def measure(data: bytes, model: str | Client = "mini", **options: Any) -> CompressionStats:
    """Compress `data` and say what it cost (ideal and actual bits per byte, speed)."""
    return compress_with_stats(data, model, **options)[1]


def inspect(blob: bytes) -> dict[str, Any]:
    """The header of a compressed file and its chunk table, without decoding anything."""
    header, chunks, _ = container.unpack(blob)
    return {**header.to_json(), "chunks": [{"kind": container.KINDS[c.kind], "bytes": c.length, "tokens": c.tokens,
                                            "coded": c.coded} for c in chunks]}  # fmt: skip


def decompress(blob: bytes, model: str | Client | None = None, *, threads: int | None = None, strict: bool = True,
               progress: bool | None = None) -> bytes:  # fmt: skip
    """The original bytes of a file made by compress(). The model comes from the file
    unless given (a Client, or an id when the file's is a path on another machine);
    a model or settings that differ from the file's are refused before decoding,
    naming what differs. threads: decode with another thread count than the file's
    (measured: see the README; a mismatch is an error, never wrong output); strict=False
    also tries another device or dtype."""
    header, chunks, payload = container.unpack(blob)
    settings = header.settings
    model_chunks = [c for c in chunks if c.kind == 0]
    client = None
    if model_chunks or model is not None:
        client = _client(model if model is not None else header.model)
        _check_model(header, client)
    out: list[bytes | None] = [None] * len(chunks)
    offsets, pos = [], 0
    for c in chunks:
        offsets.append(pos)
        pos += c.coded
    for i, c in enumerate(chunks):
        if c.kind != 0:
            out[i] = bytepath.decode(c.kind, bytes(payload[offsets[i] : offsets[i] + c.coded]), c.length)
            _check_chunk(out[i], c, i, header)
    if model_chunks:
        assert client is not None
        use_threads = threads or settings["threads"]
        adapt = _file_adaptation(settings)
        probe = client.token_stepper(1, threads=use_threads, adapt=adapt)  # its settings: what decoding runs with
        probe.close()
        if strict:
            _check_settings(header, probe.settings)
        mixer, head = _mixing(settings.get("mixing", "none"))
        order = [i for i, c in enumerate(chunks) if c.kind == 0]
        bar = Progress(sum(c.length for c in model_chunks), "decompressing", progress)
        try:
            for start in range(0, len(order), settings["batch"]):
                group = order[start : start + settings["batch"]]
                counts = [chunks[i].tokens for i in group]
                stepper = client.token_stepper(len(group), threads=use_threads, adapt=adapt)
                per_token = sum(chunks[i].length for i in group) / max(sum(counts), 1)
                try:
                    tokens = coder.decode_rows(stepper, counts,
                                               [bytes(payload[offsets[i] : offsets[i] + chunks[i].coded]) for i in group],
                                               mixer, _advance(bar, per_token), head)  # fmt: skip
                except (AssertionError, ValueError, RuntimeError, InvalidOptionError):
                    # the coder met a code that no token fits (constriction asserts), or a token
                    # outside the vocabulary: other probabilities than the encoder's
                    _check_chunk(None, chunks[group[0]], group[0], header, threads=use_threads)
                    raise  # not reached: _check_chunk raises for None
                finally:
                    stepper.close()
                for i, ids in zip(group, tokens, strict=True):
                    out[i] = client.detokenize(ids).encode("utf-8", errors="surrogatepass")
                    _check_chunk(out[i], chunks[i], i, header, threads=use_threads)
        finally:
            bar.close()
    data = b"".join(b for b in out if b is not None)
    if len(data) != header.length or hashlib.sha256(data).digest()[:16].hex() != header.sha256:
        raise CompressedFileError("the decoded data does not match the checksum of the original",
                                  hint="The file or the model differs from when it was compressed.")  # fmt: skip
    return data


# --- encoding ------------------------------------------------------------------------


def compress_with_stats(data: bytes, model: str | Client = "mini", *, batch: int = DEFAULT_BATCH, chunk_tokens: int | None = None,
            mixing: bool = MIXING_DEFAULT, threads: int | None = None, adapt: Adaptation | bool | None = None,
            progress: bool | None = None, verify: bool = False) -> tuple[bytes, CompressionStats]:  # fmt: skip
    """compress(), also saying what it cost: (compressed file, CompressionStats)."""
    if not isinstance(data, bytes | bytearray | memoryview):
        raise InvalidOptionError(f"compress() takes bytes, not {type(data).__name__}",
                                 hint="Encode text first: text.encode('utf-8').")  # fmt: skip
    data = bytes(data)
    for name, value in (("batch", batch), ("chunk_tokens", chunk_tokens)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
            raise InvalidOptionError(f"{name}={value!r} is invalid: it must be an int >= 1")
    started = time.perf_counter()
    client = _client(model)
    fingerprint = client.fingerprint()
    probe = client.token_stepper(1, threads=threads)
    limit = probe.max_tokens or MAX_CHUNK_TOKENS
    chunk_tokens = min(chunk_tokens or MAX_CHUNK_TOKENS, limit)
    adaptation = _adaptation(adapt, chunk_tokens)
    if adaptation is not None:  # its settings (a float32 copy's dtype): what the decoder checks
        probe.close()
        probe = client.token_stepper(1, threads=threads, adapt=adaptation)
    probe.close()
    settings = {"chunk_tokens": chunk_tokens, "batch": batch, "precision": coder.PRECISION,
                "threads": probe.settings["threads"], "dtype": probe.settings["dtype"],
                "device": probe.settings["device"], "mixing": MIXED if mixing else "none",
                "coder": coder.CODER, "adapt": adaptation.spelled if adaptation else "none"}  # fmt: skip
    pieces = segments.plan(data, client.tokenize, client.detokenize, chunk_tokens)
    chunks: list[container.Chunk] = []
    payloads: list[bytes] = [b""] * len(pieces)
    ideal = model_bits = 0.0
    for i, piece in enumerate(pieces):
        crc = zlib.crc32(piece.data)
        if piece.tokens is None:
            kind, payloads[i] = bytepath.encode(piece.data)
            ideal += 8 * len(payloads[i])
            chunks.append(container.Chunk(kind, len(piece.data), 0, len(payloads[i]), crc))
        else:
            chunks.append(container.Chunk(0, len(piece.data), len(piece.tokens), 0, crc))
    order = [i for i, p in enumerate(pieces) if p.tokens is not None]
    mixer, head = _mixing(settings["mixing"])
    bar = Progress(sum(len(pieces[i].data) for i in order), "compressing", progress)
    try:
        for start in range(0, len(order), batch):
            group = order[start : start + batch]
            rows = [pieces[i].tokens or [] for i in group]
            per_token = sum(len(pieces[i].data) for i in group) / max(sum(map(len, rows)), 1)
            stepper = client.token_stepper(len(group), threads=settings["threads"], adapt=adaptation)
            try:
                result = coder.encode_rows(stepper, rows, mixer, _advance(bar, per_token), head)
            finally:
                stepper.close()
            ideal += result.coded_bits
            model_bits += result.model_bits
            for i, coded in zip(group, result.payloads, strict=True):
                payloads[i] = coded
                chunks[i].coded = len(coded)
    finally:
        bar.close()
    header = container.Header(model=client.model, fingerprint={k: fingerprint[k] for k in ("weights", "tokenizer")},
                              settings=settings, length=len(data), sha256=hashlib.sha256(data).digest()[:16].hex(),
                              versions=_versions())  # fmt: skip
    blob = container.pack(header, chunks, payloads)
    seconds = time.perf_counter() - started
    if verify and decompress(blob, client, progress=progress) != data:
        raise CompressedFileError("verification failed: the file does not decode to the input",
                                  hint="Report this as a bug, with the input if you can share it.")  # fmt: skip
    stats = CompressionStats(
        original_bytes=len(data), file_bytes=len(blob), payload_bytes=sum(map(len, payloads)), ideal_bits=ideal,
        model_bits=model_bits, model_chunk_bytes=sum(len(pieces[i].data) for i in order), chunks=len(pieces),
        model_chunks=len(order), tokens=sum(len(pieces[i].tokens or []) for i in order), seconds=seconds,
        model_bytes=int(fingerprint.get("bytes", 0)),
    )  # fmt: skip
    return blob, stats


def _adaptation(adapt: Adaptation | bool | None, chunk_tokens: int) -> Adaptation | None:
    """adapt= as the stepper takes it. True: Adaptation's defaults, with a segment of at
    most an eighth of a chunk (a chunk of mini's 256 tokens trains after every 32)."""
    from ..adaptation import Adaptation, as_adaptation

    return as_adaptation(adapt, Adaptation(segment=max(1, min(Adaptation.segment, chunk_tokens // 8))))


def _file_adaptation(settings: dict[str, Any]) -> Adaptation | None:
    """The Adaptation a file was coded with (container.unpack checked that it parses)."""
    from ..adaptation import Adaptation

    spelled = settings.get("adapt", "none")
    return None if spelled == "none" else Adaptation.parse(spelled)


def _mixing(name: str) -> tuple[NgramMixer | None, BiasHead | None]:
    """A file's mixing setting -> the n-gram model and the bias head its batches share."""
    parts = name.split("+")
    return (NgramMixer() if "ngram" in parts else None), (BiasHead() if "bias" in parts else None)


def _advance(bar: Progress, bytes_per_token: float) -> coder.Progress:
    """A coder's progress callback (tokens, bits) as the bar's bytes."""

    def advance(tokens: int, bits: float) -> None:
        bar.advance(tokens * bytes_per_token, bits)

    return advance


# --- checks ----------------------------------------------------------------------------


def _client(model: str | Client) -> Client:
    from ..client import Client

    client = model if isinstance(model, Client) else Client(model)
    if not client.capabilities.distributions:
        from ..errors import MissingCapabilityError

        raise MissingCapabilityError(
            f"{client.model} cannot compress: it gives no next-token distributions",
            hint="Use a local model: mini, mini:PATH or hf:MODEL.", model=client.model,
        )  # fmt: skip
    return client


def _check_model(header: container.Header, client: Client) -> None:
    have = client.fingerprint()
    differ = [f"{part} {header.fingerprint.get(part)} in the file, {have.get(part)} here"
              for part in ("weights", "tokenizer") if header.fingerprint.get(part) != have.get(part)]  # fmt: skip
    if differ:
        raise CompressedFileError(
            f"the file was compressed with {header.model}, and {client.model} differs from it: " + "; ".join(differ),
            hint=f"Decompress with the model it was made with ({header.model}).", model=client.model,
        )  # fmt: skip


def _check_settings(header: container.Header, here: dict[str, Any]) -> None:
    differ = [f"{name} {header.settings.get(name)} in the file, {here.get(name)} here"
              for name in ("dtype", "device") if header.settings.get(name) != here.get(name)]  # fmt: skip
    if differ:
        raise CompressedFileError(
            "the model runs with other settings than when the file was compressed: " + "; ".join(differ),
            hint="Load the model with the file's settings (e.g. Client(..., device=..., dtype=...)); "
                 "strict=False tries anyway (a mismatch is then an error at the first wrong chunk).",
        )  # fmt: skip


def _check_chunk(data: bytes | None, c: container.Chunk, index: int, header: container.Header,
                 threads: int | None = None) -> None:  # fmt: skip
    if data is not None and len(data) == c.length and zlib.crc32(data) == c.crc:
        return
    now = _versions()
    changed = [f"{k} {v} then, {now.get(k)} now" for k, v in header.versions.items() if now.get(k) != v]
    if threads is not None and threads != header.settings.get("threads"):
        changed.append(f"threads {header.settings.get('threads')} then, {threads} now")
    raise CompressedFileError(
        f"chunk {index} decodes to other bytes than were compressed: the model's probabilities differ from "
        "when the file was written" + (f" ({'; '.join(changed)})" if changed else ""),
        hint="Decode with the same model, library versions, thread count and hardware as the compressor.",
    )  # fmt: skip


def _versions() -> dict[str, str]:
    out = {}
    for name in ("torch",):  # its kernels make the numbers; the coder's format is the container version
        try:
            out[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    return out
