"""An agent with tools from an MCP server: examples/mcp_server.py, launched over stdio.

    python examples/mcp_tools.py                            # a scripted model (offline)
    python examples/mcp_tools.py --model openai:gpt-4o-mini
"""

import argparse
import sys
from pathlib import Path

import llmkit
from llmkit.testing.models import scripted_model

parser = argparse.ArgumentParser()
parser.add_argument("--model", default=None)
args = parser.parse_args()


def stand_in(messages):
    """A scripted stand-in for a real model: keeps a note, lists the notes, answers."""
    done = [m for m in messages if m.role == "tool"]
    if not done:
        return llmkit.ToolCall("c1", "add_note", '{"text": "buy milk"}')
    if len(done) == 1:
        return llmkit.ToolCall("c2", "list_notes", "{}")
    return f"Your notes: {done[-1].text}"


server_script = Path(__file__).with_name("mcp_server.py")
with llmkit.mcp_server([sys.executable, str(server_script)]) as notes:
    print("tools:", ", ".join(f"{t.name}({', '.join(t.parameters.get('properties', {}))})" for t in notes.tools()))
    model = llmkit.Client(args.model) if args.model else scripted_model(stand_in)
    agent = llmkit.Agent(model, tools=[notes], system="Use the note tools.")
    for event in agent.stream("Note that I must buy milk, then show me my notes."):
        if event.kind == "tool_call":
            print(f"calls  {event.call.name}({event.call.arguments})")
        elif event.kind == "tool_result":
            print(f"result {event.outcome.content}")
        elif event.kind == "final":
            print(f"answer {event.result.output}")
