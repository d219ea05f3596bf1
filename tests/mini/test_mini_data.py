"""Corpus reading (encodings, binary files), document split, FIM examples, batches,
and the text assembly used for streaming (UTF-8 boundaries, stop strings)."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from llmkit.errors import ConfigurationError
from llmkit.mini.corpus import Document, decode_text, read_corpus, split_documents
from llmkit.mini.data import TrainData, fim_ids, split_pieces
from llmkit.mini.sampling import TextAssembler, sample_next
from llmkit.mini.tokenizer import MiniTokenizer


def test_decode_text_encodings() -> None:
    text = "Grüße, café — 日本"
    assert decode_text(text.encode("utf-8")) == text
    assert decode_text(b"\xef\xbb\xbf" + text.encode("utf-8")) == text
    assert decode_text(text.encode("utf-16")) == text  # with BOM, contains NUL bytes
    assert decode_text("Grüße, café — naïve".encode("cp1252")) == "Grüße, café — naïve"
    assert decode_text(b"\x00\x01\x02binary") is None
    assert decode_text(bytes(range(1, 32)) * 20) is None


def test_read_corpus_walks_folders_and_skips_binary(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "a.txt").write_text("hello", encoding="utf-8")
    (tmp_path / "b.md").write_bytes("latin caf\xe9".encode("latin-1"))
    (tmp_path / "img.png").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00")
    (tmp_path / "blank.txt").write_text("  \n")
    (tmp_path / ".git").mkdir()
    (tmp_path / ".git" / "HEAD").write_text("ref: x")
    corpus = read_corpus(tmp_path)
    assert sorted(Path(d.name).name for d in corpus.documents) == ["a.txt", "b.md"]
    assert {Path(p).name: why for p, why in corpus.skipped} == {"img.png": "binary", "blank.txt": "empty"}
    assert "latin café" in [d.text for d in corpus.documents]


def test_split_by_document() -> None:
    docs = [Document(f"d{i}", "x" * 100) for i in range(20)]
    train, val = split_documents(docs, 0.1, seed=0)
    assert len(val) == 2 and len(train) == 18
    assert not {d.name for d in train} & {d.name for d in val}
    assert split_documents(docs, 0.1, seed=0) == (train, val)  # deterministic
    one = [Document("book", "line\n" * 1000)]
    train, val = split_documents(one, 0.1, seed=0)
    assert train[0].text + val[0].text == one[0].text and val[0].text.startswith("line")
    assert 0.05 < len(val[0].text) / len(one[0].text) < 0.15
    assert split_documents(docs, 0.0, seed=0) == (docs, [])
    with pytest.raises(ConfigurationError):
        split_documents(docs, 1.0, seed=0)


def test_split_pieces_prefers_line_boundaries() -> None:
    text = "".join(f"line {i}\n" for i in range(100))
    pieces = split_pieces(text, 50)
    assert "".join(pieces) == text
    assert all(len(p) <= 50 for p in pieces) and all(p.endswith("\n") for p in pieces)


def test_fim_example_layout(tokenizer: MiniTokenizer) -> None:
    text = "def add(x):\n    return x + 1\n"
    ids = fim_ids(tokenizer, text, random.Random(3))
    tok = tokenizer
    assert ids[0] == tok.fim_prefix_id and ids.count(tok.fim_suffix_id) == 1 and ids.count(tok.fim_middle_id) == 1
    s, m = ids.index(tok.fim_suffix_id), ids.index(tok.fim_middle_id)
    prefix, suffix, middle = tok.decode(ids[1:s]), tok.decode(ids[s + 1:m]), tok.decode(ids[m + 1:])
    assert prefix + middle + suffix == text


def test_train_data_fim_rate_and_deterministic_batches(tokenizer: MiniTokenizer) -> None:
    docs = [Document(str(i), f"def f{i}(x):\n    return x + {i}\n" * 3) for i in range(30)]
    plain = TrainData(tokenizer, docs, block_size=16, batch_size=4, grad_accum=1, fim_rate=0.0, seed=1)
    fim = TrainData(tokenizer, docs, block_size=16, batch_size=4, grad_accum=1, fim_rate=1.0, seed=1)
    assert tokenizer.fim_middle_id not in plain.stream_for_step(0).tolist()
    # Long documents are cut into pieces of ~3 * block_size characters, each its own example.
    n_pieces = sum(len(split_pieces(d.text, 3 * 16)) for d in docs)
    assert n_pieces > len(docs)
    assert fim.stream_for_step(0).tolist().count(tokenizer.fim_middle_id) == n_pieces
    x, y = plain.batch(5, 0)
    assert x.shape == y.shape == (4, 16) and torch.equal(x[:, 1:], y[:, :-1])
    x2, _ = plain.batch(5, 0)
    x3, _ = plain.batch(6, 0)
    assert torch.equal(x, x2) and not torch.equal(x, x3)
    # A later pass re-cuts the FIM examples.
    later = fim.stream_for_step(fim.steps_per_pass * 3).tolist()
    assert later != fim._build(0).tolist()


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=40), st.lists(st.integers(1, 4), min_size=1, max_size=40))
def test_assembler_never_splits_characters(text: str, sizes: list[int]) -> None:
    data = text.encode("utf-8")
    state = TextAssembler(stop=[])
    deltas, pos, i = [], 0, 0
    while pos < len(data):
        size = sizes[i % len(sizes)]
        state.feed(0, data[pos:pos + size])
        deltas.append(state.take())
        pos, i = pos + size, i + 1
    state.finish("length")
    deltas.append(state.take())
    assert "".join(deltas) == text
    assert all("\ufffd" not in d for d in deltas)


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet="abc", max_size=30), st.lists(st.text(alphabet="abc", min_size=1, max_size=4),
                                                      min_size=1, max_size=3))
def test_assembler_cuts_at_first_stop_and_never_leaks_it(text: str, stops: list[str]) -> None:
    state = TextAssembler(stop=stops)
    shown = ""
    for ch in text:  # one character per token: stops always span tokens
        state.feed(0, ch.encode())
        shown += state.take()
        if state.done:
            break
        assert not any(s in shown for s in stops)
    state.finish("length")
    shown += state.take()
    # Oracle: generation stops as soon as some stop string is complete, cut at its start.
    expected, reason = text, "length"
    for end in range(1, len(text) + 1):
        hits = [text[:end].find(s) for s in stops if s in text[:end]]
        if hits:
            expected, reason = text[:min(hits)], "stop"
            break
    assert shown == expected
    assert state.finish_reason == reason


def test_assembler_strips_healed_prefix() -> None:
    state = TextAssembler(stop=[], strip=3)
    state.feed(0, b"\n ")
    state.feed(1, b" return")
    state.finish("length")
    assert state.take() == "return"


def test_sample_next_filters() -> None:
    logits = torch.tensor([[0.0, 5.0, 4.9, -1.0]])
    g = torch.Generator().manual_seed(0)
    assert sample_next(logits, temperature=0, top_k=None, top_p=None, generator=g).tolist() == [1]
    picks = {sample_next(logits, temperature=1.0, top_k=2, top_p=None, generator=g).item() for _ in range(200)}
    assert picks == {1, 2}
    picks = {sample_next(logits, temperature=1.0, top_k=None, top_p=0.5, generator=g).item() for _ in range(50)}
    assert picks == {1}
