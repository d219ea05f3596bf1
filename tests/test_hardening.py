"""Hostile input to the SDK (issue 14's red-team defects): every mistake is an llmkit
error that says what is wrong before anything is sent, secrets stay hidden, and
ordinary text is not garbled by the scrubbing."""

import asyncio
import functools
import math
import os

import pydantic
import pytest

import llmkit
from llmkit import retry
from llmkit.backends.openai_errors import retry_after
from llmkit.conversation.turn import Turn
from llmkit.errors import redact, remember_header
from llmkit.logs import History, safe_options

# --- D12: message shapes ---------------------------------------------------------------

BAD_PROMPTS = {
    "None": None,
    "bytes": b"hi",
    "bytearray": bytearray(b"hi"),
    "an int": 5,
    "content 123": [{"role": "user", "content": 123}],
    'content ["a"]': [{"role": "user", "content": ["a"]}],
    "content {}": [{"role": "user", "content": {"text": "hi"}}],
    "a text part without text": [{"role": "user", "content": [{"type": "text"}]}],
    'tool_calls "abc"': [{"role": "assistant", "content": "", "tool_calls": "abc"}, {"role": "user", "content": "x"}],
    "tool_calls [5]": [{"role": "assistant", "content": "", "tool_calls": [5]}, {"role": "user", "content": "x"}],
    "a tool call without a name": [{"role": "assistant", "tool_calls": [{"id": "1", "function": {}}]}],
    "role 5": [{"role": 5, "content": "x"}],
    "role []": [{"role": [], "content": "x"}],
    "name 5": [{"role": "user", "content": "x", "name": 5}],
    "tool_call_id 5": [{"role": "tool", "content": "x", "tool_call_id": 5}],
    "a string in the list": ["hi"],
    "a lone surrogate": "caf\udce9",
    "a lone surrogate in a part": [{"role": "user", "content": [{"type": "text", "text": "\ud800"}]}],
    "a lone surrogate in an image part": [{"role": "system", "content": [{"type": "image_url", "text": "\ud800"}]}],
    "a lone surrogate in an image url": [{"role": "user", "content": [{"type": "image_url",
                                                                      "image_url": {"url": "x\udc80"}}]}],
}  # fmt: skip


@pytest.mark.parametrize("prompt", BAD_PROMPTS.values(), ids=BAD_PROMPTS.keys())
def test_bad_message_shapes_are_invalid_option_errors(prompt):
    client = llmkit.Client("mock:echo")
    for call in (client.chat, lambda p: client.stream(p).response, lambda p: asyncio.run(client.achat(p)),
                 client.count_tokens, lambda p: client.chat_batch([p])):  # fmt: skip
        with pytest.raises(llmkit.InvalidOptionError) as info:
            call(prompt)
        assert info.value.hint  # says what to do


def test_messages_from_direct_construction_are_checked_too():
    with pytest.raises(llmkit.InvalidOptionError):
        llmkit.Message("user", 123)
    with pytest.raises(llmkit.InvalidOptionError):
        llmkit.Message("assistant", "", tool_calls="abc")
    assert llmkit.Message("user", [{"type": "image_url", "image_url": {"url": "x"}}]).text == ""  # other parts pass


def test_text_with_lone_surrogates_is_refused_everywhere():
    client = llmkit.Client("mock:echo")
    for call in (lambda: client.complete("a\udc80"), lambda: client.complete_batch(["ok", "\udc80"]),
                 lambda: client.embed(["\ud83d"])):  # fmt: skip
        with pytest.raises(llmkit.InvalidOptionError, match="surrogate"):
            call()


# --- D13: constructor arguments ----------------------------------------------------------


def test_a_single_fallback_string_is_one_fallback():
    client = llmkit.Client("mock", responses=[llmkit.ServerError("down")], fallbacks="mock:echo", max_retries=0)
    assert repr(client) == "Client('mock', fallbacks=['mock:echo'])"
    assert client.chat("hello").text == "hello"


