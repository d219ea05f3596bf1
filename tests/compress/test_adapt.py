"""Dynamic evaluation (Adaptation): a stepper that trains a private copy of the model
on the rows it is fed, compress(adapt=...) and its decoder training theirs identically,
and the teacher-forced estimate that must agree with both. Tiny random models (the
bundled architecture and a llama), so every number here is computed, none pinned."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

import llmkit
from llmkit import Adaptation
from llmkit.compress import compress, compress_with_stats, container, decompress, inspect
from llmkit.compress.estimate import estimate
from llmkit.errors import CompressedFileError, InvalidOptionError

torch = pytest.importorskip("torch")

TEXT = ("The cat sat on the mat. The dog sat on the log. A bird sang in the tree. " * 6).encode()
FAST = Adaptation(segment=8, lr=0.01)  # a rate a random tiny model learns from within a few segments


def _stepped(client, rows, adapt):
    """Each row's distributions from a lockstep stepper; rows that are over are fed None."""
    stepper = client.token_stepper(len(rows), adapt=adapt)
    out = [np.full((len(r), stepper.vocab_size), np.nan, np.float32) for r in rows]
    feed = None
    for t in range(max(map(len, rows))):
        logp = stepper.step(feed)
        for i, r in enumerate(rows):
            if t < len(r):
                out[i][t] = logp[i]
        feed = [r[t] if t < len(r) else None for r in rows]
    stepper.close()
    return out, stepper.settings


def _bits(rows, logps) -> float:
    return -sum(float(lp[t, tok]) for r, lp in zip(rows, logps, strict=True) for t, tok in enumerate(r)) / np.log(2)


def test_adaptation_settings_are_checked_and_spelled():
    assert Adaptation().spelled == "segment=256,lr=0.0001,layers=all"
    assert Adaptation.parse("") == Adaptation() and Adaptation.parse("layers=2, lr=1e-3").layers == 2
    for spelled in ("segment=8,lr=0.01,layers=all", Adaptation(segment=3, layers=1).spelled):
        assert Adaptation.parse(spelled).spelled == spelled
    for bad in ("segment=0", "lr=2", "layers=0", "speed=3", "segment=x", "segment=4,segment=5", "lr"):
        with pytest.raises(InvalidOptionError, match="invalid"):
            Adaptation.parse(bad)
    with pytest.raises(InvalidOptionError, match="adapt="):
        llmkit.Client("mini").token_stepper(1, adapt="yes")  # type: ignore[arg-type]


@pytest.mark.parametrize("which", ["tiny", "hf"])
def test_the_stepper_learns_repeats_itself_and_agrees_with_the_teacher_forced_pass(which, tiny, request):
    client = tiny if which == "tiny" else request.getfixturevalue("tiny_hf")
    ids = client.tokenize(TEXT.decode())
    rows = [ids[:50], ids[:37], ids[:12]]  # unequal: rows end inside segments and before others
    adapted, settings = _stepped(client, rows, FAST)
    again, _ = _stepped(client, rows, FAST)
    assert settings["adapt"] == FAST.spelled and settings["dtype"] == "float32"
    assert all(np.array_equal(a, b) for a, b in zip(adapted, again, strict=True))  # what a decoder replays
    forced = [np.full_like(a, np.nan) for a in adapted]
    for i, t, logp in client.iter_next_token_logprobs(rows, adapt=FAST):
        forced[i][t : t + len(logp)] = logp
    assert all(np.abs(a - f).max() < 1e-4 for a, f in zip(adapted, forced, strict=True))
    plain, _ = _stepped(client, rows, None)
    assert _bits(rows, adapted) < _bits(rows, plain) - 1  # it learned the repeats
    # before the first segment ends, the copy is the model itself
    assert all(np.abs(a[:8] - p[:8]).max() < 1e-5 for a, p in zip(adapted, plain, strict=True))


def test_a_row_that_is_over_teaches_nothing(tiny):
    ids = tiny.tokenize(TEXT.decode())
    rows = [ids[:40], ids[:5]]
    with_none, _ = _stepped(tiny, rows, FAST)
    stepper = tiny.token_stepper(2, adapt=FAST)  # the short row fed junk instead: the copy learns it
    first = [stepper.step()] + [stepper.step([rows[0][t], ids[-1 - t]]) for t in range(39)]
    stepper.close()
    junk = np.stack([step[0] for step in first])
    assert np.abs(junk - with_none[0]).max() > 1e-3


def test_adapting_leaves_the_loaded_model_as_it_was(tiny):
    before = tiny.fingerprint()["weights"]
    engine = tiny.backend.engine
    weights = {k: v.clone() for k, v in engine.model.state_dict().items()}
    ids = tiny.tokenize(TEXT.decode())[:60]  # within the 64-token window
    _stepped(tiny, [ids], FAST)
    list(tiny.iter_next_token_logprobs([ids], adapt=FAST))
    assert all(torch.equal(weights[k], v) for k, v in engine.model.state_dict().items())
    engine._fingerprint = None  # recompute it from the weights
    assert tiny.fingerprint()["weights"] == before


