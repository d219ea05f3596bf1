"""Training on a GPU, tested on the CPU: scripts/train_gpu.py end to end (in a process where
pydantic, platformdirs, packaging, constriction and llguidance cannot be imported, as on
the GPU machine), sharded checkpoints, the device/amp/compile settings, and the
vectorised training stream against the plain reference algorithm."""

from __future__ import annotations

import argparse
import io
import json
import random
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest
import torch

from llmkit.cpu import cpu_supports
from llmkit.errors import CheckpointError, ConfigurationError
from llmkit.mini.checkpoint import INDEX, WEIGHTS, is_checkpoint, load_checkpoint, save_checkpoint, weight_files
from llmkit.mini.corpus import Corpus, Document
from llmkit.mini.data import TrainData, fim_ids, split_pieces
from llmkit.mini.device import resolve_device, use_amp
from llmkit.mini.distributed import Dist
from llmkit.mini.engine import MiniEngine
from llmkit.mini.model import GPT, GPTConfig
from llmkit.mini.tokenizer import MiniTokenizer, train_tokenizer
from llmkit.mini.train import Trainer
from llmkit.mini.train_config import TrainConfig, add_flags, from_flags

ROOT = Path(__file__).resolve().parents[1]
BLOCKED = ["pydantic", "platformdirs", "packaging", "constriction", "llguidance"]
# Runs a script with imports of BLOCKED failing, whatever is installed.
BLOCKER = """
import runpy, sys
BLOCKED = set(sys.argv[1].split(","))
class Block:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BLOCKED:
            raise ImportError("blocked (not on the GPU machine): " + name)
for name in list(sys.modules):
    if name.split(".")[0] in BLOCKED:
        del sys.modules[name]
sys.meta_path.insert(0, Block())
script = sys.argv[2]
sys.argv = sys.argv[2:]
runpy.run_path(script, run_name="__main__")
"""


def code(seed: int, n: int) -> str:
    rng = random.Random(seed)
    return "".join(f"def f{i}(x):\n    return x * {rng.randint(1, 9)} + {rng.randint(1, 9)}\n\n" for i in range(n))


def make_archive(path: Path) -> Path:
    """A tiny code-corpus .tar.xz in the layout of llmkit.mini.code_corpus (manifest first)."""
    files = {f"train/pkg{p}/mod{i}.py": code(10 * p + i, 30) for p in range(2) for i in range(3)}
    files |= {f"heldout/other/mod{i}.py": code(100 + i, 10) for i in range(2)}
    manifest = {"format": 1, "packages": [
        {"name": "pkg0", "version": "1", "license": "MIT", "split": "train", "files": 3, "bytes": 1},
        {"name": "pkg1", "version": "1", "license": "MIT", "split": "train", "files": 3, "bytes": 1},
        {"name": "other", "version": "1", "license": "MIT", "split": "heldout", "files": 2, "bytes": 1}]}
    with tarfile.open(path, "w:xz") as tar:
        for name, text in [("MANIFEST.json", json.dumps(manifest)), *files.items()]:
            data = text.encode()
            info = tarfile.TarInfo(f"code-corpus/{name}")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


@pytest.fixture(scope="module")
def tok() -> MiniTokenizer:
    return train_tokenizer([code(i, 40) for i in range(4)], 400)


def tiny(tok: MiniTokenizer) -> GPT:
    torch.manual_seed(0)
    return GPT(GPTConfig(vocab_size=tok.vocab_size, n_layer=2, n_head=2, n_embd=32, block_size=32))


# --- the script ---------------------------------------------------------------------


