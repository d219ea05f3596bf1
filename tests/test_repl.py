"""The REPL in-process: the app, the slash commands, attachments and rendering. The
conversation it drives is tested in test_conversation.py, the real terminal in
test_cli_terminal.py."""

import io
import json
import re

import pytest
from rich.console import Console

import llmkit
from llmkit.conversation import Conversation, files, open_client
from llmkit.errors import RateLimitError
from llmkit.logs import History
from llmkit.repl import attach
from llmkit.repl.app import ChatApp
from llmkit.repl.mdstream import MarkdownStream
from llmkit.repl.render import Renderer, footer_text, one_line


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
    conv = Conversation(client, history=History() if history else None, source="chat")
    buf = io.StringIO()
    console = Console(
        file=buf, force_terminal=terminal, width=80, height=24, color_system=None if not terminal else "standard"
    )
    app = ChatApp(conv, ScriptedReader(*lines), Renderer(console), reason="test", client_kwargs=kwargs)
    return app, buf


def collect():
    parts = []
    return parts, parts.append


def test_attachments_go_into_the_next_message_only(tmp_path):
    (tmp_path / "notes.py").write_text("print('hi')\n")
    app, _ = make_app(history=False)
    app.attachments.append(attach.read_attachment(str(tmp_path / "notes.py")))
    content = app.compose("explain")
    assert content.startswith("explain\n\nFile: ") and "```py\nprint('hi')\n```" in content
    app.handle("explain")
    assert app.attachments == [] and app.compose("next") == "next"
    assert app.conversation.turns[0].user.text == content


def test_attach_refuses_missing_binary_and_huge_files(tmp_path):
    with pytest.raises(llmkit.LLMKitError, match="no such file"):
        attach.read_attachment(str(tmp_path / "nope.txt"))
    (tmp_path / "blob.bin").write_bytes(b"\x89PNG\0\0\x01")
    with pytest.raises(llmkit.LLMKitError, match="binary"):
        attach.read_attachment(str(tmp_path / "blob.bin"))
    (tmp_path / "latin1.txt").write_bytes("caf\xe9".encode("latin-1"))
    with pytest.raises(llmkit.LLMKitError, match="not UTF-8"):
        attach.read_attachment(str(tmp_path / "latin1.txt"))
    (tmp_path / "big.txt").write_text("x" * 1000)
    with pytest.raises(llmkit.LLMKitError, match="limit"):
        attach.read_attachment(str(tmp_path / "big.txt"), max_bytes=100)
    with pytest.raises(llmkit.LLMKitError, match="directory"):
        attach.read_attachment(str(tmp_path))


def test_attachment_fence_outgrows_fences_inside():
    text = attach.format_attachment("README.md", "```python\nx = 1\n```\n")
    assert text.startswith("File: README.md\n````md\n") and text.endswith("\n````")


@pytest.mark.parametrize("name", ["chat.md", "chat.json"])
def test_save_and_load_round_trip(tmp_path, name):
    conv = Conversation(llmkit.Client("mock:echo"), system="Sys", history=History())
    conv.send("hello\n\n```python\n## user\n```")
    conv.send("an unclosed fence\n```python\nx = 1\n## system\n## assistant (x)")  # cut off
    conv.send("second")
    conv.turns[-1].interrupted = True
    path = conv.save(tmp_path / name)
    turns, system = files.load(str(path))
    assert system == "Sys"
    assert [(t.user.text, t.reply.text) for t in turns] == [(t.user.text, t.reply.text) for t in conv.turns]
    assert turns[-1].interrupted and turns[0].model == "mock:echo"
    fresh = Conversation.load(path, llmkit.Client("mock:echo"), history=History())
    assert fresh.system == "Sys" and fresh.cid and len(History().turns(fresh.cid)) == 3
    assert [t.text for t in fresh.turns] == [t.text for t in conv.turns] and fresh.turns[-1].interrupted

    with pytest.raises(llmkit.UsageError, match="already exists"):  # never replaced by accident
        files.save(str(path), conv.turns[:1], system=None, model="mock:echo", cid=None)
    path.chmod(0o644)
    files.save(str(path), conv.turns[:1], system=None, model="mock:echo", cid=None, overwrite=True)
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
    assert [t.user.text for t in app.conversation.turns] == ["one", "two"]
    assert "now talking to mock:echo" in out.getvalue() and "system prompt: 'Be nice.'" in out.getvalue()
    app.out.console.file = io.StringIO()
    monkeypatch.setattr(type(app.conversation.client.backend), "completion_model", True)
    app.announce_model()
    assert "completion model" in app.out.console.file.getvalue()


