"""In-process `hf:` against vLLM's CPU build, same machine, same model (SmolLM2-135M-Instruct).

    python benchmarks/hf_vs_vllm.py [--threads 2] [--tokens 64] [--skip-vllm]

1. vLLM (bf16, its own venv under ~/.cache/llmkit-test-engines/vllm; built by
   `python tests/serving_engines.py vllm`): started here with the same thread count,
   asked through llmkit's OpenAI client: 8 prompts at once (asyncio, 8 in flight), then
   one prompt streamed (decode tokens/s: after the first token). Stopped before llmkit runs.
   Without that venv the anchor is skipped and said so.
2. llmkit `hf:` in float32 (the default) and bfloat16 (`dtype="bfloat16"`): `chat_batch`
   of the 8 prompts (continuous batching), the same 8 one by one, one streamed.
3. Time to the first streamed token (float32): `model.generate` in a worker thread (the
   stream path before) against llmkit's own loop, interleaved.
4. Quality of bfloat16 against float32: greedy answers identical, and the mean and
   largest per-token log-probability difference over float32's answers; and, per dtype,
   batched answers identical to one-by-one ones.

Greedy, max_tokens 64 (answers end earlier at the end-of-turn token); tokens are the
generated tokens each side reports.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import sys
import time
from pathlib import Path

from hf_batch_throughput import PROMPTS
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


def vllm_figures(threads: int, tokens: int) -> dict[str, float] | None:
    from serving_engines import Engine, EngineUnavailable, engines_dir, free_port, smollm2_dir, vllm_env

    exe = engines_dir() / "vllm" / "bin" / "vllm"
    if not exe.is_file():
        print(f"vLLM: skipped (no {exe}; `python tests/serving_engines.py vllm` builds it)")
        return None
    import llmkit

    port = free_port()
    command = [str(exe), "serve", str(smollm2_dir()), "--host", "127.0.0.1", "--port", str(port), "--enforce-eager",
               "--max-model-len", "2048", "--dtype", "bfloat16"]  # fmt: skip
    env = {**vllm_env(), "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}
    try:
        with Engine("vllm serve", command, port, env=env, ready_path="/health", timeout=300,
                    log=Path("/tmp/llmkit-bench-vllm.log")) as server:  # fmt: skip
            client = llmkit.Client(f"openai:{smollm2_dir()}", base_url=server.base_url, timeout=600)
            client.chat(PROMPTS[0], max_tokens=4, temperature=0)  # warm-up

            async def together() -> list:
                return await asyncio.gather(*(client.achat(p, max_tokens=tokens, temperature=0) for p in PROMPTS))

            runs = []
            for _ in range(2):
                start = time.perf_counter()
                answers = asyncio.run(together())
                runs.append(_rate(answers, time.perf_counter() - start))
            single = statistics.median(_stream_rate(client, PROMPTS[1], tokens) for _ in range(2))
            return {"batched": max(runs), "single": single}
    except EngineUnavailable as exc:
        print(f"vLLM: skipped ({str(exc).splitlines()[0]})")
        return None


def llmkit_figures(model: str, dtype: str, tokens: int, threads: int) -> tuple[dict[str, float], list, object]:
    import llmkit

    client = llmkit.Client(model, dtype=dtype, threads=threads, batch_size=len(PROMPTS))
    options = {"max_tokens": tokens, "temperature": 0}
    client.chat(PROMPTS[0], max_tokens=4, temperature=0)  # warm-up
    runs, batched = [], []
    for _ in range(2):
        start = time.perf_counter()
        batched = client.chat_batch(PROMPTS, **options)
        runs.append(_rate(batched, time.perf_counter() - start))
    start = time.perf_counter()
    one_by_one = [client.chat(p, **options) for p in PROMPTS]
    seq = _rate(one_by_one, time.perf_counter() - start)
    single = statistics.median(_stream_rate(client, PROMPTS[1], tokens) for _ in range(2))
    same = sum(a.text == b.text for a, b in zip(batched, one_by_one, strict=True))
    lengths = [r.usage.output_tokens for r in batched]
    figures = {"batched": max(runs), "one_by_one": seq, "single": single, "same": same,
               "ceiling": sum(lengths) / max(lengths)}  # fmt: skip
    return figures, one_by_one, client


def main() -> None:
    p = parser(__doc__)
    p.add_argument("--tokens", type=int, default=64)
    p.add_argument("--skip-vllm", action="store_true")
    args = p.parse_args()
    threads = args.threads or os.cpu_count() or 1
    from hf_common import model_id

    anchor = None if args.skip_vllm else vllm_figures(threads, args.tokens)
    model = model_id(args)
    fp32, answers32, client32 = llmkit_figures(model, "float32", args.tokens, threads)
    bf16, answers16, client16 = llmkit_figures(model, "bfloat16", args.tokens, threads)
    ttft_generate, ttft_loop = first_token(client32)
    agree = sum(a.text == b.text for a, b in zip(answers32, answers16, strict=True))
    diffs = []
    for prompt, answer in zip(PROMPTS, answers32, strict=True):
        a = client32.logprobs(answer.text, context=prompt)
        b = client16.logprobs(answer.text, context=prompt)
        diffs += [abs(x.logprob - y.logprob) for x, y in zip(a.tokens, b.tokens, strict=True)]

    n = len(PROMPTS)
    print(f"SmolLM2-135M-Instruct, {n} prompts x max {args.tokens} tokens, greedy, {threads} threads")
    print(f"{'':24}{'batched tok/s':>14}{'single-stream tok/s':>21}{'one-by-one tok/s':>18}{'batch/1-by-1':>14}")
    if anchor:
        print(f"{'vLLM CPU (bf16)':24}{anchor['batched']:14.1f}{anchor['single']:21.1f}")
    for name, f in (("llmkit hf: float32", fp32), ("llmkit hf: bfloat16", bf16)):
        print(f"{name:24}{f['batched']:14.1f}{f['single']:21.1f}{f['one_by_one']:18.1f}"
              f"{f['batched'] / f['one_by_one']:13.2f}x   ({f['same']}/{n} batched = one-by-one)")  # fmt: skip
    if anchor:
        for name, f in (("float32", fp32), ("bfloat16", bf16)):
            print(f"llmkit {name} / vLLM: batched {f['batched'] / anchor['batched']:.2f}x, "
                  f"single stream {f['single'] / anchor['single']:.2f}x   (target >= 1.0)")  # fmt: skip
    print(f"bfloat16 vs float32: {agree}/{n} greedy answers identical; per-token log-prob difference mean "
          f"{statistics.mean(diffs):.4f}, max {max(diffs):.4f} nats over {len(diffs)} tokens")  # fmt: skip
    print(f"batch of 8 vs one by one: target >= 5x; ceiling for these answers {bf16['ceiling']:.2f}x (their tokens / "
          "the longest one's: the batch runs as many steps as the longest answer has tokens, one by one runs them all)")
    print(f"time to first streamed token, float32: generate in a thread {ttft_generate * 1000:.1f} ms, llmkit's loop "
          f"{ttft_loop * 1000:.1f} ms ({ttft_loop / ttft_generate:.2f}x; target <= 1.0)")  # fmt: skip


if __name__ == "__main__":
    main()