def test_train_gpu_script_end_to_end_without_the_missing_packages(tmp_path: Path) -> None:
    archive = make_archive(tmp_path / "code-corpus.tar.xz")
    out = tmp_path / "out"
    limit_mb = 0.06
    args = ["--corpus", str(archive), "--out", str(out), "--time", "2s", "--layers", "2", "--width", "32",
            "--heads", "2", "--context", "32", "--vocab", "400", "--batch", "4", "--max-shard-mb", str(limit_mb),
            "--heldout-mb", "0.01", "--tokenizer-mb", "1"]  # fmt: skip
    proc = subprocess.run([sys.executable, "-c", BLOCKER, ",".join(BLOCKED), str(ROOT / "scripts" / "train_gpu.py"),
                           *args], capture_output=True, text=True, timeout=120, cwd=tmp_path)  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    files = [p for p in out.rglob("*") if p.is_file()]
    assert len(files) <= 8
    shards = sorted(p.name for p in (out / "mini").glob("model-*-of-*.safetensors"))
    assert len(shards) >= 2 and not (out / "mini" / WEIGHTS).exists() and (out / "mini" / INDEX).is_file()
    assert all(p.stat().st_size <= limit_mb * 2**20 for p in (out / "mini").glob("*.safetensors"))
    assert not list(out.rglob("optimizer.pt"))
    metrics = json.loads((out / "metrics.json").read_text())
    for key in ("tokens_per_s", "steps", "tokens_seen", "train_loss", "heldout_bpb", "xz_bpb", "bpb_ratio_to_xz",
                "model_parameters", "chip", "achieved_tflops", "fraction_of_peak", "read_s", "prepare_s", "total_s"):
        assert metrics[key] is not None, key
    assert metrics["steps"] >= 1 and metrics["device"] == "cpu"
    assert metrics["amp_bf16"] is cpu_supports(torch.bfloat16)  # amp=auto: on where the CPU has native bf16
    assert metrics["heldout_bpb"] > 0 and metrics["xz_bpb"] > 0 and metrics["peak_tflops"] == 989.0
    assert metrics["heldout_scored_bytes"] == metrics["heldout_bytes"]  # the model and xz score the same bytes
    engine = MiniEngine.load(out / "mini")
    assert engine.generate("def ", max_tokens=5, temperature=0)[0].completion_tokens >= 1
    assert engine.metadata["training"]["step"] == metrics["steps"]


def test_the_script_refuses_a_model_whose_files_cannot_come_back(tmp_path: Path) -> None:
    archive = make_archive(tmp_path / "c.tar.xz")
    proc = subprocess.run([sys.executable, str(ROOT / "scripts" / "train_gpu.py"), "--corpus", str(archive), "--out",
                           str(tmp_path / "out"), "--layers", "12", "--width", "1024", "--heads", "8"],
                          capture_output=True, text=True, timeout=60)  # fmt: skip
    assert proc.returncode != 0 and "cannot come back" in proc.stderr
    assert not (tmp_path / "out").exists()  # refused before reading or training anything


# --- sharded checkpoints ------------------------------------------------------------


def test_sharded_round_trip_splits_big_tensors_and_keeps_every_file_under_the_limit(tmp_path: Path,
                                                                                   tok: MiniTokenizer) -> None:
    model = tiny(tok)
    limit = 16 * 1024  # the embedding (~400 x 32 fp32 = 51 KB) must be cut into parts
    path = save_checkpoint(tmp_path / "ck", model, tok, max_shard_bytes=limit)
    files = weight_files(path)
    assert files[0].name == INDEX and len(files) > 3 and not (path / WEIGHTS).exists()
    assert all(f.stat().st_size <= limit for f in files[1:])
    index = json.loads((path / INDEX).read_text())
    assert "wte.weight" in index["llmkit_parts"] and set(index["weight_map"].values()) == {f.name for f in files[1:]}
    assert is_checkpoint(path)
    loaded = load_checkpoint(path)
    for (k, v), (k2, v2) in zip(model.state_dict().items(), loaded.model.state_dict().items(), strict=True):
        assert k == k2 and torch.equal(v, v2), k
    # one file again, as ship_mini.py writes into the package
    single = save_checkpoint(tmp_path / "one", loaded.model, loaded.tokenizer, dtype="bfloat16")
    assert weight_files(single) == [single / WEIGHTS] and not (single / INDEX).exists()
    assert torch.equal(load_checkpoint(single).model.wte.weight, model.wte.weight.bfloat16().float())


def test_a_missing_or_corrupt_shard_is_a_checkpoint_error_naming_it(tmp_path: Path, tok: MiniTokenizer) -> None:
    path = save_checkpoint(tmp_path / "ck", tiny(tok), tok, max_shard_bytes=16 * 1024)
    shard = weight_files(path)[2]
    data = shard.read_bytes()
    shard.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match=shard.name):
        load_checkpoint(path)
    shard.unlink()
    with pytest.raises(CheckpointError, match=f"shard {shard.name} is missing"):
        load_checkpoint(path)
    (path / INDEX).write_text("{not json")
    with pytest.raises(CheckpointError, match=INDEX):
        load_checkpoint(path)
    (path / INDEX).unlink()
    assert not is_checkpoint(path)
    with pytest.raises(CheckpointError, match="incomplete"):
        load_checkpoint(path)


