"""Errors: each Anthropic status and error type onto llmkit's hierarchy, retries left to
llmkit's client (the SDK never retries), network failures, and the key kept out of
everything that can be shown."""

from __future__ import annotations

import logging

import httpx  # httpx2, aliased (tests/httpx2_alias.py)
import pytest
from anthropic_payloads import KEY, MESSAGES, MODEL, error_body, message

import llmkit


def client(**kw) -> llmkit.Client:
    return llmkit.Client(f"anthropic:{MODEL}", **kw)


@pytest.mark.parametrize("status, kind, text, cls, retryable", [
    (400, "invalid_request_error", "messages: roles must alternate", llmkit.BadRequestError, False),
    (400, "invalid_request_error", "prompt is too long: 201234 tokens > 200000 maximum", llmkit.ContextLengthError, False),
    (400, "invalid_request_error", "input length and `max_tokens` exceed context limit: 197202 + 21333 > 200000",
     llmkit.ContextLengthError, False),
    (401, "authentication_error", "invalid x-api-key", llmkit.AuthenticationError, False),
    (402, "billing_error", "Your credit balance is too low", llmkit.QuotaExceededError, False),
    (403, "permission_error", "Your API key does not have permission", llmkit.PermissionDeniedError, False),
    (404, "not_found_error", "model: claude-nope", llmkit.NotFoundError, False),
    (413, "request_too_large", "Request exceeds the maximum allowed number of bytes", llmkit.ContextLengthError, False),
    (429, "rate_limit_error", "Number of request tokens has exceeded your per-minute rate limit",
     llmkit.RateLimitError, True),
    (500, "api_error", "Internal server error", llmkit.ServerError, True),
    (504, "timeout_error", "Request timed out", llmkit.ServerError, True),
    (529, "overloaded_error", "Overloaded", llmkit.ServerError, True),
])  # fmt: skip
def test_each_status_and_type_maps_onto_llmkits_errors(api, status, kind, text, cls, retryable):
    api.post(MESSAGES).respond(status, json=error_body(kind, text), headers={"request-id": "req_abc"})
    with pytest.raises(llmkit.APIError) as err:
        client(max_retries=0).chat("Hi")
    e = err.value
    assert type(e) is cls and e.retryable is retryable
    assert e.status_code == status and e.code == kind and e.request_id == "req_abc"
    assert text in e.message and e.model == "anthropic:claude-sonnet-4-5"


def test_a_spending_limit_429_is_a_quota_error_not_a_rate_limit(api):
    body = error_body("rate_limit_error", "Spend limit reached")
    body["error"]["details"] = {"error_code": "enforced_spend_limit_reached"}
    api.post(MESSAGES).respond(429, json=body)
    with pytest.raises(llmkit.QuotaExceededError) as err:
        client().chat("Hi")
    assert err.value.code == "enforced_spend_limit_reached" and not err.value.retryable


def test_an_error_without_a_json_body_is_mapped_on_its_status(api):
    api.post(MESSAGES).respond(502, text="<html>Bad Gateway</html>", headers={"content-type": "text/html"})
    with pytest.raises(llmkit.ServerError, match="502"):
        client(max_retries=0).chat("Hi")


def test_a_rate_limit_then_success_gives_one_answer_after_two_calls(api, no_sleep):
    route = api.post(MESSAGES)
    route.side_effect = [httpx.Response(429, json=error_body("rate_limit_error", "Slow down"),
                                        headers={"retry-after": "7"}),
                         httpx.Response(200, json=message("made it"))]  # fmt: skip
    r = client().chat("Hi")
    assert r.text == "made it"
    assert route.call_count == 2  # the SDK did not retry on its own (max_retries=0): llmkit's client did, once
    assert no_sleep == [7.0]  # waiting as long as retry-after said


def test_overloaded_is_retried_with_backoff_until_the_budget_runs_out(api, no_sleep):
    route = api.post(MESSAGES).respond(529, json=error_body("overloaded_error", "Overloaded"))
    with pytest.raises(llmkit.ServerError) as err:
        client(max_retries=2).chat("Hi")
    assert route.call_count == 3 and len(no_sleep) == 2
    assert "overloaded" in err.value.hint.lower()


def test_errors_that_retrying_cannot_fix_are_not_retried(api, no_sleep):
    route = api.post(MESSAGES).respond(401, json=error_body("authentication_error", "invalid x-api-key"))
    with pytest.raises(llmkit.AuthenticationError) as err:
        client().chat("Hi")
    assert route.call_count == 1 and no_sleep == []
    assert "ANTHROPIC_API_KEY" in err.value.hint


def test_a_fallback_answers_when_anthropic_is_overloaded(api, no_sleep):
    api.post(MESSAGES).respond(529, json=error_body("overloaded_error", "Overloaded"))
    r = client(max_retries=0, fallbacks=["mock:echo"]).chat("Still here?")
    assert r.text == "Still here?" and r.model == "mock:echo"


def test_connection_failures_and_timeouts(api, no_sleep):
    route = api.post(MESSAGES)
    route.side_effect = httpx.ConnectError("connection refused")
    with pytest.raises(llmkit.APIConnectionError, match="could not reach Anthropic's API") as err:
        client().chat("Hi")
    assert type(err.value) is llmkit.APIConnectionError and route.call_count == 3  # retried twice by llmkit
    route.side_effect = httpx.ReadTimeout("read timed out")
    with pytest.raises(llmkit.APITimeoutError, match="no answer from Anthropic's API in time"):
        client(max_retries=0).chat("Hi")


def test_the_timeout_option_reaches_the_request(api):
    route = api.post(MESSAGES).respond(200, json=message())
    client().chat("Hi", timeout=12.5)
    assert route.calls[0].request.extensions["timeout"]["read"] == pytest.approx(12.5, abs=0.5)


def test_the_key_never_shows_in_reprs_errors_or_logs(api, caplog):
    echo = f"invalid x-api-key: {KEY}"  # a server (or proxy) that echoes the key back
    api.post(MESSAGES).respond(401, json=error_body("authentication_error", echo), headers={"x-echo": KEY})
    c = client()
    with caplog.at_level(logging.DEBUG):
        with pytest.raises(llmkit.AuthenticationError) as err:
            c.chat("Hi")
    shown = [str(err.value), repr(err.value), err.value.one_line(), repr(c), repr(c.backend),
             str(c.backend.settings_values), str(vars(err.value)), caplog.text]
    assert caplog.records  # the SDK and httpx did log at DEBUG
    for text in shown:
        assert KEY not in text
    assert "***" in str(err.value)


def test_a_key_passed_as_a_setting_is_hidden_too(monkeypatch):
    import respx

    secret = "explicit-credential-ab12cd34ef"
    with respx.mock(base_url="https://api.anthropic.com") as mock:
        mock.post(MESSAGES).respond(403, json=error_body("permission_error", f"key {secret} may not use this model"))
        c = client(api_key=secret)
        with pytest.raises(llmkit.PermissionDeniedError) as err:
            c.chat("Hi")
    assert secret not in str(err.value) and secret not in repr(c.backend) and secret not in str(c.backend.settings_values)
    with pytest.raises(llmkit.InvalidOptionError) as bad:
        client(api_key=12345)
    assert "12345" not in str(bad.value) and "<hidden>" in str(bad.value)
