"""SQLiteTools: what it reads, and every way out we could think of, tried for real: each
must be refused, and the database file must be byte for byte what it was."""

import hashlib
import sqlite3
import threading
import time

import pytest
from llmkit_tools import SQLiteTools, ToolInputError
from tools_fixtures import *  # noqa: F403  (the fixtures; a conftest.py would clash across plugins)

from llmkit.agents import tools_of
from llmkit.errors import UsageError


def make_db(path):
    conn = sqlite3.connect(path)
    conn.executescript("""
        CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT NOT NULL, city TEXT DEFAULT 'Oslo');
        CREATE TABLE orders (id INTEGER PRIMARY KEY, customer_id INTEGER REFERENCES customers(id),
                             total REAL, note TEXT, data BLOB);
        CREATE INDEX orders_by_customer ON orders(customer_id);
        CREATE VIEW big_orders AS SELECT * FROM orders WHERE total > 100;
    """)
    conn.executemany("INSERT INTO customers (name, city) VALUES (?, ?)",
                     [("Ada", "London"), ("Grace", "New York"), ("Linus", "Helsinki")])
    conn.executemany("INSERT INTO orders (customer_id, total, note, data) VALUES (?, ?, ?, ?)",
                     [(1 + i % 3, i * 1.5, "x" * (2000 if i == 0 else 3), bytes(range(40)) if i == 0 else None)
                      for i in range(450)])
    conn.commit()
    conn.close()
    return path


@pytest.fixture
def db_path(tmp_path):
    folder = tmp_path / "data"
    folder.mkdir()
    return make_db(folder / "shop.db")


@pytest.fixture
def db(db_path):
    tools = SQLiteTools(db_path, timeout=1.0)
    yield tools
    tools.close()


