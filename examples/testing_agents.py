"""Testing code built on llmkit without a real model: a scripted model that answers from
the conversation so far, and a block that makes any real model request an error.

    python examples/testing_agents.py
"""

import json

import llmkit
from llmkit.testing.models import block_model_requests, scripted_model


# --- the code under test: an agent that looks up the weather ------------------------------
@llmkit.tool
def get_weather(city: str) -> dict:
    "Current weather in a city."
    return {"city": city, "temperature": 21}


def weather_report(model: llmkit.Client, city: str) -> str:
    agent = llmkit.Agent(model, tools=[get_weather], system="Use get_weather, then answer in one sentence.")
    return agent.run(f"What is the weather in {city}?").output


# --- its test: the scripted model calls the tool, then answers from the tool's result ----
def respond(messages):
    if messages[-1].role == "tool":  # the tool answered: write the final answer from it
        data = json.loads(messages[-1].text)
        return f"It is {data['temperature']} degrees in {data['city']}."
    city = messages[-1].text.removeprefix("What is the weather in ").rstrip("?")
    return llmkit.ToolCall("call_1", "get_weather", json.dumps({"city": city}))


with block_model_requests():  # nothing in here can reach (or pay) a real model
    report = weather_report(scripted_model(respond), "Oslo")
    assert report == "It is 21 degrees in Oslo.", report
    print(f"passed: {report!r}")
    try:
        weather_report(llmkit.Client("openai:gpt-4o-mini", api_key="sk-not-a-real-key"), "Oslo")
    except llmkit.ModelRequestBlockedError as exc:
        print(f"blocked: {exc.one_line()}")
