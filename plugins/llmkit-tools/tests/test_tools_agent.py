"""The tools in use: an Agent on a scripted mock model calling them, discovery through the
installed entry points (with LLMKIT_PLUGINS unset), and the example script."""

import hashlib
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from llmkit_tools import SQLiteTools, convert_units, date_tools
from tools_fixtures import *  # noqa: F403  (the fixtures; a conftest.py would clash across plugins)

import llmkit
from llmkit import plugins
from llmkit.errors import PluginError, UsageError

EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "plugin_tools.py"


@pytest.fixture
def db_path(tmp_path):
    path = tmp_path / "zoo.db"
    conn = sqlite3.connect(path)
    conn.executescript("""
        CREATE TABLE animals (id INTEGER PRIMARY KEY, name TEXT, legs INTEGER, born TEXT);
        INSERT INTO animals (name, legs, born) VALUES ('ant', 6, '2024-01-31'), ('bird', 2, '2023-05-01'),
                                                      ('cat', 4, '2020-02-29');
    """)
    conn.commit()
    conn.close()
    return path


@pytest.fixture
def plugins_on(monkeypatch):
    """Plugins as a user has them: LLMKIT_PLUGINS unset, discovery from installed metadata."""
    monkeypatch.delenv("LLMKIT_PLUGINS", raising=False)
    plugins.rescan()
    yield
    plugins.rescan()


def test_an_agent_queries_the_database_and_a_write_goes_back_as_an_error(db_path):
    before = hashlib.sha256(db_path.read_bytes()).hexdigest()
    call = llmkit.ToolCall
    model = llmkit.Client("mock", responses=[
        call("1", "list_tables", "{}"),
        [call("2", "query", '{"sql": "SELECT name FROM animals WHERE legs > 3 ORDER BY name"}'),
         call("3", "query", '{"sql": "DROP TABLE animals"}')],
        call("4", "date_add", '{"date": "2024-01-31", "months": 1}'),
        call("5", "convert_units", '{"value": 4, "from_unit": "inch", "to_unit": "cm"}'),
        "The ant and the cat have more than three legs.",
    ])
    agent = llmkit.Agent(model, tools=[SQLiteTools(db_path), date_tools, convert_units])
    result = agent.run("Which animals have more than three legs?")
    outcomes = [o for step in result.steps for o in step.outcomes]
    assert [o.call.id for o in outcomes] == ["1", "2", "3", "4", "5"]
    assert '"name": "animals"' in outcomes[0].content
    assert outcomes[1].ok and '"rows": [["ant"], ["cat"]]' in outcomes[1].content
    assert not outcomes[2].ok
    assert outcomes[2].content.startswith("Error: the tool raised ToolInputError: refused: the database is read-only")
    assert '"date": "2024-02-29"' in outcomes[3].content
    assert '"value": 10.16' in outcomes[4].content
    assert result.output == "The ant and the cat have more than three legs."
    # the model saw the tools' schemas, and each tool's result reached it
    backend = model.backend
    sent = backend.calls[-1][2]["tools"]
    assert {t.name for t in sent} == {"list_tables", "describe_table", "query", "date_add", "date_diff", "date_info",
                                      "convert_units"}
    assert [m.role for m in result.messages].count("tool") == 5
    assert hashlib.sha256(db_path.read_bytes()).hexdigest() == before


def test_discovery_through_the_entry_points(plugins_on, db_path):
    assert {"convert_units", "date_calc", "sqlite"} <= set(plugins.names("tool"))
    reg = plugins.get("tool", "sqlite")
    assert reg is not None and reg.owner == "llmkit-tools" and reg.target == "llmkit_tools.sql:SQLiteTools"
    tools = plugins.get_tool("sqlite", str(db_path))
    assert isinstance(tools, SQLiteTools) and tools.path == db_path.resolve()
    assert plugins.get_tool("convert_units") is convert_units
    assert plugins.get_tool("date_calc") is date_tools
    assert not any("llmkit-tools" in p for p in plugins.problems())
    # used wrongly: one clear error each
    with pytest.raises(PluginError, match="takes an argument"):
        plugins.get_tool("sqlite")
    with pytest.raises(PluginError, match="takes no argument"):
        plugins.get_tool("convert_units", "x")
    with pytest.raises(UsageError, match="no SQLite database"):
        plugins.get_tool("sqlite", str(db_path.parent / "missing.db"))
    assert not (db_path.parent / "missing.db").exists()
    agent = llmkit.Agent(llmkit.Client("mock", responses=[llmkit.ToolCall("1", "query", '{"sql": "SELECT 1"}'), "1"]),
                         tools=[plugins.get_tool("sqlite", str(db_path))])
    assert agent.run("one?").steps[0].outcomes[0].content.startswith('{"columns": ["1"]')


def test_plugins_off_means_not_found(monkeypatch):
    monkeypatch.setenv("LLMKIT_PLUGINS", "")
    plugins.rescan()
    try:
        with pytest.raises(PluginError, match="no tool named 'sqlite'"):
            plugins.get_tool("sqlite", "x.db")
    finally:
        plugins.rescan()


def test_importing_the_package_imports_no_tool():
    code = ("import sys, llmkit_tools; assert not any(m in sys.modules for m in "
            "('pint', 'sqlite3', 'llmkit_tools.sql', 'llmkit_tools.units')), sorted(sys.modules); "
            "from llmkit_tools import date_tools; print('ok')")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and r.stdout.strip() == "ok", r.stderr


def test_the_example_runs(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "LLMKIT_PLUGINS"}
    env["LLMKIT_HOME"] = str(tmp_path / "home")
    r = subprocess.run([sys.executable, str(EXAMPLE)], capture_output=True, text=True, timeout=120, env=env)
    assert r.returncode == 0, r.stderr
    out = r.stdout
    assert 'query({"sql": "SELECT customer, sum(weight_lb) AS lb FROM orders GROUP BY customer"}) -> ok' in out
    assert '"rows": [["Ada", 32.5], ["Grace", 3.0]]' in out
    assert 'query({"sql": "DELETE FROM orders"}) -> refused' in out
    assert '"value": 14.741752025, "unit": "kilogram"' in out
    assert '"days": 13' in out
    assert "answer: Ada ordered 32.5 lb (14.74 kg) in all" in out
    assert "database unchanged: True" in out


def test_each_test_has_its_own_llmkit_home(tmp_path):
    """The autouse fixture of tools_fixtures.py is in force (taken by import *)."""
    assert os.environ["LLMKIT_HOME"] == str(tmp_path / "llmkit-home")
    assert "OPENAI_API_KEY" not in os.environ and "ANTHROPIC_API_KEY" not in os.environ
