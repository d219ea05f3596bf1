"""The REPL in-process: the session (sending, Ctrl-C, retry, undo, history), the slash
commands, files in and out, and rendering. The real terminal is in test_cli_terminal.py."""

import io
import json
import re

import pytest
from rich.console import Console

import llmkit
from llmkit.errors import RateLimitError
from llmkit.logs import History
from llmkit.repl import files
from llmkit.repl.app import ChatApp
from llmkit.repl.mdstream import MarkdownStream
from llmkit.repl.render import Renderer, footer_text, one_line
from llmkit.repl.session import Cancelled, ChatSession, open_client


class ScriptedReader:
    """Stands in for the terminal: lines in order, then Ctrl-D. A line may be an
    exception (KeyboardInterrupt: Ctrl-C at the prompt)."""

    multiline_keys = False

    def __init__(self, *lines):
        self.lines = list(lines)

    def read(self, prompt="> ", default=""):
        if not self.lines:
            raise EOFError
        line = self.lines.pop(0)
        if isinstance(line, BaseException):
            raise line
        return line


def make_app(*lines, model="mock:echo", terminal=False, history=True, **kwargs):
    client, _ = open_client(model, kwargs)
    session = ChatSession(client, history=History() if history else None, client_kwargs=kwargs)
    buf = io.StringIO()
    console = Console(
        file=buf, force_terminal=terminal, width=80, height=24, color_system=None if not terminal else "standard"
    )
    app = ChatApp(session, ScriptedReader(*lines), Renderer(console), reason="test")
    return app, buf


def collect():
    parts = []
    return parts, parts.append


# --- the session -------------------------------------------------------------------------


def test_send_streams_and_commits_each_turn():
    session = ChatSession(llmkit.Client("mock:echo"), system="Be brief.", history=History())
    parts, on_text = collect()
    t = session.send("hello there world", on_text)
    assert "".join(parts) == "hello there world" and len(parts) == 3
    assert t.reply.text == "hello there world" and not t.interrupted and t.number == 1
    assert t.usage.output_tokens == 3 and t.first_token is not None and t.duration >= t.first_token
    session.send("again", on_text)
    stored = History().turns(session.cid)
    assert [x.reply.text for x in stored] == ["hello there world", "again"]
    assert History().conversation(session.cid)["system"] == "Be brief."
    assert [m.role for m in session.messages()] == ["system", "user", "assistant", "user", "assistant"]


def test_ctrl_c_mid_reply_keeps_the_partial_and_closes_the_stream():
    client = llmkit.Client("mock:echo")
    closed = []

    def stream(messages, options):
        try:
            for word in ["one ", "two ", "three ", "four"]:
                yield llmkit.StreamEvent(text=word)
        finally:
            closed.append(True)

    client.backend.stream = stream
    session = ChatSession(client, history=History())
    seen = []

    def on_text(text):
        seen.append(text)
        if len(seen) == 2:
            raise KeyboardInterrupt

    t = session.send("count", on_text)
    assert t.interrupted and t.reply.text == "one two " and t.finish_reason == "interrupted"
    assert closed == [True]
    assert t.usage.output_tokens > 0 and t.usage.estimated
    (stored,) = History().turns(session.cid)
    assert stored.interrupted and stored.reply.text == "one two "
    # the session goes on, with the partial reply in the conversation
    session.client = llmkit.Client("mock:echo")
    session.send("next", lambda _: None)
    assert [m.text for m in session.messages()] == ["count", "one two ", "next", "next"]


def test_ctrl_c_before_any_output_cancels_and_retry_resends():
    client = llmkit.Client("mock", responses=[KeyboardInterrupt(), "second try"])
    session = ChatSession(client, history=History())
    with pytest.raises(Cancelled):
        session.send("hello", lambda _: None)
    assert session.turns == [] and session.failed == "hello"
    t = session.retry(lambda _: None)
    assert t.user.text == "hello" and t.reply.text == "second try"


def test_error_before_output_keeps_session_and_message_for_retry():
    client = llmkit.Client("mock", responses=[RateLimitError("slow down", retry_after=0)] * 3 + ["ok"], max_retries=0)
    session = ChatSession(client, history=History())
    with pytest.raises(RateLimitError):
        session.send("hi", lambda _: None)
    assert session.turns == [] and session.failed == "hi"
    assert session.retry_messages()[-1].text == "hi"


