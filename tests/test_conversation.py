"""llmkit.Conversation: sending, streaming, Ctrl-C, errors mid-reply, retry, undo, the
history, files. What `llmkit ask`, `llmkit chat` and the agent loop send through."""

import pytest

import llmkit
from llmkit.conversation import Cancelled, Conversation
from llmkit.errors import RateLimitError
from llmkit.logs import History


def collect():
    parts = []
    return parts, parts.append


def counting_stream(closed, words=("one ", "two ", "three ", "four")):
    def stream(messages, options):
        try:
            for word in words:
                yield llmkit.StreamEvent(text=word)
            yield llmkit.StreamEvent(finish_reason="stop")
        finally:
            closed.append(True)

    return stream


def test_send_streams_and_commits_each_turn():
    conv = Conversation(llmkit.Client("mock:echo"), system="Be brief.", history=History())
    parts, on_text = collect()
    t = conv.send("hello there world", on_text=on_text)
    assert "".join(parts) == "hello there world" and len(parts) == 3
    assert t.text == "hello there world" and not t.interrupted and t.number == 1
    assert t.usage.output_tokens == 3 and t.first_token is not None and t.duration >= t.first_token
    conv.send("again", on_text=on_text)
    stored = History().turns(conv.cid)
    assert [x.reply.text for x in stored] == ["hello there world", "again"]
    assert History().conversation(conv.cid)["system"] == "Be brief."
    assert History().conversation(conv.cid)["source"] == "sdk"
    assert [m.role for m in conv.messages()] == ["system", "user", "assistant", "user", "assistant"]


def test_send_without_a_callback_answers_whole_and_options_apply():
    client = llmkit.Client("mock", responses=lambda messages, options: f"{len(messages)} {options.get('max_tokens')}")
    conv = Conversation(client, max_tokens=7)
    assert conv.send("a").text == "1 7"
    assert conv.send("b", max_tokens=3).text == "3 3"  # a send's own options win
    assert client.backend.calls[0][0] == "chat"  # not streamed: no callback, no stream=True


def test_ctrl_c_mid_reply_keeps_the_partial_and_closes_the_stream():
    client = llmkit.Client("mock:echo")
    closed = []
    client.backend.stream = counting_stream(closed)
    conv = Conversation(client, history=History())
    seen = []

    def on_text(text):
        seen.append(text)
        if len(seen) == 2:
            raise KeyboardInterrupt

    t = conv.send("count", on_text=on_text, catch_interrupt=True)
    assert t.interrupted and t.text == "one two " and t.finish_reason == "interrupted"
    assert closed == [True]
    assert t.usage.output_tokens > 0 and t.usage.estimated
    (stored,) = History().turns(conv.cid)
    assert stored.interrupted and stored.reply.text == "one two "
    # the conversation goes on, with the partial reply in it
    conv.use(llmkit.Client("mock:echo"))
    conv.send("next")
    assert [m.text for m in conv.messages()] == ["count", "one two ", "next", "next"]


def test_ctrl_c_propagates_by_default_but_what_arrived_is_kept():
    client = llmkit.Client("mock:echo")
    client.backend.stream = counting_stream([])
    conv = Conversation(client)

    def on_text(text):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        conv.send("count", on_text=on_text)
    assert conv.turns[0].interrupted and conv.turns[0].text == "one "


def test_ctrl_c_before_any_output_cancels_and_retry_resends():
    client = llmkit.Client("mock", responses=[KeyboardInterrupt(), "second try"])
    conv = Conversation(client, history=History())
    with pytest.raises(Cancelled):
        conv.send("hello", on_text=lambda _: None, catch_interrupt=True)
    assert conv.turns == [] and conv.pending == "hello"
    t = conv.retry(on_text=lambda _: None)
    assert t.user.text == "hello" and t.text == "second try"


def test_error_before_output_keeps_conversation_and_message_for_retry():
    client = llmkit.Client("mock", responses=[RateLimitError("slow down", retry_after=0)] * 3 + ["ok"], max_retries=0)
    conv = Conversation(client, history=History())
    with pytest.raises(RateLimitError):
        conv.send("hi", on_text=lambda _: None)
    assert conv.turns == [] and conv.pending == "hi"
    assert conv.retry_messages()[-1].text == "hi"


def test_error_after_output_keeps_the_partial_reply():
    client = llmkit.Client("mock:echo")

    def stream(messages, options):
        yield llmkit.StreamEvent(text="partial ")
        raise llmkit.MalformedStreamError("connection dropped")

    client.backend.stream = stream
    conv = Conversation(client, history=History())
    with pytest.raises(llmkit.ReplyInterruptedError) as info:
        conv.send("hi", on_text=lambda _: None)
    assert isinstance(info.value.error, llmkit.MalformedStreamError) and info.value.__cause__ is info.value.error
    assert "connection dropped" in str(info.value)
    assert info.value.turn.interrupted and conv.turns[0].text == "partial "
    assert History().turns(conv.cid)[0].reply.text == "partial "


def test_streaming_through_the_conversation_records_the_turn_at_the_end():
    conv = Conversation(llmkit.Client("mock:echo"), history=History())
    with conv.stream("one two three") as s:
        texts = [e.text for e in s if e.text]
    assert texts == ["one ", "two ", "three"] and s.text == "one two three"
    assert s.turn.text == "one two three" and not s.turn.interrupted and conv.turns == [s.turn]
    assert History().turns(conv.cid)[0].reply.text == "one two three"