def test_rows_larger_than_a_shard_are_refused(tmp_path: Path, tok: MiniTokenizer) -> None:
    torch.manual_seed(0)
    wide = GPT(GPTConfig(vocab_size=tok.vocab_size, n_layer=1, n_head=2, n_embd=1024, block_size=8))
    with pytest.raises(CheckpointError, match="rows of 4096 bytes"):  # fp32 rows of 1024: over a 4 KiB shard
        save_checkpoint(tmp_path / "ck", wide, tok, max_shard_bytes=4096)
    assert not is_checkpoint(tmp_path / "ck")
    with pytest.raises(CheckpointError, match="too small"):
        save_checkpoint(tmp_path / "ck", wide, tok, max_shard_bytes=100)


# --- device, amp, compile -----------------------------------------------------------


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_cuda_without_cuda_is_a_clear_error() -> None:
    with pytest.raises(ConfigurationError, match="no CUDA") as info:
        resolve_device("cuda")
    assert "cpu" in str(info.value.hint)
    assert resolve_device("auto").type == "cpu" and resolve_device("cpu").type == "cpu"
    assert use_amp("auto", torch.device("cpu")) is cpu_supports(torch.bfloat16)
    assert use_amp("auto", torch.device("cuda")) is True
    assert use_amp("on", torch.device("cpu")) is True and use_amp("off", torch.device("cuda")) is False
    with pytest.raises(ConfigurationError, match="device"):
        TrainConfig(max_steps=1, device="tpu")
    with pytest.raises(ConfigurationError, match="amp"):
        TrainConfig(max_steps=1, amp="fp8")


@pytest.mark.parametrize("native", [True, False])
def test_amp_auto_on_a_cpu_follows_native_bf16(monkeypatch: pytest.MonkeyPatch, native: bool) -> None:
    """Whatever this machine has: "auto" autocasts on a CPU exactly when bf16 is native
    there (emulated bf16 is slower than fp32); "on" and "off" are not second-guessed."""
    from llmkit.mini import device

    monkeypatch.setattr(device, "cpu_supports", lambda dtype: native and dtype == torch.bfloat16)
    cpu = torch.device("cpu")
    assert use_amp("auto", cpu) is native
    assert use_amp("on", cpu) is True and use_amp("off", cpu) is False


def test_device_amp_and_compile_flags() -> None:
    p = argparse.ArgumentParser()
    add_flags(p)
    config = from_flags(p.parse_args(["--steps", "3", "--device", "cpu", "--amp", "on", "--compile"]), resume=False)
    assert (config.device, config.amp, config.compile) == ("cpu", "on", True)
    default = from_flags(p.parse_args(["--steps", "3"]), resume=False)
    assert (default.device, default.amp, default.compile) == ("auto", "auto", False)
    assert "--compile" in config.command() and "--amp on" in config.command() and "--compile" not in default.command()
    assert from_flags(p.parse_args(["--steps", "3", "--no-compile"]), resume=False).compile is False


def _trainer(tmp_path: Path, tok: MiniTokenizer, **settings: object) -> Trainer:
    docs = [Document(f"d{i}", code(i, 20)) for i in range(6)]
    settings = {"max_steps": 3, **settings}
    config = TrainConfig(model=GPTConfig(vocab_size=400, n_layer=1, n_head=2, n_embd=32, block_size=32),
                         batch_size=2, val_fraction=0.2, eval_every=3, eval_windows=2,
                         checkpoint_every=100, **settings)  # type: ignore[arg-type]  # fmt: skip
    return Trainer(Corpus(docs), tmp_path / "run", config, Dist(), progress=False, tokenizer=tok)


def test_bf16_autocast_trains_on_cpu_and_saves_fp32_weights(tmp_path: Path, tok: MiniTokenizer) -> None:
    trainer = _trainer(tmp_path, tok, amp="on", device="cpu")
    assert trainer.amp and trainer.device.type == "cpu" and trainer.tokenizer is tok
    result = trainer.run()
    assert result.steps == 3 and result.train_loss is not None and torch.isfinite(torch.tensor(result.train_loss))
    assert result.val_bpb is not None and result.val_bpb > 0
    ckpt = load_checkpoint(tmp_path / "run")
    assert all(v.dtype == torch.float32 for v in trainer.model.state_dict().values())
    assert torch.equal(ckpt.model.wte.weight, trainer.model.wte.weight)
    plain = _trainer(tmp_path / "b", tok, amp="off")
    assert plain.amp is False
    assert _trainer(tmp_path / "c", tok).amp is cpu_supports(torch.bfloat16)  # "auto": native bf16 only


def test_compile_wraps_the_model_but_the_plain_module_is_saved(tmp_path: Path, tok: MiniTokenizer) -> None:
    trainer = _trainer(tmp_path, tok, compile=True)
    assert trainer.stepper is not trainer.model and getattr(trainer.stepper, "_orig_mod", None) is trainer.model
    trainer.save()  # writes self.model: the plain module, whose keys have no "_orig_mod." prefix
    assert set(load_checkpoint(tmp_path / "run").model.state_dict()) == set(trainer.model.state_dict())


