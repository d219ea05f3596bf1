"""Compression is intelligence: llmkit.compress against the classic compressors.

    python benchmarks/compress.py [--threads 1] [--quick] [--skip-hf] [--adapt] [--json out.json]

One run prints every figure of the README's compression table:
  1. fresh English text (benchmarks/data/fresh_english.txt, written for this project, so
     no model was trained on it): SmolLM2-135M's coded size against the best of
     gzip/bz2/xz/zstd (and brotli), and the coded size against the ideal cross-entropy;
  2. alice29.txt (../shared/data): SmolLM2's bits per byte beside ts_zip (1.142, RWKV
     169M), Nacrith (0.918, SmolLM2-135M + n-gram + online bias head) and xz;
  3. round trips on a benchmark set (text, code, binary, a mixed file, one bad byte, empty);
  4. throughput, encode and decode, for mini and SmolLM2;
  5. chunks in lockstep against one at a time (the same chunks, batch 16 vs 1);
  6. portability: decoding with another thread count, in another process, on a GPU.
--quick codes slices instead of whole files (the whole-file figures then come from
llmkit.compress.estimate: the same chunks and mixing, one forward pass per chunk).
--adapt adds dynamic evaluation (compress(adapt=True)) to section 2: the whole-file
estimate with it for both models, and the coded slice (or file) coded with it too.
On a shared CPU, threads=1 is much faster than 2 (oversubscription): the default here.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import llmkit
from llmkit.compress import compress_with_stats, decompress
from llmkit.compress.classic import sizes
from llmkit.compress.estimate import estimate

ROOT = Path(__file__).resolve().parent.parent
FRESH = ROOT / "benchmarks" / "data" / "fresh_english.txt"
ALICE = ROOT.parent / "shared" / "data" / "alice29.txt"
PUBLISHED = {"ts_zip (RWKV 169M)": 1.142, "Nacrith (SmolLM2-135M + n-gram + bias head)": 0.918, "xz (published)": 2.55}
results: dict[str, Any] = {}


def say(text: str = "") -> None:
    print(text, flush=True)


def classic_bpb(data: bytes) -> dict[str, float]:
    return {name: 8 * size / len(data) for name, size in sizes(data).items()}


def code(data: bytes, client: llmkit.Client, **options: Any) -> dict[str, Any]:
    """Compress, decompress, check; sizes, bits per byte and speeds."""
    blob, s = compress_with_stats(data, client, **options)
    t0 = time.perf_counter()
    back = decompress(blob, client)
    decode_s = time.perf_counter() - t0
    return {"bytes": len(data), "file": len(blob), "payload": s.payload_bytes, "ideal_bpb": s.ideal_bpb,
            "model_bpb": s.model_bits / max(s.model_chunk_bytes, 1), "coded_bpb": s.coded_bpb,
            "payload_bpb": s.payload_bpb, "payload_over_ideal": 8 * s.payload_bytes / s.ideal_bits - 1 if s.ideal_bits else 0.0,
            "file_over_ideal": s.gap, "chunks": s.chunks, "encode_Bps": len(data) / s.seconds,
            "decode_Bps": len(data) / decode_s, "exact": back == data, "blob": blob}  # fmt: skip


def show(label: str, r: dict[str, Any]) -> None:
    say(f"  {label}: {r['bytes']} -> {r['file']} bytes | ideal {r['ideal_bpb']:.3f} (model alone "
        f"{r['model_bpb']:.3f}) | payload {r['payload_bpb']:.3f} ({100 * r['payload_over_ideal']:+.2f}% over ideal) "
        f"| file {r['coded_bpb']:.3f} ({100 * r['file_over_ideal']:+.2f}%) bits/byte | {r['chunks']} chunks | "
        f"encode {r['encode_Bps']:.0f} B/s, decode {r['decode_Bps']:.0f} B/s | exact: {r['exact']}")


def fresh_text(smol: llmkit.Client, mixing: bool) -> None:
    data = FRESH.read_bytes()
    classic = classic_bpb(data)
    best4 = min(v for k, v in classic.items() if not k.startswith("brotli"))
    say(f"1. fresh English text ({FRESH.name}, {len(data)} bytes)")
    say("  classic: " + ", ".join(f"{k} {v:.3f}" for k, v in classic.items()))
    r = code(data, smol, mixing=mixing)
    show("SmolLM2-135M", r)
    ratio = r["coded_bpb"] / best4
    say(f"  ratio: SmolLM2 file / best of gzip,bz2,xz,zstd ({best4:.3f}) = {ratio:.3f}x (target <= 0.50x); "
        f"vs brotli (built-in English dictionary) {r['coded_bpb'] / classic.get('brotli -11', float('nan')):.3f}x")
    results["fresh"] = {"classic": classic, "smollm2": _public(r), "ratio_vs_best4": ratio}


def alice(smol: llmkit.Client, mini: llmkit.Client, quick: bool, mixing: bool, adapt: bool) -> None:
    data = ALICE.read_bytes()
    classic = classic_bpb(data)
    say(f"2. alice29.txt ({len(data)} bytes)")
    say("  classic: " + ", ".join(f"{k} {v:.3f}" for k, v in classic.items()))
    out: dict[str, Any] = {"classic": classic, "published": PUBLISHED}
    for label, client in (("mini", mini), ("SmolLM2-135M", smol)):
        for mix, adapting in ((False, False), (True, False), *([(True, True)] if adapt else [])):
            t0 = time.perf_counter()
            e = estimate(data, client, mixing=mix, adapt=adapting)
            say(f"  {label} whole file, mixing {'on ' if mix else 'off'}{', adapt' if adapting else ''} "
                f"(estimate: one pass per chunk{' and segment' if adapting else ''}): {e['ideal_bpb']:.4f} bits/byte "
                f"(model alone {e['model_bpb']:.4f}; {e['chunks']} chunks, {time.perf_counter() - t0:.0f} s)")
            out[f"{label} estimate mixing={mix}" + (" adapt" if adapting else "")] = e
    piece = data[:8192] if quick else data
    for adapting in (False, True) if adapt else (False,):
        r = code(piece, smol, mixing=mixing, adapt=adapting)
        show(f"SmolLM2-135M coded ({'first 8 KB' if quick else 'whole file'}{', adapt' if adapting else ''})", r)
        out["smollm2 coded" + (" adapt" if adapting else "")] = _public(r)
    say("  published: " + ", ".join(f"{k} {v}" for k, v in PUBLISHED.items()))
    results["alice29"] = out


def round_trips(mini: llmkit.Client, smol: llmkit.Client | None) -> None:
    text = FRESH.read_bytes()
    rng = __import__("random").Random(0)
    binary = bytes(rng.getrandbits(8) for _ in range(4096))
    so = next(Path(llmkit.__file__).parent.parent.glob(".venv/lib/python*/site-packages/constriction/*.so"), None)
    real_binary = so.read_bytes()[:16384] if so else binary[::-1]
    cases = {
        "fresh English": text, "Python source": (ROOT / "llmkit" / "client.py").read_bytes()[:6000],
        "random bytes": binary, "a shared library (first 16 KB)": real_binary,
        "mixed: text + binary + text": text[:1500] + binary[:800] + text[1500:3000],
        "text with one bad byte": text[:2000] + b"\xff" + text[2000:4000],
        "unicode": "naïve café — 日本語のテキスト 🙂 עברית\n".encode() * 30, "empty": b"",
    }
    say("3. round trips (mini" + (", and SmolLM2 on the first three" if smol else "") + ")")
    out = {}
    for name, data in cases.items():
        r = code(data, mini, mixing=True)
        line = f"  {name}: {len(data)} -> {r['file']} bytes, exact: {r['exact']}"
        if smol is not None and name in list(cases)[:3]:
            s = code(data[:1500], smol)
            line += f" | SmolLM2 (first 1500 bytes) exact: {s['exact']}"
            r["smollm2_exact"] = s["exact"]
        say(line)
        out[name] = {"bytes": len(data), "file": r["file"], "exact": r["exact"], **(
            {"smollm2_exact": r["smollm2_exact"]} if "smollm2_exact" in r else {})}
    results["round_trips"] = out


def throughput_and_lockstep(mini: llmkit.Client, smol: llmkit.Client | None, quick: bool) -> None:
    text = FRESH.read_bytes()
    say("4. throughput (fresh English, batch 16)")
    out: dict[str, Any] = {}
    r = code(text, mini, mixing=True)
    say(f"  mini: encode {r['encode_Bps']:.0f} B/s, decode {r['decode_Bps']:.0f} B/s")
    out["mini"] = {"encode_Bps": r["encode_Bps"], "decode_Bps": r["decode_Bps"]}
    say("5. lockstep: 16 chunks coded together vs one at a time (same chunks)")
    for label, client, piece, chunk in (("mini", mini, text, 64), ("SmolLM2-135M", smol, text[: 1200 if quick else 2400], 48)):
        if client is None:
            continue
        speeds = {}
        for batch in (16, 1):
            t0 = time.perf_counter()
            blob, s = compress_with_stats(piece, client, batch=batch, chunk_tokens=chunk)
            speeds[batch] = len(piece) / (time.perf_counter() - t0)
        say(f"  {label}: {s.model_chunks} chunks of <= {chunk} tokens: batch 16 {speeds[16]:.0f} B/s, "
            f"one at a time {speeds[1]:.0f} B/s: {speeds[16] / speeds[1]:.2f}x (target >= 3x)")
        out[f"lockstep {label}"] = {"batch16_Bps": speeds[16], "batch1_Bps": speeds[1], "ratio": speeds[16] / speeds[1]}
    results["throughput"] = out


def portability(mini: llmkit.Client, smol: llmkit.Client | None, threads: int) -> None:
    say("6. portability")
    out: dict[str, Any] = {}
    text = FRESH.read_bytes()[:1500]
    for label, client in (("mini", mini), ("SmolLM2-135M", smol)):
        if client is None:
            continue
        blob = compress_with_stats(text, client)[0]
        other = 2 if threads == 1 else 1
        try:
            ok = decompress(blob, client, threads=other) == text
            verdict = "exact" if ok else "WRONG (a bug: a mismatch must be an error)"
        except llmkit.CompressedFileError as exc:
            verdict = f"refused, as it must be: {exc.message[:90]}..."
        say(f"  {label}, written with {threads} thread(s), decoded with {other}: {verdict}")
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "x.llmz"
            path.write_bytes(blob)
            code_ = (f"import llmkit,sys; b=open({str(path)!r},'rb').read(); "
                     f"sys.stdout.buffer.write(llmkit.decompress(b, {client.model!r}))")  # fmt: skip
            proc = subprocess.run([sys.executable, "-c", code_], capture_output=True, timeout=3000,
                                  env={**os.environ, "PYTHONPATH": str(ROOT)})  # fmt: skip
            process = "exact" if proc.returncode == 0 and proc.stdout == text else f"failed: {proc.stderr[-200:]!r}"
        say(f"  {label}, decoded in another process: {process}")
        out[label] = {"other_threads": verdict, "other_process": process}
    gpu = "not measured: no GPU on this machine"
    try:
        import torch

        if torch.cuda.is_available() and smol is not None:
            blob = compress_with_stats(text, smol)[0]
            gpu_client = llmkit.Client(smol.model, device="cuda")
            try:
                decompress(blob, gpu_client)
                gpu = "decoded on the GPU (strict): exact"
            except llmkit.CompressedFileError as exc:
                gpu = f"strict: refused ({exc.message[:80]}...)"
                try:
                    gpu += "; strict=False: " + ("exact" if decompress(blob, gpu_client, strict=False) == text else "?")
                except llmkit.CompressedFileError as exc2:
                    gpu += f"; strict=False: error, not garbage ({exc2.message[:60]}...)"
    except ImportError:
        pass
    say(f"  GPU: {gpu}")
    out["gpu"] = gpu
    results["portability"] = out


def _public(r: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in r.items() if k != "blob"}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--quick", action="store_true", help="code slices of the long files (estimates for the rest)")
    p.add_argument("--skip-hf", action="store_true", help="mini only (no SmolLM2)")
    p.add_argument("--mixing", action=argparse.BooleanOptionalAction, default=True)
    p.add_argument("--adapt", action="store_true", help="section 2 with dynamic evaluation too (slow)")
    p.add_argument("--json", help="also write the figures to this JSON file")
    p.add_argument("--only", nargs="+", type=int, help="run only these sections (1-6)")
    args = p.parse_args()
    started = time.perf_counter()
    mini = llmkit.Client("mini", threads=args.threads)
    smol = None
    if not args.skip_hf:
        from llmkit.testing.smollm2 import fetch

        smol = llmkit.Client(f"hf:{fetch()}", threads=args.threads)
    say(f"threads {args.threads}, mixing {args.mixing}, {'quick' if args.quick else 'whole files'}")
    run = set(args.only or range(1, 7))
    if smol is not None and 1 in run:
        fresh_text(smol, args.mixing)
    if smol is not None and 2 in run:
        alice(smol, mini, args.quick, args.mixing, args.adapt)
    if 3 in run:
        round_trips(mini, None if args.quick else smol)  # --quick: SmolLM2's round trips are those of 1 and 2
    if 4 in run or 5 in run:
        throughput_and_lockstep(mini, smol, args.quick)
    if 6 in run:
        portability(mini, smol, args.threads)
    say(f"total {time.perf_counter() - started:.0f} s")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2, default=str))


if __name__ == "__main__":
    main()