@pytest.mark.parametrize("kwargs", [{"max_retries": "3"}, {"max_retries": -1}, {"max_retries": 1.5},
                                    {"max_retries": True}, {"structured_retries": "2"}, {"retry_policy": 3},
                                    {"fallbacks": [5]}, {"fallbacks": [""]}])  # fmt: skip
def test_ill_typed_client_arguments_fail_at_construction(kwargs):
    with pytest.raises(llmkit.InvalidOptionError):
        llmkit.Client("mock:echo", **kwargs)


def test_an_unknown_fallback_is_an_error_at_construction():
    with pytest.raises(llmkit.UnknownModelError, match="nosuch"):
        llmkit.Client("mock:echo", fallbacks=["nosuch:model"])


def test_a_fallback_that_cannot_start_does_not_hide_the_primary_failure(no_sleep):
    # openai:... with no key: the fallback fails at set-up, after the primary's real failure
    client = llmkit.Client("mock", responses=[llmkit.ServerError("the primary is down")], fallbacks=["openai:gpt-4o-mini"],
                           max_retries=0)  # fmt: skip
    with pytest.raises(llmkit.ServerError, match="the primary is down") as info:
        client.chat("hi")
    assert "openai:gpt-4o-mini" in str(info.value) and "OPENAI_API_KEY" in str(info.value)
    assert info.value.tried == ["mock", "openai:gpt-4o-mini"]


# --- D14: numbers out of range -------------------------------------------------------------


@pytest.mark.parametrize("option", [{"timeout": 0}, {"timeout": -1}, {"timeout": math.nan},
                                    {"repetition_penalty": 0}, {"repetition_penalty": math.inf},
                                    {"repetition_penalty": math.nan}, {"temperature": math.nan},
                                    {"top_p": math.nan}, {"seed": 2**80}, {"seed": -1}])  # fmt: skip
def test_out_of_range_numbers_are_refused_on_every_path(option):
    with pytest.raises(llmkit.InvalidOptionError):
        llmkit.Client("mock:echo").chat("hi", **option)
    with pytest.raises(llmkit.InvalidOptionError):
        llmkit.Client("mock:echo", **option)


def test_mini_refuses_a_seed_it_cannot_use():
    with pytest.raises(llmkit.InvalidOptionError, match="seed"):
        llmkit.Client("mini").complete("def f", seed=2**80, max_tokens=2)


@pytest.mark.parametrize("value", [0, -2, math.nan, math.inf * -1])
def test_openai_timeout_setting_must_be_positive(value):
    with pytest.raises(llmkit.InvalidOptionError):
        llmkit.Client("openai:m", base_url="http://127.0.0.1:9/v1", timeout=value)


def test_timeout_inf_is_no_limit_not_an_overflow():
    client = llmkit.Client("openai:m", base_url="http://127.0.0.1:9/v1", timeout=math.inf, max_retries=0)
    with pytest.raises(llmkit.APIConnectionError):  # nothing listens: refused at once, no OverflowError
        client.chat("hi")
    assert llmkit.Client("mock:echo").chat("hi", timeout=math.inf).text == "hi"


def test_mcp_server_timeout_must_be_positive():
    for value in (0, -1, math.nan, math.inf):
        with pytest.raises(llmkit.InvalidOptionError):
            llmkit.mcp_server("python -c pass", timeout=value)


def test_integer_sampling_options_reach_engines_as_floats():
    from llmkit.generation import SamplingParams

    params = SamplingParams.from_options({"temperature": 2, "repetition_penalty": 2, "top_p": 1})
    assert all(type(v) is float for v in (params.temperature, params.repetition_penalty, params.top_p))


# --- D15: Retry-After ------------------------------------------------------------------------


@pytest.mark.parametrize("value", ["-5", "nan", "NaN", "inf", "-inf", "1e999", ""])
def test_retry_after_that_is_no_wait_counts_as_none(value):
    assert retry_after({"retry-after": value}) is None
    assert retry_after({"retry-after-ms": value}) is None


