"""Tools from a real MCP server (written here with the mcp SDK's own server API), over
stdio and streamable HTTP, called by an Agent."""

import json
import os
import socket
import subprocess
import sys
import textwrap
import time

import pytest

import llmkit

pytest.importorskip("mcp")

SERVER = textwrap.dedent('''
    import sys
    from mcp.server.mcpserver import MCPServer

    server = MCPServer("calculator")

    @server.tool()
    def add(a: int, b: int) -> int:
        """Add two integers."""
        return a + b

    @server.tool()
    def lookup(city: str) -> dict:
        """Facts about a city."""
        return {"city": city, "population": 709000}

    @server.tool()
    def broken(x: str) -> str:
        """Always fails."""
        raise ValueError("broken on purpose")

    if __name__ == "__main__":
        if len(sys.argv) > 1:
            server.run(transport="streamable-http", host="127.0.0.1", port=int(sys.argv[1]))
        else:
            server.run()
''')


@pytest.fixture(scope="module")
def server_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("mcp") / "calculator.py"
    path.write_text(SERVER)
    return path


@pytest.fixture(scope="module")
def stdio(server_file):
    with llmkit.mcp_server([sys.executable, str(server_file)]) as server:
        yield server


def test_tools_are_listed_with_their_schemas(stdio):
    tools = {t.name: t for t in stdio.tools()}
    assert sorted(tools) == ["add", "broken", "lookup"]
    assert tools["add"].description == "Add two integers." and tools["add"].parameters["required"] == ["a", "b"]
    assert tools["add"].call({"a": 2, "b": 3}) == 5  # structured content, unwrapped
    assert json.loads(tools["lookup"].call({"city": "Oslo"}))["population"] == 709000  # text content
    with pytest.raises(llmkit.ToolArgumentsError, match="b"):  # checked against the schema before it is sent
        tools["add"].call({"a": 2})


def test_an_agent_calls_mcp_tools_and_hears_their_errors(stdio):
    model = llmkit.Client("mock", responses=[
        [llmkit.ToolCall("c1", "add", '{"a": 40, "b": 2}'), llmkit.ToolCall("c2", "broken", '{"x": "y"}')],
        "40 + 2 = 42",
    ])  # fmt: skip
    result = llmkit.Agent(model, tools=[stdio]).run("add them")
    tool_results = [m.text for m in result.messages if m.role == "tool"]
    assert tool_results[0] == "42"
    assert tool_results[1].startswith("Error: the tool raised MCPError: MCP tool 'broken' failed")
    assert result.output == "40 + 2 = 42"
    assert [t.name for t in model.backend.calls[0][2]["tools"]] == ["add", "lookup", "broken"]


def test_prefixes_keep_two_servers_apart(server_file):
    with llmkit.mcp_server([sys.executable, str(server_file)], prefix="calc_") as server:
        assert sorted(t.name for t in server.tools()) == ["calc_add", "calc_broken", "calc_lookup"]
        assert server.tools()[0].call({"a": 1, "b": 1}) == 2


def test_a_server_that_cannot_start_is_a_clear_error(tmp_path):
    bad = tmp_path / "crash.py"
    bad.write_text("import sys\nprint('missing configuration FOO_TOKEN', file=sys.stderr)\nsys.exit(3)\n")
    with pytest.raises(llmkit.agents.MCPError) as info:
        llmkit.mcp_server([sys.executable, str(bad)], timeout=10).tools()
    assert "could not connect" in str(info.value) and "FOO_TOKEN" in info.value.hint
    with pytest.raises(llmkit.agents.MCPError):
        llmkit.mcp_server("/no/such/program --flag", timeout=10).tools()


def test_closing_stops_the_server_process(server_file):
    server = llmkit.mcp_server([sys.executable, str(server_file)])
    server.tools()
    process = server_process(server)
    server.close()
    process.wait(10)
    assert not process.is_running()  # the subprocess is gone
    assert server.tools()[0].call({"a": 1, "b": 2}) == 3  # used again: connected again
    server.close()


def server_process(server):
    """The stdio server's subprocess (found among this process's children)."""
    import psutil

    children = [p for p in psutil.Process().children(recursive=True) if "calculator.py" in " ".join(p.cmdline())]
    assert children
    return children[-1]


def test_streamable_http(server_file):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([sys.executable, str(server_file), str(port)], stderr=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL)  # fmt: skip
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                break
            except OSError:
                time.sleep(0.2)
        with llmkit.mcp_server(f"http://127.0.0.1:{port}/mcp") as server:
            assert sorted(t.name for t in server.tools()) == ["add", "broken", "lookup"]
            model = llmkit.Client("mock", responses=[llmkit.ToolCall("c1", "add", '{"a": 1, "b": 2}'), "3"])
            assert llmkit.Agent(model, tools=[server]).run("1+2").messages[2].text == "3"
    finally:
        proc.terminate()
        proc.wait(10)


def test_chat_with_mcp_tools_asks_before_each_call(server_file, isolated_home):
    """`llmkit chat --mcp CMD` in a real process: the calls are shown, each one asked for."""
    responses = [{"tool_calls": [{"id": "c1", "function": {"name": "add", "arguments": '{"a": 2, "b": 40}'}}]},
                 "2 + 40 = 42"]  # fmt: skip
    cmd = [sys.executable, "-m", "llmkit.cli", "chat", "-m", "mock", "-o", "responses", json.dumps(responses),
           "--mcp", f"{sys.executable} {server_file}"]  # fmt: skip
    r = subprocess.run(cmd, input="what is 2 + 40?\ny\n/tools\n", capture_output=True, text=True, timeout=120,
                       env={**os.environ, "LLMKIT_HOME": str(isolated_home)})  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert "MCP tools from" in r.stdout and "add, lookup, broken" in r.stdout
    assert 'add wants to run with:\n{\n  "a": 2,\n  "b": 40\n}' in r.stdout and "allow add? [y/N]" in r.stdout
    assert '→ add({"a": 2, "b": 40})' in r.stdout and "← 42" in r.stdout and "2 + 40 = 42" in r.stdout
    assert "add(a: integer, b: integer) [asks first]" in r.stdout


SLOW_SERVER = textwrap.dedent('''
    import asyncio
    from mcp.server.mcpserver import MCPServer

    server = MCPServer("slow")

    @server.tool()
    async def wait(seconds: float) -> str:
        """Wait, then say so."""
        await asyncio.sleep(seconds)
        return "waited"

    if __name__ == "__main__":
        server.run()
''')


def test_threads_share_one_connection_and_a_closed_one_answers_at_once(tmp_path, monkeypatch):
    import concurrent.futures

    from llmkit.agents import mcp as mcp_module

    made = []
    real = mcp_module._Connection

    def counting(*args, **kwargs):
        made.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(mcp_module, "_Connection", counting)
    path = tmp_path / "slow.py"
    path.write_text(SLOW_SERVER)
    server = llmkit.mcp_server([sys.executable, str(path)], timeout=60)
    with concurrent.futures.ThreadPoolExecutor(4) as pool:  # the first calls race to connect
        assert list(pool.map(lambda _: server.call("wait", {"seconds": 0.1}), range(4))) == ["waited"] * 4
    assert len(made) == 1
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        pending = pool.submit(server.call, "wait", {"seconds": 30})
        time.sleep(1.0)
        started = time.monotonic()
        server.close()  # the session ends with the call in flight
        with pytest.raises(llmkit.agents.MCPError):
            pending.result(timeout=20)
        assert time.monotonic() - started < 20  # told when the session ended, not after timeout=60
