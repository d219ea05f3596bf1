"""Tool calls and structured output: a function becomes a tool, a pydantic model a schema.

    python examples/tools_and_json.py                       # scripted mock model (offline)
    python examples/tools_and_json.py --model openai:gpt-4o-mini
"""

import argparse
import json

import pydantic

import llmkit

parser = argparse.ArgumentParser()
parser.add_argument("--model", default=None)
args = parser.parse_args()


def get_weather(city: str, unit: str = "C") -> str:
    """Current weather in a city."""
    return json.dumps({"city": city, "temperature": 21, "unit": unit})


class Forecast(pydantic.BaseModel):
    city: str
    temperature: float
    summary: str


if args.model:
    client = llmkit.Client(args.model, temperature=0)
else:  # a scripted stand-in for a real model: the same calls, no network
    client = llmkit.Client("mock", responses=[
        llmkit.ToolCall("call_1", "get_weather", '{"city": "Oslo"}'),
        "It is 21 degrees in Oslo.",
        '{"city": "Oslo", "temperature": 21, "summary": "mild"}',
    ])  # fmt: skip

tools = {"get_weather": get_weather}
messages = [llmkit.user("What's the weather in Oslo?")]
r = client.chat(messages, tools=[get_weather])
while r.tool_calls:  # the model asks; we run the function (arguments are data, never eval'd)
    messages.append(r.message)
    for call in r.tool_calls:
        print(f"model calls {call.name}({call.args})")
        messages.append(llmkit.tool_result(tools[call.name](**call.args), tool_call_id=call.id))
    r = client.chat(messages, tools=[get_weather])
print("answer:", r.text)

forecast = client.chat("Give Oslo's forecast as JSON.", response_format=Forecast).parsed
print("parsed:", repr(forecast))