def test_errors_are_one_line_and_the_session_goes_on():
    app, out = make_app("hi", "hi again", history=False)
    app.conversation.client = llmkit.Client(
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
    assert "content of a" in app.conversation.turns[0].user.text


def test_context_overflow_is_announced_before_sending():
    app, out = make_app("a b c d e f g h", "x y z", "/tokens", context_window=10, history=False)
    app.run()
    text = out.getvalue()
    assert "context: 8 tokens of 10 (80%) used" in text  # nearly full: announced, still sent
    assert "error: context full: the conversation needs 19 tokens, but mock:echo has a context window of 10" in text
    assert len(app.conversation.turns) == 1 and app.conversation.pending == "x y z"


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
    from llmkit.conversation import Turn
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
        footer_text(t) == "openai:gpt-4o-mini · 1,200 in, 34 out tokens · $0.0012 · 2.0s (first token 0.25s) · 19 tok/s decoding"
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

    monkeypatch.setattr(app.conversation.history, "add_turn", broken)
    app.run()
    assert out.getvalue().count("error: could not write the history") == 2
    assert [t.reply.text for t in app.conversation.turns] == ["first", "second"]  # kept in the session


def test_an_unexpected_backend_bug_is_one_line_and_the_session_goes_on():
    app, out = make_app("boom", "after", history=False)
    calls = []

    def stream(messages, options):
        calls.append(1)
        if len(calls) == 1:
            raise ZeroDivisionError("division by zero")
        yield llmkit.StreamEvent(text="fine")

    app.conversation.client.backend.stream = stream
    app.run()
    assert "error: ZeroDivisionError: division by zero" in out.getvalue() and "fine" in out.getvalue()


# --- llmkit chat --tools --------------------------------------------------------------------


def tool_app(*lines, responses, tools):
    client = llmkit.Client("mock", responses=responses)
    conv = Conversation(client, history=History(), source="chat")
    buf = io.StringIO()
    app = ChatApp(conv, ScriptedReader(*lines), Renderer(Console(file=buf, width=100)), reason="test", tools=tools)
    return app, buf


def test_a_chat_with_tools_shows_each_call_and_keeps_the_answer(tmp_path):
    from llmkit.agents.builtin import default_tools

    (tmp_path / "todo.txt").write_text("buy milk\n")
    responses = [
        [llmkit.ToolCall("c1", "calculate", '{"expression": "6 * 7"}'),
         llmkit.ToolCall("c2", "read_file", '{"path": "../etc/passwd"}')],
        "6 * 7 = 42, and that file is out of reach.",
    ]  # fmt: skip
    app, out = tool_app("what is 6*7? and read ../etc/passwd", "/tools", responses=responses,
                        tools=default_tools(tmp_path))  # fmt: skip
    app.run()
    text = out.getvalue()
    assert '→ calculate({"expression": "6 * 7"})' in text and "← 42" in text
    assert "✗ Error: the tool raised ToolInputError" in text and "outside the folder" in text
    assert "6 * 7 = 42, and that file is out of reach." in text
    assert "calculate(expression: string)" in text and "read_file(path: string)" in text  # /tools
    (turn,) = app.conversation.turns
    assert turn.text == "6 * 7 = 42, and that file is out of reach."
    assert History().turns(app.conversation.cid)[0].reply.text == turn.text


def test_tools_that_need_approval_ask_at_the_prompt():
    deleted = []

    @llmkit.tool(requires_approval=True)
    def delete(path: str) -> str:
        "Delete a file."
        deleted.append(path)
        return "deleted"

    long_path = "b/" + "x" * 300 + "/rm-me"
    responses = [llmkit.ToolCall("c1", "delete", '{"path": "a"}'),
                 llmkit.ToolCall("c2", "delete", json.dumps({"path": long_path})), "done"]  # fmt: skip
    app, out = tool_app("clean up", "n", "yes", responses=responses, tools=[delete])
    app.run()
    assert deleted == [long_path]  # "n" refused a, "yes" allowed the long one
    assert long_path in out.getvalue().replace("\n", "")  # what you approve is shown whole
    assert "✗ Not run: the user declined this call." in out.getvalue() and "← deleted" in out.getvalue()


def test_without_tools_the_tools_command_says_how_to_get_them():
    app, out = make_app("/tools", history=False)
    app.run()
    assert "llmkit chat --tools" in out.getvalue()
