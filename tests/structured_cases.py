"""Schemas for the structured-output tests of the local backends (tests/mini, tests/hf):
nested objects, enums, lists, optional fields, a JSON-schema dict and plain "json"."""

from typing import Literal

import pydantic


class Address(pydantic.BaseModel):
    city: str
    zip: str | None = None


class Person(pydantic.BaseModel):
    name: str
    age: int
    role: Literal["admin", "user", "guest"]
    tags: list[str]
    address: Address
    score: float | None = None


SCHEMAS = [
    Person,
    {"type": "object", "properties": {"ok": {"type": "boolean"}, "items": {"type": "array", "items": {"type": "integer"},
     "maxItems": 4}}, "required": ["ok", "items"], "additionalProperties": False},  # fmt: skip
    {"type": "object", "properties": {"colour": {"enum": ["red", "green", "blue"]}}, "required": ["colour"]},
    "json",
]


def validate(fmt, text):
    if isinstance(fmt, type):
        return fmt.model_validate_json(text)
    import json

    value = json.loads(text)
    if isinstance(fmt, dict):
        import jsonschema

        jsonschema.validate(value, fmt)
    else:
        assert isinstance(value, dict)
    return value




def check_steered_and_finished(client):
    """A steered answer is whole and says "length"; one that ended on its own says "stop"."""
    r = client.chat("p = ", response_format=Person, temperature=1.5, seed=5, max_tokens=90)
    assert r.finish_reason == "length" and validate(Person, r.text) is not None  # cut short, but whole
    one = client.chat("c = ", response_format={"enum": ["red"]}, temperature=1.5, seed=5)
    assert one.text == '"red"' and one.finish_reason == "stop"


def check_stop_strings_ignored(client):
    """Stop strings do not cut constrained output."""
    r = client.chat("p = ", response_format=Person, temperature=1.0, seed=6, stop=['"', "}"])
    assert validate(Person, r.text) is not None
