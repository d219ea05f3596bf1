"""Dynamic evaluation: a model that keeps learning the text while it compresses it.

    python examples/compress_adapt.py

`adapt=True` trains a private copy of the model on each batch of chunks as it codes
them (one Adam step after every segment of tokens); the decoder trains its own copy
the same way, step for step, so the file decodes exactly. The loaded model is left as
it was. This codes an English text with the bundled `mini` (a code model: English is
new to it, so it has much to learn) with and without adaptation and decodes both.
"""

from pathlib import Path

import llmkit
from llmkit.compress import compress_with_stats, inspect

TEXT = (Path(__file__).resolve().parent.parent / "benchmarks" / "data" / "fresh_english.txt").read_bytes()

client = llmkit.Client("mini", threads=1)
results = {}
for adapt in (False, True):
    blob, stats = compress_with_stats(TEXT, client, adapt=adapt)
    assert llmkit.decompress(blob, client) == TEXT  # the decoder adapts as the encoder did
    results[adapt] = stats.ideal_bpb
    print(f"adapt={adapt!s:5}  {len(TEXT)} -> {len(blob)} bytes: {stats.coded_bpb:.3f} bits/byte "
          f"(ideal {stats.ideal_bpb:.3f}), {stats.seconds:.1f} s; file records adapt={inspect(blob)['settings']['adapt']}")
print(f"adaptation saved {100 * (1 - results[True] / results[False]):.1f}% of the ideal bits; round trips: exact")
