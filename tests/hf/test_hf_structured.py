"""Structured output on hf: constrained decoding makes every sample valid against the
schema, even from a random model sampling at a high temperature."""

import pytest
from structured_cases import SCHEMAS, Person, check_steered_and_finished, check_stop_strings_ignored, validate

import llmkit

pytest.importorskip("llguidance")


@pytest.fixture(scope="module")
def random_hf(long_context_dir):
    return llmkit.Client(f"hf:{long_context_dir}", max_tokens=200)


@pytest.mark.parametrize("fmt", SCHEMAS, ids=["pydantic", "array", "enum", "json"])
def test_every_sample_of_a_random_hf_model_is_valid(random_hf, fmt):
    for seed in range(4):
        r = random_hf.chat("Who?", response_format=fmt, temperature=1.5, seed=seed)
        # "length": steered to its end as max_tokens neared (a random model rambles)
        assert r.finish_reason in ("stop", "length") and r.structured_by == "constrained", r.text
        validate(fmt, r.text)
    batch = random_hf.chat_batch(["a", "bb", "a longer prompt"], response_format=fmt, temperature=1.0, seed=2)
    assert all(validate(fmt, r.text) is not None for r in batch)


def test_streamed_structured_output_on_hf(random_hf):
    with random_hf.stream("Who?", response_format=Person, temperature=0.9, seed=4) as s:
        text = "".join(e.text for e in s)
    assert isinstance(Person.model_validate_json(text), Person) and s.response.parsed.name == Person.model_validate_json(text).name


def test_a_steered_answer_is_complete_and_says_length_and_a_finished_one_says_stop(random_hf):
    check_steered_and_finished(random_hf)


def test_stop_strings_do_not_cut_constrained_output(random_hf):
    check_stop_strings_ignored(random_hf)