def test_error_after_output_keeps_the_partial_reply():
    client = llmkit.Client("mock:echo")

    def stream(messages, options):
        yield llmkit.StreamEvent(text="partial ")
        raise llmkit.MalformedStreamError("connection dropped")

    client.backend.stream = stream
    session = ChatSession(client, history=History())
    with pytest.raises(llmkit.ReplyInterruptedError) as info:
        session.send("hi", lambda _: None)
    assert isinstance(info.value.error, llmkit.MalformedStreamError) and info.value.__cause__ is info.value.error
    assert "connection dropped" in str(info.value)
    assert info.value.turn.interrupted and session.turns[0].reply.text == "partial "
    assert History().turns(session.cid)[0].reply.text == "partial "


def test_retry_replaces_the_last_answer_in_memory_and_history():
    client = llmkit.Client("mock", responses=["first", "bad", "good"])
    session = ChatSession(client, history=History())
    session.send("q1", lambda _: None)
    session.send("q2", lambda _: None)
    t = session.retry(lambda _: None)
    assert t.reply.text == "good" and t.number == 2
    assert [x.reply.text for x in session.turns] == ["first", "good"]
    assert [x.reply.text for x in History().turns(session.cid)] == ["first", "good"]


def test_failed_retry_keeps_the_old_answer():
    client = llmkit.Client("mock", responses=["first", llmkit.BadRequestError("no")])
    session = ChatSession(client, history=History())
    session.send("q1", lambda _: None)
    with pytest.raises(llmkit.BadRequestError):
        session.retry(lambda _: None)
    assert [x.reply.text for x in session.turns] == ["first"] and session.failed is None


def test_undo_clear_system_and_model_switch():
    session = ChatSession(llmkit.Client("mock:echo"), history=History(), client_kwargs={"temperature": 0, "delay": 0})
    session.send("a", lambda _: None)
    session.send("b", lambda _: None)
    assert session.undo().user.text == "b"
    assert [t.user.text for t in History().turns(session.cid)] == ["a"]
    session.set_system("Be terse.")
    assert History().conversation(session.cid)["system"] == "Be terse."
    dropped = session.switch_model("mock")
    assert session.client.model == "mock" and dropped == []
    assert History().conversation(session.cid)["model"] == "mock"
    assert [m.text for m in session.messages()] == ["Be terse.", "a", "a"]  # kept across the switch
    old = session.cid
    session.clear()
    assert session.turns == [] and session.cid is None
    assert History().turns(old)  # still in the history


def test_attachments_go_into_the_next_message_only(tmp_path):
    (tmp_path / "notes.py").write_text("print('hi')\n")
    session = ChatSession(llmkit.Client("mock:echo"))
    session.attachments.append(files.read_attachment(str(tmp_path / "notes.py")))
    content = session.compose("explain")
    assert content.startswith("explain\n\nFile: ") and "```py\nprint('hi')\n```" in content
    session.send(content, lambda _: None)
    assert session.attachments == [] and session.compose("next") == "next"


def test_attach_refuses_missing_binary_and_huge_files(tmp_path):
    with pytest.raises(llmkit.LLMKitError, match="no such file"):
        files.read_attachment(str(tmp_path / "nope.txt"))
    (tmp_path / "blob.bin").write_bytes(b"\x89PNG\0\0\x01")
    with pytest.raises(llmkit.LLMKitError, match="binary"):
        files.read_attachment(str(tmp_path / "blob.bin"))
    (tmp_path / "latin1.txt").write_bytes("caf\xe9".encode("latin-1"))
    with pytest.raises(llmkit.LLMKitError, match="not UTF-8"):
        files.read_attachment(str(tmp_path / "latin1.txt"))
    (tmp_path / "big.txt").write_text("x" * 1000)
    with pytest.raises(llmkit.LLMKitError, match="limit"):
        files.read_attachment(str(tmp_path / "big.txt"), max_bytes=100)
    with pytest.raises(llmkit.LLMKitError, match="directory"):
        files.read_attachment(str(tmp_path))


def test_attachment_fence_outgrows_fences_inside():
    text = files.format_attachment("README.md", "```python\nx = 1\n```\n")
    assert text.startswith("File: README.md\n````md\n") and text.endswith("\n````")


