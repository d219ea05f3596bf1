"""`llmkit embed`, `llmkit similar` and `llmkit collections` (issue 13, item 9), with
the mock model's hashed-trigram embeddings: similar texts get similar vectors."""

import io
import json
import sqlite3
import stat
import struct
import sys

import pytest

import llmkit
from llmkit.cli import main, vector_store


@pytest.fixture(autouse=True)
def no_stdin(monkeypatch):
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(b"")))


def similar(capsys, *args):
    capsys.readouterr()
    assert main(["similar", *args, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def fill(*extra):
    items = {"milk": "buy milk and eggs", "budget": "plan the quarterly budget", "cat": "feed the cat"}
    for item, text in items.items():
        assert main(["embed", "notes", item, text, "-m", "mock", *extra]) == 0


def test_embed_then_find_the_closest(capsys, isolated_home):
    fill("--store")
    assert "new collection 'notes', embedded with mock" in capsys.readouterr().err
    found = similar(capsys, "notes", "milk and some eggs")
    assert len(found) == 3 and found[0]["id"] == "milk"
    assert found[0] == {"id": "milk", "score": found[0]["score"], "content": "buy milk and eggs"}
    assert found[0]["score"] > found[1]["score"] > 0 and found[0]["score"] <= 1
    assert stat.S_IMODE((isolated_home / "embeddings.db").stat().st_mode) == 0o600
    assert main(["similar", "notes", "quarterly budget plans", "-n", "1"]) == 0
    line = capsys.readouterr().out
    assert line.count("\n") == 1 and "  budget  plan the quarterly budget" in line


def test_vectors_are_float32_blobs_of_the_models_embedding(isolated_home):
    assert main(["embed", "notes", "a", "some text", "-m", "mock"]) == 0
    expected = llmkit.Client("mock").embed("some text").vectors[0]
    db = sqlite3.connect(isolated_home / "embeddings.db")
    (blob,), = db.execute("SELECT vector FROM items WHERE collection = 'notes' AND id = 'a'").fetchall()
    (model, dims), = db.execute("SELECT model, dimensions FROM collections").fetchall()
    assert (model, dims) == ("mock", len(expected)) and len(blob) == 4 * len(expected)
    assert struct.unpack(f"<{dims}f", blob) == pytest.approx(expected, abs=1e-6)
    assert db.execute("SELECT content FROM items").fetchone() == (None,)  # the text only with --store


def test_input_from_a_file_stdin_and_globs(tmp_path, capsys, monkeypatch):
    (tmp_path / "docs" / "sub").mkdir(parents=True)
    (tmp_path / "docs" / "cats.md").write_text("cats purr and sleep all day")
    (tmp_path / "docs" / "sub" / "dogs.md").write_text("dogs bark and fetch the ball")
    (tmp_path / "docs" / "blob.md").write_bytes(b"\0\1binary")
    (tmp_path / "docs" / "empty.md").write_text("  \n")
    assert main(["embed", "pets", "--files", str(tmp_path / "docs" / "**" / "*.md"), "-m", "mock", "--store"]) == 0
    err = capsys.readouterr().err
    assert "skipped" in err and "blob.md: not UTF-8 text" in err and "empty.md: empty" in err
    assert "pets: embedded 2 item(s)" in err
    found = similar(capsys, "pets", "a dog fetching a ball")
    assert found[0]["id"] == str(tmp_path / "docs" / "sub" / "dogs.md")
    query = tmp_path / "q.txt"
    query.write_text("sleepy cats purring")
    found = similar(capsys, "pets", "-i", str(query))
    assert found[0]["id"].endswith("cats.md")
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(b"the parrot talks")))
    assert main(["embed", "pets", "parrot", "-i", "-", "--store"]) == 0
    best = similar(capsys, "pets", "the parrot talks")[0]
    assert best == {"id": "parrot", "score": pytest.approx(1.0), "content": "the parrot talks"}  # the same text: 1


def test_similar_to_an_item_leaves_it_out(capsys):
    fill()
    found = similar(capsys, "notes", "--id", "milk")
    assert [f["id"] for f in found] and "milk" not in [f["id"] for f in found] and len(found) == 2
    assert all(f["content"] is None for f in found)
    assert main(["similar", "notes", "--id", "nothing"]) == 1
    assert "has no item 'nothing'" in capsys.readouterr().err


