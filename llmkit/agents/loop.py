"""Agent: a model, its tools, and the loop that runs the calls it makes until it answers.

One step: send the conversation (with the tools described), then either the model
answers (the run ends, the answer validated into `output_type` when one is given) or it
calls tools: the calls of one step run concurrently, each result goes back as a tool
message with its call id, and the next step begins. Built on the public Client only.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Generic, Literal, TypeVar

from ..client import Client
from ..errors import LLMKitError
from ..tools import calls_in_text
from ..types import Message, Response, ToolCall, Usage, to_messages
from .output import OutputSpec
from .toolbox import Toolbox, ToolContext, ToolOutcome

__all__ = ["Agent", "AgentResult", "AgentStep", "AgentEvent", "MaxStepsError"]

T = TypeVar("T")


class MaxStepsError(LLMKitError):
    """The model was still calling tools after `max_steps` steps. `messages` is the
    transcript, `usage` what the run cost so far."""

    def __init__(self, max_steps: int, messages: list[Message], usage: Usage) -> None:
        self.messages, self.usage = messages, usage
        super().__init__(f"the agent made {max_steps} steps without a final answer",
                         hint="Raise max_steps, give the model clearer instructions, or look at .messages.")


@dataclass
class AgentStep:
    """One model call and the tool calls it made (with their outcomes)."""

    response: Response
    outcomes: list[ToolOutcome] = field(default_factory=list)


@dataclass
class AgentResult(Generic[T]):
    """The end of a run: `output` (the answer, validated into output_type when given),
    `text` (the answer as written), the whole transcript, usage over every step."""

    output: T
    text: str
    messages: list[Message]
    usage: Usage
    steps: list[AgentStep]


@dataclass
class AgentEvent:
    """What `stream` yields: "text" (a piece of the model's reply), "tool_call" (a call it
    made, about to run), "tool_result" (its outcome), "final" (the AgentResult)."""

    kind: Literal["text", "tool_call", "tool_result", "final"]
    text: str = ""
    call: ToolCall | None = None
    outcome: ToolOutcome | None = None
    result: AgentResult[Any] | None = None
    step: int = 0


class Agent:
    """A model with tools, run until it answers.

        agent = llmkit.Agent("openai:gpt-4o-mini", tools=[add], system="Use the tools.")
        result = agent.run("What is 2 + 3?")      # result.output, .messages, .usage, .steps

    `model` is a Client or a model id. `tools`: functions, @llmkit.tool Tools, OpenAI
    tool dicts, or tool sets (objects whose public methods are tools). `output_type`: a
    pydantic model (or any type pydantic validates) the final answer must be; a wrong
    answer is sent back with the validation error, up to `output_retries` times.
    `tool_retries`: failed calls allowed per tool before the run ends. `before_tool(ctx)`
    may raise Veto or return new arguments; `after_tool(ctx, value)` may return a new
    result; `approve(ctx)` must return True for tools marked requires_approval (without
    it they never run). Other keyword arguments are options for every model call.
    """

    def __init__(self, model: Client | str | None = None, *, tools: Iterable[Any] = (), system: str | None = None,
                 output_type: Any = None, max_steps: int = 10, tool_retries: int = 2, output_retries: int = 2,
                 before_tool: Callable[[ToolContext], Any] | None = None,
                 after_tool: Callable[[ToolContext, Any], Any] | None = None,
                 approve: Callable[[ToolContext], bool] | None = None, **options: Any) -> None:  # fmt: skip
        self.client = model if isinstance(model, Client) else Client(model)
        self.tools = list(tools)
        self.system = system
        self.output = OutputSpec(output_type, output_retries)
        self.max_steps = max_steps
        self.tool_retries = tool_retries
        self.before_tool, self.after_tool, self.approve = before_tool, after_tool, approve
        self.options = options
        Toolbox(self.tools)  # a bad tool is an error now, not at the first run

    def __repr__(self) -> str:
        return f"<Agent {self.client.model} with {len(self.tools)} tool(s)>"

    # --- running -----------------------------------------------------------------------

    def run(self, prompt: str | Message | Sequence[Message | dict], **options: Any) -> AgentResult[Any]:
        """Run until the model answers; the prompt may be a whole conversation to continue."""
        for event in self._steps(prompt, options, stream=False):
            if event.result is not None:
                return event.result
        raise AssertionError("unreachable: a run ends with a result or an error")

    def stream(self, prompt: str | Message | Sequence[Message | dict], **options: Any) -> Iterator[AgentEvent]:
        """Run, yielding the reply's text as it arrives, each tool call and result, and
        at the end an event with the AgentResult."""
        return self._steps(prompt, options, stream=True)

    async def arun(self, prompt: str | Message | Sequence[Message | dict], **options: Any) -> AgentResult[Any]:
        async for event in self._asteps(prompt, options):
            if event.result is not None:
                return event.result
        raise AssertionError("unreachable: a run ends with a result or an error")

    def astream(self, prompt: str | Message | Sequence[Message | dict], **options: Any) -> AsyncIterator[AgentEvent]:
        return self._asteps(prompt, options)

    # --- the loop ----------------------------------------------------------------------

    def _start(self, prompt: Any, options: dict[str, Any]) -> tuple[_Run, dict[str, Any]]:
        messages = to_messages(prompt)
        if self.system and not any(m.role == "system" for m in messages):
            messages.insert(0, Message("system", self.system))
        self.output.instruct(messages)
        box = Toolbox(self.tools, retries=self.tool_retries, before=self.before_tool, after=self.after_tool,
                      approve=self.approve)  # fmt: skip
        opts = {**self.options, **options}
        if box:
            opts["tools"] = box.specs()
        self.output.options(self.client, opts)
        return _Run(messages, box), opts

    def _steps(self, prompt: Any, options: dict[str, Any], stream: bool) -> Iterator[AgentEvent]:
        run, opts = self._start(prompt, options)
        for number in range(1, self.max_steps + 1):
            if stream and self.client.capabilities.streaming:
                s = self.client.stream(run.messages, **opts)
                for event in s:
                    if event.text:
                        yield AgentEvent("text", text=event.text, step=number)
                response = s.response
            else:
                with self.output.checked_by_client(run.messages):
                    response = self.client.chat(run.messages, **opts)
            calls = run.record(response, number)
            if not calls:
                result = self._answer(run, response)
                if result is not None:
                    yield AgentEvent("final", text=result.text, result=result, step=number)
                    return
                continue
            for call in calls:
                yield AgentEvent("tool_call", call=call, step=number)
            for outcome in self._run_calls(run, calls, number):
                yield AgentEvent("tool_result", call=outcome.call, outcome=outcome, step=number)
        raise MaxStepsError(self.max_steps, run.messages, run.usage)

    async def _asteps(self, prompt: Any, options: dict[str, Any]) -> AsyncIterator[AgentEvent]:
        run, opts = self._start(prompt, options)
        for number in range(1, self.max_steps + 1):
            if self.client.capabilities.streaming:
                s = self.client.astream(run.messages, **opts)
                async for event in s:
                    if event.text:
                        yield AgentEvent("text", text=event.text, step=number)
                response = await s.get_response()
            else:
                with self.output.checked_by_client(run.messages):
                    response = await self.client.achat(run.messages, **opts)
            calls = run.record(response, number)
            if not calls:
                result = self._answer(run, response)
                if result is not None:
                    yield AgentEvent("final", text=result.text, result=result, step=number)
                    return
                continue
            for call in calls:
                yield AgentEvent("tool_call", call=call, step=number)
            for outcome in await self._arun_calls(run, calls, number):
                yield AgentEvent("tool_result", call=outcome.call, outcome=outcome, step=number)
        raise MaxStepsError(self.max_steps, run.messages, run.usage)

    def _answer(self, run: _Run, response: Response) -> AgentResult[Any] | None:
        """The result, or None when the answer did not validate and was sent back."""
        output = self.output.check(response, run.messages, run.output_retries)
        if output is OutputSpec.RETRY:
            run.output_retries += 1
            return None
        return AgentResult(output, response.text, run.messages, run.usage, run.steps)

    # --- tool calls --------------------------------------------------------------------

    def _run_calls(self, run: _Run, calls: list[ToolCall], step: int) -> list[ToolOutcome]:
        """Run one step's calls concurrently (a thread each); outcomes in call order."""
        outcomes, runnable, repeats = self._prepare(run, calls, step)

        def execute(ctx: ToolContext) -> ToolOutcome:
            try:
                value = ctx.tool.call(ctx.arguments)
                if asyncio.iscoroutine(value):  # an async tool in a sync run: its own loop, off this thread
                    with ThreadPoolExecutor(1) as pool:
                        value = pool.submit(asyncio.run, value).result()
            except Exception as exc:
                return run.box.finish(ctx, error=exc)
            return run.box.finish(ctx, value)

        if len(runnable) == 1:
            outcomes[runnable[0][0]] = execute(runnable[0][1])
        elif runnable:
            with ThreadPoolExecutor(max_workers=min(8, len(runnable)), thread_name_prefix="llmkit-tool") as pool:
                for (i, _), outcome in zip(runnable, pool.map(execute, [ctx for _, ctx in runnable]), strict=True):
                    outcomes[i] = outcome
        return run.record_outcomes(self._fill(run, outcomes, repeats))

    async def _arun_calls(self, run: _Run, calls: list[ToolCall], step: int) -> list[ToolOutcome]:
        """Run one step's calls concurrently on the event loop (sync tools in threads)."""
        outcomes, runnable, repeats = self._prepare(run, calls, step)

        async def execute(ctx: ToolContext) -> ToolOutcome:
            try:
                value = await ctx.tool.acall(ctx.arguments)
            except Exception as exc:
                return run.box.finish(ctx, error=exc)
            return run.box.finish(ctx, value)

        for (i, _), outcome in zip(runnable, await asyncio.gather(*(execute(c) for _, c in runnable)), strict=True):
            outcomes[i] = outcome
        return run.record_outcomes(self._fill(run, outcomes, repeats))

    @staticmethod
    def _prepare(run: _Run, calls: list[ToolCall], step: int) -> tuple[
            list[ToolOutcome | None], list[tuple[int, ToolContext]], dict[int, tuple[int, ToolContext]]]:  # fmt: skip
        """Check the calls; then, one call at a time in this thread (an approval may ask a
        person at the terminal), the before hooks and approvals. A call identical to an
        earlier one of the same step is not run (nor asked for) again: it gets that one's
        outcome. Returns the outcomes so far, what to run, and the repeats to fill in."""
        outcomes: list[ToolOutcome | None] = []
        runnable: list[tuple[int, ToolContext]] = []
        repeats: dict[int, tuple[int, ToolContext]] = {}
        first_of: dict[tuple[str, str], int] = {}
        for i, call in enumerate(calls):
            p = run.box.prepare(call, step)
            if isinstance(p, ToolContext):
                key = run.box.key(p)
                if key in first_of:
                    repeats[i] = (first_of[key], p)
                    outcomes.append(None)
                    continue
                first_of[key] = i
                p = run.box.gate(p) or p
            outcomes.append(p if isinstance(p, ToolOutcome) else None)
            if isinstance(p, ToolContext):
                runnable.append((i, p))
        return outcomes, runnable, repeats

    @staticmethod
    def _fill(run: _Run, outcomes: list[ToolOutcome | None], repeats: dict[int, tuple[int, ToolContext]]) -> list[ToolOutcome]:
        for i, (first, ctx) in repeats.items():
            earlier = outcomes[first]
            assert earlier is not None
            outcomes[i] = run.box.repeat_of(ctx, earlier)
        return [o for o in outcomes if o is not None]


