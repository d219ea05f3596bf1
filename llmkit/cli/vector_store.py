"""Collections of embeddings for `llmkit embed`, `llmkit similar` and `llmkit
collections`: one SQLite file, $LLMKIT_HOME/embeddings.db (owner-only, WAL).

    >>> import pathlib, tempfile
    >>> store = VectorStore(pathlib.Path(tempfile.mkdtemp()) / "embeddings.db")
    >>> store.create("notes", "mock", 3)
    >>> store.upsert("notes", [("a", [1.0, 0.0, 0.0], "cats", None), ("b", [0.6, 0.8, 0.0], None, None)])
    2
    >>> [(i, round(s, 2)) for i, s, _ in store.similar("notes", [1.0, 0.1, 0.0], 2)]
    [('a', 1.0), ('b', 0.68)]
    >>> store.close()

A collection remembers the model that made its vectors and their length: vectors of
another model live in another space, so mixing them is refused. Vectors are stored as
little-endian float32 blobs; an item's text is kept only when asked (`--store`), its
SHA-256 always, so that embedding unchanged text again is skipped.

Search is exact: every vector of the collection is compared with the query (cosine
similarity; numpy when it is installed, else plain Python). The vector extension
sqlite-vec was considered and left out: Python's sqlite3 module is often built without
`enable_load_extension` (this project's interpreter is), where the extension cannot
load at all, and exact search over a personal collection is quick enough: 5,000 vectors
of 1,536 dimensions in about 0.1 s with numpy (0.6 s in plain Python) on 2 cores.
"""

from __future__ import annotations

import hashlib
import heapq
import math
import os
import sqlite3
import struct
from collections.abc import Iterable, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

__all__ = ["VectorStore", "db_path", "pack", "unpack", "content_hash"]

SCHEMA_VERSION = 1
_SCHEMA = """
CREATE TABLE IF NOT EXISTS collections (
    name TEXT PRIMARY KEY,
    model TEXT NOT NULL,
    dimensions INTEGER NOT NULL,
    created_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS items (
    collection TEXT NOT NULL REFERENCES collections(name) ON DELETE CASCADE,
    id TEXT NOT NULL,
    vector BLOB NOT NULL,           -- float32, little-endian
    content TEXT,                   -- only with --store
    content_hash TEXT,              -- sha256 of the text embedded
    updated_at TEXT NOT NULL,
    PRIMARY KEY (collection, id)
);
"""


def db_path() -> Path:
    from llmkit.config import home

    return home() / "embeddings.db"


def pack(vector: Sequence[float]) -> bytes:
    return struct.pack(f"<{len(vector)}f", *vector)


def unpack(blob: bytes) -> list[float]:
    return list(struct.unpack(f"<{len(blob) // 4}f", blob))


def content_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


