"""Tool-task success on a small local model: the right tool, the right arguments, and a
final answer that uses the result.

SmolLM2-135M-Instruct through `hf:`, 20 tasks over 5 tools, greedy, each run four ways:

- native template: the chat template's own tool format (the model's training), when its
  template renders tools at all (SmolLM2's does not: reported as n/a);
- constrained protocol: llmkit's way on hf:, `llmkit.Agent` with tools, the JSON tool
  protocol held by constrained decoding;
- constrained, a call required first: the same, with tool_choice="required" at the first
  step and "none" at the second (how well the model picks the tool and its arguments
  when it is told to call one);
- plain prompting: the same protocol described in the same prompt, no constraint, the
  reply parsed as the protocol (or as a call written as text).

A task succeeds when the first call names the expected tool with the expected
arguments and the final answer contains the expected value. Prints each way's rate.

    python benchmarks/tool_calls.py [--threads 2] [--quick]
"""

from __future__ import annotations

import json

from hf_common import model_id, parser

import llmkit

CAPITALS = {"france": "Paris", "japan": "Tokyo", "italy": "Rome", "egypt": "Cairo", "peru": "Lima"}
WEATHER = {"oslo": 4, "lima": 19, "cairo": 31, "tokyo": 12}


@llmkit.tool
def add(a: int, b: int) -> int:
    "Add two integers."
    return a + b


@llmkit.tool
def multiply(a: int, b: int) -> int:
    "Multiply two integers."
    return a * b


@llmkit.tool
def get_capital(country: str) -> str:
    "The capital city of a country."
    return CAPITALS.get(country.strip().lower(), "unknown")


@llmkit.tool
def get_weather(city: str) -> str:
    "The temperature in a city, in degrees Celsius."
    return f"{WEATHER.get(city.strip().lower(), 20)} degrees"


@llmkit.tool
def word_length(word: str) -> int:
    "How many letters a word has."
    return len(word)


TOOLS = [add, multiply, get_capital, get_weather, word_length]
# (question, expected tool, expected arguments, expected text in the final answer)
TASKS = [
    ("What is 17 plus 25? Use the add tool.", "add", {"a": 17, "b": 25}, "42"),
    ("Add 120 and 7.", "add", {"a": 120, "b": 7}, "127"),
    ("What is 9 + 33?", "add", {"a": 9, "b": 33}, "42"),
    ("Compute 250 plus 250.", "add", {"a": 250, "b": 250}, "500"),
    ("Multiply 6 by 7.", "multiply", {"a": 6, "b": 7}, "42"),
    ("What is 12 times 12?", "multiply", {"a": 12, "b": 12}, "144"),
    ("Compute 25 multiplied by 4.", "multiply", {"a": 25, "b": 4}, "100"),
    ("What is 3 times 15? Use the multiply tool.", "multiply", {"a": 3, "b": 15}, "45"),
    ("What is the capital of France?", "get_capital", {"country": "France"}, "Paris"),
    ("Which city is the capital of Japan?", "get_capital", {"country": "Japan"}, "Tokyo"),
    ("Tell me the capital of Italy.", "get_capital", {"country": "Italy"}, "Rome"),
    ("What is Egypt's capital city?", "get_capital", {"country": "Egypt"}, "Cairo"),
    ("Use get_capital to find the capital of Peru.", "get_capital", {"country": "Peru"}, "Lima"),
    ("What is the weather in Oslo?", "get_weather", {"city": "Oslo"}, "4"),
    ("How warm is it in Lima right now?", "get_weather", {"city": "Lima"}, "19"),
    ("Get the temperature in Cairo.", "get_weather", {"city": "Cairo"}, "31"),
    ("What's the weather like in Tokyo?", "get_weather", {"city": "Tokyo"}, "12"),
    ("How many letters does the word 'banana' have?", "word_length", {"word": "banana"}, "6"),
    ("Count the letters in 'elephant'.", "word_length", {"word": "elephant"}, "8"),
    ("How long is the word 'cat'? Use word_length.", "word_length", {"word": "cat"}, "3"),
]


def judge(calls: list[llmkit.ToolCall], answer: str, task: tuple) -> bool:
    _, tool, args, expected = task
    if not calls or calls[0].name != tool:
        return False
    try:
        got = {k: (v.strip().lower() if isinstance(v, str) else v) for k, v in json.loads(calls[0].arguments).items()}
    except (json.JSONDecodeError, AttributeError):
        return False
    want = {k: (v.lower() if isinstance(v, str) else v) for k, v in args.items()}
    return got == want and expected.lower() in answer.lower()


