"""Tools from Model Context Protocol servers, through the official `mcp` SDK.

    server = llmkit.mcp_server("python my_server.py")        # stdio: launched as a subprocess
    server = llmkit.mcp_server("http://localhost:8000/mcp")  # streamable HTTP
    llmkit.Agent(model, tools=[server]).run("...")
    server.close()                                           # or: with llmkit.mcp_server(...) as server:

The SDK is async (anyio); llmkit's agents run sync and async. So each server gets one
connection held by one task on an event loop in a background thread, and every request
(list the tools, call one) is handed to that task: the session is opened and closed in
the same task, as anyio requires, and calls of one step still run concurrently. A
server's stderr goes to a temporary file whose tail is quoted when something fails.
A tool result flagged as an error (isError) is raised, so the agent reports it to the
model like any failing tool. The tools are listed once, on first use.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import shlex
import sys
import tempfile
import threading
from collections.abc import Callable, Mapping
from typing import Any

from ..errors import ConfigurationError, LLMKitError
from ..tools import Tool

if sys.version_info < (3, 11):  # BaseExceptionGroup is built in from 3.11 (anyio brings the backport)
    from exceptiongroup import BaseExceptionGroup  # type: ignore[import-not-found, no-redef, unused-ignore]

__all__ = ["MCPServer", "MCPError", "mcp_server"]


class MCPError(LLMKitError):
    """An MCP server could not be started or reached, or failed a request."""


def mcp_server(target: str | list[str], *, env: Mapping[str, str] | None = None, cwd: str | None = None,
               timeout: float = 30.0, prefix: str = "", requires_approval: bool = False) -> MCPServer:  # fmt: skip
    """An MCP server's tools for an Agent: a command line (launched as a subprocess,
    spoken to over stdio) or an http(s) URL (streamable HTTP). `prefix` is put before
    each tool's name (two servers with a `search` tool can then both be used);
    `requires_approval` marks every tool of the server as asking first."""
    return MCPServer(target, env=env, cwd=cwd, timeout=timeout, prefix=prefix, requires_approval=requires_approval)


class MCPServer:
    """One MCP server, connected on first use and closed by `close()` (or `with`)."""

    def __init__(self, target: str | list[str], *, env: Mapping[str, str] | None = None, cwd: str | None = None,
                 timeout: float = 30.0, prefix: str = "", requires_approval: bool = False) -> None:  # fmt: skip
        if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not 0 < timeout < float("inf"):
            from ..errors import InvalidOptionError

            raise InvalidOptionError(f"timeout={timeout!r} is invalid: it must be a number of seconds > 0")
        self.target = target
        self.env, self.cwd, self.timeout, self.prefix = dict(env) if env else None, cwd, timeout, prefix
        self.requires_approval = requires_approval
        self.url = target if isinstance(target, str) and target.startswith(("http://", "https://")) else None
        self._connection: _Connection | None = None
        self._tools: list[Tool] | None = None
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        shown = self.url or " ".join(self._command())
        return f"<MCPServer {shown if len(shown) <= 80 else shown[:77] + '...'}>"

    def __enter__(self) -> MCPServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _command(self) -> list[str]:
        return self.target if isinstance(self.target, list) else shlex.split(self.target)

    def __llmkit_tools__(self) -> list[Tool]:
        return self.tools()

    def tools(self) -> list[Tool]:
        """The server's tools as llmkit Tools (calling one calls the server)."""
        with self._lock:
            if self._tools is None:
                listed = self._connect().request(lambda client: client.list_tools())
                self._tools = [self._tool(t) for t in listed.tools]
        return self._tools

    def call(self, name: str, arguments: Mapping[str, Any]) -> Any:
        """Call a tool of the server; its text (or structured content) comes back."""
        with self._lock:  # one connection, however many threads call at once
            connection = self._connect()
        result = connection.request(lambda client: client.call_tool(name, dict(arguments)))
        text = "\n".join(getattr(block, "text", "") for block in result.content if getattr(block, "text", None))
        if result.is_error:
            raise MCPError(f"MCP tool {name!r} failed: {text or 'no message'}", hint=self._connection_hint())
        structured = getattr(result, "structured_content", None)
        if structured is not None and set(structured) == {"result"}:
            return structured["result"]
        return structured if structured is not None else text

    def close(self) -> None:
        """Stop the connection (and the subprocess of a stdio server)."""
        with self._lock:
            connection, self._connection, self._tools = self._connection, None, None
        if connection is not None:
            connection.close()

    # --- internals -----------------------------------------------------------------

    def _tool(self, listed: Any) -> Tool:
        schema = getattr(listed, "input_schema", None) or getattr(listed, "inputSchema", None) or {"type": "object"}
        name = listed.name

        def call(**arguments: Any) -> Any:
            return self.call(name, arguments)

        return Tool(self.prefix + name, listed.description or "", dict(schema), call, self.requires_approval)

    def _connect(self) -> _Connection:
        if self._connection is None:
            self._connection = _Connection(self._transport, self.timeout, repr(self)[11:-1])
        return self._connection

    def _transport(self, errlog: Any) -> Any:
        try:
            import mcp
        except ImportError:
            raise ConfigurationError("MCP tools need the 'mcp' package", hint="pip install 'llmkit[mcp]'.") from None
        if self.url:
            from mcp.client.streamable_http import streamable_http_client

            return mcp.Client(streamable_http_client(self.url))
        from mcp.client.stdio import stdio_client

        command = self._command()
        if not command:
            raise MCPError("mcp_server() needs a command line or a URL", hint='e.g. llmkit.mcp_server("python server.py")')
        params = mcp.StdioServerParameters(command=command[0], args=command[1:], env=self.env, cwd=self.cwd)
        return mcp.Client(stdio_client(params, errlog=errlog))

    def _connection_hint(self) -> str:
        said = self._connection.stderr_tail() if self._connection is not None else ""
        return f"The server said: {said}" if said else "Check the server's own logs."


