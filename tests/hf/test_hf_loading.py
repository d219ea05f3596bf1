"""Loading: directories, shared models, settings, and a clear llmkit error for every failure."""

from __future__ import annotations

import shutil
import sys

import pytest

pytest.importorskip("transformers")

import llmkit
from llmkit.backends import hf_loading
from llmkit.errors import CheckpointError, ConfigurationError, InvalidOptionError, UnknownModelError


def test_loads_a_directory_on_cpu_fp32(tiny):
    backend = tiny.backend
    assert tiny.model.startswith("hf:") and tiny.model.endswith("tiny-llama")
    assert backend.engine.lm.device.type == "cpu"
    assert next(backend.engine.lm.model.parameters()).dtype.is_floating_point
    assert str(next(backend.engine.lm.model.parameters()).dtype) == "torch.float32"
    assert tiny.capabilities.streaming and tiny.capabilities.logprobs and tiny.capabilities.multiple_samples


def test_same_model_is_loaded_once(tiny_dir, monkeypatch):
    from llmkit.backends import hf_precision

    monkeypatch.setattr(hf_precision, "cpu_supports", lambda dtype: True)  # bfloat16 loads on any CPU (emulated)
    a = llmkit.Client(f"hf:{tiny_dir}")
    b = llmkit.Client(f"hf:{tiny_dir}/")
    assert a.backend.engine.lm is b.backend.engine.lm
    c = llmkit.Client(f"hf:{tiny_dir}", dtype="bfloat16")
    assert c.backend.engine.lm is not a.backend.engine.lm
    assert str(next(c.backend.engine.lm.model.parameters()).dtype) == "torch.bfloat16"


def test_bad_settings(tiny_dir):
    with pytest.raises(InvalidOptionError, match="dtype"):
        llmkit.Client(f"hf:{tiny_dir}", dtype="float8")
    with pytest.raises(InvalidOptionError, match="device"):
        llmkit.Client(f"hf:{tiny_dir}", device="not-a-device")
    with pytest.raises(InvalidOptionError, match="unknown"):
        llmkit.Client(f"hf:{tiny_dir}", devcie="cpu")
    with pytest.raises(InvalidOptionError, match="threads"):
        llmkit.Client(f"hf:{tiny_dir}", threads=0)


def test_unavailable_accelerator(tiny_dir, monkeypatch):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(ConfigurationError, match="cannot use cuda"):
        llmkit.Client(f"hf:{tiny_dir}", device="cuda")


def test_progress_on_a_terminal(tiny_dir, monkeypatch, capsys):
    pytest.importorskip("rich")
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)
    llmkit.clear_caches()
    assert llmkit.Client(f"hf:{tiny_dir}").backend.engine.lm.source == "dir"


def test_empty_model_name():
    with pytest.raises(UnknownModelError, match="no model after 'hf:'"):
        llmkit.Client("hf:")


def test_nonexistent_path(tmp_path):
    with pytest.raises(CheckpointError, match="no such file or directory") as info:
        llmkit.Client(f"hf:{tmp_path}/nope")
    assert info.value.hint
    with pytest.raises(CheckpointError, match="no such file"):
        llmkit.Client(f"hf:{tmp_path}/model.gguf")


def test_directory_that_is_not_a_model(tmp_path):
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(CheckpointError, match="not a Hugging Face model directory.*config.json") as info:
        llmkit.Client(f"hf:{tmp_path}")
    assert "save_pretrained" in info.value.hint


def test_corrupted_safetensors(tiny_dir, tmp_path):
    broken = tmp_path / "broken"
    shutil.copytree(tiny_dir, broken)
    weights = broken / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:200])
    with pytest.raises(CheckpointError, match="could not load the model") as info:
        llmkit.Client(f"hf:{broken}")
    assert "corrupt" in info.value.hint


def test_unknown_hub_id_offline(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf-home"))
    with pytest.raises(CheckpointError, match="not in the local Hugging Face cache and HF_HUB_OFFLINE") as info:
        llmkit.Client("hf:llmkit-tests/no-such-model")
    assert "hf download llmkit-tests/no-such-model" in info.value.hint
    assert "HF_HUB_OFFLINE" in info.value.hint


def test_hub_errors_behind_transformers_oserror_are_named(monkeypatch):
    import httpx  # httpx2 (tests/httpx2_alias.py): what huggingface_hub's errors carry
    from huggingface_hub import errors as hub_errors

    def raising(error):
        def from_pretrained(*args, **kwargs):
            try:
                raise error
            except Exception as exc:  # transformers re-raises hub errors as OSError, from the original
                raise OSError(f"{args[0]} is not a local folder and is not a valid model identifier") from exc

        return from_pretrained

    response = httpx.Response(404, request=httpx.Request("GET", "https://huggingface.co/api/models/x"))
    cases = [
        (hub_errors.RepositoryNotFoundError("404", response=response), "no model 'org/typo' on the Hugging Face hub"),
        (hub_errors.GatedRepoError("403", response=response), "gated repository"),
        (hub_errors.RevisionNotFoundError("404", response=response), "has no revision 'v9'"),
    ]
    for error, message in cases:
        auto_model, auto_tokenizer = hf_loading._auto_classes()
        monkeypatch.setattr(auto_tokenizer, "from_pretrained", raising(error))
        monkeypatch.setenv("HF_HUB_OFFLINE", "0")
        monkeypatch.setattr(hf_loading, "_offline", lambda: False)
        with pytest.raises(CheckpointError, match=message):
            llmkit.Client("hf:org/typo", revision="v9")


def test_settings_are_checked_strictly(tiny_dir):
    for setting, value in [("trust_remote_code", "False"), ("trust_remote_code", 1), ("batch_size", 0),
                           ("batch_size", -1), ("context_window", "64"), ("threads", True)]:  # fmt: skip
        with pytest.raises(InvalidOptionError, match=setting):
            llmkit.Client(f"hf:{tiny_dir}", **{setting: value})


def test_classify():
    assert hf_loading.classify("org/name") == ("hub", "org/name")
    with pytest.raises(CheckpointError):
        hf_loading.classify("./missing-dir")


def test_threads_setting(tiny_dir):
    import torch

    before = torch.get_num_threads()
    try:
        llmkit.Client(f"hf:{tiny_dir}", threads=1)
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)
