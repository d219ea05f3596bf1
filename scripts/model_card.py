"""Write MODEL_CARD.md for a checkpoint trained with `llmkit train --stdlib`.

    python scripts/model_card.py llmkit/mini/weights [--max-bytes 200000]

Measures held-out bits per byte on the validation split of the standard library (the
same split training used: whole files, seed 0) against bz2 and xz on the same files,
and records sample completions, good and bad, as they come out.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import torch

from llmkit.mini.corpus import read_corpus, split_documents
from llmkit.mini.engine import MiniEngine
from llmkit.mini.evaluate import score_documents
from llmkit.mini.stdlib_corpus import stdlib_files

PROMPTS = [
    ("complete", "def fibonacci(n):\n    "),
    ("complete", "import os\n\n\ndef list_python_files(directory):\n    "),
    ("complete", "class Stack:\n    def __init__(self):\n        "),
    ("complete", "    for i, line in enumerate("),
    ("infill", ("def is_even(n):\n    return ", " == 0\n")),
]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("checkpoint", type=Path)
    parser.add_argument("--max-bytes", type=int, default=200_000, help="held-out bytes to score")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--command", default="", help="the exact training command, for the record")
    parser.add_argument("--note", default="", help="how this run differed from the command (legs, resumes)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    engine = MiniEngine.load(args.checkpoint)
    meta = engine.metadata.get("training", {})
    generation = engine.metadata.get("generation") or {}
    settings = meta.get("settings", {})
    corpus = read_corpus(stdlib_files())
    _, val = split_documents(corpus.documents, settings.get("val_fraction", 0.1), settings.get("seed", 0))
    started = time.perf_counter()
    scores = score_documents(engine, val, args.max_bytes)
    seconds = time.perf_counter() - started

    samples = []
    for kind, prompt in PROMPTS:
        if kind == "complete":
            out = engine.generate(prompt, max_tokens=60, temperature=0)[0].text
            samples.append(f"**Prompt**:\n```python\n{prompt}\n```\n**Greedy:**\n```python\n{out}\n```")
            if generation:
                out = engine.generate(prompt, max_tokens=60, seed=0, **generation)[0].text
                samples.append(f"**Sampled with the defaults** (seed 0):\n```python\n{out}\n```")
        else:
            prefix, suffix = prompt
            out = engine.infill(prefix, suffix, max_tokens=20, temperature=0)[0].text
            samples.append(f"**Fill in the middle** between `{prefix!r}` and `{suffix!r}`: `{out!r}`")

    cfg = engine.config
    size_mb = (args.checkpoint / "model.safetensors").stat().st_size / 1e6
    card = f"""# The bundled `mini` model

A {cfg.n_layer}-layer, {cfg.n_embd}-wide GPT ({engine.model.num_parameters() / 1e6:.1f}M parameters, \
{size_mb:.1f} MB on disk), context {cfg.block_size} tokens, byte-level BPE with {cfg.vocab_size} tokens, \
trained from scratch on the CPython {platform.python_version()} standard library source (PSF licence) \
with fill-in-the-middle. It is a small **code completion** model, not a chat model: it continues \
Python text, and is shipped so that llmkit works with no key and no network.

## Recipe (reproduce with one command)

```bash
{args.command or "llmkit train --stdlib -o OUT ..."}
```

- Data: {meta.get("corpus", {}).get("documents", "?")} standard-library `.py` files \
({meta.get("corpus", {}).get("bytes", 0) / 1e6:.1f} MB), without test suites, site-packages and \
generated tables (encodings/cp*.py and the like: see `llmkit/mini/stdlib_corpus.py`); 10% of the \
files held out for validation (whole files, seed {settings.get("seed", 0)}).
{f"- {args.note}" + chr(10) if args.note else ""}- Training: {meta.get("step", "?")} steps, {meta.get("tokens_seen", 0):,} tokens, \
AdamW (weight decay on matrices only), warmup + cosine, FIM rate {settings.get("fim_rate", "?")}, \
on {settings.get("hardware", "a 2-core CPU, no GPU")}, torch {meta.get("torch", torch.__version__)}.
- Settings: `{json.dumps(settings, sort_keys=True)}`
- Sampling defaults, used when a call sets none: `{json.dumps(generation, sort_keys=True) or "none"}` \
(`temperature=0` asks for greedy decoding).

## Held-out quality (bits per byte, lower is better)

{scores.documents} held-out standard-library files, {scores.bytes:,} bytes, each file on its own:

| model ideal code length | bz2 -9 | xz -9e |
|---|---|---|
| **{scores.model_bpb:.3f}** | {scores.bz2_bpb:.3f} | {scores.xz_bpb:.3f} |

(Measured by `python scripts/model_card.py {args.checkpoint}` in {seconds:.0f} s.)

## Samples (as they come out: good and bad)

{chr(10).join(samples)}

## Limits

Small and trained briefly on one CPU: it knows the shape of Python (indentation, \
`def`/`class`/`self`, common stdlib idioms) far better than any meaning. Expect loops, \
invented names and plausible-looking nonsense. It never saw natural-language chat.
"""
    (args.checkpoint / "MODEL_CARD.md").write_text(card, encoding="utf-8")
    print(card)


if __name__ == "__main__":
    main()
