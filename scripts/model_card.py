"""Write MODEL_CARD.md for a `mini` checkpoint, and measure it against another one.

    python scripts/model_card.py llmkit/mini/weights                       # the shipped model's card
    python scripts/model_card.py NEW --baseline shipped --corpus .cache/code-corpus.tar.xz

Figures, each on the same bytes for every checkpoint measured:
- held-out bits per byte (each file scored alone, as the compressors see it), next to bz2 -9
  and xz -9e. The held-out files are the archive's `heldout` split (whole packages no
  checkpoint trained on) with `--corpus`, else the standard library's validation split
  (whole files, the training run's seed);
- single-line infilling derived from HumanEval (`llmkit.tasks.evals.code_infill`: exact
  match after `complete_code`'s post-processing, and of the raw output);
- the card's five prompts, greedy: no repeated line, and code that `ast.parse`s
  (`llmkit.mini.evaluate.check_completion`).

With `--baseline` (a checkpoint directory, or `shipped` for the package's weights) both
are measured and a side-by-side table is printed and put in the card, with the issue's
targets (held-out bpb <= 0.8x the baseline's and <= 0.45x xz's; infilling above the
baseline's; every prompt clean). `--no-write` prints without touching the card.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from llmkit.mini.corpus import Document, read_corpus, split_documents
from llmkit.mini.engine import MiniEngine
from llmkit.mini.evaluate import Check, Scores, check_completion, score_documents
from llmkit.mini.stdlib_corpus import stdlib_files

SHIPPED = Path(__file__).resolve().parents[1] / "llmkit" / "mini" / "weights"
PROMPTS: list[tuple[str, str | tuple[str, str]]] = [
    ("complete", "def fibonacci(n):\n    "),
    ("complete", "import os\n\n\ndef list_python_files(directory):\n    "),
    ("complete", "class Stack:\n    def __init__(self):\n        "),
    ("complete", "    for i, line in enumerate("),
    ("infill", ("def is_even(n):\n    return ", " == 0\n")),
]
MAX_TOKENS = 60


@dataclass
class Sample:
    kind: str
    prompt: str | tuple[str, str]
    greedy: str
    check: Check
    sampled: str | None = None


@dataclass
class Measured:
    path: Path
    engine: MiniEngine
    scores: Scores
    score_seconds: float
    infill: dict[str, Any] | None
    samples: list[Sample] = field(default_factory=list)

    @property
    def size_mb(self) -> float:
        return sum(p.stat().st_size for p in self.path.glob("*.safetensors")) / 1e6

    @property
    def clean_prompts(self) -> int:
        return sum(s.check.ok for s in self.samples)


def heldout_documents(corpus: Path | None, engine: MiniEngine) -> tuple[list[Document], str]:
    """The held-out files and how to describe them. From an archive, the packages take turns
    (each one's first file, then each one's second, ...), so `--max-bytes` samples them all."""
    if corpus is not None:
        from llmkit.mini.code_corpus import read_archive

        by_package: dict[str, list[Document]] = {}
        for doc in read_archive(corpus, splits=("heldout",))["heldout"]:
            by_package.setdefault(doc.name.split("/", 1)[0], []).append(doc)
        queues = [by_package[name] for name in sorted(by_package)]
        docs = [q[i] for i in range(max(map(len, queues), default=0)) for q in queues if i < len(q)]
        return docs, "held-out files of packages no model here trained on"
    settings = engine.metadata.get("training", {}).get("settings", {})
    _, val = split_documents(read_corpus([str(f) for f in stdlib_files()]).documents, settings.get("val_fraction", 0.1),
                             settings.get("seed", 0))  # fmt: skip
    return val, "held-out standard-library files"


def samples_of(engine: MiniEngine) -> list[Sample]:
    generation = engine.metadata.get("generation") or {}
    n = min(MAX_TOKENS, engine.config.block_size // 4)  # a tiny test model's context is short
    out = []
    for kind, prompt in PROMPTS:
        if isinstance(prompt, str):
            g = engine.generate(prompt, max_tokens=n, temperature=0)[0]
            check = check_completion(prompt, g.text, cut=g.finish_reason == "length")
            sampled = engine.generate(prompt, max_tokens=n, seed=0, **generation)[0].text if generation else None
            out.append(Sample(kind, prompt, g.text, check, sampled))
        else:
            prefix, suffix = prompt
            text = engine.infill(prefix, suffix, max_tokens=20, temperature=0)[0].text
            out.append(Sample(kind, prompt, text, check_completion(prefix, text, suffix, cut=False)))
    return out


def measure(path: Path, corpus: Path | None, args: argparse.Namespace) -> tuple[Measured, str]:
    engine = MiniEngine.load(path)
    docs, described = heldout_documents(corpus, engine)
    started = time.perf_counter()
    scores = score_documents(engine, docs, args.max_bytes)
    seconds = time.perf_counter() - started
    if corpus is not None:
        packages = sorted({d.name.split("/", 1)[0] for d in docs[: scores.documents]})
        described += f" ({len(packages)}: {', '.join(packages)})"
    infill = None
    if args.infill:
        from llmkit import Client
        from llmkit.tasks.evals.code_infill import evaluate_infill

        with Client(f"mini:{path}", threads=args.threads) as client:
            infill = evaluate_infill(client, args.infill, progress=False)
    return Measured(path, engine, scores, seconds, infill, samples_of(engine)), described


def comparison(new: Measured, old: Measured) -> str:
    """The side-by-side table, with the issue's targets."""
    n, o = new.scores, old.scores

    def infill(m: Measured, key: str) -> str:
        return f"{m.infill[key]['exact']:.3f}" if m.infill else "not measured"

    rows = [
        ("parameters", f"{old.engine.model.num_parameters() / 1e6:.1f}M", f"{new.engine.model.num_parameters() / 1e6:.1f}M", ""),
        ("on disk", f"{old.size_mb:.1f} MB", f"{new.size_mb:.1f} MB", "<= 30 MB"),
        ("context", str(old.engine.config.block_size), str(new.engine.config.block_size), ">= 1024"),
        ("held-out bits per byte", f"{o.model_bpb:.3f}", f"{n.model_bpb:.3f}",
         f"new/old {n.model_bpb / o.model_bpb:.2f} (<= 0.8)"),
        ("... / xz -9e", f"{o.model_bpb / o.xz_bpb:.2f}", f"{n.model_bpb / n.xz_bpb:.2f}", "<= 0.45"),
        ("infilling exact match (llmkit)", infill(old, "llmkit"), infill(new, "llmkit"), "new > old"),
        ("infilling exact match (raw)", infill(old, "raw"), infill(new, "raw"), ""),
        ("prompts clean (no repeat, parses)", f"{old.clean_prompts}/{len(PROMPTS)}", f"{new.clean_prompts}/{len(PROMPTS)}",
         f"{len(PROMPTS)}/{len(PROMPTS)}"),
    ]  # fmt: skip
    lines = [f"| | {old.path} | {new.path} | target |", "|---|---|---|---|"]
    lines += [f"| {name} | {a} | {b} | {t} |" for name, a, b, t in rows]
    return "\n".join(lines)