class _Connection:
    """An event loop in a thread, with one task that holds the MCP session and runs
    each request handed to it (concurrently, in that task's task group)."""

    def __init__(self, transport: Callable[[Any], Any], timeout: float, name: str) -> None:
        self.name, self.timeout = name, timeout
        self.errlog = tempfile.TemporaryFile("w+", encoding="utf-8", errors="replace")
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="llmkit-mcp", daemon=True)
        self.thread.start()
        self.jobs: asyncio.Queue[Any] | None = None
        ready: concurrent.futures.Future[None] = concurrent.futures.Future()
        self.done = asyncio.run_coroutine_threadsafe(self._serve(transport, ready), self.loop)
        try:
            ready.result(timeout)
        except Exception as exc:
            failure = self._failure("could not connect to", exc)  # before close(): it quotes the server's stderr
            self.close()
            raise failure from None

    async def _serve(self, transport: Callable[[Any], Any], ready: concurrent.futures.Future[None]) -> None:
        import anyio

        try:
            client = transport(self.errlog)
            async with client, anyio.create_task_group() as group:
                self.jobs = asyncio.Queue()
                ready.set_result(None)
                while (job := await self.jobs.get()) is not None:
                    group.start_soon(self._run, client, *job)
                group.cancel_scope.cancel()
        except BaseException as exc:
            if not ready.done():
                ready.set_exception(exc)
            raise

    @staticmethod
    async def _run(client: Any, request: Callable[[Any], Any], result: concurrent.futures.Future[Any]) -> None:
        try:
            result.set_result(await request(client))
        except Exception as exc:
            result.set_exception(exc)
        except BaseException:  # cancelled (the session ended): the caller hears now, not at its timeout
            result.set_exception(MCPError("the MCP session ended during the request", hint="Call it again."))
            raise

    def request(self, request: Callable[[Any], Any]) -> Any:
        if self.jobs is None or self.done.done():
            raise MCPError(f"the connection to {self.name} is closed", hint=self._hint())
        result: concurrent.futures.Future[Any] = concurrent.futures.Future()
        self.loop.call_soon_threadsafe(self.jobs.put_nowait, (request, result))
        try:
            return result.result(self.timeout)
        except concurrent.futures.TimeoutError:
            raise MCPError(f"{self.name} did not answer within {self.timeout:g} s",
                           hint="Raise timeout= in mcp_server(), or check the server.") from None  # fmt: skip
        except MCPError:
            raise
        except Exception as exc:
            raise self._failure("a request to", exc) from None

    def stderr_tail(self, limit: int = 400) -> str:
        try:
            self.errlog.flush()
            self.errlog.seek(0)
            text = self.errlog.read()
        except (OSError, ValueError):
            return ""
        return " ".join(text.split())[-limit:]

    def _hint(self) -> str:
        said = self.stderr_tail()
        return f"The server said: {said}" if said else "Check the command or URL, and that the server runs on its own."

    def _failure(self, what: str, exc: BaseException) -> MCPError:
        while isinstance(exc, BaseExceptionGroup) and exc.exceptions:  # anyio wraps what went wrong in groups
            exc = exc.exceptions[0]
        if isinstance(exc, concurrent.futures.TimeoutError):
            return MCPError(f"{what} the MCP server {self.name} failed: no answer within {self.timeout:g} s",
                            hint=self._hint())  # fmt: skip
        return MCPError(f"{what} the MCP server {self.name} failed: {type(exc).__name__}: {exc}", hint=self._hint())

    def close(self) -> None:
        if self.jobs is not None and not self.done.done():
            self.loop.call_soon_threadsafe(self.jobs.put_nowait, None)
            try:
                self.done.result(self.timeout)
            except Exception:  # closing is best effort: the subprocess goes with the loop
                pass
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(self.timeout)
        if not self.loop.is_running():
            self.loop.close()
        self.errlog.close()

