"""An agent: a model with tools, run until it answers; then the same with a typed answer.

    python examples/agent.py                                   # a scripted model (offline)
    python examples/agent.py --model openai:gpt-4o-mini
"""

import argparse
import json

import pydantic

import llmkit
from llmkit.testing.models import scripted_model

parser = argparse.ArgumentParser()
parser.add_argument("--model", default=None)
args = parser.parse_args()


class Weather:
    """A tool set: each public method is a tool."""

    def get_weather(self, city: str) -> dict:
        "Current weather in a city."
        return {"city": city, "temperature": {"Oslo": 4, "Lima": 19}.get(city, 20), "unit": "C"}

    def convert(self, celsius: float) -> float:
        "Celsius to Fahrenheit."
        return round(celsius * 9 / 5 + 32, 1)


class Forecast(pydantic.BaseModel):
    city: str
    temperature_c: float


def stand_in(messages):
    """A scripted stand-in for a real model: calls the tools, then answers from them."""
    last = messages[-1]
    if last.role == "user" and "JSON" not in messages[0].text:
        return [llmkit.ToolCall("c1", "get_weather", '{"city": "Oslo"}'),
                llmkit.ToolCall("c2", "get_weather", '{"city": "Lima"}')]  # two calls in one step
    if last.role == "user":
        return '{"city": "Oslo", "temperature_c": 4}'
    results = [json.loads(m.text) for m in messages if m.role == "tool"]
    return " and ".join(f"{r['city']}: {r['temperature']} °C" for r in results)


model = llmkit.Client(args.model) if args.model else scripted_model(stand_in)
agent = llmkit.Agent(model, tools=[Weather()], system="Use the tools; answer briefly.")
for event in agent.stream("What is the weather in Oslo and in Lima?"):
    if event.kind == "tool_call":
        print(f"calls  {event.call.name}({event.call.arguments})")
    elif event.kind == "tool_result":
        print(f"result {event.outcome.content}")
    elif event.kind == "final":
        result = event.result
print(f"answer {result.output!r} after {len(result.steps)} steps, {result.usage.total_tokens} tokens")

typed = llmkit.Agent(model, tools=[Weather()], output_type=Forecast).run("Forecast for Oslo as JSON.")
print(f"typed  {typed.output!r}")