@pytest.mark.parametrize("name", ["chat.md", "chat.json"])
def test_save_and_load_round_trip(tmp_path, name):
    session = ChatSession(llmkit.Client("mock:echo"), system="Sys", history=History())
    session.send("hello\n\n```python\n## user\n```", lambda _: None)
    session.send("an unclosed fence\n```python\nx = 1\n## system\n## assistant (x)", lambda _: None)  # cut off
    session.send("second", lambda _: None)
    session.turns[-1].interrupted = True
    path = files.save(str(tmp_path / name), session.turns, system=session.system, model="mock:echo", cid=session.cid)
    turns, system = files.load(str(path))
    assert system == "Sys"
    assert [(t.user.text, t.reply.text) for t in turns] == [(t.user.text, t.reply.text) for t in session.turns]
    assert turns[-1].interrupted and turns[0].model == "mock:echo"
    fresh = ChatSession(llmkit.Client("mock:echo"), history=History())
    fresh.replace_turns(turns, system)
    assert fresh.cid and len(History().turns(fresh.cid)) == 3

    with pytest.raises(llmkit.LLMKitError, match="already exists"):  # never replaced by accident
        files.save(str(path), session.turns[:1], system=None, model="mock:echo", cid=None)
    path.chmod(0o644)
    files.save(str(path), session.turns[:1], system=None, model="mock:echo", cid=None, overwrite=True)
    assert len(files.load(str(path))[0]) == 1 and path.stat().st_mode & 0o777 == 0o644


@pytest.mark.parametrize("bad", [
    {"turns": [{"user": "a", "assistant": "b"}], "system": ["x"]},
    {"turns": [{"user": "a", "assistant": "b", "usage": 5}]},
    {"turns": [{"user": "a", "assistant": "b", "model": 7}]},
    {"turns": [{"user": "a", "assistant": ["b"]}]},
])  # fmt: skip
def test_load_checks_every_field_before_touching_the_session(tmp_path, bad):
    p = tmp_path / "bad.json"
    p.write_text(json.dumps(bad))
    with pytest.raises(llmkit.LLMKitError, match="bad.json"):
        files.load(str(p))


def test_load_accepts_openai_messages_and_rejects_junk(tmp_path):
    p = tmp_path / "m.json"
    p.write_text(
        json.dumps(
            [
                {"role": "system", "content": "S"},
                {"role": "user", "content": "u"},
                {"role": "assistant", "content": "a"},
            ]
        )
    )
    turns, system = files.load(str(p))
    assert system == "S" and turns[0].reply.text == "a"
    p.write_text('{"x": 1}')
    with pytest.raises(llmkit.LLMKitError, match="not a saved conversation"):
        files.load(str(p))
    with pytest.raises(llmkit.LLMKitError, match="format"):
        files.save(str(tmp_path / "x.txt"), [], system=None, model="m", cid=None)


# --- the app and its commands ------------------------------------------------------------


def test_app_runs_commands_and_turns_in_plain_mode(tmp_path):
    app, out = make_app(
        "hello",
        "/modle mock",
        "/model",
        "/history",
        "/tokens",
        "/cost",
        "/undo",
        "/undo",
        KeyboardInterrupt(),
        f"/save {tmp_path}/c.json",
        "/help",
        "/exit",
        "never sent",
    )
    assert app.run() == 0
    text = out.getvalue()
    assert "hello\n" in text and "mock:echo · " in text
    assert "error: unknown command /modle -> did you mean /model?" in text
    assert "model mock:echo [chat, streaming" in text
    assert "1. you: hello" in text and "conversation:" in text and "nothing spent yet" not in text
    assert "removed: hello" in text and "nothing to undo" in text
    assert "/attach FILE" in text and "saved 0 turn(s)" in text
    assert "never sent" not in text


def test_app_model_switch_keeps_conversation_and_warns_about_completion_models(monkeypatch):
    app, out = make_app("one", "/model mock:echo", "two", "/system Be nice.", "/system", "/system -")
    app.run()
    assert [t.user.text for t in app.session.turns] == ["one", "two"]
    assert "now talking to mock:echo" in out.getvalue() and "system prompt: 'Be nice.'" in out.getvalue()
    app.out.console.file = io.StringIO()
    monkeypatch.setattr("llmkit.repl.session.is_completion_model", lambda client: True)
    monkeypatch.setattr("llmkit.repl.app.is_completion_model", lambda client: True)
    app.announce_model()
    assert "completion model" in app.out.console.file.getvalue()


def test_errors_are_one_line_and_the_session_goes_on():
    app, out = make_app("hi", "hi again", history=False)
    app.session.client = llmkit.Client(
        "mock", responses=[RateLimitError("slow down", retry_after=0), "fine"], max_retries=0
    )
    app.run()
    lines = out.getvalue().splitlines()
    err = [line for line in lines if line.startswith("error:")]
    assert len(err) == 1 and "slow down" in err[0] and "-> Wait and retry" in err[0]
    assert "/retry sends the message again" in lines
    assert "fine" in lines


def test_attach_command_reports_errors_and_attaches(tmp_path):
    (tmp_path / "a.txt").write_text("content of a")
    app, out = make_app(f"/attach {tmp_path}/missing.txt", f"/attach {tmp_path}/a.txt", "/attach", "look")
    app.run()
    text = out.getvalue()
    assert "error: no such file" in text and "attached " in text and "a.txt" in text
    assert "content of a" in app.session.turns[0].user.text


