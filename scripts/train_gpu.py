"""Train the bundled GPT on the code corpus on one GPU, in one command that ends inside 10 minutes.

    python scripts/train_gpu.py --corpus .cache/code-corpus.tar.xz --out $OUT --time 7m \\
        [--tokenizer tokenizer.json] [--layers 6 --width 384 --heads 6 --context 1024 --vocab 8192] [--batch 32]

and beforehand, on any CPU machine (so no GPU time goes to it), the tokenizer:

    python scripts/train_gpu.py --corpus .cache/code-corpus.tar.xz --out /tmp/x --save-tokenizer tokenizer.json

What it does, in order, each step timed into metrics.json:

1. reads the archive's train and heldout splits (`llmkit.mini.code_corpus.read_archive`:
   scripts/build_code_corpus.py writes it);
2. loads the tokenizer (trained beforehand on a CPU machine, so no GPU time goes to it) or
   trains one on the first --tokenizer-mb of the train split;
3. trains with the Trainer on the train split for --time: bf16 autocast, TF32, fused
   AdamW, torch.compile on cuda (--compile), the flash attention kernel SDPA picks;
4. evaluates bits per byte on the first --heldout-mb of the heldout split (whole packages
   the model never saw), non-overlapping windows of the context length, next to xz -9e
   (lzma preset 9 | extreme) on exactly the same bytes (the model in fp32, TF32 matmuls on cuda);
5. writes, into --out, the checkpoint (bf16, no optimizer state, shards of at most
   --max-shard-mb) under `mini/` and `metrics.json`: at most 8 files in all, which is
   what comes back from the GPU machine. The file budget is checked before training.

Achieved TFLOP/s counts 6 N + 12 L T d FLOPs a trained token (N parameters with the tied
embedding counted once, as the output projection's matmul; the attention term counts the
full T x T score matrix, as PaLM's and nanoGPT's MFU do), over the training wall time;
`--peak-tflops` (989: H100/H200 dense bf16) turns it into a fraction of the peak.

The GPU machine has torch, tokenizers, safetensors, numpy, rich, matplotlib, httpx, but no
pydantic, platformdirs, packaging, constriction or llguidance, and llmkit is not
installed there: this script puts the repository root on sys.path, and nothing it
imports needs those packages (tests/test_train_gpu.py runs it with them blocked).
"""

from __future__ import annotations

import argparse
import json
import lzma
import math
import os
import platform
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402

from llmkit.mini.checkpoint import save_checkpoint, weight_files  # noqa: E402
from llmkit.mini.code_corpus import read_archive  # noqa: E402
from llmkit.mini.config import GPTConfig  # noqa: E402
from llmkit.mini.corpus import Corpus, Document  # noqa: E402
from llmkit.mini.data import eval_windows, plain_array  # noqa: E402
from llmkit.mini.device import resolve_device, use_amp  # noqa: E402
from llmkit.mini.distributed import Dist  # noqa: E402
from llmkit.mini.model import GPT  # noqa: E402
from llmkit.mini.tokenizer import MiniTokenizer, train_tokenizer  # noqa: E402
from llmkit.mini.train import StepInfo, Trainer, _eval_sums  # noqa: E402
from llmkit.mini.train_config import TrainConfig, duration  # noqa: E402

MAX_FILES = 8  # what comes back from the GPU machine: 8 files, 16 MiB each, 64 MiB together
MAX_TOTAL = 64 * 2**20
CHECKPOINT_DIR = "mini"


def head(documents: list[Document], n_bytes: float) -> list[Document]:
    """The first documents, up to about n_bytes of UTF-8 (at least one)."""
    out: list[Document] = []
    total = 0
    for doc in documents:
        if out and total + doc.n_bytes > n_bytes:
            break
        out.append(doc)
        total += doc.n_bytes
    return out