def test_a_collection_keeps_its_model(capsys):
    fill()
    capsys.readouterr()
    assert main(["embed", "notes", "x", "more text", "-m", "mock:echo"]) == 1
    err = capsys.readouterr().err
    assert "was embedded with mock, not mock:echo" in err
    assert main(["embed", "notes", "x", "more text"]) == 0  # no -m: the collection's own model
    assert main(["embed", "notes", "y", "more text", "-o", "dimensions", "8"]) == 1
    assert "vectors of length [8]" in capsys.readouterr().err
    assert main(["collections", "--json"]) == 0
    (row,) = json.loads(capsys.readouterr().out)
    assert (row["name"], row["model"], row["dimensions"], row["items"]) == ("notes", "mock", 32, 4)


def test_unchanged_texts_are_not_embedded_again(capsys, monkeypatch):
    fill()
    calls = []
    real = llmkit.Client.embed
    monkeypatch.setattr(llmkit.Client, "embed", lambda self, texts, **o: calls.append(list(texts)) or real(self, texts, **o))
    assert main(["embed", "notes", "milk", "buy milk and eggs"]) == 0
    assert "embedded 0 item(s), 1 unchanged" in capsys.readouterr().err and calls == []
    assert main(["embed", "notes", "milk", "buy oat milk"]) == 0  # changed: embedded again
    assert calls == [["buy oat milk"]]
    assert main(["embed", "notes", "milk", "buy oat milk", "--store"]) == 0  # now with its text: stored
    assert len(calls) == 2 and similar(capsys, "notes", "oat milk")[0]["content"] == "buy oat milk"


def test_collections_list_delete_and_path(capsys, isolated_home):
    assert main(["collections"]) == 0
    assert "no collections yet" in capsys.readouterr().err
    fill("--store")
    assert main(["embed", "other", "a", "text", "-m", "mock"]) == 0
    capsys.readouterr()
    assert main(["collections", "list"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].split()[0] == "notes" and "mock  32 dimensions  3 item(s), 3 with text" in out[0]
    assert out[1].split()[0] == "other" and "1 item(s)" in out[1]
    assert main(["collections", "delete", "notes"]) == 0
    assert main(["collections", "delete", "notes"]) == 1
    assert "no collection 'notes'" in capsys.readouterr().err
    assert main(["similar", "notes", "milk"]) == 1
    err = capsys.readouterr().err
    assert "no collection 'notes'" in err and "Collections: other" in err
    db = sqlite3.connect(isolated_home / "embeddings.db")
    assert db.execute("SELECT COUNT(*) FROM items WHERE collection = 'notes'").fetchone() == (0,)
    assert main(["collections", "path"]) == 0
    assert capsys.readouterr().out.strip() == str(isolated_home / "embeddings.db")


def test_mistakes_are_one_line_errors(capsys, tmp_path):
    cases = [
        (["embed", "notes", "id-only"], "give one of"),
        (["embed", "notes", "a", "text", "-i", "file.txt"], "give one of"),
        (["embed", "notes", "a", "--files", "*.nothing"], "--files takes no ID"),
        (["embed", "notes", "--files", str(tmp_path / "*.none")], "no file matches"),
        (["embed", "notes", "a", "-i", str(tmp_path / "missing.txt")], "no such file"),
        (["embed", "notes", "a", "   "], "empty"),
        (["similar", "nothing", "text"], "no collection 'nothing'"),
        (["similar", "nothing"], "give one of"),
        (["similar", "nothing", "text", "-n", "0"], "-n must be 1 or more"),
    ]
    for args, message in cases:
        assert main(args) == 1, args
        err = capsys.readouterr().err
        assert err.startswith("error: ") and message in err and err.count("\n") == 1, (args, err)


def test_the_plain_python_search_agrees_with_numpy():
    pytest.importorskip("numpy")
    vectors = [[1.0, 0.0, 0.0], [0.6, 0.8, 0.0], [0.0, 0.0, 0.0], [-1.0, 0.5, 2.0]]
    blobs = [vector_store.pack(v) for v in vectors]
    query = [0.9, 0.3, -0.1]
    assert vector_store._cosines_python(query, blobs) == pytest.approx(vector_store._cosines(query, blobs), abs=1e-6)
    assert vector_store._cosines(query, blobs)[2] == 0.0  # a zero vector is like nothing
