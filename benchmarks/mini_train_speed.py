"""Training speed: llmkit's `train()` vs a plain nanoGPT-style training loop.

    python benchmarks/mini_train_speed.py [--steps 10] [--rounds 2] [--threads 2] [--quick] [--quality 300]

Same configuration on both sides: 6 layers, 256 wide, 4 heads, 256-token context,
vocabulary 8192 (the shipped model's), batch 16, AdamW (lr 1e-3, betas 0.9/0.95, weight
decay 0.1 on matrices), gradient clipping at 1.0, fp32 on CPU.

  * anchor: nanoGPT's model (learned position table, tied embedding, no biases) and its
    training loop (`get_batch` with torch.randint + torch.stack, forward, backward,
    clip, step, zero_grad), written out below;
  * llmkit: `llmkit.mini.train.train()` itself on tinyshakespeare, timed from the
    `on_step` callback between steps (tokenizer training, data preparation and the final
    evaluation and save are outside the timed span).

A third line runs the same plain loop on llmkit's GPT class, which separates the
model's cost (rotary embeddings instead of a position table) from the trainer's.
Prints tokens per second and `ratio = llmkit / nanoGPT loop` (target >= 1.1). With
amp="auto" (the default) llmkit trains under bf16 autocast on a CPU with native bf16;
a fourth line then shows llmkit in float32 (`--amp off`), as the anchor runs. With
`--compile`, llmkit trains with torch.compile (`llmkit train --compile`); the anchor stays
nanoGPT's eager loop, and the compile time falls in the untimed warm-up steps.
"""

from __future__ import annotations

import argparse
import math
import tempfile
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from llmkit.mini.device import use_amp
from llmkit.mini.model import GPT, GPTConfig
from llmkit.mini.train import StepInfo, train

DATA = Path(__file__).resolve().parents[1] / "data" / "tinyshakespeare.txt"


# --- nanoGPT (Karpathy, MIT licence), condensed: model.py's GPT with bias=False ---------

