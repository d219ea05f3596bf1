"""The SQLite history: schema, durability, search, permissions, and no secrets."""

import json
import os
import sqlite3
import stat
import subprocess
import sys
import textwrap

import pytest

from llmkit.errors import LLMKitError
from llmkit.logs import History, Turn, db_path, fts_query, safe_options
from llmkit.types import Message, Usage


def turn(question, answer, **kw):
    return Turn(Message("user", question), Message("assistant", answer), model=kw.pop("model", "mock:echo"), **kw)


def test_file_is_owner_only_in_llmkit_home_and_uses_wal(isolated_home):
    with History() as h:
        h.add_turn(None, turn("hi", "hello"))
    path = db_path()
    assert path.parent == isolated_home and path.name == "logs.db"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(isolated_home.stat().st_mode) == 0o700
    db = sqlite3.connect(path)
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type IN ('table')")}
    assert {"conversations", "messages", "messages_fts"} <= tables


def test_existing_file_with_loose_permissions_is_tightened(isolated_home):
    isolated_home.mkdir(parents=True)
    path = isolated_home / "logs.db"
    path.touch(mode=0o644)
    os.chmod(path, 0o644)
    History().close()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_turns_round_trip_with_model_options_usage_and_timing():
    h = History()
    t = turn(
        "2+2?",
        "4",
        options={"temperature": 0, "max_tokens": 5},
        usage=Usage(10, 1, 0.0001),
        duration=1.25,
        first_token=0.5,
        finish_reason="stop",
    )
    cid, number = h.add_turn(None, t, system="Be brief.")
    cid2, number2 = h.add_turn(cid, turn("and 3+3?", "6", model="mock"), system="Be brief.")
    assert cid2 == cid and (number, number2) == (1, 2)
    turns = h.turns(cid)
    assert [x.user.text for x in turns] == ["2+2?", "and 3+3?"]
    first = turns[0]
    assert first.reply.text == "4" and first.options == {"temperature": 0, "max_tokens": 5}
    assert (first.usage.input_tokens, first.usage.output_tokens, first.usage.cost) == (10, 1, 0.0001)
    assert first.duration == 1.25 and first.first_token == 0.5 and first.finish_reason == "stop"
    assert turns[1].model == "mock"
    conv = h.conversation(cid)
    assert conv["system"] == "Be brief." and conv["model"] == "mock" and conv["source"] == "chat"


def test_interrupted_turn_is_kept_and_marked():
    h = History()
    cid, _ = h.add_turn(None, turn("tell me a story", "Once upon", interrupted=True, finish_reason="interrupted"))
    (t,) = h.turns(cid)
    assert t.interrupted and t.reply.text == "Once upon"


@pytest.mark.parametrize("frozen_clock", [False, True])
def test_last_conversation_and_prefix_ids(frozen_clock, monkeypatch):
    if frozen_clock:  # a fast machine writes several turns in one millisecond
        monkeypatch.setattr("llmkit.logs._now", lambda: "2026-01-01T00:00:00.000Z")
    h = History()
    a, _ = h.add_turn(None, turn("a", "a"))
    b, _ = h.add_turn(None, turn("b", "b"), source="ask")
    assert h.last_conversation_id() == b
    h.add_turn(a, turn("a2", "a2"))  # a is now the most recently updated
    assert h.last_conversation_id() == a
    assert h.last_conversation_id(source="ask") == b
    assert [c["id"] for c in h.conversations()] == [a, b]
    assert h.resolve_id(a) == a
    assert h.resolve_id(b[:-1]) == b or len({a[:-1], b[:-1]}) == 1
    with pytest.raises(LLMKitError, match="no conversation"):
        h.resolve_id("zzzz")


def test_retry_replaces_a_turn_and_undo_deletes_it():
    h = History()
    cid, n1 = h.add_turn(None, turn("q1", "a1"))
    _, n2 = h.add_turn(cid, turn("q2", "bad answer"))
    h.add_turn(cid, turn("q2", "good answer"), replace_turn=n2)
    assert [t.reply.text for t in h.turns(cid)] == ["a1", "good answer"]
    assert not h.find_turns(query="bad")  # the FTS index follows deletions
    h.delete_turn(cid, n2)
    assert [t.user.text for t in h.turns(cid)] == ["q1"]


def test_full_text_search_over_questions_and_answers():
    h = History()
    cid, _ = h.add_turn(None, turn("What is the capital of France?", "Paris."))
    h.add_turn(None, turn("Write a haiku", "Autumn moonlight / a worm digs silently"))
    found = h.find_turns(query="capital france")
    assert [(c, t.reply.text) for c, t in found] == [(cid, "Paris.")]
    assert [t.user.text for _, t in h.find_turns(query="moonlight")] == ["Write a haiku"]
    # punctuation and FTS syntax in a query are just text
    assert h.find_turns(query='worm-digs "AND') == []
    assert h.find_turns(query="France?")[0][0] == cid
    assert len(h.find_turns(limit=1)) == 1