def test_retry_after_still_reads_real_values():
    assert retry_after({"retry-after": "3"}) == 3.0 and retry_after({"retry-after-ms": "250"}) == 0.25
    assert retry_after({"retry-after": "Wed, 21 Oct 2015 07:28:00 GMT"}) == 0.0  # a date gone by: now


@pytest.mark.parametrize("value", [-5.0, math.nan, math.inf])
def test_backoff_applies_when_an_error_carries_no_real_wait(value):
    policy = retry.RetryPolicy()
    error = llmkit.RateLimitError("slow down", retry_after=value)
    assert policy.should_retry(error, 0)
    assert 0 < policy.delay(error, 0) <= policy.base_delay


# --- D17, D18: tools and response formats ------------------------------------------------------


def _add(a: int, b: int) -> int:
    "Add two integers."
    return a + b


class Doubler:
    "Double a number."

    def __call__(self, x: "int") -> int:  # a string annotation, as under `from __future__ import annotations`
        return 2 * x


def test_partials_and_callable_objects_are_tools_named_after_what_they_wrap():
    add_one = llmkit.tool(functools.partial(_add, 1))
    assert (add_one.name, add_one.description) == ("_add", "Add two integers.")
    assert list(add_one.parameters["properties"]) == ["b"] and add_one.call('{"b": 2}') == 3
    double = llmkit.tool(Doubler())
    assert (double.name, double.description) == ("Doubler", "Double a number.")
    assert double.parameters["properties"]["x"]["type"] == "integer" and double.call('{"x": "4"}') == 8
    assert llmkit.Client("mock:echo").chat("hi", tools=[functools.partial(_add, 1), Doubler()]).text == "hi"


class City(pydantic.BaseModel):
    name: str


def test_a_pydantic_instance_as_response_format_is_an_invalid_option():
    with pytest.raises(llmkit.InvalidOptionError, match="pydantic model class"):
        llmkit.Client("mock:echo").chat("hi", response_format=City(name="Oslo"))


def test_parsed_that_does_not_fit_is_an_llmkit_error():
    r = llmkit.Response(text='{"nme": "Oslo"}', response_format=City)
    with pytest.raises(llmkit.MalformedResponseError, match="name") as info:
        r.parsed
    assert not isinstance(info.value, pydantic.ValidationError) and not info.value.retryable
    assert llmkit.Response(text='{"name": "Oslo"}', response_format=City).parsed == City(name="Oslo")


# --- D7, D21: what is scrubbed, and what is not -------------------------------------------------


@pytest.mark.parametrize("text", ["see api_reference_notes.md", "key_results_summary.txt", "hf_transfer_enabled",
                                  "Bearer authentication is described in auth_guide.md", "sk_learn_model.pkl",
                                  "api-550e8400-e29b-41d4", "the key-value store"])  # fmt: skip
def test_ordinary_names_are_not_garbled(text):
    assert redact(text) == text


@pytest.mark.parametrize("secret", ["sk-abcdefghijklmnop", "sk-proj-SECRETSECRET1234567890", "hf_AbCdEfGhIjKlMnOpQr",
                                    "key-1234567890abcdef", "api_9f8e7d6c5b4a39281706"])  # fmt: skip
def test_key_shaped_values_are_still_scrubbed(secret):
    assert secret[-10:] not in redact(f"refused {secret} today") and secret[-10:] not in redact(f"Bearer {secret}")


def test_every_header_value_llmkit_sends_is_scrubbed():
    remember_header("X-Custom-Trace", "opaque-value-31337")
    remember_header("Authorization", "Basic Ym9iOnNlY3JldA==")
    remember_header("X-Api-Key", "k9z")  # too short to hide safely... unless named like a credential
    remember_header("X-Flag", "true")  # short and not a credential: ordinary words stay readable
    text = redact("echo: opaque-value-31337, Ym9iOnNlY3JldA==, X-Flag: true, is true")
    assert "opaque-value-31337" not in text and "Ym9iOnNlY3JldA==" not in text and text.endswith("X-Flag: true, is true")


