"""The conversation history: every `llmkit ask` and chat turn, in SQLite.

    >>> import pathlib, tempfile
    >>> from llmkit import Turn, user, assistant
    >>> history = History(pathlib.Path(tempfile.mkdtemp()) / "logs.db")  # default: $LLMKIT_HOME/logs.db, 0600
    >>> cid, number = history.add_turn(None, Turn(user("Hi"), assistant("Hello"), model="mock:echo"))
    >>> [t.text for t in history.turns(cid)], number, history.last_conversation_id() == cid
    (['Hello'], 1, True)
    >>> [(c, t.user.text) for c, t in history.find_turns(query="hello")] == [(cid, "Hi")]
    True

A Conversation given a History (`llmkit.Conversation(client, history=History())`)
records each of its turns here.

Durability: the database runs in WAL mode and each turn (the user message and the
reply) is written in one transaction when the reply completes, so a crash or a kill
loses at most the reply in progress. Interrupted replies are kept, marked as such.

Secrets: only generation options are stored, and even those pass through a filter that
drops anything named like a credential (api_key, headers, ...). Backend settings
(base_url, api_key) are never handed to this module.
"""

from __future__ import annotations

import functools
import json
import os
import re
import secrets
import sqlite3
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, TypeVar

from .conversation.turn import Turn
from .errors import ConfigurationError, HistoryError
from .types import Message, Usage

__all__ = ["History", "db_path", "safe_options", "fts_query"]

T = TypeVar("T")
SCHEMA_VERSION = 1
_SCHEMA = """
CREATE TABLE IF NOT EXISTS conversations (
    id TEXT PRIMARY KEY,
    name TEXT,
    model TEXT,
    system TEXT,
    source TEXT,                    -- 'chat' or 'ask'
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS messages (
    id INTEGER PRIMARY KEY,
    conversation_id TEXT NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
    turn INTEGER NOT NULL,
    role TEXT NOT NULL,
    content TEXT NOT NULL,
    model TEXT,
    options TEXT,                   -- JSON, generation options only
    input_tokens INTEGER,
    output_tokens INTEGER,
    cost REAL,
    duration_ms INTEGER,
    first_token_ms INTEGER,
    finish_reason TEXT,
    interrupted INTEGER NOT NULL DEFAULT 0,
    created_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS messages_by_conversation ON messages(conversation_id, turn);
CREATE INDEX IF NOT EXISTS conversations_by_update ON conversations(updated_at);
CREATE VIRTUAL TABLE IF NOT EXISTS messages_fts USING fts5(
    content, content='messages', content_rowid='id'
);
CREATE TRIGGER IF NOT EXISTS messages_ai AFTER INSERT ON messages BEGIN
    INSERT INTO messages_fts(rowid, content) VALUES (new.id, new.content);
END;
CREATE TRIGGER IF NOT EXISTS messages_ad AFTER DELETE ON messages BEGIN
    INSERT INTO messages_fts(messages_fts, rowid, content) VALUES ('delete', old.id, old.content);
END;
"""

# Option names that must never reach the file, whatever a caller passes.
_SECRET_NAME = re.compile(r"(?i)(api_?key|secret|password|passwd|authori[sz]ation|headers|credential|bearer|cookie"
                          r"|(^|[_-])token$)")  # "access_token", not "max_tokens"
_SURROGATES = re.compile("[\ud800-\udfff]")


def db_path() -> Path:
    from .config import home

    return home() / "logs.db"


def safe_options(options: Mapping[str, Any] | None) -> dict[str, Any]:
    """The options worth keeping: JSON-able values, nothing that looks like a secret, at
    any depth (`extra_body={"api_key": ...}` loses its api_key)."""
    out: dict[str, Any] = {}
    for name, value in (options or {}).items():
        if _SECRET_NAME.search(str(name)):
            continue
        value = _without_secrets(value)
        try:
            json.dumps(value, allow_nan=False)
        except (TypeError, ValueError):  # tools (functions), pydantic classes: keep a name
            value = getattr(value, "__name__", type(value).__name__)
        out[str(name)] = value
    return out


