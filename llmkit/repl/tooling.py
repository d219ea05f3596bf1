"""`llmkit chat --tools`: turns answered by an Agent with tools; each call is shown with
its arguments and its result, and tools that need approval ask at the prompt first.

The conversation keeps your message and the final answer of each turn (what the history
records too); the tool calls of a turn are shown as they happen.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from ..agents import Agent, ToolContext
from ..agents.toolbox import Toolbox
from ..conversation import Cancelled, Conversation, Turn
from .render import Renderer, shorten

__all__ = ["ToolTurns"]


class ToolTurns:
    def __init__(self, tools: list[Any], out: Renderer, ask: Callable[[str], str], max_steps: int = 10) -> None:
        self.tools = tools
        self.out = out
        self.ask = ask
        self.max_steps = max_steps

    def describe(self) -> list[str]:
        """One line per tool: its name, arguments and description (for /tools)."""
        from ..backends.tool_protocol import signature

        box = Toolbox(self.tools)
        return [f"{signature(t)}{' [asks first]' if t.requires_approval else ''}  {shorten(t.description, 60)}"
                for t in box.specs()]  # fmt: skip

    def approve(self, ctx: ToolContext) -> bool:
        # The whole call, never shortened: what you approve is exactly what runs.
        shown = json.dumps(ctx.arguments, ensure_ascii=False, indent=2)
        self.out.info(f"{ctx.tool.name} wants to run with:\n{shown}")
        answer = self.ask(f"allow {ctx.tool.name}? [y/N] ")
        return answer.strip().lower() in ("y", "yes")

    def send(self, conv: Conversation, content: str, on_text: Callable[[str], None]) -> Turn:
        agent = Agent(conv.client, tools=self.tools, max_steps=self.max_steps, approve=self.approve)
        result = None
        try:
            for event in agent.stream(conv.messages(content)):
                if event.kind == "text":
                    on_text(event.text)
                elif event.kind == "tool_call" and event.call is not None:
                    self.out.info(f"→ {event.call.name}({shorten(event.call.arguments, 100)})")
                elif event.kind == "tool_result" and event.outcome is not None:
                    mark = "←" if event.outcome.ok else "✗"
                    self.out.info(f"{mark} {shorten(event.outcome.content, 160)}")
                elif event.kind == "final":
                    result = event.result
        except KeyboardInterrupt:
            conv.pending = content  # /retry sends it again
            raise Cancelled() from None
        assert result is not None
        return conv.append(content, result.text, model=conv.client.model, usage=result.usage)
