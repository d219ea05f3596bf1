"""A small MCP server (written with the mcp SDK) that examples/mcp_tools.py uses.

    python examples/mcp_server.py                 # stdio (an MCP client launches it)
    python examples/mcp_server.py --port 8000     # streamable HTTP at http://127.0.0.1:8000/mcp
"""

import argparse

from mcp.server.mcpserver import MCPServer

server = MCPServer("notes")
NOTES: list[str] = []


@server.tool()
def add_note(text: str) -> str:
    """Keep a note."""
    NOTES.append(text)
    return f"noted ({len(NOTES)} notes)"


@server.tool()
def list_notes() -> list[str]:
    """Every note kept so far."""
    return NOTES


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int)
    args = parser.parse_args()
    if args.port:
        server.run(transport="streamable-http", host="127.0.0.1", port=args.port)
    else:
        server.run()