def _without_secrets(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {k: _without_secrets(v) for k, v in value.items() if not _SECRET_NAME.search(str(k))}
    if isinstance(value, (list, tuple)):
        return [_without_secrets(v) for v in value]
    return value


def _storable(text: str) -> str:
    """Text SQLite can store: a lone surrogate (undecodable input read with
    surrogateescape) cannot be encoded as UTF-8, so it becomes U+FFFD."""
    return text if text.isascii() else _SURROGATES.sub("\ufffd", text)


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


# Two turns in the same millisecond tie on updated_at; the newest message id breaks it.
_RECENT_FIRST = (
    " ORDER BY c.updated_at DESC,"
    " (SELECT MAX(m.id) FROM messages m WHERE m.conversation_id = c.id) DESC, c.rowid DESC"
)


def new_id() -> str:
    """Time-ordered and short: 11 hex digits of milliseconds plus 5 random ones."""
    return f"{int(time.time() * 1000):011x}{secrets.token_hex(3)[:5]}"


def _reads(method: Callable[..., T]) -> Callable[..., T]:
    """SQLite's read failures (a damaged file) become one clear HistoryError."""

    @functools.wraps(method)
    def wrapper(self: History, *args: Any, **kwargs: Any) -> T:
        try:
            return method(self, *args, **kwargs)
        except sqlite3.DatabaseError as exc:
            raise HistoryError(
                f"cannot read the history file {self.path}: {exc}",
                hint=f"It may be damaged: move it away (llmkit starts a new one), or try `sqlite3 {self.path} .recover`.",
            ) from None

    return wrapper


class History:
    """The SQLite history file. Cheap to open; safe to share between processes."""

    def __init__(self, path: str | os.PathLike[str] | None = None, *, readonly: bool = False) -> None:
        """`readonly`: open an existing file only to read it (`llmkit logs` on a history
        the user cannot write); nothing is created or changed."""
        self.path = Path(path) if path is not None else db_path()
        self._db = self._connect_readonly() if readonly else self._connect()

    # --- set-up --------------------------------------------------------------------

    def _connect_readonly(self) -> sqlite3.Connection:
        from urllib.parse import quote

        uri = "file:" + quote(str(self.path.resolve()))
        last: sqlite3.DatabaseError | None = None
        for flags in ("?mode=ro", "?mode=ro&immutable=1"):  # a WAL file without -shm needs immutable
            try:
                db = sqlite3.connect(uri + flags, uri=True, isolation_level=None, timeout=10.0, check_same_thread=False)
                db.row_factory = sqlite3.Row
                db.execute("SELECT 1 FROM conversations LIMIT 1").fetchall()
                return db
            except sqlite3.DatabaseError as exc:
                last = exc
        raise ConfigurationError(f"cannot read the history file {self.path}: {last}",
                                 hint="Check the file's permissions, or move it away.")  # fmt: skip

    def _connect(self) -> sqlite3.Connection:
        path = self.path
        try:
            if not path.parent.exists():
                path.parent.mkdir(parents=True, mode=0o700)
            # create it owner-only before SQLite does (its -wal/-shm files copy this mode)
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
            os.close(fd)
            if os.stat(path).st_uid == os.getuid() and (os.stat(path).st_mode & 0o077):
                os.chmod(path, 0o600)
            db = sqlite3.connect(path, isolation_level=None, timeout=10.0, check_same_thread=False)
            db.row_factory = sqlite3.Row
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=FULL")  # a completed turn survives power loss too
            db.execute("PRAGMA foreign_keys=ON")
            version = db.execute("PRAGMA user_version").fetchone()[0]
            if version > SCHEMA_VERSION:
                raise ConfigurationError(
                    f"the history file {path} was written by a newer llmkit (schema {version})",
                    hint="Upgrade llmkit, or move the file away to start a new history.",
                )
            if version < SCHEMA_VERSION:
                try:
                    db.executescript(f"BEGIN IMMEDIATE;{_SCHEMA}PRAGMA user_version={SCHEMA_VERSION};COMMIT;")
                except BaseException:
                    if db.in_transaction:
                        db.execute("ROLLBACK")
                    raise
        except (sqlite3.DatabaseError, OSError) as exc:  # damaged, read-only, a directory, no space...
            detail = exc.strerror if isinstance(exc, OSError) and exc.strerror else exc
            raise ConfigurationError(
                f"cannot open the history file {path}: {detail}",
                hint="Check the file's permissions, or move it away to start a new history.",
            ) from None
        return db

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> History:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- writing ---------------------------------------------------------------------

    def add_turn(
        self,
        cid: str | None,
        turn: Turn,
        *,
        system: str | None = None,
        source: str = "chat",
        replace_turn: int | None = None,
    ) -> tuple[str, int]:
        """Commit a completed (or interrupted) turn in one transaction; returns (cid, turn
        number). With cid None a conversation is created. `replace_turn` swaps an earlier
        answer for this one (/retry) in the same transaction."""
        now = _now()
        model = turn.model
        with _transaction(self._db) as db:
            if cid is None:
                cid = new_id()
                db.execute(
                    "INSERT INTO conversations (id, model, system, source, created_at, updated_at)"
                    " VALUES (?, ?, ?, ?, ?, ?)",
                    (cid, model, system and _storable(system), source, now, now),
                )
            else:
                db.execute(
                    "UPDATE conversations SET model = ?, system = ?, updated_at = ? WHERE id = ?",
                    (model, system and _storable(system), now, cid),
                )
            if replace_turn is not None:
                db.execute("DELETE FROM messages WHERE conversation_id = ? AND turn = ?", (cid, replace_turn))
                number = replace_turn
            else:
                row = db.execute("SELECT MAX(turn) FROM messages WHERE conversation_id = ?", (cid,)).fetchone()
                number = (row[0] or 0) + 1
            db.execute(
                "INSERT INTO messages (conversation_id, turn, role, content, created_at) VALUES (?, ?, 'user', ?, ?)",
                (cid, number, _storable(turn.user.text), turn.created_at or now),
            )
            if turn.reply is not None:
                u = turn.usage
                db.execute(
                    "INSERT INTO messages (conversation_id, turn, role, content, model, options, input_tokens,"
                    " output_tokens, cost, duration_ms, first_token_ms, finish_reason, interrupted, created_at)"
                    " VALUES (?, ?, 'assistant', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (cid, number, _storable(turn.reply.text), model, json.dumps(safe_options(turn.options)),
                     u.input_tokens, u.output_tokens, u.cost, round(turn.duration * 1000),
                     None if turn.first_token is None else round(turn.first_token * 1000),
                     turn.finish_reason, int(turn.interrupted), now),
                )  # fmt: skip
        return cid, number

    def delete_turn(self, cid: str, number: int) -> None:
        with _transaction(self._db) as db:
            db.execute("DELETE FROM messages WHERE conversation_id = ? AND turn = ?", (cid, number))
            db.execute("UPDATE conversations SET updated_at = ? WHERE id = ?", (_now(), cid))

    def update_conversation(self, cid: str, *, model: str | None = None, system: str | None = None) -> None:
        """Record a /model or /system change (system "" clears it)."""
        with _transaction(self._db) as db:
            if model is not None:
                db.execute("UPDATE conversations SET model = ? WHERE id = ?", (model, cid))
            if system is not None:
                db.execute("UPDATE conversations SET system = ? WHERE id = ?", (system or None, cid))

    # --- reading ---------------------------------------------------------------------

    @_reads
    def last_conversation_id(self, source: str | None = None) -> str | None:
        sql = "SELECT id FROM conversations c"
        args: tuple = ()
        if source:
            sql, args = sql + " WHERE source = ?", (source,)
        row = self._db.execute(sql + _RECENT_FIRST + " LIMIT 1", args).fetchone()
        return row["id"] if row else None

    @_reads
    def resolve_id(self, cid: str) -> str:
        """A full conversation id from an id or a unique prefix of one."""
        rows = self._db.execute(
            "SELECT id FROM conversations WHERE id = ? OR id LIKE ? ESCAPE '\\' LIMIT 2",
            (cid, cid.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"),
        ).fetchall()
        ids = [r["id"] for r in rows]
        if cid in ids:
            return cid
        if len(ids) == 1:
            return ids[0]
        if not ids:
            raise HistoryError(f"no conversation {cid!r} in {self.path}", hint="`llmkit logs` lists conversations.")
        raise HistoryError(f"{cid!r} matches several conversations", hint="Give more characters of the id.")

    @_reads
    def conversation(self, cid: str) -> dict[str, Any]:
        row = self._db.execute("SELECT * FROM conversations WHERE id = ?", (cid,)).fetchone()
        if row is None:
            raise HistoryError(f"no conversation {cid!r} in {self.path}", hint="`llmkit logs` lists conversations.")
        return dict(row)

    @_reads
    def conversations(self, limit: int = 20) -> list[dict[str, Any]]:
        rows = self._db.execute(
            "SELECT c.*, (SELECT COUNT(DISTINCT turn) FROM messages m WHERE m.conversation_id = c.id) AS turns"
            " FROM conversations c" + _RECENT_FIRST + " LIMIT ?",
            (limit,),
        ).fetchall()
        return [dict(r) for r in rows]

    @_reads
    def turns(self, cid: str) -> list[Turn]:
        """The turns of a conversation, oldest first."""
        rows = self._db.execute("SELECT * FROM messages WHERE conversation_id = ? ORDER BY turn, id", (cid,)).fetchall()
        return _turns(rows)

    @_reads
    def find_turns(
        self, *, cid: str | None = None, query: str | None = None, limit: int = 10,
        models: tuple[str, ...] = (),
    ) -> list[tuple[str, Turn]]:  # fmt: skip
        """The newest turns (returned oldest first) as (conversation id, turn), optionally
        of one conversation, answered by one of `models` (ids), or with a message matching
        a full-text `query` (all of its words, in any order)."""
        where: list[str] = []
        args: list[Any] = []
        join = ""
        if cid:
            where.append("m.conversation_id = ?")
            args.append(cid)
        if models:
            where.append("EXISTS (SELECT 1 FROM messages r WHERE r.conversation_id = m.conversation_id AND "
                         f"r.turn = m.turn AND r.role = 'assistant' AND r.model IN ({', '.join('?' * len(models))}))")  # fmt: skip
            args.extend(models)
        if query:
            join = " JOIN messages_fts f ON f.rowid = m.id"
            where.append("messages_fts MATCH ?")
            args.append(fts_query(query))
        sql = (
            "SELECT m.conversation_id AS cid, m.turn AS turn FROM messages m" + join
            + (" WHERE " + " AND ".join(where) if where else "")
            + " GROUP BY m.conversation_id, m.turn ORDER BY MAX(m.id) DESC LIMIT ?"
        )  # fmt: skip
        try:
            keys = self._db.execute(sql, (*args, limit)).fetchall()
        except sqlite3.OperationalError as exc:
            raise HistoryError(f"cannot search for {query!r}: {exc}") from None
        if query and not keys:  # words FTS cannot split out (Chinese, Japanese...): plain substrings
            like = [w.strip("*") for w in query.split() if w.strip("*")]
            where_like = where[:-1] + ["m.content LIKE ? ESCAPE '\\'"] * len(like)
            escaped = ["%" + w.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%" for w in like]
            sql = (
                "SELECT m.conversation_id AS cid, m.turn AS turn FROM messages m"
                + (" WHERE " + " AND ".join(where_like) if where_like else "")
                + " GROUP BY m.conversation_id, m.turn ORDER BY MAX(m.id) DESC LIMIT ?"
            )  # fmt: skip
            keys = self._db.execute(sql, (*args[:-1], *escaped, limit)).fetchall() if like else []
        out = []
        for key in reversed(keys):
            rows = self._db.execute(
                "SELECT * FROM messages WHERE conversation_id = ? AND turn = ? ORDER BY id", (key["cid"], key["turn"])
            ).fetchall()
            turn = _turns(rows)
            if turn:
                out.append((key["cid"], turn[0]))
        return out


def fts_query(text: str) -> str:
    """Words as FTS5 phrases (so '-', ':' or quotes in a search are not syntax); a
    trailing * keeps its meaning: "caf*" finds café and cafeteria."""
    phrases = []
    for word in text.split():
        prefix = word.endswith("*") and word.strip("*") != ""
        word = word.rstrip("*") if prefix else word
        phrases.append('"' + word.replace('"', '""') + '"' + ("*" if prefix else ""))
    return " ".join(phrases) or '""'


def _turns(rows: list[sqlite3.Row]) -> list[Turn]:
    turns: dict[int, Turn] = {}
    for r in rows:
        if r["role"] == "user":
            turns[r["turn"]] = Turn(Message("user", r["content"]), created_at=r["created_at"], number=r["turn"])
        elif r["turn"] in turns:
            _with_reply(turns[r["turn"]], r)
    return list(turns.values())


def _with_reply(turn: Turn, r: sqlite3.Row) -> Turn:
    turn.reply = Message("assistant", r["content"])
    turn.model = r["model"] or ""
    turn.options = json.loads(r["options"] or "{}")
    turn.usage = Usage(r["input_tokens"] or 0, r["output_tokens"] or 0, r["cost"])
    turn.duration = (r["duration_ms"] or 0) / 1000
    turn.first_token = None if r["first_token_ms"] is None else r["first_token_ms"] / 1000
    turn.finish_reason = r["finish_reason"]
    turn.interrupted = bool(r["interrupted"])
    return turn


@contextmanager
def _transaction(db: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """BEGIN IMMEDIATE ... COMMIT, or ROLLBACK on any error (autocommit connection).
    SQLite's own failures (disk full, locked too long) become HistoryErrors."""
    try:
        db.execute("BEGIN IMMEDIATE")
        try:
            yield db
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")
    except sqlite3.Error as exc:
        raise HistoryError(
            f"could not write the history: {exc}", hint="Check the disk space and the history file's permissions."
        ) from None
