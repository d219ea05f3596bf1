"""GGUF files: dequantised through transformers, cached as safetensors, reloaded from the cache."""

from __future__ import annotations

import hashlib

import pytest

pytest.importorskip("transformers")
pytest.importorskip("gguf")
pytest.importorskip("accelerate")

from gguf_export import export_gguf  # tests/hf is on sys.path (pytest's rootdir-relative import)

import llmkit
from llmkit.backends import hf_loading
from llmkit.errors import CheckpointError


@pytest.fixture(scope="session")
def tiny_gguf(tiny_dir, tmp_path_factory):
    return export_gguf(tiny_dir, tmp_path_factory.mktemp("gguf") / "tiny-llama.F32.gguf")


def test_gguf_loads_like_the_original(tiny_gguf, tiny_dir, isolated_home):
    llmkit.clear_caches()
    original = llmkit.Client(f"hf:{tiny_dir}")
    converted = llmkit.Client(f"hf:{tiny_gguf}")
    assert converted.backend.engine.lm.source == "gguf"
    r = converted.chat("Hello there", max_tokens=12, temperature=0)
    assert r.served_model == "tiny-llama.F32.gguf"
    assert r.text == original.chat("Hello there", max_tokens=12, temperature=0).text
    assert converted.count_tokens("Héllo wörld") == original.count_tokens("Héllo wörld")

    cache = isolated_home / "cache" / "hf"
    (entry,) = [p for p in cache.iterdir() if p.is_dir()]  # one entry, no temporary leftovers
    assert sorted(p.name for p in cache.iterdir() if not p.is_dir()) == ["hashes.json"]
    assert entry.name == hf_loading.file_hash(tiny_gguf)
    assert (entry / "model.safetensors").is_file() and (entry / "llmkit-source.json").is_file()
    assert "quantization_config" not in (entry / "config.json").read_text()


def test_second_load_uses_the_cached_conversion(tiny_gguf, monkeypatch):
    llmkit.clear_caches()  # this test's llmkit home is empty: the first load converts
    llmkit.Client(f"hf:{tiny_gguf}")
    llmkit.clear_caches()

    def no_conversion(*args):
        raise AssertionError("converted again")

    monkeypatch.setattr(hf_loading, "_convert_gguf", no_conversion)
    client = llmkit.Client(f"hf:{tiny_gguf}")
    assert client.chat("Hi", max_tokens=3, temperature=0).text is not None


def test_file_hash_is_remembered_across_processes_until_the_file_changes(tmp_path, isolated_home, monkeypatch):
    gguf = tmp_path / "m.gguf"
    gguf.write_bytes(b"weights v1")
    first = hf_loading.file_hash(gguf)
    assert first == hashlib.sha256(b"weights v1").hexdigest()

    llmkit.clear_caches()  # a new process: only hashes.json remembers
    monkeypatch.setattr(hf_loading.hashlib, "sha256", lambda: pytest.fail("re-read an unchanged file"))
    assert hf_loading.file_hash(gguf) == first

    monkeypatch.undo()
    llmkit.clear_caches()
    gguf.write_bytes(b"weights v2, longer")  # new size and mtime: hashed again
    assert hf_loading.file_hash(gguf) == hashlib.sha256(b"weights v2, longer").hexdigest()
    (isolated_home / "cache" / "hf" / "hashes.json").write_text("{not json")
    llmkit.clear_caches()
    assert hf_loading.file_hash(gguf) == hashlib.sha256(b"weights v2, longer").hexdigest()  # a damaged index is rebuilt


def test_truncated_gguf(tiny_gguf, tmp_path):
    broken = tmp_path / "broken.gguf"
    broken.write_bytes(tiny_gguf.read_bytes()[:1000])
    with pytest.raises(CheckpointError, match="could not read .* as a GGUF model"):
        llmkit.Client(f"hf:{broken}")


def test_unsupported_architecture_is_named_and_leaves_no_cache_entry(tiny_dir, tmp_path, isolated_home):
    odd = export_gguf(tiny_dir, tmp_path / "odd.gguf", architecture="notarealarch")
    with pytest.raises(CheckpointError, match="notarealarch") as info:
        llmkit.Client(f"hf:{odd}")
    assert "architecture" in str(info.value) and "transformers" in info.value.hint
    cache = isolated_home / "cache" / "hf"
    assert not cache.exists() or not [p for p in cache.iterdir() if p.is_dir()]


def test_interrupted_conversion_leaves_no_cache_entry(tiny_gguf, isolated_home, monkeypatch):
    llmkit.clear_caches()

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(hf_loading, "_write_source_note", interrupted)
    with pytest.raises(KeyboardInterrupt):
        llmkit.Client(f"hf:{tiny_gguf}")
    cache = isolated_home / "cache" / "hf"
    assert [p for p in cache.iterdir() if p.is_dir()] == []  # the temporary directory is gone too
    monkeypatch.undo()
    assert llmkit.Client(f"hf:{tiny_gguf}").backend.engine.lm.source == "gguf"


def test_damaged_cached_copy_says_how_to_recover(tiny_gguf, isolated_home):
    llmkit.clear_caches()
    llmkit.Client(f"hf:{tiny_gguf}")
    llmkit.clear_caches()
    entry = isolated_home / "cache" / "hf" / hf_loading.file_hash(tiny_gguf)
    (entry / "model.safetensors").write_bytes(b"garbage")
    with pytest.raises(CheckpointError, match="could not load") as info:
        llmkit.Client(f"hf:{tiny_gguf}")
    assert str(entry) in info.value.hint and "delete" in info.value.hint


def test_a_full_disk_during_conversion_is_a_clear_error(tiny_gguf, isolated_home, monkeypatch):
    import errno

    llmkit.clear_caches()
    real_replace = hf_loading.os.replace

    def disk_full(src, dst):
        if str(dst).startswith(str(isolated_home)):
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_replace(src, dst)

    monkeypatch.setattr(hf_loading.os, "replace", disk_full)
    with pytest.raises(CheckpointError, match="could not write the converted copy.*No space left") as info:
        llmkit.Client(f"hf:{tiny_gguf}")
    assert "LLMKIT_HOME" in info.value.hint
    assert not [p for p in (isolated_home / "cache" / "hf").iterdir() if p.is_dir()]  # nothing half-written
