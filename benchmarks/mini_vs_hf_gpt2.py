"""Generation speed: llmkit's MiniEngine vs Hugging Face GPT2LMHeadModel of the same size.

    python benchmarks/mini_vs_hf_gpt2.py [--tokens 200] [--threads 1] [--quick]

Both models get the same dimensions (n_layer, n_head, n_embd, vocabulary, context
window: the shipped config, 6 x 256, 4 heads, 8192 tokens, 256 positions), random
weights, the same prompt token ids, batch 1, greedy decoding and the same number of new
tokens. Hugging Face runs `generate(use_cache=True, do_sample=False)` with its KV cache;
llmkit runs `MiniEngine.generate(..., temperature=0)` on a checkpoint saved and loaded
through the real code path (the full engine: token banning, sampling, text assembly).
With random weights either model may pick <|endoftext|> early, so both are kept from
stopping (HF: no eos id and min_new_tokens; llmkit: the end-of-text token is banned).
The two run in turn, `--repeats` times each. Prints tokens per second and
`ratio = llmkit / hf` (target >= 1.5).
Needs `transformers` (the `hf` extra).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import torch

from llmkit.mini.checkpoint import save_checkpoint
from llmkit.mini.engine import MiniEngine
from llmkit.mini.model import GPT, GPTConfig
from llmkit.mini.tokenizer import train_tokenizer


def median_times(fns, repeats: int) -> list[float]:
    """Median seconds of each function, run in turn (interleaved, so that a noisy
    neighbour on a shared machine slows both sides alike)."""
    times: list[list[float]] = [[] for _ in fns]
    for _ in range(repeats):
        for fn, out in zip(fns, times, strict=True):
            start = time.perf_counter()
            fn()
            out.append(time.perf_counter() - start)
    return [statistics.median(t) for t in times]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tokens", type=int, default=200, help="new tokens per generation")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--quick", action="store_true", help="smoke run: 32 tokens, one repeat")
    args = parser.parse_args()
    if args.quick:
        args.tokens, args.repeats = 32, 1
    torch.set_num_threads(args.threads)
    from transformers import GPT2Config, GPT2LMHeadModel
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()  # its padding advice does not apply to one unpadded row

    # A real tokenizer of the shipped vocabulary size, trained on some Python source.
    text = "".join(p.read_text(encoding="utf-8") for p in sorted(Path(torch.__file__).parent.glob("*.py"))[:40])
    tokenizer = train_tokenizer([text], 8192)
    config = GPTConfig(vocab_size=tokenizer.vocab_size, n_layer=6, n_head=4, n_embd=256, block_size=256)
    torch.manual_seed(0)
    model = GPT(config)
    prompt = "def main(argv):\n    parser = argparse.ArgumentParser()\n"
    with tempfile.TemporaryDirectory() as tmp:
        save_checkpoint(Path(tmp) / "m", model, tokenizer)
        engine = MiniEngine.load(Path(tmp) / "m")
    engine._banned = torch.cat([engine._banned, torch.tensor([tokenizer.eot_id])])  # see the docstring
    ids = tokenizer.encode(prompt)
    n = args.tokens

    hf_config = GPT2Config(vocab_size=config.vocab_size, n_positions=config.block_size, n_embd=config.n_embd,
                           n_layer=config.n_layer, n_head=config.n_head, bos_token_id=tokenizer.eot_id,
                           eos_token_id=None, pad_token_id=tokenizer.eot_id)  # fmt: skip
    hf = GPT2LMHeadModel(hf_config).eval()
    # llmkit conditions prompts on a leading <|endoftext|>: give HF the same input ids.
    hf_input = torch.tensor([[tokenizer.eot_id, *ids]])
    hf_kwargs = {"max_new_tokens": n, "min_new_tokens": n, "do_sample": False, "use_cache": True,
                 "eos_token_id": None, "pad_token_id": tokenizer.eot_id}  # fmt: skip

    def run_hf() -> None:
        with torch.inference_mode():
            out = hf.generate(hf_input, attention_mask=torch.ones_like(hf_input), **hf_kwargs)
        assert out.shape[1] - hf_input.shape[1] == n, out.shape

    def run_llmkit() -> None:
        g = engine.generate(ids, max_tokens=n, temperature=0, token_healing=False)[0]
        assert g.completion_tokens == n, g.completion_tokens

    print(f"llmkit: {model.num_parameters() / 1e6:.2f}M parameters; HF GPT-2: {hf.num_parameters() / 1e6:.2f}M "
          f"(it adds a learned position table and biases)")
    print(f"{config.n_layer} layers, {config.n_head} heads, {config.n_embd} wide, vocabulary {config.vocab_size}, "
          f"{config.block_size} positions; prompt {len(hf_input[0])} tokens, {n} new tokens, greedy, "
          f"batch 1, {args.threads} thread(s)")
    run_hf()  # warm up both
    run_llmkit()
    t_hf, t_llmkit = median_times([run_hf, run_llmkit], args.repeats)
    print(f"HF GPT2LMHeadModel.generate: {n / t_hf:8.1f} tokens/s")
    print(f"llmkit MiniEngine.generate:  {n / t_llmkit:8.1f} tokens/s")
    print(f"ratio = {t_hf / t_llmkit:.2f}  (llmkit / HF tokens per second, target >= 1.5)")


if __name__ == "__main__":
    main()