def sample_text(samples: list[Sample]) -> str:
    parts = []
    for s in samples:
        verdict = "clean" if s.check.ok else "; ".join(
            ([f"repeats `{s.check.repeated}`"] if s.check.repeated else []) +
            ([f"does not parse: {s.check.error}"] if not s.check.parses else []))  # fmt: skip
        if isinstance(s.prompt, str):
            parts.append(f"**Prompt**:\n```python\n{s.prompt}\n```\n**Greedy** ({verdict}):\n```python\n{s.greedy}\n```")
            if s.sampled is not None:
                parts.append(f"**Sampled with the defaults** (seed 0):\n```python\n{s.sampled}\n```")
        else:
            prefix, suffix = s.prompt
            parts.append(f"**Fill in the middle** between `{prefix!r}` and `{suffix!r}`: `{s.greedy!r}` ({verdict})")
    return "\n".join(parts)


def data_text(corpus: Path | None, meta: dict[str, Any]) -> str:
    """What the checkpoint trained on: the archive's packages if its training record names
    that archive (scripts/train_gpu.py writes its file name), else the standard library."""
    settings = meta.get("settings", {})
    info = meta.get("corpus", {})
    if corpus is None or info != corpus.name:
        info = info if isinstance(info, dict) else {}
        return (f"- Data: {info.get('documents', '?')} standard-library `.py` files ({info.get('bytes', 0) / 1e6:.1f} MB), "
                "without test suites, site-packages and generated tables (encodings/cp*.py and the like: see "
                "`llmkit/mini/stdlib_corpus.py`); 10% of the files held out for validation (whole files, seed "
                f"{settings.get('seed', 0)}).")  # fmt: skip
    from llmkit.mini.code_corpus import read_manifest

    manifest = read_manifest(corpus)
    packages = manifest["packages"]
    rows = "\n".join(f"| {p['name']} | {p['version']} | {p['license']} | {p['split']} | {p['files']} | "
                     f"{p['bytes'] / 1e6:.2f} |" for p in packages)  # fmt: skip
    train = [p for p in packages if p["split"] == "train"]
    return (f"- Data: the CPython standard library and the Python sources of {len(packages) - 1} permissively licensed "
            f"packages from their wheels on the package index ({sum(p['bytes'] for p in train) / 1e6:.0f} MB trained on), "
            "without tests, vendored copies, generated or minified files, exact and near duplicates removed; whole "
            "packages held out (`python scripts/build_code_corpus.py`, `llmkit/mini/code_corpus.py`).\n\n"
            "<details><summary>Packages and licences</summary>\n\n| package | version | licence | split | files | MB |\n"
            f"|---|---|---|---|---|---|\n{rows}\n\n</details>")  # fmt: skip