# --- D11: secrets inside options never reach the history ------------------------------------------


def test_secrets_nested_in_options_are_not_stored(tmp_path):
    options = {"temperature": 0, "extra_body": {"api_key": "sk-nested-0123456789", "keep": 1,
               "inner": [{"token": "tok-0123456789"}, {"x": 2}]}, "extra_headers": {"X": "hdr-0123456789"}}  # fmt: skip
    assert safe_options(options) == {"temperature": 0, "extra_body": {"keep": 1, "inner": [{}, {"x": 2}]}}
    path = tmp_path / "logs.db"
    with History(path) as history:
        history.add_turn(None, Turn(llmkit.user("hi"), llmkit.assistant("yo"), model="mock", options=options))
    raw = b"".join(p.read_bytes() for p in tmp_path.iterdir() if p.name.startswith("logs.db"))
    for secret in (b"sk-nested", b"tok-0123", b"hdr-0123"):
        assert secret not in raw


def test_text_that_cannot_be_encoded_is_stored_not_lost(tmp_path):
    with History(tmp_path / "logs.db") as history:
        turn = Turn(llmkit.user("ok"), llmkit.assistant("fine"), model="mock")
        turn.user.content = "caf\udce9"  # as surrogateescape reads bad bytes
        cid, _ = history.add_turn(None, turn)
        assert history.turns(cid)[0].user.text == "caf\ufffd"


# --- D16: a history that cannot be written --------------------------------------------------------


def test_a_history_path_that_is_a_directory_is_a_configuration_error(tmp_path):
    (tmp_path / "logs.db").mkdir()
    with pytest.raises(llmkit.ConfigurationError, match="cannot open the history file"):
        History(tmp_path / "logs.db")


def test_a_read_only_history_opens_for_reading(tmp_path, monkeypatch):
    path = tmp_path / "logs.db"
    with History(path) as history:
        cid, _ = history.add_turn(None, Turn(llmkit.user("hi"), llmkit.assistant("yo"), model="mock"))
    real_open = os.open

    def read_only(file, flags, *args):  # as for a file the user may only read (root ignores chmod)
        if os.fspath(file) == os.fspath(path) and flags & (os.O_RDWR | os.O_WRONLY):
            raise PermissionError(13, "Permission denied", os.fspath(file))
        return real_open(file, flags, *args)

    monkeypatch.setattr(os, "open", read_only)
    with pytest.raises(llmkit.ConfigurationError, match="Permission denied"):
        History(path)
    with History(path, readonly=True) as history:
        assert [t.text for t in history.turns(cid)] == ["yo"]
        with pytest.raises(llmkit.HistoryError):
            history.add_turn(cid, Turn(llmkit.user("more"), llmkit.assistant("no"), model="mock"))


# --- D19, D20, and a provider named like a built-in --------------------------------------------------


def _config(home, text: str) -> None:
    home.mkdir(parents=True, exist_ok=True)
    (home / "config.toml").write_text(text)
    llmkit.clear_caches()


@pytest.mark.parametrize("text", [
    'providers = "x"', "providers = 5", 'aliases = "x"', "default_model = 5", "[providers]\nlocal = 5",
    '[providers.l]\nkind = "openai"\nbase_url = "http://h/v1"\ncontext_window = "big"',
    '[providers.l]\nkind = "openai"\nbase_url = "http://h/v1"\nheaders = "x"',
    '[providers.l]\nkind = "openai"\nbase_url = "http://h/v1"\nheaders = {X = 5}',
    '[providers.l]\nkind = "openai"\nbase_url = 5',
    '[providers.l]\nkind = "openai"\nbase_url = "http://h/v1"\nstream_usage = "yes"',
])  # fmt: skip
def test_ill_typed_config_is_a_configuration_error(isolated_home, text):
    _config(isolated_home, text)
    with pytest.raises(llmkit.ConfigurationError):
        llmkit.config.load()


