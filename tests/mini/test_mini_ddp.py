"""Multi-process training: two real ranks launched with torchrun (DDP over gloo on CPU)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch

from llmkit.mini.checkpoint import load_checkpoint
from llmkit.mini.engine import MiniEngine
from llmkit.mini.model import GPTConfig
from llmkit.mini.train import train

pytestmark = pytest.mark.slow

TINY = {"vocab_size": 320, "n_layer": 1, "n_head": 2, "n_embd": 32, "block_size": 32}
OPTIONS = {"batch_size": 4, "lr": 3e-3, "warmup": 2, "eval_every": 4, "checkpoint_every": 4, "progress": False,
           "seed": 7, "fim_rate": 0.3}

# Each rank trains, then writes its own final weights (only rank 0 writes the checkpoint),
# so the test can check that DDP kept the ranks' replicas identical.
DRIVER = textwrap.dedent("""
    import json, os, sys
    import torch
    from safetensors.torch import save_file
    import llmkit.mini.train as T
    from llmkit.mini.model import GPTConfig

    args = json.loads(sys.argv[1])
    models = []

    class RecordingGPT(T.GPT):
        def __init__(self, config):
            super().__init__(config)
            models.append(self)

    T.GPT = RecordingGPT
    config = GPTConfig(**args.pop("config")) if "config" in args else None
    result = T.train(args.pop("corpus"), args.pop("out"), model=config, **args)
    rank = os.environ["RANK"]
    if models:
        state = {k: v.detach().clone() for k, v in models[0].state_dict().items() if k != "lm_head.weight"}
        save_file(state, os.path.join(os.path.dirname(result.path), f"rank{rank}.safetensors"))
    print(f"rank {rank} world {os.environ['WORLD_SIZE']} steps {result.steps} tokens {result.tokens_seen} "
          f"val_loss {result.val_loss}", flush=True)
""")


def torchrun(*args: str) -> subprocess.CompletedProcess[str]:
    """`torchrun --standalone --nproc_per_node=2 ARGS...` (a free port; one thread per rank)."""
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", *args]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc


def test_two_ranks_train_save_and_resume(tmp_path: Path, corpus_dir: Path) -> None:
    out = tmp_path / "ddp"
    driver = tmp_path / "driver.py"
    driver.write_text(DRIVER, encoding="utf-8")
    proc = torchrun(str(driver), json.dumps({"corpus": [str(corpus_dir)], "out": str(out), "config": TINY,
                                             "max_steps": 8, **OPTIONS}))  # fmt: skip
    assert "rank 0 world 2 steps 8" in proc.stdout and "rank 1 world 2 steps 8" in proc.stdout

    # One checkpoint, written by rank 0, that loads and generates.
    assert [p.name for p in tmp_path.iterdir() if "ddp" in p.name] == ["ddp"]  # no temporary leftovers
    ckpt = load_checkpoint(out)
    meta = ckpt.metadata["training"]
    assert meta["step"] == 8 and meta["tokens_seen"] == 8 * 2 * 4 * 32  # steps x ranks x batch x block
    assert MiniEngine.load(out).generate("def ", max_tokens=5, temperature=0)[0].completion_tokens >= 1

    # DDP keeps the replicas identical, and rank 0's replica is what was saved.
    from safetensors.torch import load_file

    rank0, rank1 = load_file(tmp_path / "rank0.safetensors"), load_file(tmp_path / "rank1.safetensors")
    assert rank0.keys() == rank1.keys()
    for name in rank0:
        assert torch.equal(rank0[name], rank1[name]), name
        assert torch.equal(rank0[name], ckpt.model.state_dict()[name]), name

    # The loss went down (the mean over both ranks' batches is what is logged).
    state = json.loads((out / "trainer_state.json").read_text())
    losses = [h["loss"] for h in state["history"] if "loss" in h]
    assert len(losses) == 8 and losses[-1] < losses[0]
    assert sum("val_loss" in h for h in state["history"]) == 2

    # Each rank drew its own batches: two ranks with grad_accum=1 train like one process
    # with grad_accum=2 (same windows; equal up to the order of float additions).
    single = train([corpus_dir], tmp_path / "single", model=GPTConfig(**TINY), max_steps=8, grad_accum=2,
                   **OPTIONS)  # fmt: skip
    reference = load_checkpoint(single.path).model.state_dict()
    for name, value in ckpt.model.state_dict().items():
        torch.testing.assert_close(value, reference[name], rtol=1e-4, atol=1e-5)
    assert ckpt.tokenizer.to_str() == load_checkpoint(single.path).tokenizer.to_str()

    # Resume with the documented command line: continues from step 8 with the saved optimizer state.
    proc = torchrun("-m", "llmkit.cli", "train", str(corpus_dir), "-o", str(out), "--resume", "--steps", "4",  # 4 more
                    "--batch", "4", "--lr", "3e-3", "--warmup", "2", "--eval-every", "4", "--checkpoint-every", "4",
                    "--seed", "7", "--fim-rate", "0.3")  # fmt: skip
    assert "saved" in proc.stdout and "after 12 steps" in proc.stdout
    assert "step 12 loss" in proc.stderr  # rank 0's log line
    resumed = json.loads((out / "trainer_state.json").read_text())
    assert resumed["step"] == 12 and resumed["history"][:len(state["history"])] == state["history"]
    assert load_checkpoint(out).metadata["training"]["tokens_seen"] == 12 * 2 * 4 * 32