def card(m: Measured, described: str, corpus: Path | None, args: argparse.Namespace, compared: str) -> str:
    engine, scores = m.engine, m.scores
    meta = engine.metadata.get("training", {})
    generation = engine.metadata.get("generation") or {}
    settings = meta.get("settings", {})
    cfg = engine.config
    on_archive = corpus is not None and meta.get("corpus") == corpus.name
    trained_on = ("the CPython standard library and permissively licensed Python packages" if on_archive else
                  f"the CPython {platform.python_version()} standard library source (PSF licence)")  # fmt: skip
    infill = ""
    if m.infill:
        infill = (f"\n\nSingle-line infilling derived from HumanEval ({m.infill['n']} lines blanked out of the canonical "
                  f"solutions): exact match {m.infill['llmkit']['exact']:.3f} after `complete_code`'s post-processing, "
                  f"{m.infill['raw']['exact']:.3f} raw (`python -m llmkit.tasks.evals.code_infill mini --limit "
                  f"{m.infill['n']}`).")  # fmt: skip
    against = f"\n\n## Against the previous checkpoint\n\n{compared}" if compared else ""
    return f"""# The bundled `mini` model

A {cfg.n_layer}-layer, {cfg.n_embd}-wide GPT ({engine.model.num_parameters() / 1e6:.1f}M parameters, \
{m.size_mb:.1f} MB on disk), context {cfg.block_size} tokens, byte-level BPE with {cfg.vocab_size} tokens, \
trained from scratch on {trained_on} with fill-in-the-middle. It is a small **code completion** model, \
not a chat model: it continues Python text, and is shipped so that llmkit works with no key and no network.

## Recipe (reproduce with one command)

```bash
{args.command or "llmkit train --stdlib -o OUT ..."}
```

{data_text(corpus, meta)}
{f"- {args.note}" + chr(10) if args.note else ""}- Training: {meta.get("step", "?")} steps, \
{meta.get("tokens_seen", 0):,} tokens, AdamW (weight decay on matrices only), warmup + cosine, FIM rate \
{settings.get("fim_rate", "?")}, on {settings.get("hardware", "a 2-core CPU, no GPU")}, torch \
{meta.get("torch", torch.__version__)}.
- Settings: `{json.dumps(settings, sort_keys=True)}`
- Sampling defaults, used when a call sets none: `{json.dumps(generation, sort_keys=True) or "none"}` \
(`temperature=0` asks for greedy decoding).

## Held-out quality (bits per byte, lower is better)

{scores.documents} {described}, {scores.bytes:,} bytes, each file on its own:

| model ideal code length | bz2 -9 | xz -9e |
|---|---|---|
| **{scores.model_bpb:.3f}** | {scores.bz2_bpb:.3f} | {scores.xz_bpb:.3f} |

(Measured by `python scripts/model_card.py {args.checkpoint}` in {m.score_seconds:.0f} s.){infill}{against}

## Samples (as they come out: good and bad)

Greedy completions of {MAX_TOKENS} tokens, each checked for a repeated line and for code that `ast.parse`s.

{sample_text(m.samples)}

## Limits

Small and trained briefly: it knows the shape of Python (indentation, `def`/`class`/`self`, common \
idioms) far better than any meaning. Expect loops, invented names and plausible-looking nonsense. It \
never saw natural-language chat.
"""


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("checkpoint", type=Path)
    parser.add_argument("--baseline", help="another checkpoint to measure beside it ('shipped': the package's)")
    parser.add_argument("--corpus", type=Path, help="the code-corpus archive: its heldout split is scored")
    parser.add_argument("--max-bytes", type=int, default=200_000, help="held-out bytes to score")
    parser.add_argument("--infill", type=int, default=200, help="HumanEval infilling items (0: skip)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--command", default="", help="the exact training command, for the record")
    parser.add_argument("--note", default="", help="how this run differed from the command (legs, resumes)")
    parser.add_argument("--no-write", action="store_true", help="print, and leave MODEL_CARD.md as it is")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)

    new, described = measure(args.checkpoint, args.corpus, args)
    compared = ""
    if args.baseline:
        old, _ = measure(SHIPPED if args.baseline == "shipped" else Path(args.baseline), args.corpus, args)
        compared = comparison(new, old)
        print(compared, end="\n\n")
    text = card(new, described, args.corpus, args, compared)
    if not args.no_write:
        (args.checkpoint / "MODEL_CARD.md").write_text(text, encoding="utf-8")
    print(text)


if __name__ == "__main__":
    main()