class _Run:
    """The state of one run: the transcript, the steps, usage, the toolbox."""

    def __init__(self, messages: list[Message], box: Toolbox) -> None:
        self.messages = messages
        self.box = box
        self.steps: list[AgentStep] = []
        self.usage = Usage(cost=0.0)
        self._costs_known = True
        self.output_retries = 0  # answers sent back for not matching output_type

    def record(self, response: Response, step: int) -> list[ToolCall]:
        """Add the model's reply; return the tool calls to run (native ones, or calls the
        model wrote as text, which become native calls in the transcript)."""
        self.steps.append(AgentStep(response))
        u = response.usage
        self.usage.input_tokens += u.input_tokens
        self.usage.output_tokens += u.output_tokens
        self.usage.estimated = self.usage.estimated or u.estimated
        if u.cost is None:
            self._costs_known = False
        elif self.usage.cost is not None:
            self.usage.cost += u.cost
        if not self._costs_known:
            self.usage.cost = None
        calls = list(response.tool_calls)
        if not calls and self.box:
            calls = calls_in_text(response.text, self.box.tools)
        message = response.message
        if calls and not response.tool_calls:
            message = Message("assistant", "", tool_calls=calls)  # written as text: recorded as native calls
        self.messages.append(message)
        return calls

    def record_outcomes(self, outcomes: list[ToolOutcome]) -> list[ToolOutcome]:
        self.steps[-1].outcomes.extend(outcomes)
        self.messages.extend(o.message for o in outcomes)
        self.box.check_budget(self.messages)
        return outcomes
