"""Claude through llmkit, with the llmkit-anthropic plugin: chat with a system prompt,
streaming, an agent that calls a tool, and a pydantic model as structured output.

    pip install -e plugins/llmkit-anthropic          # (or pip install llmkit-anthropic)
    ANTHROPIC_API_KEY=sk-ant-... python examples/plugin_anthropic.py --model claude-haiku-4-5

Without a key it says how to run it and exits. --base-url points it at another server
that speaks Anthropic's Messages API (a proxy, or a test double).
"""

import argparse
import os
import sys

import pydantic

import llmkit
from llmkit import plugins

parser = argparse.ArgumentParser()
parser.add_argument("--model", default="claude-haiku-4-5")
parser.add_argument("--base-url", default=None, help="a server speaking Anthropic's Messages API")
args = parser.parse_args()

if "anthropic" not in plugins.names("provider"):
    print("The llmkit-anthropic plugin is not installed: pip install -e plugins/llmkit-anthropic")
    sys.exit(0)
if not os.environ.get("ANTHROPIC_API_KEY") and not args.base_url:
    print("ANTHROPIC_API_KEY is not set, so there is no one to talk to. Run it with a key from console.anthropic.com:")
    print(f"    ANTHROPIC_API_KEY=sk-ant-... python {sys.argv[0]} --model {args.model}")
    print("It would chat with a system prompt, stream an answer, let an agent call a tool, and ask for a "
          "pydantic model, printing tokens and cost.")
    sys.exit(0)

client = llmkit.Client(f"anthropic:{args.model}", base_url=args.base_url)


def spent(usage: llmkit.Usage) -> str:
    price = "no known price" if usage.cost is None else f"${usage.cost:.6f}"
    return f"{usage.input_tokens} in / {usage.output_tokens} out, {price}"


# 1. a system prompt and a question
r = client.chat([llmkit.system("Answer in one short sentence."), llmkit.user("What is the capital of Norway?")],
                max_tokens=100)
print("chat:      ", r.text, f"({spent(r.usage)})")

# 2. streaming: the text as it arrives, the whole response at the end
print("stream:     ", end="")
with client.stream("Count from one to five, in words.") as stream:
    for event in stream:
        print(event.text, end="", flush=True)
print(f"  [finish: {stream.response.finish_reason}]")


# 3. an agent with a tool: Claude calls it, the result goes back, Claude answers
@llmkit.tool
def get_weather(city: str) -> str:
    "The weather in a city right now."
    return f"It is 21 degrees and sunny in {city}."


result = llmkit.Agent(client, tools=[get_weather]).run("What is the weather like in Oslo?")
calls = [f"{o.call.name}({o.call.args})" for step in result.steps for o in step.outcomes]
print("agent:     ", ", ".join(calls), "->", result.output)


# 4. structured output: a pydantic model, through a forced tool, checked by llmkit
class Country(pydantic.BaseModel):
    name: str
    capital: str
    population_millions: float


r = client.chat("Describe Norway.", response_format=Country)
print("structured:", repr(r.parsed), f"({spent(r.usage)})")
