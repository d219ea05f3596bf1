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