def test_context_overflow_is_announced_before_sending():
    app, out = make_app("a b c d e f g h", "x y z", "/tokens", context_window=10, history=False)
    app.run()
    text = out.getvalue()
    assert "context: 8 tokens of 10 (80%) used" in text  # nearly full: announced, still sent
    assert "error: context full: the conversation needs 19 tokens, but mock:echo has a context window of 10" in text
    assert len(app.session.turns) == 1 and app.session.failed == "x y z"


def test_reply_renders_markdown_in_a_terminal():
    app, out = make_app("# Title\n\nsome **bold** text\n\n```python\nx = 1\n```", terminal=True, history=False)
    app.run()
    raw = out.getvalue()
    text = re.sub(r"\x1b\[[0-9;?]*[a-zA-Z]", "", raw)
    assert "Title" in text and "some bold text" in text and "**bold**" not in text and "x = 1" in text
    assert "\x1b[1mbold" in raw  # bold, and the code highlighted (colours around its tokens)
    assert re.search(r"\x1b\[[0-9;]*mx\x1b\[0m", raw)


def test_markdown_stream_settles_lines_into_the_scrollback():
    buf = io.StringIO()
    console = Console(file=buf, force_terminal=True, width=40, height=10)
    md = MarkdownStream(console, min_interval=0)
    for i in range(30):
        md.write(f"line {i}\n\n")
    md.finish()
    text = buf.getvalue()
    assert all(f"line {i}" in text for i in range(30))
    assert md._printed > 0  # the head went to the scrollback, only the tail stayed live


def test_footer_and_one_line_errors():
    from llmkit.logs import Turn
    from llmkit.types import Message, Usage

    t = Turn(
        Message("user", "x"),
        Message("assistant", "y"),
        model="openai:gpt-4o-mini",
        usage=Usage(1200, 34, 0.00123),
        duration=2.0,
        first_token=0.25,
    )
    assert (
        footer_text(t) == "openai:gpt-4o-mini · 1,200 in, 34 out tokens · $0.0012 · 2.0s (first token 0.25s) · 17 tok/s"
    )
    exc = llmkit.RateLimitError("too many requests", status_code=429)
    assert one_line(exc) == "too many requests (RateLimitError, status 429) -> " + exc.hint
    assert "\n" not in one_line(llmkit.ContextLengthError("a\nb", hint="c\nd"))


def test_markdown_stream_scrollback_plus_live_tail_is_the_whole_reply():
    """Nothing lost or doubled at the seam between settled lines and the live tail
    (blank lines between paragraphs included)."""
    console = Console(file=io.StringIO(), force_terminal=True, width=60, height=12)
    md = MarkdownStream(console, min_interval=0)
    settled, live = [], []
    original_print = console.print

    def record(renderable=None, **kw):
        if hasattr(renderable, "plain"):
            settled.append(renderable.plain + "\n")
        else:
            original_print(renderable, **kw)

    console.print = record
    original_update = md._live.update
    md._live.update = lambda text, **kw: (live.append(text.plain), original_update(text, **kw))
    reply = "\n\n".join(
        f"Paragraph {i} has **bold** words, enough of them to wrap the line twice over." for i in range(9)
    )
    for word in re.findall(r"\S+\s*", reply):
        md.write(word)
    md.finish()
    full = "".join(md._render()).rstrip("\n")
    plain = re.sub(r"\x1b\[[0-9;]*m", "", full)
    assert "".join(settled) + live[-1] == plain


def test_a_failed_history_write_is_reported_and_the_session_goes_on(monkeypatch):
    app, out = make_app("first", "second")

    def broken(*args, **kwargs):
        raise llmkit.LLMKitError("could not write the history: disk I/O error")

    monkeypatch.setattr(app.session.history, "add_turn", broken)
    app.run()
    assert out.getvalue().count("error: could not write the history") == 2
    assert [t.reply.text for t in app.session.turns] == ["first", "second"]  # kept in the session


def test_an_unexpected_backend_bug_is_one_line_and_the_session_goes_on():
    app, out = make_app("boom", "after", history=False)
    calls = []

    def stream(messages, options):
        calls.append(1)
        if len(calls) == 1:
            raise ZeroDivisionError("division by zero")
        yield llmkit.StreamEvent(text="fine")

    app.session.client.backend.stream = stream
    app.run()
    assert "error: ZeroDivisionError: division by zero" in out.getvalue() and "fine" in out.getvalue()
