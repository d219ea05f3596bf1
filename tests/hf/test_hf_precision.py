"""dtype on a CPU: float32 by default, a dtype the CPU cannot compute in is refused, and
dtype="auto" measures once per model and machine (remembered in cache/precision.json)."""

from __future__ import annotations

import json

import pytest

pytest.importorskip("transformers")

import torch

import llmkit
from llmkit.backends import hf_packing, hf_precision
from llmkit.config import cache_dir
from llmkit.cpu import cpu_supports
from llmkit.errors import ConfigurationError


def _dtype(client: llmkit.Client) -> torch.dtype:
    return next(client.backend.engine.model.parameters()).dtype


def test_float32_is_the_default_and_runtime_says_so(tiny_dir):
    with llmkit.Client(f"hf:{tiny_dir}") as client:
        assert _dtype(client) == torch.float32
        runtime = client.backend.runtime()
        assert runtime.startswith("runs on cpu in float32 (the default)")
        if hf_packing._available():  # float32 linears packed for generation only (scores keep the BLAS's bits)
            assert runtime.endswith(" linear layers on oneDNN-packed weights to generate")


@pytest.mark.parametrize("asked", ["bfloat16", "float16"])
def test_a_dtype_the_cpu_cannot_compute_in_is_refused_with_what_works(tiny_dir, monkeypatch, asked):
    monkeypatch.setattr(hf_precision, "cpu_supports", lambda dtype: dtype == torch.float32)
    with pytest.raises(ConfigurationError, match=f"cannot compute in {asked} natively") as info:
        llmkit.Client(f"hf:{tiny_dir}", dtype=asked)
    assert "dtype='float32'" in info.value.hint


@pytest.mark.skipif(not cpu_supports(torch.bfloat16), reason="this CPU has no native bfloat16")
def test_bfloat16_where_the_cpu_has_it(tiny_dir):
    with llmkit.Client(f"hf:{tiny_dir}", dtype="bfloat16") as client:
        assert _dtype(client) == torch.bfloat16
        assert client.backend.runtime().startswith("runs on cpu in bfloat16 (asked for), ")
        assert client.backend.runtime().endswith(" linear layers on oneDNN-packed weights")
        assert client.chat("Hello", max_tokens=4, temperature=0).usage.output_tokens > 0


@pytest.mark.parametrize(("fp32", "bf16", "chosen"), [(2.0, 1.0, torch.bfloat16), (1.0, 0.95, torch.float32)])
def test_auto_measures_once_and_keeps_bfloat16_only_when_faster(tiny_dir, monkeypatch, fp32, bf16, chosen):
    monkeypatch.setattr(hf_precision, "cpu_supports", lambda dtype: True)
    timed = []

    def seconds(model):
        timed.append(next(model.parameters()).dtype)
        return fp32 if timed[-1] == torch.float32 else bf16

    monkeypatch.setattr(hf_precision, "decode_seconds", seconds)
    llmkit.clear_caches()  # a model another test loaded with dtype="auto" is not measured again
    with llmkit.Client(f"hf:{tiny_dir}", dtype="auto") as client:
        assert _dtype(client) == chosen
        assert f"measured {fp32 / bf16:.2f}x float32" in client.backend.runtime()
    assert timed == [torch.float32, torch.bfloat16]
    remembered = json.loads((cache_dir() / "precision.json").read_text())
    assert [v["dtype"] for v in remembered.values()] == [str(chosen).removeprefix("torch.")]
    assert hf_precision.measured(tiny_dir.name)["speedup"] == round(fp32 / bf16, 2)
    from llmkit.cli.models import _precision_note  # what `llmkit models` says of a pulled model

    assert f"dtype=auto: {str(chosen).removeprefix('torch.')} ({round(fp32 / bf16, 2)}x" in _precision_note("hf", str(tiny_dir))
    llmkit.clear_caches()
    with llmkit.Client(f"hf:{tiny_dir}", dtype="auto") as client:  # loaded again: the verdict is remembered
        assert _dtype(client) == chosen
    assert len(timed) == 2


def test_auto_without_native_bfloat16_stays_float32_without_measuring(tiny_dir, monkeypatch):
    monkeypatch.setattr(hf_precision, "cpu_supports", lambda dtype: dtype == torch.float32)
    monkeypatch.setattr(hf_precision, "decode_seconds", lambda model: pytest.fail("measured"))
    llmkit.clear_caches()
    with llmkit.Client(f"hf:{tiny_dir}", dtype="auto") as client:
        assert _dtype(client) == torch.float32
        assert "no native bfloat16" in client.backend.runtime()


def test_the_real_measurement_runs(tiny_dir):
    """No stand-ins: the decode steps are timed on the loaded model."""
    with llmkit.Client(f"hf:{tiny_dir}", dtype="auto") as client:
        assert client.backend.engine.lm.precision["dtype"] in ("float32", "bfloat16")
        assert client.chat("Hello", max_tokens=3, temperature=0).usage.output_tokens > 0
