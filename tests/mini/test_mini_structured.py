"""Structured output on mini: constrained decoding makes every sample valid against the
schema, even from a random model sampling at a high temperature."""

import pytest
from structured_cases import SCHEMAS, Person, check_steered_and_finished, check_stop_strings_ignored, validate

import llmkit

pytest.importorskip("llguidance")


@pytest.fixture(scope="module")
def random_mini(tmp_path_factory, tokenizer):
    """A random model (it knows nothing of JSON) with room for long outputs."""
    import torch

    from llmkit.mini.checkpoint import save_checkpoint
    from llmkit.mini.model import GPT, GPTConfig

    torch.manual_seed(0)
    model = GPT(GPTConfig(vocab_size=tokenizer.vocab_size, n_layer=1, n_head=2, n_embd=32, block_size=512))
    path = tmp_path_factory.mktemp("structured") / "random"
    save_checkpoint(path, model, tokenizer)
    return llmkit.Client(f"mini:{path}", max_tokens=300)


@pytest.mark.parametrize("fmt", SCHEMAS, ids=["pydantic", "array", "enum", "json"])
def test_every_sample_of_a_random_mini_model_is_valid(random_mini, fmt):
    for seed in range(8):
        r = random_mini.chat("person = ", response_format=fmt, temperature=1.5, seed=seed)
        # "length": steered to its end as max_tokens neared (a random model rambles)
        assert r.finish_reason in ("stop", "length") and r.structured_by == "constrained", r.text
        validate(fmt, r.text)
    samples = random_mini.chat("x = ", response_format=fmt, temperature=1.2, seed=1, n=3)
    assert len(samples.texts) == 3 and all(validate(fmt, t) is not None for t in samples.texts)


def test_parsed_and_streamed_on_mini(random_mini):
    r = random_mini.chat("p = ", response_format=Person, temperature=1.0, seed=3)
    assert isinstance(r.parsed, Person)
    with random_mini.stream("p = ", response_format=Person, temperature=1.0, seed=3) as s:
        text = "".join(e.text for e in s)
    assert text == r.text and isinstance(s.response.parsed, Person)


def test_an_unusable_schema_is_a_clear_error(random_mini):
    with pytest.raises(llmkit.InvalidOptionError, match="constrained decoding"):
        random_mini.chat("x", response_format={"type": "object", "properties": {"a": {"$ref": "#/nowhere"}}})




def test_a_steered_answer_is_complete_and_says_length_and_a_finished_one_says_stop(random_mini):
    check_steered_and_finished(random_mini)


def test_stop_strings_do_not_cut_constrained_output(random_mini):
    check_stop_strings_ignored(random_mini)
