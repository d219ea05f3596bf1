"""Bad input is a clear CompressedFileError, never garbage: not an llmkit file, a
flipped byte, a truncated file, another model, other settings."""

from __future__ import annotations

import pytest

import llmkit
from llmkit.compress import compress, container, decompress
from llmkit.errors import CompressedFileError

DATA = b"A small text to compress, with a few words in it.\n" * 6


@pytest.fixture(scope="module")
def blob(tiny):
    return compress(DATA, tiny, batch=2)


def test_not_an_llmkit_file(tiny):
    with pytest.raises(CompressedFileError, match="not an llmkit compressed file"):
        decompress(b"PK\x03\x04 a zip file", tiny)
    with pytest.raises(CompressedFileError, match="not an llmkit"):
        decompress(b"", tiny)


def test_every_flipped_byte_is_detected(tiny, blob):
    step = max(1, len(blob) // 40)
    for pos in list(range(0, len(blob), step)) + [len(blob) - 1]:
        damaged = bytearray(blob)
        damaged[pos] ^= 0x10
        with pytest.raises(CompressedFileError):
            decompress(bytes(damaged), tiny)


def test_every_truncation_is_detected(tiny, blob):
    for cut in [1, 4, 5, 6, 20, len(blob) // 2, len(blob) - 5, len(blob) - 1]:
        with pytest.raises(CompressedFileError):
            decompress(blob[:cut], tiny)
    with pytest.raises(CompressedFileError, match="truncated"):
        decompress(blob[:-3], tiny)


def test_trailing_bytes_are_an_error(tiny, blob):
    with pytest.raises(CompressedFileError, match="unexpected bytes"):
        decompress(blob + b"x", tiny)


def test_another_model_is_refused_before_decoding(tiny, mini, blob):
    with pytest.raises(CompressedFileError, match="weights .* in the file, .* here") as info:
        decompress(blob, mini)
    assert "tokenizer" in str(info.value)


def _repacked(blob: bytes, **settings: object) -> bytes:
    header, chunks, payload = container.unpack(blob)
    header.settings.update(settings)
    return container.pack(header, chunks, [bytes(payload)])


def test_other_settings_are_refused_naming_what_differs(tiny, blob):
    with pytest.raises(CompressedFileError, match="dtype bfloat16 in the file, float32 here"):
        decompress(_repacked(blob, dtype="bfloat16"), tiny)
    with pytest.raises(CompressedFileError, match="device cuda:0 in the file, cpu here"):
        decompress(_repacked(blob, device="cuda:0"), tiny)


def test_probabilities_that_differ_are_an_error_not_garbage(tiny, blob):
    """Another batch size gives slightly other numbers: decoding must notice."""
    with pytest.raises(CompressedFileError, match="chunk 0 decodes to other bytes"):
        decompress(_repacked(blob, batch=1), tiny)


def test_other_mixing_is_an_error_not_garbage(tiny, blob):
    """A file whose mixing setting was altered: the coder meets codes no token fits."""
    for mixing in ("ngram", "none"):
        with pytest.raises(CompressedFileError, match="decodes to other bytes"):
            decompress(_repacked(blob, mixing=mixing), tiny)


def test_a_newer_format_version_is_refused(tiny, blob):
    with pytest.raises(CompressedFileError, match="format version 9"):
        decompress(blob[:4] + b"\x09" + blob[5:], tiny)


def test_models_without_distributions_cannot_compress():
    with pytest.raises(llmkit.MissingCapabilityError, match="distributions"):
        compress(b"hello", llmkit.Client("mock:echo"))