def digest(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_the_agent_sees_three_tools_and_not_close(db):
    tools = {t.name: t for t in tools_of(db)}
    assert set(tools) == {"list_tables", "describe_table", "query"}
    assert "shop.db" in tools["query"].description and "200 rows" in tools["query"].description
    assert tools["query"].parameters["required"] == ["sql"]
    named = SQLiteTools(db.path, prefix="shop_")
    assert {t.name for t in tools_of(named)} == {"shop_list_tables", "shop_describe_table", "shop_query"}


def test_list_tables(db):
    assert db.list_tables() == [
        {"name": "big_orders", "type": "view", "columns": ["id INTEGER", "customer_id INTEGER", "total REAL",
                                                           "note TEXT", "data BLOB"]},
        {"name": "customers", "type": "table", "columns": ["id INTEGER", "name TEXT", "city TEXT"]},
        {"name": "orders", "type": "table", "columns": ["id INTEGER", "customer_id INTEGER", "total REAL",
                                                        "note TEXT", "data BLOB"]},
    ]


def test_describe_table(db):
    out = db.describe_table("Customers")  # case does not matter, as in SQL
    assert out["name"] == "customers" and out["row_count"] == 3
    assert out["columns"][0] == {"name": "id", "type": "INTEGER", "not_null": False, "default": None, "primary_key": True}
    assert out["columns"][2]["default"] == "'Oslo'"
    assert out["sql"].startswith("CREATE TABLE customers")
    assert out["sample_rows"][0] == [1, "Ada", "London"]
    orders = db.describe_table("orders")
    assert orders["foreign_keys"] == [{"column": "customer_id", "references": "customers(id)"}]
    assert orders["indexes"] == [{"name": "orders_by_customer", "unique": False}]
    assert orders["sample_rows"][0][3].endswith("...[1500 more characters]")  # long values are cut
    assert orders["sample_rows"][0][4].startswith("<40 bytes: 000102")  # blobs are described
    with pytest.raises(ToolInputError, match="no table or view 'order'.*Did you mean: orders"):
        db.describe_table("order")


def test_query_and_the_row_limit(db):
    out = db.query("SELECT name, city FROM customers ORDER BY name")
    assert out == {"columns": ["name", "city"], "rows": [["Ada", "London"], ["Grace", "New York"],
                   ["Linus", "Helsinki"]], "row_count": 3, "truncated": False}
    out = db.query("SELECT id FROM orders")
    assert out["row_count"] == 200 and out["truncated"] is True
    assert "first 200 rows" in out["note"] and "Narrow the query" in out["note"]
    assert db.query("SELECT count(*) AS n FROM orders")["rows"] == [[450]]
    small = SQLiteTools(db.path, max_rows=5, max_result_chars=40)
    cut = small.query("SELECT id, note FROM orders WHERE id > 1")
    assert cut["truncated"] and cut["row_count"] < 5 and "too large" in cut["note"]
    assert db.query("WITH recursive n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 5) "
                    "SELECT sum(i) FROM n")["rows"] == [[15]]
    assert db.query("PRAGMA table_info(customers)")["row_count"] == 3  # schema pragmas only read
    assert db.query("SELECT 1;  -- a trailing comment")["rows"] == [[1]]


def test_sql_errors_say_what_to_do(db):
    with pytest.raises(ToolInputError) as e:
        db.query("SELECT * FROM custmers")
    assert "no such table: custmers" in e.value.message and "customers" in e.value.hint
    with pytest.raises(ToolInputError) as e:
        db.query("SELECT nope FROM customers")
    assert "describe_table" in e.value.hint
    with pytest.raises(ToolInputError, match="syntax error"):
        db.query("SELEC 1")
    for empty in ("", "   ", "-- nothing"):
        with pytest.raises(ToolInputError):
            db.query(empty)
    with pytest.raises(ToolInputError, match="longer than"):
        db.query("SELECT " + "1 + " * 6000 + "1")


ESCAPES = [
    "INSERT INTO customers (name) VALUES ('Mallory')",
    "INSERT INTO customers (name) VALUES ('Mallory') RETURNING id",
    "REPLACE INTO customers (id, name) VALUES (1, 'Mallory')",
    "UPDATE customers SET name = 'Mallory'",
    "DELETE FROM orders",
    "DROP TABLE orders",
    "DROP VIEW big_orders",
    "DROP INDEX orders_by_customer",
    "ALTER TABLE customers ADD COLUMN evil TEXT",
    "ALTER TABLE customers RENAME TO c2",
    "CREATE TABLE evil (x)",
    "CREATE TEMP TABLE evil (x)",
    "CREATE TEMP VIEW evil AS SELECT 1",
    "CREATE TRIGGER evil AFTER INSERT ON customers BEGIN DELETE FROM orders; END",
    "CREATE INDEX evil ON customers(name)",
    "CREATE VIRTUAL TABLE evil USING fts5(x)",
    "ATTACH DATABASE '{outside}' AS other",
    "ATTACH DATABASE 'file:{outside}?mode=rwc' AS other",
    "DETACH DATABASE main",
    "PRAGMA writable_schema = ON",
    "PRAGMA writable_schema",
    "PRAGMA query_only = OFF",
    "PRAGMA journal_mode = WAL",
    "PRAGMA user_version = 7",
    "PRAGMA foreign_keys = OFF",
    "SELECT * FROM pragma_writable_schema",
    "SELECT 1; DELETE FROM orders",
    "SELECT 1;; DELETE FROM orders",
    "WITH x AS (SELECT 1) DELETE FROM orders",
    "WITH x AS (SELECT 1) INSERT INTO customers (name) SELECT 'Mallory' FROM x",
    "WITH x AS (SELECT 1) UPDATE customers SET name = 'Mallory'",
    "SELECT load_extension('/tmp/evil')",
    "SELECT load_extension('/tmp/evil', 'sqlite3_extension_init')",
    "VACUUM",
    "VACUUM INTO '{outside}'",
    "BEGIN IMMEDIATE",
    "BEGIN; DELETE FROM orders; COMMIT",
    "SAVEPOINT s",
    "REINDEX",
    "ANALYZE",
    "SELECT writefile('{outside}', 'x')",
    "SELECT readfile('/etc/passwd')",
    # the table-valued functions made usable stay read-only around writes
    "WITH j AS (SELECT * FROM json_each('[1]')) DELETE FROM orders",
    "SELECT name FROM pragma_table_info('orders'); DROP TABLE orders",
    "INSERT INTO customers (name) SELECT name FROM pragma_table_info('orders')",
    "SELECT * FROM pragma_user_version",
]


@pytest.mark.parametrize("sql", ESCAPES)
def test_escapes_are_refused_and_the_file_is_unchanged(db_path, tmp_path, sql):
    outside = tmp_path / "outside.db"
    before = digest(db_path)
    files_before = sorted(p.name for p in db_path.parent.iterdir())
    tools = SQLiteTools(db_path)
    with pytest.raises(ToolInputError) as e:
        tools.query(sql.format(outside=outside))
    # refused before it ran (a statement that ran and returned nothing would say so instead)
    assert "returns no rows" not in e.value.message
    assert any(w in e.value.message for w in ("read-only", "only one SQL statement", "no such function")), e.value.message
    # the connection still works, and nothing changed: rows, schema, settings, file, folder
    assert tools.query("SELECT count(*) FROM orders")["rows"] == [[450]]
    assert [t["name"] for t in tools.list_tables()] == ["big_orders", "customers", "orders"]
    tools._conn.set_authorizer(None)
    assert tools._conn.execute("PRAGMA query_only").fetchone() == (1,)
    assert tools._conn.execute("PRAGMA writable_schema").fetchone() == (0,)
    assert tools._conn.execute("PRAGMA database_list").fetchall() == [(0, "main", str(db_path))]
    tools.close()
    assert digest(db_path) == before
    assert sorted(p.name for p in db_path.parent.iterdir()) == files_before  # no -journal, -wal
    assert not outside.exists()


def test_a_write_refusal_tells_the_model_what_to_do(db):
    with pytest.raises(ToolInputError) as e:
        db.query("DELETE FROM orders")
    assert "read-only" in e.value.message and "DELETE orders" in e.value.message
    assert "SELECT" in e.value.hint


def test_the_connection_itself_is_read_only(db_path):
    """Under the authorizer, SQLite's own read-only mode: with the authorizer gone (a bug),
    a write still fails."""
    before = digest(db_path)
    tools = SQLiteTools(db_path)
    tools._conn.set_authorizer(None)
    for sql in ("INSERT INTO customers (name) VALUES ('Mallory')", "PRAGMA query_only = OFF"):
        try:
            tools._conn.execute(sql)
        except sqlite3.OperationalError as exc:
            assert "readonly" in str(exc) or "read-only" in str(exc)
    with pytest.raises(sqlite3.OperationalError, match="readonly|read-only"):
        tools._conn.execute("DELETE FROM orders")
    tools.close()
    assert digest(db_path) == before


def test_a_runaway_recursive_cte_is_stopped(db_path):
    tools = SQLiteTools(db_path, timeout=0.3)
    start = time.monotonic()
    with pytest.raises(ToolInputError, match="stopped after 0.3 seconds"):
        tools.query("WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r) SELECT count(*) FROM r")
    assert time.monotonic() - start < 3
    with pytest.raises(ToolInputError, match="stopped"):  # a cross join that would take hours
        tools.query("SELECT count(*) FROM orders a, orders b, orders c, orders d")
    assert tools.query("SELECT 2")["rows"] == [[2]]  # the next query has its full time again


def test_huge_values_are_refused_not_allocated(db):
    with pytest.raises(ToolInputError, match="too big"):
        db.query("SELECT zeroblob(2000000000)")
    with pytest.raises(ToolInputError, match="too big"):
        db.query("SELECT length(replace(hex(zeroblob(4000000)), '0', 'xxxxxxxxxx'))")  # 80 MB
    assert db.query("SELECT length(printf('%.*c', 500000000, 'x'))")["rows"] == [[None]]  # SQLite gives up


def test_a_missing_file_is_an_error_and_is_not_created(tmp_path):
    missing = tmp_path / "nope.db"
    with pytest.raises(UsageError, match="no SQLite database") as e:
        SQLiteTools(missing)
    assert "never creates" in e.value.hint
    assert not missing.exists()
    with pytest.raises(UsageError, match="not a file"):
        SQLiteTools(tmp_path)
    text = tmp_path / "notes.txt"
    text.write_text("not a database at all, just some text that is long enough " * 20)
    with pytest.raises(UsageError, match="cannot be read as a SQLite database"):
        SQLiteTools(text)


@pytest.mark.parametrize("name", ["with space.db", "q?mode=rwc.db", "hash#1.db", "pct%20.db", "ünïcode.db"])
def test_paths_are_quoted_for_the_uri(tmp_path, name):
    """A ? or # in the file name must not become URI parameters (mode=rwc would allow writes)."""
    path = make_db(tmp_path / name)
    before = digest(path)
    tools = SQLiteTools(path)
    assert tools.query("SELECT count(*) FROM customers")["rows"] == [[3]]
    with pytest.raises(ToolInputError):
        tools.query("DELETE FROM customers")
    tools.close()
    assert digest(path) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([name, "llmkit-home"] if (tmp_path / "llmkit-home").exists() else [name])


def test_calls_from_many_threads(db):
    errors = []

    def work(i):
        try:
            assert db.query(f"SELECT {i}, count(*) FROM orders")["rows"] == [[i, 450]]
        except Exception as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []


def test_a_model_call_goes_through_validation(db):
    query = {t.name: t for t in tools_of(db)}["query"]
    assert query.call('{"sql": "SELECT name FROM customers WHERE id = 2"}')["rows"] == [["Grace"]]


def test_read_only_table_functions_work(db):
    """json_each/json_tree and the read pragmas' tables were refused (their set-up asks the
    authorizer for a write to sqlite_master), though models reach for them to read JSON
    columns and schemas."""
    assert db.query("SELECT value FROM json_each('[10, 20]') ORDER BY value")["rows"] == [[10], [20]]
    assert db.query("SELECT count(*) FROM json_tree('{\"a\": [1, 2]}')")["rows"] == [[4]]
    assert db.query("SELECT name FROM pragma_table_info('customers') ORDER BY cid")["rows"] == [["id"], ["name"], ["city"]]
    joined = db.query("SELECT m.name, p.name FROM sqlite_master m JOIN pragma_index_list(m.name) p "
                      "WHERE m.type = 'table' ORDER BY 1")  # fmt: skip
    assert joined["rows"] == [["orders", "orders_by_customer"]]
    for other in ("SELECT * FROM pragma_database_list", "SELECT * FROM pragma_compile_options"):
        with pytest.raises(ToolInputError, match="read-only"):
            db.query(other)
