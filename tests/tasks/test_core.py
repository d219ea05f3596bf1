"""The shared task core: requests as data, one driver for one item and one for many
(batched on hf:, concurrent over HTTP, per-item errors), re-asks, token-based splits."""

import threading
import time

import pytest
from task_doubles import scripted

import llmkit
from llmkit.errors import ContextLengthError, TaskError
from llmkit.tasks import _core
from llmkit.tasks._core import Chat, Complete, ask_parsed, ask_structured, run_many, run_one
from llmkit.tasks._text import budget, check_text, client_split, split


def echo_task(text):
    r = yield Chat(text)
    return r.text.upper()


def test_run_one_drives_a_task_and_run_many_keeps_the_order():
    client = llmkit.Client("mock:echo")
    assert run_one(echo_task("hi"), client) == "HI"
    assert run_many([echo_task(t) for t in ["a", "b", "c"]], client) == ["A", "B", "C"]


def test_a_failed_item_is_its_error_in_place_and_the_rest_go_on():
    def task(i):
        if i == 1:
            raise TaskError("item one is bad")
        r = yield Complete(f"p{i}")
        return r.text

    client = scripted(*[f"r{i}" for i in range(3)], capabilities={"structured_output": False})
    out = run_many([task(i) for i in range(3)], client, concurrency=1)
    assert out[0] == "r0" and out[2] == "r1"
    assert isinstance(out[1], TaskError) and out[1].item == 1


def test_a_model_error_reaches_the_task_which_may_handle_it():
    def task():
        try:
            yield Chat("too long")
        except ContextLengthError:
            r = yield Chat("shorter")
            return "recovered: " + r.text
        return "no error?"

    client = scripted(ContextLengthError("too long for the model"), "ok")
    assert run_one(task(), client) == "recovered: ok"
    client = scripted(ContextLengthError("too long for the model"), "ok")
    assert run_many([task()], client) == ["recovered: ok"]


def test_http_backends_answer_a_round_concurrently_but_no_more_than_the_bound():
    active, peak, lock = [0], [0], threading.Lock()

    def respond(messages, options):
        with lock:
            active[0] += 1
            peak[0] = max(peak[0], active[0])
        time.sleep(0.05)
        with lock:
            active[0] -= 1
        return messages[-1].text

    client = llmkit.Client("mock", responses=respond)
    out = run_many([echo_task(str(i)) for i in range(12)], client, concurrency=4)
    assert out == [str(i) for i in range(12)]
    assert 2 <= peak[0] <= 4


def test_batching_backends_get_one_batched_call_per_round_and_a_failed_batch_is_retried_item_by_item(monkeypatch):
    client = llmkit.Client("mock:echo", capabilities={"batching": True})
    calls = []
    real_batch = client.chat_batch

    def chat_batch(prompts, **options):
        prompts = list(prompts)
        calls.append(len(prompts))
        if any("bad" in str(p) for p in prompts):
            raise ContextLengthError("one prompt is too long")
        return real_batch(prompts, **options)

    monkeypatch.setattr(client, "chat_batch", chat_batch)
    assert run_many([echo_task(t) for t in "abcd"], client) == list("ABCD")
    assert calls == [4]
    calls.clear()
    real_chat = client.chat
    monkeypatch.setattr(client, "chat", lambda p, **o: (_ for _ in ()).throw(ContextLengthError("too long"))
                        if "bad" in str(p) else real_chat(p, **o))  # fmt: skip
    out = run_many([echo_task(t) for t in ["a", "bad", "c"]], client)
    assert calls == [3] and out[0] == "A" and out[2] == "C"
    assert isinstance(out[1], ContextLengthError) and out[1].item == 1


def test_ask_parsed_re_asks_once_with_the_reason_then_fails_with_the_output():
    def parse(text):
        if not text.isdigit():
            raise ValueError("answer with a number")
        return int(text)

    client = scripted("seven", "7")
    assert run_one(ask_parsed("How many?", parse, {}, "counting"), client) == 7
    assert "answer with a number" in client.backend.calls[1][1][-1].text
    client = scripted("seven", "still seven")
    with pytest.raises(TaskError, match="counting: .* did not fit after a re-ask") as info:
        run_one(ask_parsed("How many?", parse, {}, "counting"), client)
    assert info.value.output == "still seven"


def test_ask_structured_gives_the_validated_value_or_a_task_error():
    schema = {"type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"]}
    assert run_one(ask_structured("n?", schema, {}, "n"), scripted('{"n": 3}')) == {"n": 3}
    with pytest.raises(TaskError, match="did not fit the schema"):
        run_one(ask_structured("n?", schema, {}, "n"), scripted("no", "no", "no"))


def test_model_is_a_client_an_id_or_the_default_and_nothing_else(monkeypatch):
    client = llmkit.Client("mock:echo")
    assert _core.model_client(client) == (client, False)
    made, owned = _core.model_client("mock:echo")
    assert owned and made.model == "mock:echo"
    monkeypatch.setenv("LLMKIT_MODEL", "mock:echo")
    assert _core.model_client(None)[0].model == "mock:echo"
    with pytest.raises(llmkit.InvalidOptionError, match="model= takes a llmkit.Client or a model id"):
        _core.model_client(3)


def test_check_text_refuses_empty_binary_and_non_text():
    assert check_text("ok") == "ok"
    for bad, why in [("", "empty"), ("  \n", "empty"), ("a\x00b", "binary"), (b"x", "bytes"), (3, "string")]:
        with pytest.raises(TaskError, match=why):
            check_text(bad)


def test_split_keeps_paragraphs_then_sentences_then_words_and_offsets_point_into_the_text():
    text = "One two three. Four five six.\n\nSeven eight.\n\n" + "nine " * 30
    count = lambda t: len(t.split())  # noqa: E731
    pieces = split(text, 5, count)
    assert all(count(p.text) <= 5 for p in pieces)
    assert all(text[p.start : p.end] == p.text for p in pieces)
    assert pieces[0].text == "One two three." and pieces[1].text == "Four five six."
    assert pieces[2].text == "Seven eight."
    words = " ".join(p.text for p in pieces).split()
    assert words == text.split()  # nothing lost, nothing repeated
    assert split("short", 5, count) == [split("short", 5, count)[0]] and split("short", 5, count)[0].start == 0


def test_split_cuts_a_word_longer_than_the_budget_by_characters():
    pieces = split("x" * 50, 3, len)
    assert "".join(p.text for p in pieces) == "x" * 50 and all(len(p.text) <= 3 for p in pieces)


def test_budget_follows_the_context_window_and_says_when_nothing_fits():
    assert budget(scripted(context_window=1000), reserve=200) == 800
    assert budget(scripted(), cap=512) == 512  # no window known: the cap
    with pytest.raises(TaskError, match="context window .*leaves no room"):
        budget(scripted(context_window=100), reserve=100)


def test_client_split_uses_the_models_own_token_counts():
    client = scripted(context_window=64)
    text = "\n\n".join(f"Paragraph {i} has some words in it." for i in range(20))
    pieces = client_split(client, text, 16)
    assert len(pieces) > 1 and all(client.count_tokens(p.text) <= 16 for p in pieces)