@pytest.mark.slow
def test_compiled_training_matches_eager_on_cpu(tmp_path: Path, tok: MiniTokenizer) -> None:
    """torch.compile on the CPU (inductor, ~1 min on 2 cores): same losses as eager, within float noise."""
    eager = _trainer(tmp_path / "e", tok, max_steps=2).run()
    compiled = _trainer(tmp_path / "c", tok, max_steps=2, compile=True).run()
    losses = [h["loss"] for h in eager.history if "loss" in h]
    compiled_losses = [h["loss"] for h in compiled.history if "loss" in h]
    assert compiled_losses == pytest.approx(losses, rel=1e-4)


# --- the training stream ------------------------------------------------------------


def reference_stream(tok: MiniTokenizer, docs: list[Document], block: int, fim_rate: float, seed: int,
                     pass_index: int) -> list[int]:
    """The stream as first written: one Python list, one fim_ids() call per FIM piece."""
    rng = random.Random(seed * 1_000_003 + pass_index)
    ids = [tok.eot_id]
    for doc in docs:
        pieces = split_pieces(doc.text, 3 * block)
        for i, text in enumerate(pieces):
            if fim_rate > 0 and len(text) > 1 and rng.random() < fim_rate:
                ids += [*fim_ids(tok, text, rng), tok.eot_id]
                continue
            ids += tok.encode(text) + ([tok.eot_id] if i == len(pieces) - 1 else [])
    return ids


@pytest.mark.parametrize("fim_rate", [0.0, 0.3, 1.0])
def test_the_compact_stream_equals_the_reference(tok: MiniTokenizer, fim_rate: float) -> None:
    docs = [Document(f"d{i}", code(i, 3 + 7 * i)) for i in range(5)] + [Document("u", "é日本\n" * 50),
                                                                         Document("one", "x")]
    data = TrainData(tok, docs, block_size=16, batch_size=4, grad_accum=2, fim_rate=fim_rate, seed=5)
    assert data._plain.dtype.itemsize == 2  # uint16: the vocabulary fits
    for pass_index in (0, 3):
        stream = data._build(pass_index)
        assert stream.dtype == torch.int32
        assert stream.tolist() == reference_stream(tok, docs, 16, fim_rate, 5, pass_index)
    assert data.n_tokens == len(reference_stream(tok, docs, 16, 0.0, 5, 0))
    x, y = data.batch(data.steps_per_pass + 1, 1)
    assert x.dtype == torch.long and torch.equal(x[:, 1:], y[:, :-1])


def test_prefetching_the_next_pass_gives_the_same_batches(tok: MiniTokenizer) -> None:
    docs = [Document(f"d{i}", code(i, 12)) for i in range(8)]
    kw = {"block_size": 16, "batch_size": 4, "grad_accum": 1, "fim_rate": 0.5, "seed": 2}
    plain, ahead = TrainData(tok, docs, **kw), TrainData(tok, docs, prefetch=True, **kw)  # type: ignore[arg-type]
    steps = [0, 1, plain.steps_per_pass, 2 * plain.steps_per_pass + 1, 5]  # forwards, then back to pass 0
    for step in steps:
        assert torch.equal(plain.batch(step, 0)[0], ahead.batch(step, 0)[0]), step
    assert ahead._next is not None and ahead._next[0] == 1  # pass 1 is being built (or ready) for pass 0's end


def test_the_tokenizer_can_be_trained_beforehand_and_reused(tmp_path: Path) -> None:
    archive = make_archive(tmp_path / "c.tar.xz")
    script = str(ROOT / "scripts" / "train_gpu.py")
    common = ["--corpus", str(archive), "--out", str(tmp_path / "out"), "--vocab", "300"]
    subprocess.run([sys.executable, script, *common, "--save-tokenizer", str(tmp_path / "tok.json")], check=True,
                   capture_output=True, timeout=60)  # fmt: skip
    assert MiniTokenizer.load(tmp_path / "tok.json").vocab_size <= 300 and not (tmp_path / "out").exists()


def test_the_blocker_really_blocks(tmp_path: Path) -> None:
    probe = tmp_path / "probe.py"
    probe.write_text("import packaging\n")
    proc = subprocess.run([sys.executable, "-c", BLOCKER, ",".join(BLOCKED), str(probe)], capture_output=True,
                          text=True, timeout=60)  # fmt: skip
    assert proc.returncode != 0 and "blocked (not on the GPU machine): packaging" in proc.stderr