@pytest.mark.parametrize("text, where", [
    ('[providers.corp.headers]\nAuthorization = "Bearer corp-secret-123"', "Authorization header"),
    ('[providers.corp.headers]\nX-API-Key = "abc"', "X-API-Key header"),
    ('[providers.corp.headers]\nCookie = "session=abc"', "Cookie header"),
])  # fmt: skip
def test_credentials_in_config_headers_are_refused_like_api_key(isolated_home, text, where):
    _config(isolated_home, '[providers.corp]\nkind = "openai"\nbase_url = "http://h/v1"\n' + text)
    with pytest.raises(llmkit.ConfigurationError, match=where) as info:
        llmkit.config.load()
    assert "corp-secret-123" not in str(info.value) and "${" in info.value.hint


@pytest.mark.parametrize("url", ["https://bob:hunter2pass@llm.example/v1", "https://llm.example/v1?api_key=hunter2pass",
                                 "https://llm.example/v1?token=hunter2pass"])  # fmt: skip
def test_credentials_in_config_urls_are_refused(isolated_home, url):
    _config(isolated_home, f'[providers.corp]\nkind = "openai"\nbase_url = "{url}"\n')
    with pytest.raises(llmkit.ConfigurationError, match="base_url") as info:
        llmkit.config.load()
    assert "hunter2pass" not in str(info.value)


def test_config_credentials_come_from_the_environment(isolated_home, monkeypatch, server):
    _config(isolated_home, f'[providers.corp]\nkind = "openai"\nbase_url = "{server.base_url}"\n'
                           '[providers.corp.headers]\nAuthorization = "Bearer ${CORP_TOKEN}"\nX-Team = "${TEAM}"\n')  # fmt: skip
    with pytest.raises(llmkit.ConfigurationError, match="CORP_TOKEN"):
        llmkit.Client("corp:m")
    monkeypatch.setenv("CORP_TOKEN", "corp7Token4815162342")
    monkeypatch.setenv("TEAM", "research")
    assert llmkit.Client("corp:m").chat("hi").text == "Echo: hi"
    sent = {k.lower(): v for k, v in server.requests[-1]["headers"].items()}
    assert sent["authorization"] == "Bearer corp7Token4815162342" and sent["x-team"] == "research"
    assert "corp7Token4815162342" not in str(llmkit.LLMKitError("echo corp7Token4815162342"))


@pytest.mark.parametrize("name", ["mini", "openai", "hf", "mock"])
def test_a_provider_named_like_a_built_in_is_refused(isolated_home, name):
    _config(isolated_home, f'[providers.{name}]\nkind = "openai"\nbase_url = "http://h/v1"\n')
    with pytest.raises(llmkit.ConfigurationError, match="shadows the built-in"):
        llmkit.config.load()


def test_a_huge_or_endless_config_file_is_refused(isolated_home):
    isolated_home.mkdir(parents=True, exist_ok=True)
    (isolated_home / "config.toml").write_text("# x\n" * 400_000)
    llmkit.clear_caches()
    with pytest.raises(llmkit.ConfigurationError, match="limit"):
        llmkit.config.load()


# --- files written atomically are on disk before they are named -------------------------------------


def test_write_text_atomic_fsyncs_before_the_rename(tmp_path, monkeypatch):
    from llmkit import atomic

    events = []
    real_fsync, real_replace = os.fsync, os.replace
    monkeypatch.setattr(os, "fsync", lambda fd: events.append("fsync") or real_fsync(fd))
    monkeypatch.setattr(os, "replace", lambda a, b: events.append("replace") or real_replace(a, b))
    atomic.write_text_atomic(tmp_path / "f.txt", "data")
    assert events[:2] == ["fsync", "replace"] and (tmp_path / "f.txt").read_text() == "data"


def test_retry_after_is_public_and_one_function_everywhere():
    """Plugins read Retry-After with the same rules as llmkit's own backends."""
    import llmkit.errors
    from llmkit.backends import openai_errors

    assert openai_errors.retry_after is llmkit.errors.retry_after
    assert llmkit.errors.retry_after({"retry-after": "-5"}) is None  # no wait is no advice: backoff applies