def constrained(client: llmkit.Client, question: str) -> tuple[list[llmkit.ToolCall], str]:
    try:
        result = llmkit.Agent(client, tools=TOOLS, max_steps=3).run(question, max_tokens=60, temperature=0)
    except llmkit.agents.MaxStepsError as exc:  # it called, but never answered
        return [c for m in exc.messages for c in m.tool_calls], ""
    calls = [c for m in result.messages for c in m.tool_calls]
    return calls, result.text


def required_first(client: llmkit.Client, question: str) -> tuple[list[llmkit.ToolCall], str]:
    """The constrained protocol with a call required at the first step (tool_choice="required"),
    then the model free to answer from the result: how well it picks the tool and its arguments."""
    from llmkit.agents.toolbox import Toolbox

    messages = [llmkit.user(question)]
    first = client.chat(messages, tools=TOOLS, tool_choice="required", max_tokens=60, temperature=0)
    outcome = Toolbox(TOOLS).prepare(first.tool_calls[0], 1)
    result = outcome.content if not hasattr(outcome, "tool") else str(outcome.tool.call(outcome.arguments))
    messages += [first.message, llmkit.tool_result(result, tool_call_id=first.tool_calls[0].id)]
    final = client.chat(messages, tools=TOOLS, tool_choice="none", max_tokens=60, temperature=0)
    return first.tool_calls, final.text


def plain(client: llmkit.Client, question: str) -> tuple[list[llmkit.ToolCall], str]:
    """The same prompt, no constraint: the reply parsed as the protocol, or as a call written as text."""
    from llmkit.agents.toolbox import Toolbox
    from llmkit.backends import tool_protocol
    from llmkit.tools import calls_in_text, to_tool

    tools = [to_tool(t) for t in TOOLS]
    messages = [llmkit.user(question)]
    calls: list[llmkit.ToolCall] = []
    for _ in range(2):
        r = client.chat(tool_protocol.prompt_messages(messages, tools), max_tokens=60, temperature=0)
        text, found = tool_protocol.parse_reply(r.text.strip())
        found = found or calls_in_text(r.text, [t.name for t in tools])
        if not found:
            return calls, text
        calls += found
        box = Toolbox(TOOLS)
        outcome = box.prepare(found[0], 1)
        result = outcome.content if not hasattr(outcome, "tool") else str(outcome.tool.call(outcome.arguments))
        messages += [llmkit.assistant("", found[:1]), llmkit.tool_result(result, tool_call_id=found[0].id)]
    return calls, ""


def template_renders_tools(client: llmkit.Client) -> bool:
    tok = client.backend.engine.tokenizer
    spec = [{"type": "function", "function": {"name": "zzz_probe", "parameters": {"type": "object"}}}]
    try:
        text = tok.apply_chat_template([{"role": "user", "content": "hi"}], tools=spec, tokenize=False)
    except Exception:
        return False
    return "zzz_probe" in text


def main() -> None:
    p = parser(__doc__)
    args = p.parse_args()
    tasks = TASKS[:4] if args.quick else TASKS
    settings = {"threads": args.threads} if args.threads else {}
    client = llmkit.Client(model_id(args), **settings)
    scores = {"constrained protocol": 0, "constrained, a call required first": 0, "plain prompting": 0}
    ways = (("constrained protocol", constrained), ("constrained, a call required first", required_first),
            ("plain prompting", plain))  # fmt: skip
    for task in tasks:
        row = []
        for name, run in ways:
            calls, answer = run(client, task[0])
            ok = judge(calls, answer, task)
            scores[name] += ok
            first = f"{calls[0].name}({calls[0].arguments})" if calls else "no call"
            row.append(f"{'ok ' if ok else 'NO '} {first[:34]:<34} -> {answer[:16]!r:<18}")
        print(f"{task[0][:44]:<44} | " + " | ".join(row))
    native = "n/a (its chat template does not render tools)" if not template_renders_tools(client) else "not measured"
    n = len(tasks)
    print(f"\ntool-task success over {n} tasks: native template {native}; "
          + "; ".join(f"{k} {v}/{n} ({v / n:.0%})" for k, v in scores.items()))


if __name__ == "__main__":
    main()
