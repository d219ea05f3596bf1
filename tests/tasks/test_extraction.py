"""Information extraction: schema-valid records through response_format, every string
value located in the text or flagged unlocated, long texts split and merged, and a
model that will not fit the schema a clear error."""

import argparse
import json

import pytest
from pydantic import BaseModel
from task_doubles import scripted

import llmkit
from llmkit.cli import extract as extract_cli
from llmkit.errors import TaskError, UsageError
from llmkit.tasks import Extraction, extract, extract_batch

TEXT = "Ada Lovelace lived in London. Alan Turing was born in   Maida Vale and worked in MANCHESTER."


class Person(BaseModel):
    name: str
    city: str | None = None
    age: int | None = None


def items(*records):
    return json.dumps({"items": list(records)})


def test_records_are_validated_and_their_values_located_or_flagged():
    client = scripted(items({"name": "Ada Lovelace", "city": "London"},
                            {"name": "Alan Turing", "city": "manchester", "age": 41},
                            {"name": "Grace Hopper", "city": "maida vale"}))  # fmt: skip
    r = extract(TEXT, Person, model=client)
    assert isinstance(r, Extraction) and r.strategy == "prompted" and r.chunks == 1
    assert r.items == [Person(name="Ada Lovelace", city="London"), Person(name="Alan Turing", city="manchester", age=41),
                       Person(name="Grace Hopper", city="maida vale")]  # fmt: skip
    located = [{k: TEXT[a:b] for k, (a, b) in spans.items()} for spans in r.spans]
    assert located[0] == {"name": "Ada Lovelace", "city": "London"}
    assert located[1] == {"name": "Alan Turing", "city": "MANCHESTER"}  # found ignoring case; age is no span
    assert located[2] == {"city": "Maida Vale"}  # ignoring case and the run of spaces
    assert r.unlocated == [[], [], ["name"]]  # a made-up name is never passed off as quoted
    fmt = client.backend.calls[0][2]["response_format"]
    assert fmt.model_json_schema()["properties"]["items"]["type"] == "array"


def test_values_are_matched_as_whole_words():
    client = scripted(items({"w": "s"}, {"w": "is"}))
    r = extract("This is it.", {"type": "object", "properties": {"w": {"type": "string"}}}, model=client, max_tokens=50)
    assert r.unlocated == [["w"], []] and r.spans[1] == {"w": (5, 7)}
    assert client.backend.calls[0][2]["max_tokens"] == 50


def test_output_that_does_not_fit_is_re_asked_then_a_clear_error():
    client = scripted("Sure, here you go: Ada", items({"name": "Ada Lovelace"}))
    assert extract(TEXT, Person, model=client).items == [Person(name="Ada Lovelace")]
    assert len(client.backend.calls) == 2 and "JSON" in client.backend.calls[1][1][-1].text
    with pytest.raises(TaskError, match="did not fit the schema"):
        extract(TEXT, Person, model=scripted(*["no idea"] * 5))
    with pytest.raises(TaskError, match="did not fit the schema"):
        extract(TEXT, Person, model=scripted(*[items({"city": "London"})] * 5))  # name is required


def test_a_dict_schema_with_nested_values_and_definitions():
    schema = {
        "type": "object",
        "properties": {"name": {"type": "string"}, "home": {"$ref": "#/$defs/Place"},
                       "tags": {"type": "array", "items": {"type": "string"}}},
        "required": ["name"],
        "$defs": {"Place": {"type": "object", "properties": {"city": {"type": "string"}}}},
    }  # fmt: skip
    client = scripted(items({"name": "Alan Turing", "home": {"city": "Maida Vale"}, "tags": ["worked", "chess"]}))
    r = extract(TEXT, schema, model=client)
    assert r.items == [{"name": "Alan Turing", "home": {"city": "Maida Vale"}, "tags": ["worked", "chess"]}]
    assert set(r.spans[0]) == {"name", "home.city", "tags[0]"} and r.unlocated == [["tags[1]"]]
    wrapper = client.backend.calls[0][2]["response_format"]
    assert "$defs" in wrapper and "$defs" not in wrapper["properties"]["items"]["items"]


