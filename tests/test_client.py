"""The Client's own behaviour, through the scripted mock backend."""

import asyncio

import pytest

import llmkit
from llmkit import ToolCall


def test_chat_accepts_strings_messages_and_dicts():
    client = llmkit.Client("mock:echo")
    assert client.chat("plain").text == "plain"
    assert client.chat([llmkit.system("s"), llmkit.user("typed")]).text == "typed"
    assert client.chat([{"role": "user", "content": "dict"}]).text == "dict"
    kind, messages, _ = client.backend.calls[-1]
    assert kind == "chat" and messages[0].role == "user"


def test_empty_message_list_is_an_error():
    with pytest.raises(llmkit.InvalidOptionError, match="empty"):
        llmkit.Client("mock:echo").chat([])


def test_bad_role_and_bad_message_type():
    with pytest.raises(llmkit.InvalidOptionError, match="role"):
        llmkit.Client("mock:echo").chat([{"role": "wizard", "content": "x"}])
    with pytest.raises(llmkit.InvalidOptionError):
        llmkit.Client("mock:echo").chat([42])


def test_unknown_and_invalid_options_name_the_allowed_ones():
    client = llmkit.Client("mock:echo")
    with pytest.raises(llmkit.InvalidOptionError) as err:
        client.chat("x", max_token=5)
    assert "max_tokens" in str(err.value) and "Did you mean" in str(err.value)
    with pytest.raises(llmkit.InvalidOptionError, match=r"temperature=5"):
        client.chat("x", temperature=5)
    with pytest.raises(llmkit.InvalidOptionError, match="int >= 1"):
        client.chat("x", max_tokens="ten")
    with pytest.raises(llmkit.InvalidOptionError, match="unknown setting"):
        llmkit.Client("mock:echo", responses=["a"]).backend.__class__("echo", colour="red")


def test_client_defaults_apply_and_calls_override():
    client = llmkit.Client("mock:echo", temperature=0, max_tokens=7)
    client.chat("a")
    assert client.backend.calls[-1][2] == {"temperature": 0, "max_tokens": 7}
    client.chat("b", temperature=1.5)
    assert client.backend.calls[-1][2]["temperature"] == 1.5


def test_missing_capability_is_checked_before_the_call():
    client = llmkit.Client("mock", responses=["x"], capabilities={"tools": False, "streaming": False})
    with pytest.raises(llmkit.MissingCapabilityError, match="tools"):
        client.chat("x", tools=[{"name": "f", "parameters": {}}])
    with pytest.raises(llmkit.MissingCapabilityError, match="streaming"):
        client.stream("x").response
    with pytest.raises(llmkit.MissingCapabilityError, match="logprobs"):
        client.logprobs("x")
    assert client.backend.calls == []  # nothing reached the backend


def test_stop_strings_cut_the_output():
    client = llmkit.Client("mock", responses=["one. two. three", "a END b"])
    assert client.chat("x", stop=".").text == "one"
    assert client.stream("x", stop=["END"]).response.text == "a "


def test_n_samples_give_texts():
    r = llmkit.Client("mock", responses=["same"]).complete("The cat sat on the", n=3)
    assert r.texts == ["same"] * 3 and r.text == "same"


def test_stream_events_and_final_response():
    client = llmkit.Client("mock", responses=["Hello brave new world"])
    with client.stream("x") as stream:
        texts = [e.text for e in stream if e.text]
    assert texts == ["Hello ", "brave ", "new ", "world"]
    assert stream.response.text == "Hello brave new world"
    assert stream.response.model == "mock"
    assert stream.response.usage.output_tokens == 4


def test_stream_can_be_cancelled():
    client = llmkit.Client("mock", responses=["a b c d e f"])
    stream = client.stream("x")
    for event in stream:
        if event.text == "b ":
            break
    stream.close()
    assert stream.text == "a b "
    assert stream.partial_response().text == "a b "


