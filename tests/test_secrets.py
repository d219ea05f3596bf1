"""API keys never show: not in a repr, not in an error (even when the server echoes the
key back), not in any log line of llmkit, the OpenAI SDK or the HTTP stack."""

import asyncio
import http.server
import json
import logging
import threading
import traceback

import httpx  # httpx2 (see tests/httpx2_alias.py)
import pytest
import respx
from openai_payloads import API, chat_completion, error_body, error_response, sse_response, text_stream

import llmkit
import llmkit.retry

CHAT = "/chat/completions"
SECRET = "sk-proj-SECRETSECRET1234567890"
# a key that matches none of the "looks like a key" patterns: only remembering it can hide it
PLAIN_SECRET = "Zq9SECRETSECRET1234567890"
LOGGERS = ("llmkit", "openai", "httpx", "httpx2", "httpcore")


@pytest.fixture(autouse=True)
def _env(monkeypatch, tmp_path):
    monkeypatch.setenv("LLMKIT_HOME", str(tmp_path))
    for name in ("OPENAI_BASE_URL", "LLMKIT_MODEL", "OPENAI_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    delays: list[float] = []

    async def fake_asleep(seconds):
        delays.append(seconds)

    monkeypatch.setattr(llmkit.retry, "sleep", delays.append)
    monkeypatch.setattr(llmkit.retry, "asleep", fake_asleep)


@pytest.fixture(params=[SECRET, PLAIN_SECRET])
def key(request, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", request.param)
    return request.param


def leaks(text: str, key: str) -> bool:
    """The whole key, or any long piece of it (e.g. its tail after a partial redaction)."""
    return any(key[i : i + 12] in text for i in range(len(key) - 11))


def everything_about(exc: BaseException) -> str:
    parts = [str(exc), repr(exc), *map(str, exc.args), "".join(traceback.format_exception(exc))]
    for attr in ("message", "hint", "code", "request_id", "model"):
        parts.append(str(getattr(exc, attr, "")))
    return "\n".join(parts)


@pytest.fixture
def api():
    with respx.mock(base_url=API, assert_all_called=False) as mock:
        yield mock


def test_key_not_in_reprs(key):
    c = llmkit.Client("openai:gpt-4o-mini", fallbacks=["mock:echo"])
    for text in (repr(c), str(c), repr(c.backend), str(c.backend), repr(c.capabilities)):
        assert not leaks(text, key), text
    assert c.backend.model_id in repr(c.backend)


def test_key_passed_as_setting_not_in_reprs_or_option_errors(monkeypatch):
    c = llmkit.Client("openai:gpt-4o-mini", api_key=SECRET)
    assert not leaks(repr(c) + repr(c.backend), SECRET)
    with pytest.raises(llmkit.InvalidOptionError) as info:
        llmkit.Client("openai:gpt-4o-mini", api_key=SECRET, temprature=0)
    assert not leaks(everything_about(info.value), SECRET)


def _fail(api, key, response):
    api.post(CHAT).mock(side_effect=lambda request: response() if callable(response) else response)
    with pytest.raises(llmkit.LLMKitError) as info:
        llmkit.Client("openai:gpt-4o-mini", max_retries=1).chat("Hello")
    return info.value


def test_401_echoing_the_key_does_not_leak_it(api, key):
    body = error_body("invalid_api_key", message=f"Incorrect API key provided: {key}. You can find your API key at ...")
    exc = _fail(api, key, httpx.Response(401, json=body))
    assert isinstance(exc, llmkit.AuthenticationError)
    assert "Incorrect API key provided" in str(exc)  # the server's words still come through
    assert not leaks(everything_about(exc), key)


@pytest.mark.parametrize(
    "make",
    [
        lambda key: error_response(429, "rate_limit_exceeded", message=f"Rate limit for key {key}"),
        lambda key: error_response(429, "insufficient_quota", message=f"quota for {key}"),
        lambda key: error_response(500, None, message=f"internal error handling {key}", type="server_error"),
        lambda key: httpx.Response(502, text=f"<html>bad gateway for Bearer {key}</html>"),
    ],
    ids=["429", "quota", "500", "502-html"],
)
def test_status_errors_do_not_leak_the_key(api, key, make):
    exc = _fail(api, key, lambda: make(key))
    assert isinstance(exc, llmkit.APIError)
    assert not leaks(everything_about(exc), key)


@pytest.mark.parametrize("error", [httpx.ConnectError, httpx.ReadTimeout])
def test_connection_errors_do_not_leak_the_key(api, key, error):
    api.post(CHAT).mock(side_effect=error(f"failed talking to server with Authorization: Bearer {key}"))
    with pytest.raises(llmkit.APIConnectionError) as info:
        llmkit.Client("openai:gpt-4o-mini", max_retries=1).chat("Hello")
    assert not leaks(everything_about(info.value), key)


def test_stream_error_event_echoing_the_key_does_not_leak_it(api, key):
    body = text_stream(["a"], finish_reason=None, done=False) + (
        b'data: {"error": {"message": "bad key ' + key.encode() + b'", "type": "server_error", "code": null}}\n\n'
    )
    api.post(CHAT).mock(return_value=sse_response(body))
    with pytest.raises(llmkit.APIError) as info:
        list(llmkit.Client("openai:gpt-4o-mini").stream("Hello"))
    assert not leaks(everything_about(info.value), key)


def test_missing_key_error_does_not_show_other_keys(monkeypatch):
    monkeypatch.setenv("OTHER_KEY", SECRET)
    with pytest.raises(llmkit.ConfigurationError) as info:
        llmkit.Client("openai:gpt-4o-mini")
    assert not leaks(everything_about(info.value), SECRET)


def test_logs_at_debug_never_contain_the_key(api, key, caplog):
    caplog.set_level(logging.DEBUG)  # root
    for name in LOGGERS:
        caplog.set_level(logging.DEBUG, logger=name)

    def route(request):
        assert request.headers["authorization"] == f"Bearer {key}"  # the key is used, just never shown
        return next(responses)

    responses = iter(
        [
            httpx.Response(200, json=chat_completion("ok")),
            sse_response(text_stream(["str", "eamed"], usage=(1, 2))),
            error_response(503, None, headers={"Retry-After": "1"}, message=f"busy for {key}"),
            httpx.Response(200, json=chat_completion("after retry")),
            error_response(401, "invalid_api_key", message=f"Incorrect API key provided: {key}"),
            error_response(429, "insufficient_quota", message=f"no quota for {key}"),
            error_response(500, None, message=f"boom {key}"),
            error_response(500, None, message=f"boom again {key}"),
            httpx.Response(200, json=chat_completion("async ok")),
        ]
    )
    api.post(CHAT).mock(side_effect=route)
    c = llmkit.Client("openai:gpt-4o-mini", max_retries=1, fallbacks=["mock:echo"])
    assert c.chat("one").text == "ok"
    assert c.stream("two").response.text == "streamed"
    assert c.chat("three").text == "after retry"
    with pytest.raises(llmkit.AuthenticationError):
        c.chat("four")
    with pytest.raises(llmkit.QuotaExceededError):
        c.chat("five")
    assert c.chat("six").text == "six"  # 500 twice, then the mock fallback: logs a warning
    assert asyncio.run(c.achat("seven")).text == "async ok"

    api.post(CHAT).mock(side_effect=httpx.ConnectError(f"reset while sending {key}"))
    with pytest.raises(llmkit.APIConnectionError):
        llmkit.Client("openai:gpt-4o-mini", max_retries=1).chat("eight")

    captured = [caplog.text]
    for record in caplog.records:
        captured += [record.getMessage(), repr(record.args), str(record.msg), repr(record.__dict__)]
    text = "\n".join(captured)
    names = {r.name.split(".")[0] for r in caplog.records}
    assert {"llmkit", "openai"} <= names, names  # the loggers really were captured at DEBUG
    assert "retry 1" in text and "falling back to mock:echo" in text
    assert not leaks(text, key)


class _EchoHandler(http.server.BaseHTTPRequestHandler):
    """A real local server (so httpx2/httpcore really run): answers the first request,
    then refuses with a 401 that echoes the Authorization header back."""

    def do_POST(self):  # noqa: N802 (http.server's naming)
        self.rfile.read(int(self.headers.get("content-length") or 0))
        type(self).seen.append(self.headers.get("authorization"))
        if len(type(self).seen) == 1:
            status, body = 200, chat_completion("hello over a socket")
        else:
            status, body = 401, error_body("invalid_api_key", message=f"bad {self.headers.get('authorization')}")
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):  # keep the server's own access log out of the test output
        pass


def test_real_http_stack_logs_never_contain_the_key(key, caplog, monkeypatch):
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    caplog.set_level(logging.DEBUG)
    for name in LOGGERS:
        caplog.set_level(logging.DEBUG, logger=name)
    _EchoHandler.seen = []
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _EchoHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        base_url = f"http://127.0.0.1:{server.server_address[1]}/v1"
        c = llmkit.Client("openai:gpt-4o-mini", base_url=base_url, api_key=key)
        assert c.chat("Hello").text == "hello over a socket"
        with pytest.raises(llmkit.AuthenticationError) as info:
            c.chat("Again")
    finally:
        server.shutdown()
        server.server_close()
    assert _EchoHandler.seen == [f"Bearer {key}"] * 2  # the key did go over the wire
    assert not leaks(everything_about(info.value), key)
    text = "\n".join([caplog.text] + [repr(r.__dict__) for r in caplog.records])
    assert any(r.name.startswith("httpcore") for r in caplog.records)  # the real transport ran and logged
    assert not leaks(text, key)


def test_keyless_local_server_placeholder_is_not_treated_as_a_secret():
    llmkit.Client("openai:qwen2.5", base_url="http://testserver/v1")  # no key anywhere: a placeholder is sent
    error = llmkit.LLMKitError("the setting is not-needed here")
    assert "not-needed" in str(error)  # ordinary words are not scrubbed as if they were a key


def test_config_and_models_never_show_header_values_or_url_passwords():
    import json as _json
    import os
    import subprocess
    import sys
    from pathlib import Path

    home = Path(os.environ["LLMKIT_HOME"])
    home.mkdir(parents=True, exist_ok=True)

    def run(*args, env=None):
        return subprocess.run([sys.executable, "-m", "llmkit.cli", *args], capture_output=True, text=True, timeout=60,
                              env={**os.environ, **(env or {})})  # fmt: skip

    # written into the file itself, credentials are refused (as api_key is), without being shown
    (home / "config.toml").write_text(
        '[providers.corp]\nkind = "openai"\nbase_url = "https://bob:hunter2pass@llm.corp.example/v1?token=tok-999&x=1"\n'
        '[providers.corp.headers]\nAuthorization = "Bearer corp-secret-123"\n'
    )
    for args in (["config"], ["models"]):
        r = run(*args)
        assert r.returncode == 1 and ("credential" in r.stderr or "password" in r.stderr), r.stderr
        assert "hunter2pass" not in r.stdout + r.stderr and "corp-secret-123" not in r.stdout + r.stderr
    # from the environment (${VAR}), they work, and are never shown
    (home / "config.toml").write_text(
        '[providers.corp]\nkind = "openai"\nbase_url = "https://bob:${CORP_PASS}@llm.corp.example/v1?token=${TOK}&x=1"\n'
        '[providers.corp.headers]\nAuthorization = "Bearer ${CORP_TOKEN}"\n'
    )
    env = {"CORP_PASS": "hunter2pass", "TOK": "tok-999", "CORP_TOKEN": "corp-secret-123"}
    outputs = []
    for args in (["config"], ["config", "--json"], ["models"], ["models", "--json"]):
        r = run(*args, env=env)
        assert r.returncode == 0, r.stderr
        outputs.append(r.stdout + r.stderr)
    for out in outputs:
        assert "hunter2pass" not in out and "corp-secret-123" not in out and "tok-999" not in out
        assert "llm.corp.example" in out  # the endpoint itself is still shown
    shown = _json.loads(outputs[1])["providers"]["corp"]
    assert shown["headers"] == {"Authorization": "***"} and "bob:***@" in shown["base_url"] and "x=1" in shown["base_url"]


def test_connection_errors_name_the_server_without_its_password(no_sleep):
    client = llmkit.Client("openai:m", base_url="http://bob:hunter2pass@127.0.0.1:9/v1", max_retries=0)
    with pytest.raises(llmkit.APIConnectionError) as info:
        client.chat("hi")
    assert "hunter2pass" not in str(info.value) and "127.0.0.1:9" in str(info.value)
