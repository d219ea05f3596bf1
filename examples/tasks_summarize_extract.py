"""Summaries and information extraction, offline, on a scripted model.

    python examples/tasks_summarize_extract.py

The "model" here is llmkit's mock backend answering with a function: for a summary
it returns the first sentence of the text it is given, for an extraction the people
it finds with a regular expression, plus one made-up record. Pretend context
windows (120 tokens for the summary, 400 for the extraction, whose prompt also holds
the schema) make both split the text. Swap in model="hf:PATH" or
"openai:..." for real answers: the calls are the same.
"""

import json
import re

from pydantic import BaseModel

import llmkit
from llmkit.tasks import extract, summarize

TEXT = """Ada Lovelace lives in London. She wrote the first published program, for Babbage's engine.
Her notes on the engine appeared in 1843 and describe an algorithm for Bernoulli numbers.

Alan Turing lives in Manchester. He described a universal machine in 1936.
His work on codebreaking at Bletchley Park shortened the war, historians say.

Grace Hopper lives in Arlington. She built one of the first compilers.
She also popularised the word bug for a fault in a computer after a moth was found in a relay."""


class Person(BaseModel):
    name: str
    city: str


def scripted_model(messages, options):
    text = messages[-1].text.split("Text:\n", 1)[-1]
    if options.get("response_format") is not None:
        people = [{"name": n, "city": c} for n, c in re.findall(r"([A-Z]\w+ [A-Z]\w+) lives in ([A-Z]\w+)", text)]
        return json.dumps({"items": [*people, {"name": "Charles Babbage", "city": "Paris"}]})
    return re.split(r"(?<=[.!?])\s", text.strip(), maxsplit=1)[0]  # the first sentence


summary = summarize(TEXT, words=12, model=llmkit.Client("mock", responses=scripted_model, context_window=120))
print(f"summary ({summary.strategy}, {summary.chunks} pieces, {summary.rounds} rounds): {summary.text}")
for s in summary.sentences:
    print(f"  {s.text!r} <- {[TEXT[a:b] for a, b in s.sources]} (overlap {s.overlap:.0%})")

found = extract(TEXT, Person, model=llmkit.Client("mock", responses=scripted_model, context_window=400))
print(f"extraction ({found.strategy}, {found.chunks} pieces): {len(found.items)} records")
for item, spans, missing in zip(found.items, found.spans, found.unlocated, strict=True):
    where = {field: TEXT[a:b] for field, (a, b) in spans.items()}
    print(f"  {item!r} found as {where}" + (f", not in the text: {missing}" if missing else ""))