def test_streamed_tool_calls_assemble():
    calls = [ToolCall("c1", "add", '{"a": 1, "b": 2}'), ToolCall("c2", "mul", '{"a": 3}')]
    r = llmkit.Client("mock", responses=[calls]).stream("x").response
    assert [(c.id, c.name, c.args) for c in r.tool_calls] == [("c1", "add", {"a": 1, "b": 2}), ("c2", "mul", {"a": 3})]
    assert r.finish_reason == "tool_calls"


def test_retries_then_success(no_sleep):
    client = llmkit.Client("mock", responses=[llmkit.ServerError, llmkit.RateLimitError("slow down", retry_after=1.5),
                                              "ok"])
    assert client.chat("x").text == "ok"
    assert len(no_sleep) == 2 and no_sleep[1] == 1.5
    assert 0.25 <= no_sleep[0] <= 0.5  # jittered first backoff


def test_retries_exhausted(no_sleep):
    client = llmkit.Client("mock", responses=[llmkit.ServerError] * 5, max_retries=3)
    with pytest.raises(llmkit.ServerError):
        client.chat("x")
    assert len(client.backend.calls) == 4 and len(no_sleep) == 3


def test_non_retryable_error_is_raised_at_once(no_sleep):
    client = llmkit.Client("mock", responses=[llmkit.AuthenticationError("bad key"), "never"])
    with pytest.raises(llmkit.AuthenticationError):
        client.chat("x")
    assert no_sleep == [] and len(client.backend.calls) == 1


def test_retry_after_too_long_is_not_waited(no_sleep):
    client = llmkit.Client("mock", responses=[llmkit.RateLimitError("later", retry_after=3600), "x"])
    with pytest.raises(llmkit.RateLimitError):
        client.chat("x")
    assert no_sleep == []


def test_stream_retried_only_before_output(no_sleep, monkeypatch):
    client = llmkit.Client("mock", responses=[llmkit.APIConnectionError("reset"), "fine now"])
    assert client.stream("x").response.text == "fine now"

    class Flaky(llmkit.Backend):
        provider = "flaky"
        capabilities = llmkit.Capabilities(streaming=True)
        attempts = 0

        def stream(self, messages, options):
            Flaky.attempts += 1
            yield llmkit.StreamEvent(text="partial")
            raise llmkit.APIConnectionError("dropped")

    llmkit.register_provider("flaky", Flaky)
    try:
        stream = llmkit.Client("flaky:x").stream("x")
        with pytest.raises(llmkit.APIConnectionError):
            stream.response
    finally:
        llmkit.registry.unregister_provider("flaky")
    assert Flaky.attempts == 1 and stream.text == "partial"


def test_fallbacks_move_on_for_retryable_and_context_errors(no_sleep):
    client = llmkit.Client("mock", responses=[llmkit.ServerError] * 3, fallbacks=["mock:echo"])
    r = client.chat("answered by the fallback")
    assert r.text == "answered by the fallback" and r.model == "mock:echo"

    client = llmkit.Client("mock", responses=["never"], context_window=3, fallbacks=["mock:echo"])
    r = client.chat("this prompt is too long for three tokens")
    assert r.model == "mock:echo"
    assert client.backend.calls == []  # refused before sending


def test_fallbacks_do_not_hide_the_callers_mistakes(no_sleep):
    client = llmkit.Client("mock", responses=[llmkit.BadRequestError("bad")], fallbacks=["mock:echo"])
    with pytest.raises(llmkit.BadRequestError):
        client.chat("x")


def test_all_fallbacks_failing_says_what_was_tried(no_sleep):
    with pytest.raises(llmkit.UnknownModelError):  # a fallback naming nothing is refused at once, not when needed
        llmkit.Client("mock", responses=[], fallbacks=["nosuch:model"])
    # a fallback that cannot start (no key): the primary's own failure is what the error says
    client = llmkit.Client("mock", responses=[llmkit.ServerError] * 3, fallbacks=["openai:gpt-4o-mini"])
    with pytest.raises(llmkit.ServerError) as err:
        client.chat("x")
    assert "tried in order: mock, openai:gpt-4o-mini" in str(err.value) and "OPENAI_API_KEY" in str(err.value)


