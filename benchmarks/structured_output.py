"""Structured output on a small local model: how often the JSON is valid, and what the
constraint costs per token.

SmolLM2-135M-Instruct through `hf:`, 5 schemas (nested objects, enums, lists, optional
fields, numbers) x 6 prompts = 30 requests, greedy, each answered twice:

- constrained: `response_format=Model`, constrained decoding (llmkit's way on hf:);
- prompted (the baseline): the same prompt with the same schema note, no constraint,
  one attempt, its JSON extracted and validated as the prompted strategy would.

Prints the valid rate of both (target: constrained 100%), then the decoding time per
token with and without the constraint: the same prompt (schema note included), streamed
one at a time, the clock running from the first token to the last (so the shared
prompt processing is left out), the unconstrained run making as many tokens as the
constrained one did (target: <= 1.3x).

    python benchmarks/structured_output.py [--threads 2] [--quick]
"""

from __future__ import annotations

import time
from typing import Literal

import pydantic
from hf_common import model_id, parser


class Capital(pydantic.BaseModel):
    city: str
    country: str


class Person(pydantic.BaseModel):
    name: str
    age: int
    occupation: Literal["scientist", "artist", "politician", "athlete", "writer", "other"]


class Recipe(pydantic.BaseModel):
    dish: str
    ingredients: list[str]
    minutes: int


class Address(pydantic.BaseModel):
    street: str
    city: str
    postcode: str | None = None


class Company(pydantic.BaseModel):
    name: str
    founded: int
    headquarters: Address
    public: bool


class Sentiment(pydantic.BaseModel):
    label: Literal["positive", "negative", "neutral"]
    confidence: float
    keywords: list[str] = []


CASES: list[tuple[type[pydantic.BaseModel], list[str]]] = [
    (Capital, ["What is the capital of France?", "What is the capital of Japan?", "What is the capital of Italy?",
               "What is the capital of Canada?", "What is the capital of Egypt?", "What is the capital of Peru?"]),
    (Person, ["Tell me about Albert Einstein.", "Who was Frida Kahlo?", "Describe Serena Williams.",
              "Who is Barack Obama?", "Tell me about Jane Austen.", "Who was Marie Curie?"]),
    (Recipe, ["How do I make pancakes?", "Give me a recipe for tomato soup.", "How do I cook rice?",
              "A recipe for guacamole, please.", "How do I make scrambled eggs?", "How do I bake bread?"]),
    (Company, ["Tell me about Apple Inc.", "Describe the company Toyota.", "What is Microsoft?",
               "Tell me about Nestle.", "Describe the company Siemens.", "What is Samsung?"]),
    (Sentiment, ["Classify: 'I loved this film, it was wonderful.'", "Classify: 'The service was slow and rude.'",
                 "Classify: 'The parcel arrived on Tuesday.'", "Classify: 'Best pizza in town!'",
                 "Classify: 'I want my money back.'", "Classify: 'It is a chair.'"]),
]  # fmt: skip


def main() -> None:
    p = parser(__doc__)
    p.add_argument("--tokens", type=int, default=96, help="max_tokens per answer")
    args = p.parse_args()
    cases = [(fmt, prompts[:2]) for fmt, prompts in CASES[:2]] if args.quick else CASES

    import llmkit
    from llmkit.structured import extract_json, problems, with_note

    settings = {"threads": args.threads} if args.threads else {}
    client = llmkit.Client(model_id(args), batch_size=6, **settings)
    opts = {"max_tokens": args.tokens, "temperature": 0}
    client.chat("Hi", max_tokens=2)  # load the model before any clock runs

    valid = {"constrained": 0, "prompted": 0}
    timing = {"constrained": [0.0, 0], "unconstrained": [0.0, 0]}  # decoding seconds, tokens after the first
    total = 0
    for fmt, prompts in cases:
        client.chat(prompts[0], response_format=fmt, max_tokens=2)  # build the vocabulary outside the clock
        noted = [with_note([llmkit.user(q)], fmt) for q in prompts]
        constrained = client.chat_batch([[llmkit.user(q)] for q in prompts], response_format=fmt, **opts)
        plain = client.chat_batch(noted, **opts)  # same prompts (the same schema note), no constraint
        for kind, rs in (("constrained", constrained), ("prompted", plain)):
            valid[kind] += sum(not problems(fmt, extract_json(r.text)) for r in rs)
        total += len(prompts)
        seconds, tokens = decode_time(client, [llmkit.user(prompts[0])], {**opts, "response_format": fmt})
        timing["constrained"][0] += seconds
        timing["constrained"][1] += tokens
        seconds, tokens = decode_time(client, noted[0], {**opts, "max_tokens": tokens + 1})  # as many tokens
        timing["unconstrained"][0] += seconds
        timing["unconstrained"][1] += tokens
        print(f"{fmt.__name__:<10} constrained {sum(not problems(fmt, extract_json(r.text)) for r in constrained)}"
              f"/{len(prompts)}   prompted {sum(not problems(fmt, extract_json(r.text)) for r in plain)}/{len(prompts)}"
              f"   e.g. {constrained[0].text[:70]}")  # fmt: skip
    per_token = {k: s / max(n, 1) for k, (s, n) in timing.items()}
    per_token["prompted"] = per_token["unconstrained"]
    print(f"\nvalid JSON for the schema: constrained {valid['constrained']}/{total} "
          f"({valid['constrained'] / total:.0%}), prompted baseline {valid['prompted']}/{total} "
          f"({valid['prompted'] / total:.0%})   (target: constrained 100%)")
    print(f"time per generated token: constrained {per_token['constrained'] * 1000:.1f} ms, unconstrained "
          f"{per_token['prompted'] * 1000:.1f} ms   ratio = {per_token['constrained'] / per_token['prompted']:.2f} "
          f"(target <= 1.3)")


def decode_time(client, messages, options) -> tuple[float, int]:
    """(seconds from the first streamed token to the end, tokens made after the first)."""
    first = None
    with client.stream(messages, **options) as s:
        for event in s:
            if event.text and first is None:
                first = time.perf_counter()
    end = time.perf_counter()
    return (end - first if first else 0.0), max(s.response.usage.output_tokens - 1, 0)


if __name__ == "__main__":
    main()
