"""Errors are built whole and rendered from their fields when shown."""

import pickle

import pytest

import llmkit
from llmkit.errors import ContextLengthError, LLMKitError, RateLimitError, ReplyInterruptedError, UsageError


def test_fields_set_later_show_in_the_text():
    err = ContextLengthError("too long", model="mock")
    err.hint = "Split it."
    err.tried = ["mock", "mock:echo"]
    assert str(err) == "too long [model=mock]\n  -> Split it. (tried in order: mock, mock:echo)"
    assert err.one_line() == "too long -> Split it. (tried in order: mock, mock:echo)"
    assert err.args == ("too long",)  # the message only: nothing rendered early


def test_a_hint_set_later_is_redacted_too():
    err = LLMKitError("failed")
    err.hint = "the key sk-abcdefghijklmnop was refused"
    assert "abcdefghijklmnop" not in str(err) and "abcdefghijklmnop" not in err.one_line()


def test_errors_survive_pickling_with_every_field():
    err = RateLimitError("slow down", retry_after=3.0, status_code=429, code="rate_limit_exceeded", model="m")
    err.tried = ["a", "b"]
    back = pickle.loads(pickle.dumps(err))
    assert type(back) is RateLimitError and str(back) == str(err)
    assert (back.retry_after, back.status_code, back.code, back.retryable) == (3.0, 429, "rate_limit_exceeded", True)


def test_usage_errors_are_value_errors_and_never_retried():
    err = UsageError("/save needs a file name")
    assert isinstance(err, ValueError) and isinstance(err, LLMKitError) and not err.retryable


def test_an_interrupted_reply_carries_its_turn_and_cause():
    cause = llmkit.MalformedStreamError("connection dropped", model="openai:x", status_code=None)
    err = ReplyInterruptedError(cause, turn="the turn")
    assert err.turn == "the turn" and err.error is cause and err.__cause__ is cause
    assert "connection dropped" in str(err) and err.model == "openai:x" and not err.retryable


def test_client_refusals_are_typed():
    with pytest.raises(UsageError):
        llmkit.Client("mock", responses=[]).chat("nothing scripted")