def test_context_overflow_is_refused_with_counts():
    client = llmkit.Client("mock", responses=["x"], context_window=10)
    with pytest.raises(llmkit.ContextLengthError) as err:
        client.chat("one two three four five six", max_tokens=8)
    assert "6 prompt tokens + max_tokens 8 = 14" in str(err.value) and "10 tokens" in str(err.value)


def test_async_chat_and_stream_with_retry(no_sleep):
    client = llmkit.Client("mock", responses=[llmkit.ServerError, "async ok", "streamed reply"])

    async def go():
        r = await client.achat("x")
        stream = client.astream("y")
        texts = [e.text async for e in stream]
        return r, "".join(texts), await stream.get_response()

    r, text, final = asyncio.run(go())
    assert r.text == "async ok" and len(no_sleep) == 1
    assert text == "streamed reply" and final.text == "streamed reply"


def test_structured_output_parsed():
    import pydantic

    class City(pydantic.BaseModel):
        name: str
        population: int

    client = llmkit.Client("mock", responses=['{"name": "Oslo", "population": 700000}', "not json", "no", "nope"])
    r = client.chat("x", response_format=City)
    assert r.parsed == City(name="Oslo", population=700000)
    with pytest.raises(llmkit.MalformedResponseError, match="not JSON"):  # checked, re-asked twice, then refused
        client.chat("x", response_format="json")
    with pytest.raises(llmkit.MalformedResponseError):
        llmkit.Response(text="not json", response_format="json").parsed


def test_response_message_continues_a_conversation():
    client = llmkit.Client("mock", responses=[ToolCall("t1", "now", "{}"), "It is noon."])
    history = [llmkit.user("time?")]
    first = client.chat(history)
    history += [first.message, llmkit.tool_result("12:00", tool_call_id="t1")]
    assert client.chat(history).text == "It is noon."
    sent = client.backend.calls[-1][1]
    assert [m.role for m in sent] == ["user", "assistant", "tool"]
    assert sent[1].to_dict()["tool_calls"][0]["function"]["name"] == "now"


def test_chat_batch_and_complete_batch_keep_order():
    client = llmkit.Client("mock:echo")
    rs = client.chat_batch(["first", [llmkit.user("second")], [{"role": "user", "content": "third"}]])
    assert [r.text for r in rs] == ["first", "second", "third"]
    assert all(r.model == "mock:echo" for r in rs)
    assert [r.text for r in client.complete_batch(["a", "b"])] == ["a", "b"]
    assert client.chat_batch([]) == []
    with pytest.raises(llmkit.InvalidOptionError):
        client.complete_batch([["not", "a", "string"]])


def test_a_batch_item_too_long_is_refused_alone_and_the_batch_retried_as_a_unit(no_sleep):
    client = llmkit.Client("mock", responses=["ok"] * 5, context_window=5)
    short, long = client.chat_batch(["short", "this one is far too long for five tokens"])
    assert (short.text, short.error, short.finish_reason) == ("ok", None, "stop")
    assert isinstance(long.error, llmkit.ContextLengthError) and long.finish_reason == "error" and long.text == ""
    assert long.error.message.startswith("batch item #1: ") and "5" in long.error.message  # the counts
    assert len(client.backend.calls) == 1  # only the item that fits was generated
    with pytest.raises(llmkit.ContextLengthError, match="batch item #0"):  # nothing fits: an error
        client.chat_batch(["this one is far too long for five tokens"])
    flaky = llmkit.Client("mock", responses=[llmkit.ServerError, "a", "b"])
    assert [r.text for r in flaky.chat_batch(["x", "y"])] == ["a", "b"]
    assert len(no_sleep) == 1