def test_leaving_a_stream_early_stops_the_model_and_keeps_what_arrived():
    client = llmkit.Client("mock:echo")
    closed = []
    client.backend.stream = counting_stream(closed)
    conv = Conversation(client)
    with conv.stream("count") as s:
        for event in s:
            if event.text == "two ":
                break
    assert closed == [True] and s.turn.interrupted and s.turn.text == "one two "


def test_retry_replaces_the_last_answer_in_memory_and_history():
    client = llmkit.Client("mock", responses=["first", "bad", "good"])
    conv = Conversation(client, history=History())
    conv.send("q1")
    conv.send("q2")
    t = conv.retry()
    assert t.text == "good" and t.number == 2
    assert [x.text for x in conv.turns] == ["first", "good"]
    assert [x.reply.text for x in History().turns(conv.cid)] == ["first", "good"]


def test_failed_retry_keeps_the_old_answer():
    client = llmkit.Client("mock", responses=["first", llmkit.BadRequestError("no")])
    conv = Conversation(client, history=History())
    conv.send("q1")
    with pytest.raises(llmkit.BadRequestError):
        conv.retry()
    assert [x.text for x in conv.turns] == ["first"] and conv.pending is None
    with pytest.raises(llmkit.UsageError, match="nothing to retry"):
        Conversation(client).retry()


def test_undo_clear_system_and_model_switch():
    conv = Conversation(llmkit.Client("mock:echo"), history=History())
    conv.send("a")
    conv.send("b")
    assert conv.undo().user.text == "b"
    assert [t.user.text for t in History().turns(conv.cid)] == ["a"]
    conv.set_system("Be terse.")
    assert History().conversation(conv.cid)["system"] == "Be terse."
    conv.use(llmkit.Client("mock", responses=["from mock"]))
    assert conv.client.model == "mock" and History().conversation(conv.cid)["model"] == "mock"
    assert [m.text for m in conv.messages()] == ["Be terse.", "a", "a"]  # kept across the switch
    old = conv.cid
    conv.clear()
    assert conv.turns == [] and conv.cid is None and conv.undo() is None
    assert History().turns(old)  # still in the history


def test_append_adds_exchanges_without_sending():
    client = llmkit.Client("mock", responses=lambda messages, options: " | ".join(m.text for m in messages))
    conv = Conversation(client, history=History())
    conv.append("2 + 2?", "4")
    conv.append(llmkit.user("3 + 3?"))  # a question without its answer goes with the next message
    assert conv.send("5 + 5?").text == "2 + 2? | 4 | 3 + 3? | 5 + 5?"
    assert [t.text for t in History().turns(conv.cid)] == ["4", "2 + 2? | 4 | 3 + 3? | 5 + 5?"]


def test_context_counts_what_the_next_request_needs():
    conv = Conversation(llmkit.Client("mock:echo", context_window=10), max_tokens=2)
    conv.send("a b c")
    info = conv.context()
    assert (info.tokens, info.window, info.reserve) == (6, 10, 2) and info.near and not info.over
    assert conv.context(conv.messages("d e f")).over
    assert Conversation(llmkit.Client("mock:echo")).context().window is None


def test_a_failing_callback_still_records_what_arrived_before_the_caller_goes_on():
    client = llmkit.Client("mock", responses=["first answer", "second answer"])
    conv = Conversation(client, history=History())
    conv.send("hi")

    def broken_renderer(text):
        raise ValueError("terminal gone")

    with pytest.raises(ValueError):
        conv.retry(on_text=broken_renderer)
    assert [t.user.text for t in conv.turns] == ["hi"]  # replaced, not duplicated
    assert conv.turns[0].text == "second " and conv.turns[0].interrupted
    assert [(t.user.text, t.text) for t in History().turns(conv.cid)] == [("hi", "second ")]


def test_a_stream_left_without_with_is_recorded_at_once_and_in_order():
    conv = Conversation(llmkit.Client("mock:echo"), history=History())
    s = conv.stream("first message here")
    for _ in s:
        break
    conv.send("second")
    assert [t.user.text for t in conv.turns] == ["first message here", "second"]
    assert [t.user.text for t in History().turns(conv.cid)] == ["first message here", "second"]


def test_leaving_after_the_last_piece_is_a_complete_reply():
    conv = Conversation(llmkit.Client("mock:echo"))
    with conv.stream("all of it") as s:
        for event in s:
            if event.finish_reason:
                break  # the usage event never read
    assert not s.turn.interrupted and s.turn.finish_reason == "stop" and s.turn.text == "all of it"


def test_a_failed_history_write_is_not_hidden_by_ctrl_c():
    client = llmkit.Client("mock:echo")
    client.backend.stream = counting_stream([])
    history = History()

    def broken(*args, **kwargs):
        raise llmkit.HistoryError("could not write the history: disk I/O error")

    history.add_turn = broken
    conv = Conversation(client, history=history)

    def on_text(text):
        raise KeyboardInterrupt

    with pytest.raises(llmkit.HistoryError):
        conv.send("count", on_text=on_text, catch_interrupt=True)
    assert conv.turns[0].interrupted and conv.turns[0].text == "one "  # kept here all the same


def test_an_interrupted_reply_error_says_what_broke_it():
    cause = llmkit.ServerError("the server failed", status_code=500)
    cause.tried = ["a", "b"]
    err = llmkit.ReplyInterruptedError(cause, turn=None)
    assert "(ServerError, status 500)" in err.one_line() and err.tried == ["a", "b"]
