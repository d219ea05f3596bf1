"""The llmkit-tools plugin: an agent answers from a SQLite file it can only read, with
unit conversion and date arithmetic beside it.

    pip install -e plugins/llmkit-tools
    python examples/plugin_tools.py                              # a scripted model (offline)
    python examples/plugin_tools.py --model openai:gpt-4o-mini   # a real one

The tools are found through the plugin's entry points (llmkit.plugins.get_tool), the way
`llmkit chat --tool sqlite=shop.db` finds them. The scripted model makes the calls a real
one would: it looks at the tables, queries, tries a write (refused: the file is opened
read-only), converts a unit and counts days.
"""

import argparse
import sqlite3
import tempfile
from pathlib import Path

import llmkit
from llmkit import plugins

parser = argparse.ArgumentParser()
parser.add_argument("--model", default=None, help="a real model id (default: a scripted mock model)")
args = parser.parse_args()

folder = Path(tempfile.mkdtemp())
path = folder / "shop.db"
conn = sqlite3.connect(path)
conn.executescript("""
    CREATE TABLE orders (id INTEGER PRIMARY KEY, customer TEXT, weight_lb REAL, shipped TEXT);
    INSERT INTO orders (customer, weight_lb, shipped) VALUES
        ('Ada', 12.5, '2024-02-27'), ('Grace', 3.0, '2024-03-04'), ('Ada', 20.0, '2024-03-11');
""")
conn.commit()
conn.close()
before = path.read_bytes()

db = plugins.get_tool("sqlite", str(path))  # SQLiteTools(path): list_tables, describe_table, query
convert_units = plugins.get_tool("convert_units")
dates = plugins.get_tool("date_calc")  # date_add, date_diff, date_info

call = llmkit.ToolCall
scripted = [
    call("c1", "list_tables", "{}"),
    call("c2", "query", '{"sql": "SELECT customer, sum(weight_lb) AS lb FROM orders GROUP BY customer"}'),
    call("c3", "query", '{"sql": "DELETE FROM orders"}'),
    call("c4", "convert_units", '{"value": 32.5, "from_unit": "lb", "to_unit": "kg"}'),
    call("c5", "date_diff", '{"start": "2024-02-27", "end": "2024-03-11"}'),
    "Ada ordered 32.5 lb (14.74 kg) in all; her orders shipped 13 days apart.",
]
model = llmkit.Client(args.model) if args.model else llmkit.Client("mock", responses=scripted)
agent = llmkit.Agent(model, tools=[db, convert_units, dates],
                     system="Answer from the shop database. It is read-only.")
result = agent.run("How much did Ada order in kg, and how far apart were her orders?")

for step in result.steps:
    for outcome in step.outcomes:
        print(f"{outcome.call.name}({outcome.call.arguments}) -> {'ok' if outcome.ok else 'refused'}")
        print(f"    {outcome.content[:150]}".replace("\n", " "))
print("answer:", result.output)
print("database unchanged:", path.read_bytes() == before)
