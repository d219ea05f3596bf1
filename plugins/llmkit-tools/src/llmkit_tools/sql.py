"""SQLiteTools: read-only SQL over one SQLite file, for a model.

    db = SQLiteTools("sales.db")               # a missing file is an error: nothing is created
    agent = llmkit.Agent(model, tools=[db])    # tools: list_tables, describe_table, query

Design: a model's SQL is untrusted text, so the database is protected in layers, each of
which would stop a write on its own:

1. The file is opened read-only (`file:PATH?mode=ro` as a URI, the path percent-quoted),
   and `PRAGMA query_only=ON` is set: SQLite itself refuses to write.
2. An authorizer approves each statement while it is compiled: only SELECT, reading
   columns, calling functions (not load_extension and a few other risky ones), recursive
   CTEs, and the read-only introspection pragmas (table_info, index_list, ..., also as
   tables: pragma_table_info('t'); json_each and json_tree too, set up before). INSERT,
   UPDATE, DELETE, DROP, CREATE (temp tables too), ATTACH, DETACH, every other PRAGMA,
   transactions and ANALYZE are denied before anything runs, inside a CTE or a trigger too.
3. Limits on the connection: no attached databases, strings and blobs up to 10 MB, SQL up
   to 20,000 characters; extensions cannot be loaded.
4. One statement per call (sqlite3 refuses a second one before running the first).
5. A progress handler stops a statement after `timeout` seconds (a runaway recursive CTE
   ends there), and at most `max_rows` rows (200) come back, long values cut, the total
   kept under `max_result_chars`; the result says when it left rows out.

A refusal is a ToolInputError whose message goes back to the model (what was refused, and
what it may do instead). One connection is kept per SQLiteTools and used under a lock, so
the tools can be called from an agent's worker threads; `close()` closes it.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
import time
import urllib.parse
from pathlib import Path
from typing import Any

from llmkit.errors import UsageError
from llmkit.tools import Tool, tool

from .refusals import ToolInputError, close_matches

__all__ = ["SQLiteTools"]

_ALLOWED = {sqlite3.SQLITE_SELECT, sqlite3.SQLITE_READ, sqlite3.SQLITE_FUNCTION, sqlite3.SQLITE_RECURSIVE}
# pragmas that only describe the schema; any other pragma (writable_schema, journal_mode, ...) is denied
_READ_PRAGMAS = {"table_info", "table_xinfo", "index_list", "index_info", "index_xinfo", "foreign_key_list"}
# functions a query may not call even though SQLite has them: loading code, touching files
_DENIED_FUNCTIONS = {"load_extension", "fts3_tokenizer", "readfile", "writefile", "edit", "sqlar_compress",
                     "sqlar_uncompress", "zipfile"}  # fmt: skip
_ACTIONS = ("CREATE_INDEX CREATE_TABLE CREATE_TEMP_INDEX CREATE_TEMP_TABLE CREATE_TEMP_TRIGGER CREATE_TEMP_VIEW "
            "CREATE_TRIGGER CREATE_VIEW DELETE DROP_INDEX DROP_TABLE DROP_TEMP_INDEX DROP_TEMP_TABLE "
            "DROP_TEMP_TRIGGER DROP_TEMP_VIEW DROP_TRIGGER DROP_VIEW INSERT PRAGMA READ SELECT TRANSACTION UPDATE "
            "ATTACH DETACH ALTER_TABLE REINDEX ANALYZE CREATE_VTABLE DROP_VTABLE FUNCTION SAVEPOINT RECURSIVE")
# authorizer action code -> its name, for refusals (the action codes only: the module's error codes overlap them)
_ACTION_NAMES = {getattr(sqlite3, "SQLITE_" + n): n for n in _ACTIONS.split() if hasattr(sqlite3, "SQLITE_" + n)}

MAX_SQL_CHARS = 20_000
MAX_VALUE_BYTES = 10_000_000
_READ_ONLY_HINT = ("This database is read-only: use one SELECT (or WITH ... SELECT) statement that reads it. "
                   "list_tables and describe_table show its tables and columns.")  # fmt: skip


def _warm_table_functions(conn: sqlite3.Connection) -> None:
    """Make the read-only table-valued functions usable: json_each and json_tree, and the
    pragma_* tables of the read pragmas (`SELECT name FROM pragma_table_info('t')`). SQLite
    sets such a table up on its first use in a connection, and the setup asks the
    authorizer for a write to sqlite_master, which it refuses; so each is used once here,
    before the authorizer is installed. Their later uses are still checked (a pragma table
    as that PRAGMA), and the other pragma tables are still refused."""
    uses = ["SELECT * FROM json_each('[]')", "SELECT * FROM json_tree('[]')"]
    uses += [f"SELECT * FROM pragma_{name}('sqlite_master')" for name in sorted(_READ_PRAGMAS)]
    for sql in uses:
        try:
            conn.execute(sql).fetchall()
        except sqlite3.Error:  # a SQLite built without it
            pass


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


class SQLiteTools:
    """Read-only SQL tools over one SQLite file: list_tables, describe_table, query.

    `max_rows`: rows a query returns at most; `timeout`: seconds a statement may run;
    `max_cell_chars`: longer values are cut; `max_result_chars`: the result's size in
    JSON at most; `prefix`: put before each tool's name (two databases in one agent)."""

    def __init__(self, path: str | os.PathLike[str], *, max_rows: int = 200, timeout: float = 5.0,
                 max_cell_chars: int = 500, max_result_chars: int = 40_000, prefix: str = "") -> None:  # fmt: skip
        given = Path(os.fspath(path)).expanduser()
        if not given.exists():
            raise UsageError(f"there is no SQLite database at {given}",
                             hint="Give the path of an existing database file: the sqlite tool opens it "
                                  "read-only and never creates one.")  # fmt: skip
        if not given.is_file():
            raise UsageError(f"{given} is not a file", hint="Give the path of a SQLite database file.")
        if max_rows < 1 or timeout <= 0:
            raise UsageError(f"max_rows must be >= 1 and timeout > 0 (got {max_rows}, {timeout})")
        self.path = given.resolve()
        self.max_rows, self.timeout = max_rows, timeout
        self.max_cell_chars, self.max_result_chars = max_cell_chars, max_result_chars
        self.prefix = prefix
        self._lock = threading.RLock()
        self._deadline = float("inf")
        self._denied: list[str] = []
        self._tools: list[Tool] | None = None
        self._conn = self._connect()

    # --- the connection -----------------------------------------------------------------

    def _connect(self) -> sqlite3.Connection:
        uri = "file:" + urllib.parse.quote(str(self.path)) + "?mode=ro"
        try:
            conn = sqlite3.connect(uri, uri=True, check_same_thread=False, isolation_level=None)
        except sqlite3.Error as exc:
            raise UsageError(f"cannot open {self.path} read-only: {exc}",
                             hint="Check that the file is readable (a WAL database also needs its -shm file "
                                  "or a writable folder).") from None  # fmt: skip
        try:
            conn.execute("PRAGMA query_only = ON")
            conn.execute("SELECT count(*) FROM sqlite_master").fetchone()  # "file is not a database" here
        except sqlite3.Error as exc:
            conn.close()
            raise UsageError(f"{self.path} cannot be read as a SQLite database: {exc}",
                             hint="Give the path of a SQLite database file.") from None  # fmt: skip
        limits = {"SQLITE_LIMIT_ATTACHED": 0, "SQLITE_LIMIT_LENGTH": MAX_VALUE_BYTES,
                  "SQLITE_LIMIT_SQL_LENGTH": MAX_SQL_CHARS * 4}  # fmt: skip
        if hasattr(conn, "setlimit"):  # Python 3.11+ (on 3.10, ATTACH is still denied by the authorizer)
            for name, value in limits.items():
                conn.setlimit(getattr(sqlite3, name), value)
        if hasattr(conn, "enable_load_extension"):
            conn.enable_load_extension(False)
        _warm_table_functions(conn)
        conn.set_authorizer(self._authorize)
        conn.set_progress_handler(self._progress, 1000)
        return conn

    def _authorize(self, action: int, arg1: str | None, arg2: str | None, db: str | None, trigger: str | None) -> int:
        if action == sqlite3.SQLITE_FUNCTION and (arg2 or "").lower() in _DENIED_FUNCTIONS:
            self._denied.append(f"the function {arg2}()")
            return sqlite3.SQLITE_DENY
        if action in _ALLOWED:
            return sqlite3.SQLITE_OK
        if action == sqlite3.SQLITE_PRAGMA and (arg1 or "").lower() in _READ_PRAGMAS and arg2 is not None:
            return sqlite3.SQLITE_OK
        what = _ACTION_NAMES.get(action, str(action)).replace("_", " ")
        self._denied.append(f"{what} {arg1}" if arg1 else what)
        return sqlite3.SQLITE_DENY

    def _progress(self) -> int:
        return 1 if time.monotonic() > self._deadline else 0

    def close(self) -> None:
        """Close the connection (the tools cannot be used after it)."""
        with self._lock:
            self._conn.close()

    def __enter__(self) -> SQLiteTools:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"SQLiteTools({str(self.path)!r})"

    def __llmkit_tools__(self) -> list[Tool]:
        """The tools an agent gets (close() and the settings are not among them)."""
        if self._tools is not None:
            return list(self._tools)
        name = self.path.name
        self._tools = [
            tool(name=f"{self.prefix}list_tables",
                 description=f"List the tables and views of the SQLite database {name}, with their columns.")(self.list_tables),
            tool(name=f"{self.prefix}describe_table",
                 description=f"Describe one table of the SQLite database {name}: columns and types, keys, "
                             "indexes, row count, its CREATE statement and a few sample rows.")(self.describe_table),
            tool(name=f"{self.prefix}query",
                 description=f"Run one read-only SQL query (SELECT or WITH ... SELECT, SQLite dialect) on the "
                             f"database {name}. At most {self.max_rows} rows come back (the result says when "
                             f"more were left out: use LIMIT, WHERE or aggregates). Writes are refused.")(self.query),
        ]  # fmt: skip
        return list(self._tools)

    # --- running statements -----------------------------------------------------------------

    def _run(self, sql: str, params: tuple[Any, ...] = (), limit: int | None = None) -> tuple[list[str], list[tuple[Any, ...]], bool]:
        """(columns, rows, more rows left) for one statement, within the time limit."""
        limit = self.max_rows if limit is None else limit
        self._denied = []
        self._deadline = time.monotonic() + self.timeout
        cursor = None
        try:
            cursor = self._conn.execute(sql, params)
            columns = [d[0] for d in cursor.description or ()]
            rows = cursor.fetchmany(limit + 1) if cursor.description else []
        except sqlite3.ProgrammingError as exc:
            if "one statement" in str(exc):
                raise ToolInputError("only one SQL statement per query is allowed (this has more than one)",
                                     hint="Send the statements as separate query calls, each a single SELECT.") from None  # fmt: skip
            raise ToolInputError(f"the query cannot run: {exc}") from None
        except sqlite3.DatabaseError as exc:
            raise self._refusal(exc) from None
        finally:
            self._deadline = float("inf")
            if cursor is not None:
                cursor.close()  # ends the statement, and with it the read transaction
        return columns, rows[:limit], len(rows) > limit

    def _refusal(self, exc: sqlite3.DatabaseError) -> ToolInputError:
        text = str(exc)
        if "not authorized" in text or "authorization denied" in text or "prohibited" in text:
            denied = "; ".join(dict.fromkeys(self._denied[:3]))
            return ToolInputError(f"refused: the database is read-only and the statement needs {denied or 'more than reading'}",
                                  hint=_READ_ONLY_HINT)  # fmt: skip
        if "interrupted" in text:
            return ToolInputError(f"the query was stopped after {self.timeout:g} seconds",
                                  hint="Make it cheaper: add a LIMIT or a WHERE, or aggregate.")  # fmt: skip
        if "readonly" in text or "read-only" in text:
            return ToolInputError(f"refused: {text}", hint=_READ_ONLY_HINT)
        hint = "Fix the SQL (SQLite dialect) and call query again."
        if text.startswith("no such table"):
            wanted = text.split(":", 1)[-1].strip()
            similar = close_matches(wanted, self._table_names())
            hint = (f"Tables that look like it: {', '.join(similar)}. " if similar else "") + "list_tables shows them all."
        elif "too big" in text:
            hint = f"Values are limited to {MAX_VALUE_BYTES // 1_000_000} MB here: select less."
        elif text.startswith("no such column"):
            hint = "describe_table shows a table's columns."
        return ToolInputError(f"SQLite error: {text}", hint=hint)

    def _table_names(self) -> list[str]:
        _, rows, _ = self._run("SELECT name FROM sqlite_master WHERE type IN ('table', 'view') "
                               "AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' ORDER BY name", limit=10_000)  # fmt: skip
        return [r[0] for r in rows]

    def _cell(self, value: Any) -> Any:
        if isinstance(value, (bytes, bytearray, memoryview)):
            data = bytes(value)
            return f"<{len(data)} bytes: {data[:16].hex()}{'...' if len(data) > 16 else ''}>"
        if isinstance(value, str) and len(value) > self.max_cell_chars:
            return value[: self.max_cell_chars] + f"...[{len(value) - self.max_cell_chars} more characters]"
        if isinstance(value, float) and (value != value or value in (float("inf"), float("-inf"))):
            return str(value)  # JSON has no NaN or infinity
        return value

    def _rows(self, rows: list[tuple[Any, ...]]) -> tuple[list[list[Any]], bool]:
        """Rows as JSON-ready lists, cut where the result would pass max_result_chars."""
        out: list[list[Any]] = []
        size = 0
        for row in rows:
            cells = [self._cell(v) for v in row]
            size += len(json.dumps(cells, ensure_ascii=False, default=str)) + 1
            if out and size > self.max_result_chars:
                return out, True
            out.append(cells)
        return out, False

    def _table(self, table: str) -> tuple[str, str]:
        """(name, type) of an existing table or view; a refusal naming similar ones."""
        if not isinstance(table, str) or not table.strip():
            raise ToolInputError("give a table name", hint="list_tables shows them.")
        names = self._table_names()
        wanted = table.strip().strip('"`[]')
        exact = [n for n in names if n == wanted] or [n for n in names if n.casefold() == wanted.casefold()]
        if not exact:
            similar = close_matches(wanted, names)
            near = f" Did you mean: {', '.join(similar)}?" if similar else ""
            raise ToolInputError(f"there is no table or view {wanted!r} in {self.path.name}.{near}",
                                 hint="list_tables shows them all.")  # fmt: skip
        _, rows, _ = self._run("SELECT name, type, sql FROM sqlite_master WHERE name = ?", (exact[0],), limit=1)
        return rows[0][0], rows[0][1]

    # --- the tools ------------------------------------------------------------------------------

    def list_tables(self) -> list[dict[str, Any]]:
        """The tables and views of the database, with their columns."""
        with self._lock:
            _, rows, _ = self._run("SELECT name, type FROM sqlite_master WHERE type IN ('table', 'view') "
                                   "AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' ORDER BY name", limit=500)  # fmt: skip
            out = []
            for name, kind in rows:
                _, cols, _ = self._run(f"PRAGMA table_info({_quote(name)})", limit=2000)
                out.append({"name": name, "type": kind, "columns": [f"{c[1]} {c[2]}".strip() for c in cols]})
            return out

    def describe_table(self, table: str) -> dict[str, Any]:
        """One table's (or view's) columns, keys, indexes, row count, CREATE statement and first rows."""
        with self._lock:
            name, kind = self._table(table)
            q = _quote(name)
            _, cols, _ = self._run(f"PRAGMA table_info({q})", limit=2000)
            _, sql_rows, _ = self._run("SELECT sql FROM sqlite_master WHERE name = ?", (name,), limit=1)
            out: dict[str, Any] = {
                "name": name,
                "type": kind,
                "columns": [{"name": c[1], "type": c[2], "not_null": bool(c[3]), "default": c[4],
                             "primary_key": bool(c[5])} for c in cols],  # fmt: skip
                "sql": sql_rows[0][0] if sql_rows else None,
            }
            if kind == "table":
                _, fks, _ = self._run(f"PRAGMA foreign_key_list({q})", limit=200)
                out["foreign_keys"] = [{"column": f[3], "references": f"{f[2]}({f[4]})" if f[4] else f[2]} for f in fks]
                _, idx, _ = self._run(f"PRAGMA index_list({q})", limit=200)
                out["indexes"] = [{"name": i[1], "unique": bool(i[2])} for i in idx]
            try:
                _, count, _ = self._run(f"SELECT count(*) FROM {q}", limit=1)
                out["row_count"] = count[0][0]
            except ToolInputError as exc:
                out["row_count"] = None
                out["row_count_note"] = exc.message
            _, sample, _ = self._run(f"SELECT * FROM {q} LIMIT 3", limit=3)
            out["sample_rows"] = self._rows(sample)[0]
            return out

    def query(self, sql: str) -> dict[str, Any]:
        """Run one read-only SQL statement (SELECT, or WITH ... SELECT) and return its rows."""
        if not isinstance(sql, str) or not sql.strip():
            raise ToolInputError("the SQL is empty", hint="Send one SELECT statement.")
        if len(sql) > MAX_SQL_CHARS:
            raise ToolInputError(f"the SQL is longer than {MAX_SQL_CHARS} characters", hint="Send a shorter query.")
        with self._lock:
            columns, rows, more = self._run(sql)
        if not columns:
            raise ToolInputError("that statement returns no rows", hint=_READ_ONLY_HINT)
        shown, cut = self._rows(rows)
        result: dict[str, Any] = {"columns": columns, "rows": shown, "row_count": len(shown), "truncated": more or cut}
        if more or cut:
            why = (f"only the first {len(shown)} rows are shown (the limit is {self.max_rows})" if more and not cut
                   else f"only the first {len(shown)} rows are shown (the result was too large)")  # fmt: skip
            result["note"] = why + "; more rows matched. Narrow the query (WHERE, LIMIT) or aggregate (COUNT, GROUP BY)."
        return result
