"""In-process `hf:` against vLLM's CPU build, same machine, same model (SmolLM2-135M-Instruct).

    python benchmarks/hf_vs_vllm.py [--threads 2] [--tokens 64] [--rounds 2] [--skip-vllm] [--vllm-dtype float32]

1. vLLM (its own venv under ~/.cache/llmkit-test-engines/vllm; built by
   `python tests/serving_engines.py vllm`): started here with the same thread count, in
   bfloat16 where this CPU computes it natively and float32 where it does not (or
   `--vllm-dtype`), asked through llmkit's OpenAI client: 8 prompts at once (asyncio, 8
   in flight, best of `--rounds`), then one prompt streamed (decode tokens/s: after the
   first token). Stopped before llmkit runs. Without that venv the anchor is skipped and
   said so. Its answers' tokens and their agreement with llmkit's float32 answers are
   printed: an engine whose answers degenerate (vLLM 0.32's bfloat16 on an AMX CPU
   answered "the capital of France" in looping French) runs every answer to max_tokens,
   which fills its batch and flatters its batched tokens/s.
2. llmkit `hf:` in float32 (the default) and, where the CPU has it, bfloat16
   (`dtype="bfloat16"`): `chat_batch` of the 8 prompts (continuous batching) and the same
   8 one by one, interleaved for `--rounds` rounds; one streamed. Twice: the 8 prompts of
   hf_batch_throughput.PROMPTS, whose answers end at their own lengths, and LONG_PROMPTS,
   whose answers all run to max_tokens (8 prompts x 64 tokens). A batch runs as many
   steps as its longest answer, so batch/one-by-one is at most the answers' tokens over
   the longest one's (printed as the ceiling).
3. Time to the first streamed token (float32): `model.generate` in a worker thread (the
   stream path before) against llmkit's own loop, interleaved.
4. Quality of bfloat16 against float32 (where bfloat16 ran): greedy answers identical,
   and the mean and largest per-token log-probability difference over float32's answers;
   and, per dtype, batched answers identical to one-by-one ones.

Greedy, max_tokens 64; tokens are the generated tokens each side reports.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import sys
import time
from pathlib import Path

from hf_batch_throughput import LONG_PROMPTS, PROMPTS
from hf_common import parser

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))


def _rate(responses: list, seconds: float) -> float:
    return sum(r.usage.output_tokens for r in responses) / seconds


def _stream_rate(client, prompt: str, tokens: int) -> float:
    """Decode tokens/s of one streamed answer: chunks after the first, over their time."""
    stamps = []
    with client.stream(prompt, max_tokens=tokens, temperature=0) as stream:
        for event in stream:
            if event.text:
                stamps.append(time.perf_counter())
        used = stream.response.usage.output_tokens
    return (used - 1) / (stamps[-1] - stamps[0]) if len(stamps) > 1 else float("nan")


def _first_token_seconds(client, prompt: str) -> float:
    start = time.perf_counter()
    with client.stream(prompt, max_tokens=8, temperature=0) as stream:
        for event in stream:
            if event.text:
                return time.perf_counter() - start
    return float("nan")


def first_token(client) -> tuple[float, float]:
    """Median time to the first streamed text: through `model.generate` in a worker thread
    (the path before llmkit's own loop, still used with a grammar) and through the loop."""
    lm = client.backend.engine.lm
    times: dict[bool, list[float]] = {False: [], True: []}
    for _ in range(5):
        for loop in (False, True):
            lm.mergeable = None if loop else False
            times[loop].append(_first_token_seconds(client, PROMPTS[1]))
    lm.mergeable = None
    return statistics.median(times[False]), statistics.median(times[True])


def vllm_figures(threads: int, tokens: int, dtype: str, rounds: int) -> dict | None:
    from serving_engines import Engine, EngineUnavailable, engines_dir, free_port, smollm2_dir, vllm_env

    exe = engines_dir() / "vllm" / "bin" / "vllm"
    if not exe.is_file():
        print(f"vLLM: skipped (no {exe}; `python tests/serving_engines.py vllm` builds it)")
        return None
    import llmkit

    port = free_port()
    command = [str(exe), "serve", str(smollm2_dir()), "--host", "127.0.0.1", "--port", str(port), "--enforce-eager",
               "--max-model-len", "2048", "--dtype", dtype]  # fmt: skip
    env = {**vllm_env(), "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}
    try:
        with Engine("vllm serve", command, port, env=env, ready_path="/health", timeout=300,
                    log=Path("/tmp/llmkit-bench-vllm.log")) as server:  # fmt: skip
            client = llmkit.Client(f"openai:{smollm2_dir()}", base_url=server.base_url, timeout=600)
            client.chat(PROMPTS[0], max_tokens=4, temperature=0)  # warm-up

            async def together(prompts: list[str]) -> list:
                return await asyncio.gather(*(client.achat(p, max_tokens=tokens, temperature=0) for p in prompts))

            figures: dict = {}
            for name, prompts in (("batched", PROMPTS), ("batched_long", LONG_PROMPTS)):
                runs = []
                for _ in range(rounds):
                    start = time.perf_counter()
                    answers = asyncio.run(together(prompts))
                    runs.append(_rate(answers, time.perf_counter() - start))
                figures[name], figures[f"{name}_runs"], figures[f"{name}_answers"] = max(runs), runs, answers
            figures["single"] = statistics.median(_stream_rate(client, PROMPTS[1], tokens) for _ in range(2))
            return figures
    except EngineUnavailable as exc:
        print(f"vLLM: skipped ({str(exc).splitlines()[0]})")
        return None


def _batch_against_one_by_one(client, prompts: list[str], options: dict, rounds: int) -> dict:
    """Batched and one-by-one tokens/s of `prompts`, interleaved `rounds` times (best of each)."""
    batched_rates, seq_rates, ratios = [], [], []
    for _ in range(rounds):
        start = time.perf_counter()
        batched = client.chat_batch(prompts, **options)
        batched_rates.append(_rate(batched, time.perf_counter() - start))
        start = time.perf_counter()
        one_by_one = [client.chat(p, **options) for p in prompts]
        seq_rates.append(_rate(one_by_one, time.perf_counter() - start))
        ratios.append(batched_rates[-1] / seq_rates[-1])
    lengths = [r.usage.output_tokens for r in batched]
    return {"batched": max(batched_rates), "one_by_one": max(seq_rates), "ratios": ratios, "answers": one_by_one,
            "same": sum(a.text == b.text for a, b in zip(batched, one_by_one, strict=True)),
            "ceiling": sum(lengths) / max(lengths), "tokens": sum(lengths)}  # fmt: skip


def llmkit_figures(model: str, dtype: str, tokens: int, threads: int, rounds: int) -> tuple[dict, object]:
    import llmkit

    client = llmkit.Client(model, dtype=dtype, threads=threads, batch_size=len(PROMPTS))
    options = {"max_tokens": tokens, "temperature": 0}
    client.chat(PROMPTS[0], max_tokens=4, temperature=0)  # warm-up
    figures = {"mixed": _batch_against_one_by_one(client, PROMPTS, options, rounds),
               "long": _batch_against_one_by_one(client, LONG_PROMPTS, options, rounds),
               "single": statistics.median(_stream_rate(client, PROMPTS[1], tokens) for _ in range(2))}  # fmt: skip
    return figures, client


def main() -> None:
    p = parser(__doc__)
    p.add_argument("--tokens", type=int, default=64)
    p.add_argument("--rounds", type=int, default=2, help="interleaved batched / one-by-one rounds per prompt set")
    p.add_argument("--skip-vllm", action="store_true")
    p.add_argument("--vllm-dtype", choices=["bfloat16", "float32"], help="default: bfloat16 where native, else float32")
    args = p.parse_args()
    if args.rounds < 1 or args.tokens < 1:
        p.error("--rounds and --tokens must be at least 1")
    threads = args.threads or os.cpu_count() or 1
    import torch
    from hf_common import model_id

    from llmkit.cpu import cpu_supports

    native_bf16 = cpu_supports(torch.bfloat16)
    anchor_dtype = args.vllm_dtype or ("bfloat16" if native_bf16 else "float32")
    anchor = None if args.skip_vllm else vllm_figures(threads, args.tokens, anchor_dtype, args.rounds)
    model = model_id(args)
    runs = {"float32": llmkit_figures(model, "float32", args.tokens, threads, args.rounds)}
    if native_bf16:
        runs["bfloat16"] = llmkit_figures(model, "bfloat16", args.tokens, threads, args.rounds)
    ttft_generate, ttft_loop = first_token(runs["float32"][1])

    n = len(PROMPTS)
    print(f"SmolLM2-135M-Instruct, {n} prompts x max {args.tokens} tokens, greedy, {threads} threads, "
          f"CPU {torch.backends.cpu.get_cpu_capability()}")
    print(runs["float32"][1].backend.runtime())
    if not native_bf16:
        print("bfloat16: skipped (this CPU has no native bfloat16; vLLM runs in float32 too)")
    print(f"{'':26}{'batched tok/s':>14}{'long batched':>14}{'single-stream tok/s':>21}")
    if anchor:
        print(f"{f'vLLM CPU ({anchor_dtype})':26}{anchor['batched']:14.1f}{anchor['batched_long']:14.1f}"
              f"{anchor['single']:21.1f}")  # fmt: skip
    for dtype, (f, _) in runs.items():
        print(f"{f'llmkit hf: {dtype}':26}{f['mixed']['batched']:14.1f}{f['long']['batched']:14.1f}{f['single']:21.1f}")
    for dtype, (f, _) in runs.items():
        for name, what in (("mixed", "answers of their own lengths"), ("long", "every answer 64 tokens")):
            g = f[name]
            ratios = ", ".join(f"{r:.2f}" for r in g["ratios"])
            print(f"llmkit {dtype}, batch of {n} vs one by one, {what}: {g['batched']:.1f} vs {g['one_by_one']:.1f} "
                  f"tok/s, {g['batched'] / g['one_by_one']:.2f}x (rounds {ratios}; target >= 5x; ceiling "
                  f"{g['ceiling']:.2f}x: {g['tokens']} tokens; {g['same']}/{n} batched = one-by-one)")  # fmt: skip
    if anchor:
        for name, prompts_of in (("batched", "mixed"), ("batched_long", "long")):
            theirs, ours = anchor[f"{name}_answers"], runs["float32"][0][prompts_of]["answers"]
            same = sum(a.text.strip() == b.text.strip() for a, b in zip(theirs, ours, strict=True))
            runs_text = ", ".join(f"{r:.1f}" for r in anchor[f"{name}_runs"])
            print(f"vLLM {anchor_dtype}, {prompts_of} set: {sum(a.usage.output_tokens for a in theirs)} tokens "
                  f"(llmkit float32: {sum(a.usage.output_tokens for a in ours)}); {same}/{n} answers = llmkit "
                  f"float32's; rounds {runs_text} tok/s")  # fmt: skip
        for dtype, (f, _) in runs.items():
            if dtype == anchor_dtype or dtype == "bfloat16":
                print(f"llmkit {dtype} / vLLM {anchor_dtype}: batched {f['mixed']['batched'] / anchor['batched']:.2f}x, "
                      f"long batched {f['long']['batched'] / anchor['batched_long']:.2f}x, "
                      f"single stream {f['single'] / anchor['single']:.2f}x   (target >= 1.0)")  # fmt: skip
    if "bfloat16" in runs:
        (f32, client32), (f16, client16) = runs["float32"], runs["bfloat16"]
        answers32, answers16 = f32["mixed"]["answers"], f16["mixed"]["answers"]
        agree = sum(a.text == b.text for a, b in zip(answers32, answers16, strict=True))
        diffs = []
        for prompt, answer in zip(PROMPTS, answers32, strict=True):
            a = client32.logprobs(answer.text, context=prompt)
            b = client16.logprobs(answer.text, context=prompt)
            diffs += [abs(x.logprob - y.logprob) for x, y in zip(a.tokens, b.tokens, strict=True)]
        print(f"bfloat16 vs float32: {agree}/{n} greedy answers identical; per-token log-prob difference mean "
              f"{statistics.mean(diffs):.4f}, max {max(diffs):.4f} nats over {len(diffs)} tokens")  # fmt: skip
    print(f"time to first streamed token, float32: generate in a thread {ttft_generate * 1000:.1f} ms, llmkit's loop "
          f"{ttft_loop * 1000:.1f} ms ({ttft_loop / ttft_generate:.2f}x; target <= 1.0)")  # fmt: skip


if __name__ == "__main__":
    main()