class NanoAttention(nn.Module):
    def __init__(self, c: GPTConfig) -> None:
        super().__init__()
        self.c_attn = nn.Linear(c.n_embd, 3 * c.n_embd, bias=False)
        self.c_proj = nn.Linear(c.n_embd, c.n_embd, bias=False)
        self.n_head = c.n_head

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, t, c = x.size()
        q, k, v = self.c_attn(x).split(c, dim=2)
        q, k, v = (z.view(b, t, self.n_head, c // self.n_head).transpose(1, 2) for z in (q, k, v))
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        return self.c_proj(y.transpose(1, 2).contiguous().view(b, t, c))


class NanoBlock(nn.Module):
    def __init__(self, c: GPTConfig) -> None:
        super().__init__()
        self.ln_1 = nn.LayerNorm(c.n_embd, bias=False)
        self.attn = NanoAttention(c)
        self.ln_2 = nn.LayerNorm(c.n_embd, bias=False)
        self.c_fc = nn.Linear(c.n_embd, 4 * c.n_embd, bias=False)
        self.c_proj = nn.Linear(4 * c.n_embd, c.n_embd, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.ln_1(x))
        return x + self.c_proj(F.gelu(self.c_fc(self.ln_2(x))))


class NanoGPT(nn.Module):
    def __init__(self, c: GPTConfig) -> None:
        super().__init__()
        self.wte = nn.Embedding(c.vocab_size, c.n_embd)
        self.wpe = nn.Embedding(c.block_size, c.n_embd)
        self.h = nn.ModuleList(NanoBlock(c) for _ in range(c.n_layer))
        self.ln_f = nn.LayerNorm(c.n_embd, bias=False)
        self.lm_head = nn.Linear(c.n_embd, c.vocab_size, bias=False)
        self.wte.weight = self.lm_head.weight
        for name, p in self.named_parameters():
            nn.init.normal_(p, 0.0, 0.02 / math.sqrt(2 * c.n_layer) if name.endswith("c_proj.weight") else 0.02)

    def forward(self, idx: torch.Tensor, targets: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        pos = torch.arange(idx.size(1), dtype=torch.long)
        x = self.wte(idx) + self.wpe(pos)
        for block in self.h:
            x = block(x)
        logits = self.lm_head(self.ln_f(x))
        return logits, F.cross_entropy(logits.view(-1, logits.size(-1)), targets.view(-1), ignore_index=-1)


def plain_loop(model: nn.Module, data: torch.Tensor, *, block: int, batch: int, warm: int, steps: int) -> float:
    """nanoGPT's train.py loop on CPU; returns tokens per second over `steps` after `warm`."""
    params = [p for p in model.parameters() if p.requires_grad]
    groups = [{"params": [p for p in params if p.dim() >= 2], "weight_decay": 0.1},
              {"params": [p for p in params if p.dim() < 2], "weight_decay": 0.0}]
    optimizer = torch.optim.AdamW(groups, lr=1e-3, betas=(0.9, 0.95))

    def get_batch() -> tuple[torch.Tensor, torch.Tensor]:
        ix = torch.randint(len(data) - block, (batch,))
        x = torch.stack([data[i:i + block] for i in ix])
        y = torch.stack([data[i + 1:i + 1 + block] for i in ix])
        return x, y

    model.train()
    start = 0.0
    for it in range(warm + steps):
        if it == warm:
            start = time.perf_counter()
        x, y = get_batch()
        _, loss = model(x, y)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
    return steps * batch * block / (time.perf_counter() - start)


def llmkit_train(corpus: Path, out: Path, config: GPTConfig, *, batch: int, warm: int, steps: int,
                 compile: bool = False, amp: str = "auto") -> tuple[float, GPTConfig]:
    marks: dict[int, float] = {}

    def on_step(info: StepInfo) -> None:
        marks[info.step] = time.perf_counter()

    total = warm + steps + 1  # the last step also evaluates: it is left out of the timing
    train([corpus], out, model=config, max_steps=total, batch_size=batch, lr=1e-3, warmup=10, eval_every=10**9,
          checkpoint_every=10**9, fim_rate=0.0, eval_windows=1, progress=False, on_step=on_step, compile=compile, amp=amp)  # fmt: skip
    from llmkit.mini.checkpoint import read_config

    elapsed = marks[total - 1] - marks[warm]
    return (total - 1 - warm) * batch * config.block_size / elapsed, GPTConfig.from_dict(read_config(out)["model"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=10, help="timed optimizer steps per side and round")
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds; the best of each side counts")
    parser.add_argument("--warm", type=int, default=3, help="untimed steps first")
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--corpus", type=Path, default=DATA)
    parser.add_argument("--quick", action="store_true", help="smoke run: batch 4, 1 + 2 steps, 1 thread")
    parser.add_argument("--compile", action="store_true",
                        help="llmkit trains with torch.compile (its compile time falls in the untimed warm-up steps)")
    parser.add_argument("--quality", type=int, default=0, metavar="STEPS",
                        help="also train a small model STEPS steps in float32 and under bf16 autocast and compare "
                             "validation bits per byte (300: about 2 minutes)")
    args = parser.parse_args()
    if args.quick:
        args.batch, args.warm, args.steps, args.threads, args.rounds = 4, 1, 2, 1, 1
    torch.set_num_threads(args.threads)
    config = GPTConfig(vocab_size=8192, n_layer=6, n_head=4, n_embd=256, block_size=256)
    print(f"{config.n_layer} layers, {config.n_embd} wide, {config.n_head} heads, context {config.block_size}, "
          f"batch {args.batch}, {args.steps} timed steps after {args.warm}, best of {args.rounds} round(s), "
          f"{args.threads} thread(s)")
    data = torch.randint(0, config.vocab_size, (1_000_000,))
    amp = use_amp("auto", torch.device("cpu"))
    rates: dict[str, list[float]] = {"llmkit": [], "fp32": [], "nano": [], "same": []}
    for _ in range(args.rounds):  # alternate the sides so a noisy neighbour hits both alike; keep each best
        for key, mode in (("llmkit", "auto"), ("fp32", "off")) if amp else (("llmkit", "auto"),):
            with tempfile.TemporaryDirectory() as tmp:
                torch.manual_seed(0)
                rate, config = llmkit_train(args.corpus, Path(tmp) / "m", config, batch=args.batch, warm=args.warm,
                                            steps=args.steps, compile=args.compile, amp=mode)  # fmt: skip
                rates[key].append(rate)
        for key, cls in (("nano", NanoGPT), ("same", GPT)):
            torch.manual_seed(0)
            rates[key].append(plain_loop(cls(config), data, block=config.block_size, batch=args.batch,
                                         warm=args.warm, steps=args.steps))  # fmt: skip
    llmkit_rate, nano_rate, same_model_rate = (max(rates[k]) for k in ("llmkit", "nano", "same"))
    print(f"nanoGPT model + loop (anchor):   {nano_rate:9.0f} tokens/s")
    label = "llmkit train()" + (" --compile" if args.compile else "")
    how = "bf16 autocast: this CPU has native bf16" if amp else "float32: this CPU has no native bf16"
    print(f"{label + ':':<33}{llmkit_rate:9.0f} tokens/s  (amp=auto: {how})")
    fp32_rate = max(rates["fp32"]) if amp else llmkit_rate  # the trainer's own cost, in float32 like the anchor
    if amp:
        print(f"{label + ' --amp off:':<33}{fp32_rate:9.0f} tokens/s  (float32 like the anchor: "
              f"{fp32_rate / nano_rate:.2f}x the anchor)")
    print(f"plain loop on llmkit's GPT:      {same_model_rate:9.0f} tokens/s  "
          f"(llmkit train() in float32 / this: {fp32_rate / same_model_rate:.2f}x; this / anchor, the model alone: "
          f"{same_model_rate / nano_rate:.2f}x)")
    print(f"ratio = {llmkit_rate / nano_rate:.2f}  (llmkit train() / nanoGPT loop tokens per second, target >= 1.1)")
    if args.quality and amp:
        quality(args.corpus, args.quality)


def quality(corpus: Path, steps: int) -> None:
    """What bf16 autocast costs in quality: the same run (4 x 128, context 128, batch 16,
    seed 0) in float32 and under autocast, validation bits per byte after `steps` steps."""
    config = GPTConfig(vocab_size=2048, n_layer=4, n_head=4, n_embd=128, block_size=128)
    found = {}
    for mode in ("off", "on"):
        with tempfile.TemporaryDirectory() as tmp:
            torch.manual_seed(0)
            result = train([corpus], Path(tmp) / "m", model=config, max_steps=steps, batch_size=16, lr=2e-3,
                           warmup=20, eval_every=10**9, checkpoint_every=10**9, fim_rate=0.0, eval_windows=20,
                           progress=False, amp=mode)  # fmt: skip
            found[mode] = (result.val_bpb or float("nan"), result.elapsed)
    (fp32, t32), (bf16, t16) = found["off"], found["on"]
    print(f"quality after {steps} steps (4 x 128 model): validation {fp32:.4f} bits/byte in float32, {bf16:.4f} "
          f"under bf16 autocast ({(bf16 / fp32 - 1) * 100:+.2f}%); {t32:.0f} s vs {t16:.0f} s")


if __name__ == "__main__":
    main()
