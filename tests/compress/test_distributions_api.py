"""The Client's public capability `distributions` on the bundled model, and a clear
error elsewhere."""

from __future__ import annotations

import pytest

import llmkit
from llmkit.errors import ContextLengthError, InvalidOptionError, MissingCapabilityError


def test_tokenize_detokenize_and_fingerprint(mini, tiny):
    ids = mini.tokenize("def f(x):\n    return x\n")
    assert all(isinstance(i, int) for i in ids)
    assert mini.detokenize(ids) == "def f(x):\n    return x\n"
    assert mini.capabilities.distributions
    fp = mini.fingerprint()
    assert set(fp) >= {"weights", "tokenizer", "parameters", "bytes"}
    assert fp == llmkit.Client("mini").fingerprint()
    assert tiny.fingerprint()["weights"] != fp["weights"]
    assert fp["parameters"] > 1_000_000 and fp["bytes"] == 4 * fp["parameters"]


def test_stepper_checks_its_use(tiny):
    stepper = tiny.token_stepper(2)
    assert stepper.batch_size == 2 and stepper.settings["threads"] >= 1
    with pytest.raises(InvalidOptionError, match="first step"):
        stepper.step([1, 2])
    stepper.step()
    with pytest.raises(InvalidOptionError, match="one token per row"):
        stepper.step([1])
    for _ in range(stepper.max_tokens - 1):
        stepper.step([5, 6])
    with pytest.raises(ContextLengthError):
        stepper.step([5, 6])
    stepper.close()
    with pytest.raises(InvalidOptionError, match="closed"):
        stepper.step([5, 6])
    with pytest.raises(InvalidOptionError, match="batch_size"):
        tiny.token_stepper(0)


def test_other_backends_say_they_cannot():
    client = llmkit.Client("mock:echo")
    assert not client.capabilities.distributions
    for call in (lambda: client.tokenize("x"), lambda: client.detokenize([1]), lambda: client.token_stepper(1),
                 lambda: client.next_token_logprobs([[1]]), client.fingerprint):  # fmt: skip
        with pytest.raises(MissingCapabilityError, match="distributions"):
            call()