def test_fts_query_quotes_every_word():
    assert fts_query('a "b" c-d') == '"a" """b""" "c-d"'
    assert fts_query("caf* * **") == '"caf"* "*" "**"'  # a trailing * on a word is a prefix search


def test_prefix_and_substring_search():
    h = History()
    h.add_turn(None, turn("Où est le café ?", "Au coin de la rue."))
    cid, _ = h.add_turn(None, turn("東京の天気はどうですか", "晴れです。"))
    assert [t.user.text for _, t in h.find_turns(query="caf*")] == ["Où est le café ?"]
    assert [t.user.text for _, t in h.find_turns(query="cafe")] == ["Où est le café ?"]  # accents folded
    assert len(h.find_turns(query="caf")) == 1  # no whole word matches: substrings do
    assert [c for c, _ in h.find_turns(query="天気")] == [cid]  # no word breaks: a substring search
    assert h.find_turns(query="天気 雨") == []  # every word must be there
    h.add_turn(None, turn("I scored 100 points", "Well done."))
    assert h.find_turns(query="sc%ed") == []  # LIKE wildcards in a query are text, not "anything"
    assert h.find_turns(query="scor_d") == []
    assert len(h.find_turns(query="scor")) == 1


def test_a_damaged_history_file_is_one_clear_error(isolated_home):
    with History() as h:
        for i in range(200):
            h.add_turn(None, turn(f"question {i} " * 20, f"answer {i} " * 20))
        h._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    path = db_path()
    data = bytearray(path.read_bytes())
    data[8192:40960] = os.urandom(32768)  # pages in the middle, past the header
    path.write_bytes(bytes(data))
    with pytest.raises(LLMKitError, match="cannot read the history file") as info:
        h = History()
        h.find_turns(query="question")
        h.conversations(limit=500)
        for c in h.conversations(limit=500):
            h.turns(c["id"])
    assert "move it away" in info.value.hint


def test_options_never_keep_secrets():
    opts = {
        "temperature": 0.2,
        "max_tokens": 9,
        "api_key": "sk-secret",
        "extra_headers": {"Authorization": "x"},
        "openai_api_key": "sk-x",
        "tools": [len],
        "response_format": dict,
    }
    kept = safe_options(opts)
    assert kept["temperature"] == 0.2 and kept["max_tokens"] == 9
    assert not any("key" in k or "header" in k for k in kept)
    h = History()
    cid, _ = h.add_turn(None, turn("hi", "hello", options=opts))
    raw = db_path().read_bytes() + (
        db_path().with_name("logs.db-wal").read_bytes() if db_path().with_name("logs.db-wal").exists() else b""
    )
    assert b"sk-secret" not in raw and b"sk-x" not in raw
    json.dumps(h.turns(cid)[0].options)


def test_a_killed_writer_loses_nothing_committed(tmp_path):
    """Commit two turns, then die by SIGKILL in the middle of a third transaction."""
    script = textwrap.dedent(f"""
        import os, signal
        from llmkit.logs import History, Turn
        from llmkit.types import Message
        h = History({str(tmp_path / "h.db")!r})
        cid = None
        for i in range(2):
            cid, _ = h.add_turn(cid, Turn(Message("user", f"q{{i}}"), Message("assistant", f"a{{i}}"), model="m"))
        print(cid, flush=True)
        h._db.execute("BEGIN IMMEDIATE")
        h._db.execute("INSERT INTO messages (conversation_id, turn, role, content, created_at) "
                      "VALUES (?, 3, 'user', 'lost', 'now')", (cid,))
        os.kill(os.getpid(), signal.SIGKILL)
    """)
    r = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert r.returncode == -9
    cid = r.stdout.strip()
    h = History(tmp_path / "h.db")
    assert [(t.user.text, t.reply.text) for t in h.turns(cid)] == [("q0", "a0"), ("q1", "a1")]


def test_two_processes_share_the_file():
    a, b = History(), History()
    cid, _ = a.add_turn(None, turn("from a", "x"))
    b.add_turn(cid, turn("from b", "y"))
    assert [t.user.text for t in a.turns(cid)] == ["from a", "from b"]


def test_newer_schema_is_refused(tmp_path):
    path = tmp_path / "h.db"
    db = sqlite3.connect(path)
    db.execute("PRAGMA user_version=99")
    db.close()
    with pytest.raises(LLMKitError, match="newer llmkit"):
        History(path)


def test_history_example_runs():
    from pathlib import Path

    example = Path(__file__).resolve().parent.parent / "examples" / "history_search.py"
    r = subprocess.run([sys.executable, str(example)], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert "turn 2: 'And of Norway?'" in r.stdout and "found in " in r.stdout
    assert "last conversation: 1 turn(s), first question 'A haiku about moonlight'" in r.stdout
    assert "after continuing: 2 turn(s)" in r.stdout