def test_layers_trains_only_the_last_blocks(tiny):
    from llmkit.online import trainable_parameters

    model = __import__("copy").deepcopy(tiny.backend.engine.model)
    names = {id(p): n for n, p in model.named_parameters()}
    chosen = {names[id(p)] for p in trainable_parameters(model, 1)}
    assert chosen and all(n.startswith(("blocks.1.", "ln_f.")) for n in chosen)
    assert any(n.startswith("ln_f.") for n in chosen)
    assert not any(p.requires_grad for n, p in model.named_parameters() if n.startswith("blocks.0."))
    with pytest.raises(InvalidOptionError, match="more than the model's 2 blocks"):
        tiny.token_stepper(1, adapt=Adaptation(layers=3))


@pytest.mark.parametrize("which", ["tiny", "hf"])
def test_compress_with_adapt_round_trips_and_matches_the_estimate(which, tiny, request):
    client = tiny if which == "tiny" else request.getfixturevalue("tiny_hf")
    plain_blob, plain = compress_with_stats(TEXT, client, batch=2)
    blob, stats = compress_with_stats(TEXT, client, batch=2, adapt=FAST)
    assert decompress(blob, client) == TEXT
    assert blob[4] == 2 and plain_blob[4] == 1  # only a file that adapts needs the new layout
    assert inspect(blob)["settings"]["adapt"] == FAST.spelled
    assert stats.ideal_bits < plain.ideal_bits  # repeated text: the copy learned it
    e = estimate(TEXT, client, batch=2, adapt=FAST)
    assert e["ideal_bits"] == pytest.approx(stats.ideal_bits, rel=1e-5)
    assert e["model_bits"] == pytest.approx(stats.model_bits, rel=1e-5)
    assert compress(TEXT, client, batch=2, adapt=FAST) == blob  # deterministic


def test_an_adapted_file_decodes_in_another_process(tiny, tiny_path, tmp_path):
    blob = compress(TEXT, tiny, batch=2, adapt=FAST)
    (tmp_path / "f.llmz").write_bytes(blob)
    code = (f"import llmkit, sys; c = llmkit.Client('mini:{tiny_path}', threads=1); "
            f"sys.stdout.buffer.write(llmkit.decompress(open({str(tmp_path / 'f.llmz')!r}, 'rb').read(), c))")  # fmt: skip
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, check=True, timeout=300).stdout
    assert out == TEXT


def _with_adapt(blob: bytes, spelled: str) -> bytes:
    """The same file recording another adaptation (its checksums made right again)."""
    header, chunks, payload = container.unpack(blob)
    header.settings["adapt"] = spelled
    return container.pack(header, chunks, [bytes(payload)[: sum(c.coded for c in chunks)]])


def test_a_file_that_adapts_names_what_it_needs(tiny):
    blob = compress(TEXT, tiny, batch=2, adapt=FAST)
    with pytest.raises(CompressedFileError, match="adaptation 'speed=9', which is not one this llmkit knows"):
        decompress(_with_adapt(blob, "speed=9"), tiny)
    with pytest.raises(CompressedFileError, match="format version 3; this llmkit reads versions 1, 2"):
        decompress(blob[:4] + b"\x03" + blob[5:], tiny)
    # another schedule recorded than the one coded with: decoded wrong, said so, never returned
    other = _with_adapt(blob, Adaptation(segment=9, lr=0.01).spelled)
    with pytest.raises(CompressedFileError, match="chunk 0 decodes to other bytes"):
        decompress(other, tiny)


def test_a_bfloat16_model_adapts_a_float32_copy(tiny_hf, monkeypatch):
    pytest.importorskip("transformers")
    from llmkit.backends import hf_precision

    monkeypatch.setattr(hf_precision, "cpu_supports", lambda dtype: True)  # bfloat16 loads on any CPU (emulated)
    path = tiny_hf.model.removeprefix("hf:")
    with llmkit.Client(f"hf:{path}", dtype="bfloat16", threads=1) as client:
        assert client.token_stepper(1).settings["dtype"] == "bfloat16"
        blob = compress(TEXT, client, batch=2, adapt=FAST)
        assert inspect(blob)["settings"]["dtype"] == "float32"  # the copy that coded it
        assert decompress(blob, client) == TEXT
        assert next(client.backend.engine.model.parameters()).dtype == torch.bfloat16  # left as it was


def test_iter_next_token_logprobs_without_adapt_is_next_token_logprobs_by_row(tiny):
    from llmkit.errors import ContextLengthError

    rows = [tiny.tokenize("The cat sat on the mat."), [], tiny.tokenize("A bird sang.")]
    blocks = list(tiny.iter_next_token_logprobs(rows))
    assert [(i, t) for i, t, _ in blocks] == [(0, 0), (2, 0)]
    for i, _, logp in blocks:
        assert np.array_equal(logp, tiny.next_token_logprobs([rows[i]])[0])
    with pytest.raises(ContextLengthError, match="cannot adapt"):
        list(tiny.iter_next_token_logprobs([[5] * 65], adapt=FAST))
