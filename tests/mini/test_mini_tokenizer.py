"""Byte-level BPE: exact byte round trips, special tokens, persistence."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from llmkit.errors import CheckpointError, ConfigurationError
from llmkit.mini.tokenizer import (
    EOT,
    FIM_MIDDLE,
    FIM_PREFIX,
    FIM_SUFFIX,
    SPECIAL_TOKENS,
    MiniTokenizer,
    train_tokenizer,
)


def test_trained_size_and_merges(tokenizer: MiniTokenizer) -> None:
    assert 300 < tokenizer.vocab_size <= 400
    # Merges learned from the corpus: a frequent word is one token, not its letters.
    assert len(tokenizer.encode(" return")) == 1
    assert len(tokenizer.encode(" the")) == 1
    assert len(tokenizer.encode("zqxj")) == 4  # unseen: one token per byte


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200))
def test_any_bytes_round_trip(tokenizer: MiniTokenizer, data: bytes) -> None:
    ids = tokenizer.encode(data)
    assert tokenizer.decode_bytes(ids) == data
    assert not set(ids) & tokenizer.special_ids


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=200))
def test_any_text_round_trips(tokenizer: MiniTokenizer, text: str) -> None:
    ids = tokenizer.encode(text)
    assert tokenizer.decode(ids) == text
    assert tokenizer.encode(text.encode("utf-8")) == ids  # str and bytes paths agree


@settings(max_examples=100, deadline=None)
@given(st.lists(st.one_of(st.sampled_from(SPECIAL_TOKENS), st.text(max_size=10)), max_size=8))
def test_special_token_spellings_are_ordinary_text(tokenizer: MiniTokenizer, parts: list[str]) -> None:
    text = "".join(parts)
    ids = tokenizer.encode(text)
    assert not set(ids) & tokenizer.special_ids
    assert tokenizer.decode(ids) == text


def test_invalid_utf8_decodes_with_replacement(tokenizer: MiniTokenizer) -> None:
    data = b"ok \xff\xfe caf\xc3"
    ids = tokenizer.encode(data)
    assert tokenizer.decode_bytes(ids) == data
    assert tokenizer.decode(ids) == "ok \ufffd\ufffd caf\ufffd"
    # A str with lone surrogates is encoded through its surrogatepass bytes.
    assert tokenizer.decode_bytes(tokenizer.encode("a\udcffb")) == "a\udcffb".encode("utf-8", "surrogatepass")


def test_special_tokens(tokenizer: MiniTokenizer) -> None:
    ids = [tokenizer.eot_id, tokenizer.fim_prefix_id, tokenizer.fim_suffix_id, tokenizer.fim_middle_id]
    assert len(set(ids)) == 4
    assert tokenizer.special_ids == frozenset(ids)
    assert [tokenizer.token_str(i) for i in ids] == [EOT, FIM_PREFIX, FIM_SUFFIX, FIM_MIDDLE]
    body = tokenizer.encode("hi")
    assert tokenizer.decode([tokenizer.eot_id, *body], skip_special=True) == "hi"
    assert tokenizer.decode([tokenizer.eot_id, *body]) == EOT + "hi"


def test_save_load_identical(tokenizer: MiniTokenizer, tmp_path: Path) -> None:
    tokenizer.save(tmp_path / "tokenizer.json")
    loaded = MiniTokenizer.load(tmp_path)  # a directory finds its tokenizer.json
    text = "def add(x):\n    return x  <|endoftext|> Café 日本"
    assert loaded.encode(text) == tokenizer.encode(text)
    assert loaded.vocab_size == tokenizer.vocab_size
    assert not set(loaded.encode(EOT)) & loaded.special_ids  # the setting survives a reload


def test_load_errors(tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match="does not exist"):
        MiniTokenizer.load(tmp_path / "nope.json")
    bad = tmp_path / "tokenizer.json"
    bad.write_text("{not json", encoding="utf-8")
    with pytest.raises(CheckpointError, match="corrupt"):
        MiniTokenizer.load(bad)


def test_train_from_files_bytes_and_tiny_vocab(tmp_path: Path) -> None:
    f = tmp_path / "a.txt"
    f.write_bytes(b"latin-1 caf\xe9 " * 50)
    tok = train_tokenizer([f, b"more bytes \xff", "plain text"], 280)
    assert tok.vocab_size <= 280
    assert tok.decode_bytes(tok.encode(b"caf\xe9")) == b"caf\xe9"
    with pytest.raises(ConfigurationError, match="too small"):
        train_tokenizer(["x"], 100)