def test_bad_schemas_are_clear_errors():
    with pytest.raises(TaskError, match="pydantic model class or a JSON-schema dict"):
        extract(TEXT, "Person", model="mock:echo")
    with pytest.raises(TaskError, match="describe one object"):
        extract(TEXT, {"type": "array", "items": {"type": "string"}}, model="mock:echo")


def test_a_long_text_is_split_and_the_records_merged_with_whole_text_offsets():
    people = [("Ada Lovelace", "London"), ("Alan Turing", "Manchester"), ("Grace Hopper", "Arlington"),
              ("Edsger Dijkstra", "Nuenen")]  # fmt: skip
    text = "\n\n".join(f"{n} lived in {c}. " + "Nothing else happened that year in the town. " * 6
                      for n, c in people)  # fmt: skip

    def respond(messages, options):  # the people the piece names, and always Ada (a repeat)
        piece = messages[-1].text
        found = [{"name": n, "city": c} for n, c in people if n in piece]
        return items(*found, {"name": "Ada Lovelace", "city": "London"})

    client = llmkit.Client("mock", responses=respond, context_window=400)
    r = extract(text, Person, model=client)
    assert r.chunks > 1 and len(client.backend.calls) == r.chunks and "split into" in r.notes[0]
    assert [p.name for p in r.items] == [n for n, _ in people]  # Ada once
    for item, spans in zip(r.items, r.spans, strict=True):
        assert text[slice(*spans["name"])] == item.name and text[slice(*spans["city"])] == item.city
    for _, messages, options in client.backend.calls:  # fits with the schema stated in the prompt
        assert int(client.count_tokens(messages)) + options["max_tokens"] <= 400


def test_batch_keeps_order_with_per_item_errors():
    out = extract_batch([TEXT, "", TEXT], Person, model=scripted(items({"name": "Ada Lovelace"}), items()))
    assert out[0].items == [Person(name="Ada Lovelace")] and out[2].items == []
    assert isinstance(out[1], TaskError) and out[1].item == 1


def test_constrained_decoding_on_a_tiny_local_model_always_validates(tiny_hf):
    r = extract(TEXT, Person, model=tiny_hf)
    assert r.strategy == "constrained"
    assert all(isinstance(p, Person) for p in r.items)
    for item, spans, missing in zip(r.items, r.spans, r.unlocated, strict=True):
        assert set(spans) | set(missing) == {k for k in ("name", "city") if (getattr(item, k) or "").strip()}
        for path, (a, b) in spans.items():
            assert TEXT[a:b].lower().split() == getattr(item, path).lower().split()


def test_a_window_too_small_for_the_schema_is_a_clear_error():
    with pytest.raises(TaskError, match="context window .* leaves no room"):
        extract(TEXT, Person, model=scripted(context_window=150))


def test_cli_reads_the_schema_file(tmp_path, capsys, monkeypatch):
    schema = tmp_path / "person.json"
    schema.write_text(json.dumps({"type": "object", "properties": {"name": {"type": "string"}}, "required": ["name"]}))
    text = tmp_path / "t.txt"
    text.write_text(TEXT)
    monkeypatch.setattr(extract_cli, "task_client",
                        lambda args: scripted(items({"name": "Ada Lovelace"}, {"name": "Bob"})))  # fmt: skip
    p = argparse.ArgumentParser()
    extract_cli.add_arguments(p)
    assert extract_cli.run(p.parse_args([str(text), "--schema", str(schema)])) == 0
    assert capsys.readouterr().out.splitlines() == ['{"name": "Ada Lovelace"}', '{"name": "Bob"}',
                                                    "  not found in the text: name"]  # fmt: skip
    assert extract_cli.run(p.parse_args([str(text), "--schema", str(schema), "--json"])) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["unlocated"] == [[], ["name"]] and out["spans"][0] == {"name": [0, 12]}
    schema.write_text("{not json")
    with pytest.raises(UsageError, match="not valid JSON"):
        extract_cli.run(p.parse_args([str(text), "--schema", str(schema)]))


@pytest.mark.slow
def test_smollm2_extracts_records_that_validate(smollm2):
    r = extract("Maria Garcia is a nurse in Madrid.", Person, model=smollm2, max_tokens=48)
    assert r.strategy == "constrained" and r.items and all(isinstance(p, Person) for p in r.items)
    assert any(spans for spans in r.spans)  # something it wrote is quoted from the text