class VectorStore:
    def __init__(self, path: Path | None = None, *, create: bool = True) -> None:
        from llmkit.errors import ConfigurationError

        self.path = path or db_path()
        try:
            if create:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                os.close(os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600))  # owner-only before SQLite makes it
            self._db = sqlite3.connect(self.path, isolation_level=None, timeout=10.0)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA foreign_keys=ON")
            version = self._db.execute("PRAGMA user_version").fetchone()[0]
            if version > SCHEMA_VERSION:
                raise ConfigurationError(f"{self.path} was written by a newer llmkit (schema {version})",
                                         hint="Upgrade llmkit, or move the file away.")  # fmt: skip
            if version < SCHEMA_VERSION:
                self._db.executescript(f"BEGIN IMMEDIATE;{_SCHEMA}PRAGMA user_version={SCHEMA_VERSION};COMMIT;")
        except (sqlite3.DatabaseError, OSError) as exc:
            detail = exc.strerror if isinstance(exc, OSError) and exc.strerror else exc
            raise ConfigurationError(f"cannot open the embeddings file {self.path}: {detail}",
                                     hint="Check its permissions, or move it away to start afresh.") from None  # fmt: skip

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> VectorStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- collections -------------------------------------------------------------------

    def collection(self, name: str) -> dict[str, Any] | None:
        row = self._db.execute("SELECT name, model, dimensions, created_at FROM collections WHERE name = ?",
                               (name,)).fetchone()  # fmt: skip
        return None if row is None else dict(zip(("name", "model", "dimensions", "created_at"), row, strict=True))

    def create(self, name: str, model: str, dimensions: int) -> None:
        self._db.execute("INSERT INTO collections (name, model, dimensions, created_at) VALUES (?, ?, ?, ?)",
                         (name, model, dimensions, _now()))  # fmt: skip

    def collections(self) -> list[dict[str, Any]]:
        rows = self._db.execute(
            "SELECT c.name, c.model, c.dimensions, c.created_at, COUNT(i.id), SUM(i.content IS NOT NULL) "
            "FROM collections c LEFT JOIN items i ON i.collection = c.name GROUP BY c.name ORDER BY c.name"
        ).fetchall()
        keys = ("name", "model", "dimensions", "created_at", "items", "stored_texts")
        return [{**dict(zip(keys, r, strict=True)), "stored_texts": r[5] or 0} for r in rows]

    def delete(self, name: str) -> bool:
        with self._transaction():
            self._db.execute("DELETE FROM items WHERE collection = ?", (name,))
            return self._db.execute("DELETE FROM collections WHERE name = ?", (name,)).rowcount > 0

    # --- items -------------------------------------------------------------------------

    def upsert(self, name: str, items: Iterable[tuple[str, Sequence[float], str | None, str | None]]) -> int:
        """(id, vector, text to keep or None, sha256 of the text or None) each; one
        transaction. Returns how many were written."""
        rows = [(name, i, pack(v), text, digest, _now()) for i, v, text, digest in items]
        with self._transaction():
            self._db.executemany(
                "INSERT INTO items (collection, id, vector, content, content_hash, updated_at) VALUES (?, ?, ?, ?, ?, ?) "
                "ON CONFLICT (collection, id) DO UPDATE SET vector = excluded.vector, content = excluded.content, "
                "content_hash = excluded.content_hash, updated_at = excluded.updated_at", rows)  # fmt: skip
        return len(rows)

    def hashes(self, name: str) -> dict[str, tuple[str | None, bool]]:
        """id -> (sha256 of the text embedded, whether the text is stored)."""
        rows = self._db.execute("SELECT id, content_hash, content IS NOT NULL FROM items WHERE collection = ?",
                                (name,)).fetchall()  # fmt: skip
        return {r[0]: (r[1], bool(r[2])) for r in rows}

    def vector(self, name: str, item: str) -> list[float] | None:
        row = self._db.execute("SELECT vector FROM items WHERE collection = ? AND id = ?", (name, item)).fetchone()
        return None if row is None else unpack(row[0])

    def similar(self, name: str, query: Sequence[float], n: int, exclude: str | None = None
                ) -> list[tuple[str, float, str | None]]:  # fmt: skip
        """The `n` items most like `query` by cosine similarity, best first:
        (id, score, stored text or None)."""
        rows = self._db.execute("SELECT id, vector, content FROM items WHERE collection = ?", (name,)).fetchall()
        rows = [r for r in rows if r[0] != exclude]
        if not rows or n <= 0:
            return []
        scores = _cosines(query, [r[1] for r in rows])
        best = heapq.nlargest(n, range(len(rows)), key=lambda k: (scores[k], -k))
        return [(rows[k][0], scores[k], rows[k][2]) for k in best]

    def _transaction(self) -> Any:
        from contextlib import contextmanager

        @contextmanager
        def block() -> Any:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

        return block()


def _cosines(query: Sequence[float], blobs: list[bytes]) -> list[float]:
    """Cosine similarity of `query` with each float32 blob (0 for a zero vector)."""
    try:
        import numpy as np
    except ImportError:
        return _cosines_python(query, blobs)
    matrix = np.frombuffer(b"".join(blobs), dtype="<f4").reshape(len(blobs), -1).astype(np.float64)
    q = np.asarray(query, dtype=np.float64)
    norms = np.linalg.norm(matrix, axis=1) * (np.linalg.norm(q) or 1.0)
    dots = matrix @ q
    return [float(x) for x in np.divide(dots, norms, out=np.zeros_like(dots), where=norms > 0)]


def _cosines_python(query: Sequence[float], blobs: list[bytes]) -> list[float]:
    qn = math.sqrt(sum(x * x for x in query)) or 1.0
    out = []
    for blob in blobs:
        v = unpack(blob)
        vn = math.sqrt(sum(x * x for x in v))
        out.append(sum(a * b for a, b in zip(query, v, strict=True)) / (vn * qn) if vn else 0.0)
    return out