def file_budget(config: GPTConfig, max_shard: int, extra_files: int) -> tuple[int, int]:
    """(number of shards, bytes of weights) of the bf16 checkpoint; SystemExit when it cannot come back."""
    with torch.device("meta"):
        n_bytes = 2 * GPT(config).num_parameters()
    budget = max_shard - min(64 * 1024, max_shard // 4)
    shards = max(1, math.ceil(n_bytes / budget))
    files = shards + 1 + extra_files  # the index, config.json, tokenizer.json, metrics.json
    if files > MAX_FILES or n_bytes > MAX_TOTAL - 4 * 2**20:
        raise SystemExit(f"the model ({n_bytes / 2**20:.1f} MiB of bf16 weights, {shards} shards of "
                         f"{max_shard / 2**20:g} MiB) cannot come back: at most {MAX_FILES} files and "
                         f"{MAX_TOTAL // 2**20} MiB. Choose fewer layers, a smaller width or vocabulary.")
    return shards, n_bytes


def heldout_bpb(model: GPT, tokenizer: MiniTokenizer, docs: list[Document], device: torch.device,
                amp: bool) -> dict[str, float]:
    """The model's and xz -9e's bits per byte on the same documents."""
    started = time.monotonic()
    stream = plain_array(tokenizer, [d.text for d in docs])
    windows = eval_windows(stream, model.config.block_size, max_windows=len(stream))
    batch = 32 if device.type == "cuda" else 4  # (batch, T, vocab) fp32 logits: ~1 GB at 32 x 1024 x 8192
    nats, tokens, n_bytes = _eval_sums(model, tokenizer, windows, device, amp, batch=batch)
    model_s = time.monotonic() - started
    data = b"".join(d.text.encode("utf-8", "surrogatepass") for d in docs)
    started = time.monotonic()
    xz_bytes = len(lzma.compress(data, preset=9 | lzma.PRESET_EXTREME))
    xz_s = time.monotonic() - started
    bpb = nats / max(n_bytes, 1) / math.log(2)
    xz_bpb = 8 * xz_bytes / max(len(data), 1)
    return {"heldout_bytes": len(data), "heldout_scored_bytes": n_bytes, "heldout_tokens": tokens,
            "heldout_documents": len(docs), "heldout_loss": nats / max(tokens, 1), "heldout_bpb": bpb,
            "xz_bpb": xz_bpb, "bpb_ratio_to_xz": bpb / xz_bpb, "heldout_eval_s": model_s, "xz_s": xz_s}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--corpus", type=Path, required=True, help="code-corpus .tar.xz")
    p.add_argument("--out", type=Path, required=True, help="where metrics.json and the checkpoint go")
    p.add_argument("--time", type=duration, default=420.0, help="training time (default 7m)")
    p.add_argument("--tokenizer", type=Path, help="a tokenizer.json trained beforehand (default: train one)")
    p.add_argument("--tokenizer-mb", type=float, default=40.0, help="train split MB a new tokenizer learns from")
    p.add_argument("--save-tokenizer", type=Path, metavar="FILE",
                   help="only train the tokenizer (on a CPU machine, beforehand), save it to FILE and stop")
    p.add_argument("--layers", type=int, default=6)
    p.add_argument("--width", type=int, default=384)
    p.add_argument("--heads", type=int, default=6)
    p.add_argument("--context", type=int, default=1024)
    p.add_argument("--vocab", type=int, default=8192)
    p.add_argument("--batch", type=int, default=32, help="sequences per micro-batch")
    p.add_argument("--grad-accum", type=int, default=1)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--warmup", type=int, default=100)
    p.add_argument("--fim-rate", type=float, default=0.5)
    p.add_argument("--val-fraction", type=float, default=0.005, help="train documents used for validation")
    p.add_argument("--eval-every", type=int, default=500)
    p.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto")
    p.add_argument("--amp", choices=["auto", "on", "off"], default="auto")
    p.add_argument("--compile", choices=["auto", "on", "off"], default="auto", help="auto: on for cuda")
    p.add_argument("--heldout-mb", type=float, default=8.0, help="heldout MB scored (and given to xz)")
    p.add_argument("--max-shard-mb", type=float, default=16.0, help="largest weights file, in MiB")
    p.add_argument("--peak-tflops", type=float, default=989.0, help="the chip's dense bf16 peak")
    p.add_argument("--log-every", type=int, default=50)
    p.add_argument("--seed", type=int, default=0)
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    args = parse_args(argv)
    t0 = time.monotonic()
    timings: dict[str, float] = {}
    device = resolve_device(args.device)
    compile_model = args.compile == "on" or (args.compile == "auto" and device.type == "cuda")
    max_shard = int(args.max_shard_mb * 2**20)
    model_config = GPTConfig(vocab_size=args.vocab, n_layer=args.layers, n_head=args.heads, n_embd=args.width,
                             block_size=args.context)  # fmt: skip
    shards, weight_bytes = file_budget(model_config, max_shard, extra_files=3)
    print(f"device {device}, model {args.layers}x{args.width} ({weight_bytes / 2**20:.1f} MiB bf16, "
          f"{shards} shard(s)), compile {compile_model}", flush=True)

    splits = read_archive(args.corpus)
    timings["read_s"] = time.monotonic() - t0
    train_docs, heldout_docs = splits["train"], splits["heldout"]
    train_bytes = sum(d.n_bytes for d in train_docs)
    print(f"read {len(train_docs)} train / {len(heldout_docs)} heldout files ({train_bytes / 1e6:.1f} MB train) "
          f"in {timings['read_s']:.1f}s", flush=True)
    if not train_docs or not heldout_docs:
        raise SystemExit(f"{args.corpus} has no train or no heldout files")

    started = time.monotonic()
    if args.tokenizer:
        tokenizer = MiniTokenizer.load(args.tokenizer)
    else:
        tokenizer = train_tokenizer([d.text for d in head(train_docs, args.tokenizer_mb * 1e6)], args.vocab)
    timings["tokenizer_s"] = time.monotonic() - started
    if args.save_tokenizer:
        tokenizer.save(args.save_tokenizer)
        print(f"tokenizer of {tokenizer.vocab_size} tokens trained in {timings['tokenizer_s']:.0f}s: "
              f"{args.save_tokenizer}", flush=True)
        return {"tokenizer": str(args.save_tokenizer), **timings}

    config = TrainConfig(model=model_config, time_budget=args.time, batch_size=args.batch, grad_accum=args.grad_accum,
                         lr=args.lr, warmup=args.warmup, fim_rate=args.fim_rate, val_fraction=args.val_fraction,
                         eval_every=args.eval_every, checkpoint_every=10**9, seed=args.seed, device=args.device,
                         amp=args.amp, compile=compile_model)  # fmt: skip
    marks: dict[str, float] = {}

    def on_step(info: StepInfo) -> None:
        if info.step == 1:
            marks["first_step_s"] = info.elapsed
            marks["tokens_at_first"] = float(trainer.state["tokens_seen"])
        marks["last_elapsed"] = info.elapsed
        if info.step % args.log_every == 0 or info.val_bpb is not None:
            rate = trainer.state["tokens_seen"] / max(info.elapsed, 1e-9)
            val = f" val_bpb {info.val_bpb:.3f}" if info.val_bpb is not None else ""
            print(f"step {info.step} loss {info.loss:.3f} lr {info.lr:.2e} {rate:,.0f} tok/s "
                  f"{info.elapsed:.0f}s{val}", flush=True)

    with tempfile.TemporaryDirectory(prefix="train-gpu-") as scratch:  # the Trainer's own checkpoint: not in --out
        started = time.monotonic()
        trainer = Trainer(Corpus(train_docs), Path(scratch) / "run", config, Dist(), progress=False,
                          on_step=on_step, tokenizer=tokenizer)  # fmt: skip
        timings["prepare_s"] = time.monotonic() - started
        print(f"prepared {trainer.data.n_tokens:,} train tokens in {timings['prepare_s']:.1f}s", flush=True)
        result = trainer.run()
        timings["train_s"] = result.elapsed
    model = trainer.model
    if device.type == "cuda":
        torch.cuda.synchronize()

    # fp32 (TF32 matmuls) rather than bf16 logits: the figure the model card reports, without bf16 rounding
    held = heldout_bpb(model, tokenizer, head(heldout_docs, args.heldout_mb * 1e6), trainer.device, amp=False)
    print(f"heldout {held['heldout_bpb']:.3f} bpb, xz -9e {held['xz_bpb']:.3f} bpb "
          f"(ratio {held['bpb_ratio_to_xz']:.3f})", flush=True)

    started = time.monotonic()
    out = args.out
    out.mkdir(parents=True, exist_ok=True)
    training = {"step": result.steps, "tokens_seen": result.tokens_seen, "train_loss": result.train_loss,
                "heldout_bpb": held["heldout_bpb"], "xz_bpb": held["xz_bpb"], "settings": config.settings(),
                "corpus": str(args.corpus.name), "torch": torch.__version__}  # fmt: skip
    save_checkpoint(out / CHECKPOINT_DIR, model, tokenizer, metadata={"training": training}, dtype="bfloat16",
                    max_shard_bytes=max_shard)  # fmt: skip
    timings["save_s"] = time.monotonic() - started

    n_params = model.num_parameters()
    cfg = model.config
    flops_per_token = 6 * n_params + 12 * cfg.n_layer * cfg.block_size * cfg.n_embd
    tflops = flops_per_token * result.tokens_seen / max(result.elapsed, 1e-9) / 1e12
    steady_s = marks.get("last_elapsed", 0.0) - marks.get("first_step_s", 0.0)
    steady_tokens = result.tokens_seen - marks.get("tokens_at_first", 0.0)
    chip = torch.cuda.get_device_name(device) if device.type == "cuda" else (platform.processor() or "cpu")
    files = weight_files(out / CHECKPOINT_DIR)
    metrics: dict[str, Any] = {
        "chip": chip, "device": str(device), "amp_bf16": use_amp(args.amp, device), "compile": compile_model,
        "torch": torch.__version__, "steps": result.steps, "tokens_seen": result.tokens_seen,
        "tokens_per_s": result.tokens_seen / max(result.elapsed, 1e-9),
        "tokens_per_s_after_first_step": steady_tokens / steady_s if steady_s > 0 else None,
        "first_step_s": marks.get("first_step_s"), "train_loss": result.train_loss, "val_bpb": result.val_bpb,
        **held, "model_parameters": n_params, "model": cfg.to_dict(), "batch": args.batch, "grad_accum": args.grad_accum,
        "lr": args.lr, "train_bytes": train_bytes, "train_documents": len(train_docs),
        "train_tokens": trainer.data.n_tokens, "epochs": result.tokens_seen / max(trainer.data.n_tokens, 1),
        "flops_per_token": flops_per_token, "achieved_tflops": tflops, "peak_tflops": args.peak_tflops,
        "fraction_of_peak": tflops / args.peak_tflops,
        "checkpoint_files": {str(f.relative_to(out)): f.stat().st_size for f in sorted((out / CHECKPOINT_DIR).iterdir())},
        "weight_files": len(files), **timings, "total_s": time.monotonic() - t0,
    }  # fmt: skip
    if device.type == "cuda":
        metrics["max_memory_allocated_gib"] = torch.cuda.max_memory_allocated(device) / 2**30
    (out / "metrics.json").write_text(json.dumps(metrics, indent=1), encoding="utf-8")
    print(json.dumps(metrics, indent=1), flush=True)
    return metrics


if __name__ == "__main__":
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "true")
    main()
