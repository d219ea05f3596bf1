"""Semantic search with embeddings: rank snippets by similarity to a query.

Runs offline on the bundled model (mean-pooled hidden states of a small code model:
fine for "which of these looks like that", not a retrieval-grade embedder). Point it at
any OpenAI-compatible server for real embedding models:

    python examples/embeddings.py
    python examples/embeddings.py --model openai:text-embedding-3-small
    python examples/embeddings.py --model openai:nomic-embed-text --base-url http://localhost:11434/v1
"""

import argparse

import llmkit

SNIPPETS = [
    "def add(a, b):\n    return a + b",
    "def read_lines(path):\n    with open(path) as f:\n        return f.readlines()",
    "class Stack:\n    def __init__(self):\n        self.items = []",
    "for i, line in enumerate(lines):\n    print(i, line)",
]
QUERY = "def plus(x, y):\n    return x + y"

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--model", default="mini")
parser.add_argument("--base-url", help="an OpenAI-compatible server (openai: models only)")
args = parser.parse_args()

client = llmkit.Client(args.model, **({"base_url": args.base_url} if args.base_url else {}))
vectors = client.embed([QUERY, *SNIPPETS])  # one request for all texts
print(f"{len(vectors)} vectors of {vectors.dimensions} dimensions from {vectors.model} "
      f"({vectors.usage.input_tokens} tokens)")  # fmt: skip

ranked = sorted(range(len(SNIPPETS)), key=lambda i: -vectors.similarity(0, i + 1))
print("query:", QUERY.splitlines()[0])
for rank, i in enumerate(ranked, 1):
    print(f"{rank}. {vectors.similarity(0, i + 1):+.3f}  {SNIPPETS[i].splitlines()[0]}")
