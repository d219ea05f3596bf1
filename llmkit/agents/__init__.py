"""Agents: a model, its tools, and the loop that runs the calls it makes until it answers.

    >>> import llmkit
    >>> @llmkit.tool
    ... def add(a: int, b: int) -> int:
    ...     "Add two integers."
    ...     return a + b
    >>> model = llmkit.Client("mock", responses=[llmkit.ToolCall("c1", "add", '{"a": 2, "b": 3}'), "It is 5."])
    >>> result = llmkit.Agent(model, tools=[add]).run("What is 2 + 3?")
    >>> result.output, [m.role for m in result.messages]
    ('It is 5.', ['user', 'assistant', 'tool', 'assistant'])
    >>> result.steps[0].outcomes[0].content
    '5'

    loop.py     Agent, AgentResult, AgentStep, AgentEvent, MaxStepsError
    toolbox.py  running a model's calls: validation, approval, hooks, retries, repeats
    output.py   output_type: the final answer validated (re-asked when it does not fit)
    mcp.py      tools from Model Context Protocol servers (stdio, streamable HTTP)
"""

from .loop import Agent, AgentEvent, AgentResult, AgentStep, MaxStepsError
from .mcp import MCPError, MCPServer, mcp_server
from .output import OutputValidationError
from .toolbox import ToolContext, ToolFailedError, ToolOutcome, Veto, tools_of

__all__ = ["Agent", "AgentResult", "AgentStep", "AgentEvent", "MaxStepsError", "OutputValidationError",
           "MCPServer", "MCPError", "mcp_server",
           "ToolFailedError", "ToolContext", "ToolOutcome", "Veto", "tools_of"]
