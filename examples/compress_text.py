"""Compress text losslessly with a language model, offline (the bundled `mini` model).

    python examples/compress_text.py

A model that predicts the next token well is a good compressor: arithmetic coding
spends -log2 p bits on a token given probability p. This compresses a piece of Python
(what mini was trained on) and of English, decodes both again, and prints bits per
byte beside bz2's.
"""

import bz2

import llmkit
from llmkit.compress import compress_with_stats, inspect

CODE = b'''def fibonacci(n):
    """Return the n-th Fibonacci number."""
    a, b = 0, 1
    for _ in range(n):
        a, b = b, a + b
    return a


def factorial(n):
    """Return n!."""
    result = 1
    for i in range(2, n + 1):
        result *= i
    return result
'''
ENGLISH = (b"A language model that predicts the next word well is also a good compressor: every "
           b"word it expects costs few bits, and only surprises are expensive.\n")

client = llmkit.Client("mini", threads=1)
for name, data in (("python", CODE), ("english", ENGLISH)):
    blob, stats = compress_with_stats(data, client, mixing=True)
    assert llmkit.decompress(blob) == data  # the model is named in the file
    bz = 8 * len(bz2.compress(data, 9)) / len(data)
    print(f"{name:8} {len(data)} -> {len(blob)} bytes: {stats.coded_bpb:.2f} bits/byte "
          f"(ideal {stats.ideal_bpb:.2f}; bz2 {bz:.2f})")
print("round trips: exact")
print("chunks:", [c["kind"] for c in inspect(blob)["chunks"]], "model:", inspect(blob)["model"])
