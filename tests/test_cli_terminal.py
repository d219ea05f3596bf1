"""`llmkit chat`, `ask`, `logs` and `config` as a user meets them: real processes, and for
the chat a real pseudo-terminal (pexpect), so prompt_toolkit, rich and signals all run."""

import json
import os
import re
import shlex
import shutil
import signal
import stat
import subprocess
import sys
import time

import pytest

pexpect = pytest.importorskip("pexpect")

from llmkit.logs import History  # noqa: E402

PROMPT = r"\x1b\[\?2004h"  # prompt_toolkit turns bracketed paste on as each prompt starts
SENT = r"\x1b\[\?2004l"  # ... and off when the line is accepted: what follows is the reply
ESC_ENTER = "\x1b\r"


def spawn_chat(*args, env=None, timeout=30, sigint=None):
    child = pexpect.spawn(
        sys.executable, ["-m", "llmkit.cli", "chat", *args],
        env={**os.environ, "PROMPT_TOOLKIT_NO_CPR": "1", "TERM": "xterm-256color", **(env or {})},
        encoding="utf-8", dimensions=(40, 120), timeout=timeout,
        preexec_fn=(lambda: signal.signal(signal.SIGINT, sigint)) if sigint is not None else None,
    )  # fmt: skip
    child.expect(PROMPT)
    return child


def say(child, text):
    child.send(text + "\r")
    child.expect(PROMPT)
    return strip_ansi(child.before)


def strip_ansi(text):
    return re.sub(r"\x1b\[[0-9;?]*[a-zA-Z]|\x1b[=>]|\r", "", text)


def ctrl_c_during_reply(child):
    """Ctrl-C once the reply is streaming. The terminal must be back in cooked mode (ISIG
    on) first: a Ctrl-C typed while prompt_toolkit still holds raw mode is a character
    for the next prompt, not a signal, as it would be for a user typing ahead."""
    import termios

    deadline = time.monotonic() + 10
    while not termios.tcgetattr(child.child_fd)[3] & termios.ISIG:
        assert time.monotonic() < deadline, "the terminal never left raw mode"
        time.sleep(0.01)
    child.sendintr()


def quit_chat(child):
    child.sendeof()
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0, child.before


def llmkit(*args, stdin="", env=None):
    return subprocess.run([sys.executable, "-m", "llmkit.cli", *args], input=stdin, capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, timeout=60)  # fmt: skip


# --- the chat, in a terminal ------------------------------------------------------------------


def test_a_turn_streams_as_markdown_and_model_switch_keeps_the_conversation(server):
    child = spawn_chat("-m", "mock:echo", "-o", "delay", "0.01", env={"OPENAI_BASE_URL": server.base_url})
    assert "model mock:echo" in strip_ansi(child.before) and "(chosen with -m)" in strip_ansi(child.before)
    child.send("hello **world** and `code`\r")
    child.expect(r"\x1b\[1mworld")  # rendered bold, not asterisks
    child.expect(r"mock:echo · ~\d+ in, ~\d+ out tokens · [\d.]+s \(first token")
    child.expect(PROMPT)
    out = say(child, "/model openai:test")
    assert "now talking to openai:test" in out
    out = say(child, "second question")
    assert "Echo: second question" in out and "openai:test · " in out
    sent = [m["content"] for m in server.requests[-1]["body"]["messages"]]
    assert sent == ["hello **world** and `code`", "hello **world** and `code`", "second question"]
    quit_chat(child)


@pytest.mark.parametrize("sigint", [signal.SIG_DFL, signal.SIG_IGN], ids=["default", "started-ignoring-sigint"])
def test_ctrl_c_mid_reply_stops_it_and_keeps_the_session(sigint):
    # started ignoring SIGINT (a shell's background job, some CI harnesses): the chat still owns Ctrl-C
    child = spawn_chat("-m", "mock:echo", "-o", "delay", "0.3", sigint=sigint)
    child.send("**one** two three four five six seven eight nine ten\r")
    child.expect(SENT)
    child.expect(r"\x1b\[1mone")  # the reply, rendered bold: never the echo of the typed line
    child.expect("two")
    ctrl_c_during_reply(child)
    child.expect("interrupted: the partial reply is kept")
    child.expect(PROMPT)
    out = say(child, "/history")
    assert "[interrupted]" in out and "ten" not in out.split("mock:echo:")[1]
    child.send("/model mock:echo\r")  # the session goes on: a fast reply now
    child.expect(PROMPT)
    child.send("after\r")
    child.expect("after")
    child.expect("tok/s")
    child.expect(PROMPT)
    quit_chat(child)
    (cid, turn), *_ = History().find_turns(query="one two")
    assert turn.interrupted and turn.reply.text.startswith("**one** two") and "ten" not in turn.reply.text


def test_ctrl_c_at_the_prompt_clears_the_line_and_ctrl_d_exits():
    child = spawn_chat("-m", "mock:echo")
    child.send("typed but not sent")
    child.expect("sent")
    child.sendintr()
    child.expect(PROMPT)
    assert "no turns yet" in say(child, "/history")
    quit_chat(child)


def test_multiline_input_with_esc_enter_and_bracketed_paste():
    child = spawn_chat("-m", "mock:echo")
    child.send("line one" + ESC_ENTER + "line two\r")
    child.expect("tok/s")
    child.expect(PROMPT)
    child.send("\x1b[200~pasted one\npasted two\x1b[201~\r")
    child.expect("tok/s")
    child.expect(PROMPT)
    quit_chat(child)
    texts = [t.user.text for _, t in History().find_turns()]
    assert texts == ["line one\nline two", "pasted one\npasted two"]
    history_file = os.path.join(os.environ["LLMKIT_HOME"], "chat_history")
    assert "line two" in open(history_file).read()  # up-arrow history, kept for the next session
    assert stat.S_IMODE(os.stat(history_file).st_mode) == 0o600


def test_slash_commands_save_attach_and_suggest(tmp_path):
    (tmp_path / "notes.txt").write_text("the attached words")
    child = spawn_chat("-m", "mock:echo", "-s", "Be brief.")
    assert "did you mean /save?" in say(child, "/sav x.md")
    assert "attached" in say(child, f"/attach {tmp_path}/notes.txt")
    assert "is a binary file" in say(child, f"/attach {sys.executable}")
    assert "the attached words" in say(child, "summarise")
    assert "saved 1 turn(s)" in say(child, f"/save {tmp_path}/chat.md")
    say(child, f"/save {tmp_path}/chat.json")
    quit_chat(child)
    md = (tmp_path / "chat.md").read_text()
    assert "## system\n\nBe brief." in md and "## user\n\nsummarise" in md and "the attached words" in md
    data = json.loads((tmp_path / "chat.json").read_text())
    assert data["system"] == "Be brief." and data["turns"][0]["assistant"].startswith("summarise")


def test_tab_completes_commands_and_model_names(isolated_home):
    isolated_home.mkdir(parents=True, exist_ok=True)
    (isolated_home / "config.toml").write_text('[aliases]\nfastest = "mock:echo"\n')
    child = spawn_chat("-m", "mock:echo")
    def tab(text):  # completions are computed off the input thread: let each land before typing on
        child.send(text + "\t")
        time.sleep(0.5)

    tab("/mod")  # the command, and a space after it: the argument follows straight away
    tab("openai:gpt-4o-m")  # one candidate: completed in place
    out = say(child, "")
    assert "openai:gpt-4o-mini" in out.split("\n", 1)[-1] and "OPENAI_API_KEY" in out  # no key here
    tab("/model fast")  # an alias from the config file
    assert "now talking to mock:echo" in say(child, "")
    quit_chat(child)


def test_continue_after_sigkill_mid_turn_keeps_the_previous_turns():
    child = spawn_chat("-m", "mock:echo", "-o", "delay", "0.3")
    child.send("first question\r")
    child.expect("tok/s")
    child.expect(PROMPT)
    child.send("this reply will be killed half way through its words\r")
    child.expect(SENT)
    child.expect("reply")
    os.kill(child.pid, signal.SIGKILL)
    child.expect(pexpect.EOF)
    child.close()
    assert child.signalstatus == signal.SIGKILL

    child = spawn_chat("-c")
    banner = strip_ansi(child.before)
    assert "continuing conversation" in banner and "1 turn(s)" in banner and "first question" in banner
    assert "model mock:echo" in banner
    out = say(child, "/history")
    assert "first question" in out and "killed" not in out
    child.send("follow up\r")
    child.expect("tok/s")
    child.expect(PROMPT)
    quit_chat(child)
    cid = History().last_conversation_id()
    assert [t.user.text for t in History().turns(cid)] == ["first question", "follow up"]


def test_chat_with_piped_stdin_uses_plain_input():
    r = llmkit("chat", "-m", "mock:echo", stdin='hello there\n"""\nline a\nline b\n"""\n/exit\n')
    assert r.returncode == 0, r.stderr
    assert "hello there" in r.stdout and "line a\nline b" in r.stdout


@pytest.mark.slow
def test_chat_with_the_bundled_model(tmp_path):
    """The bundled model when its checkpoint ships, else a tiny random one of the same
    architecture, saved through the real checkpoint code."""
    pytest.importorskip("torch")
    from llmkit.backends.mini import SHIPPED
    from llmkit.mini.checkpoint import is_checkpoint

    model = "mini"
    if not is_checkpoint(SHIPPED):
        import torch

        from llmkit.mini.checkpoint import save_checkpoint
        from llmkit.mini.model import GPT, GPTConfig
        from llmkit.mini.tokenizer import train_tokenizer

        (tmp_path / "corpus.txt").write_text("def add(a, b):\n    return a + b\n" * 200)
        tok = train_tokenizer([tmp_path / "corpus.txt"], 300)
        torch.manual_seed(0)
        gpt = GPT(GPTConfig(vocab_size=tok.vocab_size, n_layer=2, n_head=2, n_embd=32, block_size=64)).eval()
        save_checkpoint(tmp_path / "ckpt", gpt, tok)
        model = f"mini:{tmp_path / 'ckpt'}"
    child = spawn_chat("-m", model, "--max-tokens", "8", timeout=120)
    assert "completion model, not a chat model" in strip_ansi(child.before)
    child.send("def add(a, b):\r")
    child.expect("tok/s")
    child.expect(PROMPT)
    out = say(child, "word " * 400)  # past the window (64 tokens here, 256 shipped): the oldest text left out
    assert "oldest text is left out" in out and "tok/s" in out
    quit_chat(child)


# --- ask, logs, config ---------------------------------------------------------------------------


def test_ask_with_stdin_and_json_is_logged_and_continued():
    r = llmkit("ask", "-m", "mock:echo", "--json", "summarise", stdin="piped text")
    assert r.returncode == 0, r.stderr
    data = json.loads(r.stdout)
    assert data["text"] == "piped text\n\nsummarise" and data["conversation_id"]
    r = llmkit("ask", "--cid", data["conversation_id"][:8], "-m", "mock:echo", "--json", "and then?")
    assert json.loads(r.stdout)["conversation_id"] == data["conversation_id"]
    r = llmkit("ask", "-c", "--no-stream", "third")  # the conversation's own model
    assert r.returncode == 0 and r.stdout == "third\n", r.stderr
    logs = json.loads(llmkit("logs", "--json", "--cid", data["conversation_id"]).stdout)
    assert [x["prompt"] for x in logs] == ["piped text\n\nsummarise", "and then?", "third"]
    assert logs[0]["model"] == "mock:echo" and logs[0]["usage"]["output_tokens"] > 0
    assert llmkit("ask", "--no-log", "-m", "mock:echo", "secret stuff").returncode == 0
    assert "secret stuff" not in llmkit("logs").stdout


def test_errors_exit_non_zero_with_a_message_and_no_traceback():
    cases = [
        (("ask", "-m", "nosuch:model", "hi"), "unknown model"),
        (("chat", "-c"), "no conversation to continue"),
        (("ask", "--cid", "ffff", "-m", "mock:echo", "hi"), "no conversation 'ffff'"),
        (("logs", "--cid", "ffff"), "no conversation 'ffff'"),
        (("config", "set", "api_key", "sk-123456789"), "keys are never stored"),
        (("config", "set", "default_modle", "x"), "Did you mean 'default_model'"),
        (("chat", "-m", "mock:nope"), "unknown mock model"),
        (("ask", "-m", "openai:x", "-o", "base_url", "http://127.0.0.1:9/v1", "-o", "timeout", '"x"', "hi"),
         "setting timeout='x' is invalid"),
        (("ask", "-m", "openai:x", "-o", "base_url", "http://127.0.0.1:9/v1", "-o", "headers", "5", "hi"),
         "setting headers=5 is invalid"),
    ]
    for args, message in cases:
        r = llmkit(*args)
        assert r.returncode != 0, args
        assert r.stderr.startswith("error: ") and message in r.stderr.splitlines()[0], (args, r.stderr)
        assert "Traceback" not in r.stderr


def test_logs_search_and_list():
    llmkit("ask", "-m", "mock:echo", "the capital of France is Paris")
    llmkit("ask", "-m", "mock:echo", "a haiku about moonlight")
    r = llmkit("logs", "-q", "moonlight")
    assert r.returncode == 0 and "a haiku about moonlight" in r.stdout and "France" not in r.stdout
    assert json.loads(llmkit("logs", "-q", "france paris", "--json").stdout)[0]["prompt"].startswith("the capital")
    assert len(json.loads(llmkit("logs", "-n", "1", "--json").stdout)) == 1
    listing = llmkit("logs", "--list").stdout.splitlines()
    assert len(listing) == 2 and "moonlight" in listing[0]
    assert llmkit("logs", "--path").stdout.strip().endswith("logs.db")


def test_config_set_and_alias_round_trip_keep_the_rest_of_the_file(isolated_home):
    isolated_home.mkdir(parents=True)
    cfg = isolated_home / "config.toml"
    cfg.write_text(
        '# my settings\n\n[providers.local]   # a server\nkind = "openai"\nbase_url = "http://127.0.0.1:9/v1"\n'
    )
    assert llmkit("config", "alias", "fast", "mock:echo").returncode == 0
    r = llmkit("config", "set", "default_model", "fast")
    assert r.returncode == 0 and r.stderr == ""
    text = cfg.read_text()
    assert text.startswith("# my settings\n") and "[providers.local]   # a server" in text
    data = json.loads(llmkit("config", "--json").stdout)
    assert data["default_model"] == "fast" and data["aliases"] == {"fast": "mock:echo"}
    assert data["effective_default_model"] == "fast"
    r = llmkit("ask", "hello default")  # no -m: the configured default
    assert r.returncode == 0 and r.stdout == "hello default\n"
    assert llmkit("config", "unset", "default_model").returncode == 0
    assert llmkit("config", "unalias", "fast").returncode == 0
    assert json.loads(llmkit("config", "--json").stdout)["aliases"] == {}
    assert "api_key" not in cfg.read_text()


def test_banner_says_which_default_model_and_why(isolated_home):
    isolated_home.mkdir(parents=True)
    (isolated_home / "config.toml").write_text('default_model = "mock:echo"\n')
    child = spawn_chat()
    banner = strip_ansi(child.before)
    assert "model mock:echo" in banner and "default_model in" in banner
    quit_chat(child)


def test_help_stays_fast_and_light():
    out = subprocess.run([sys.executable, "-c",
                          "import sys\nfrom llmkit.cli import build_parser\nbuild_parser().format_help()\n"
                          "heavy = ('torch', 'openai', 'transformers', 'rich', 'prompt_toolkit', 'sqlite3')\n"
                          "print(sorted(m for m in heavy if m in sys.modules))"],
                         capture_output=True, text=True, check=True).stdout  # fmt: skip
    assert out.strip() == "[]"
    r = llmkit("--help")
    assert all(name in r.stdout for name in ("chat", "logs", "config"))
    r = llmkit("chat", "--help")
    assert r.returncode == 0 and "--cid" in r.stdout  # its speed is measured in benchmarks/cli_help.py


def test_models_lists_locally_cached_models(tmp_path):
    (tmp_path / "hub" / "models--HuggingFaceTB--SmolLM2-135M" / "snapshots" / "abc").mkdir(parents=True)
    r = llmkit("models", "--json", env={"HF_HUB_CACHE": str(tmp_path / "hub")})
    assert r.returncode == 0, r.stderr
    local = json.loads(r.stdout)["local_models"]
    assert any(m["id"] == "hf:HuggingFaceTB/SmolLM2-135M" for m in local)


def test_keys_given_on_the_command_line_never_reach_the_history(server):
    secret = "sk-test-do-not-store-123456789"
    r = llmkit("ask", "-m", "openai:test", "-o", "api_key", secret, "-o", "base_url", server.base_url, "-t", "0", "hi")
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "Echo: hi"
    home = os.environ["LLMKIT_HOME"]
    stored = b"".join(open(os.path.join(home, f), "rb").read() for f in os.listdir(home) if f.startswith("logs.db"))
    assert b"Echo: hi" in stored and secret.encode() not in stored and server.base_url.encode() not in stored
    assert json.loads(llmkit("logs", "--json").stdout)[0]["options"] == {"temperature": 0}


def test_output_cut_by_head_is_quiet_and_the_turn_is_kept():
    numbers = "\n".join(str(i) for i in range(200_000))
    shell = f"{sys.executable} -m llmkit.cli ask -m mock:echo count | head -c 10; echo \" rc=${{PIPESTATUS[0]}}\""
    r = subprocess.run(["bash", "-c", shell], input=numbers, capture_output=True, text=True, timeout=120)
    assert r.stdout.startswith("0\n1\n2") and r.stdout.endswith(" rc=0\n"), r.stdout[-200:]  # stdin comes first
    assert r.stderr == ""
    (cid, turn), *_ = History().find_turns()
    assert turn.interrupted and 0 < len(turn.reply.text) < len(numbers)

    r = subprocess.run(["bash", "-c", f"{sys.executable} -m llmkit.cli logs | head -c 5; echo \" rc=${{PIPESTATUS[0]}}\""],
                       capture_output=True, text=True, timeout=60)  # fmt: skip
    assert r.stdout.endswith(" rc=0\n") and r.stderr == ""


def test_keys_typed_while_the_model_loads_are_sent_once_as_typed():
    """Typed before the prompt exists (the model loading): the kernel must neither echo the
    keys (they would show twice) nor turn Enter into Ctrl-J (a new line, not a send)."""
    child = pexpect.spawn(sys.executable, ["-m", "llmkit.cli", "chat", "-m", "mini", "--max-tokens", "3"],
                          env={**os.environ, "PROMPT_TOOLKIT_NO_CPR": "1", "TERM": "xterm-256color"},
                          encoding="utf-8", dimensions=(40, 120), timeout=60)  # fmt: skip
    child.expect("loading mini")  # the spinner: the chat has started, the prompt is not there yet
    child.send("typed ahead\r")
    child.expect("tok/s")  # it was sent, and answered
    shown = strip_ansi(child.before)
    assert shown.count("typed ahead") == 1  # on the prompt line only: not echoed by the kernel as well
    assert "> typed ahead" in shown
    child.expect(PROMPT)
    quit_chat(child)


class Tmux:
    """A chat in a real terminal emulator (tmux, its own server): what a user would see on
    screen, and what the scrollback keeps (`capture-pane -S -`)."""

    def __init__(self, tmp_path, command, columns=80, rows=20):
        self.base = ["tmux", "-S", str(tmp_path / "tmux.sock"), "-f", "/dev/null"]
        env = {k: os.environ[k] for k in ("LLMKIT_HOME", "LLMKIT_PLUGINS", "PATH", "HOME") if k in os.environ}
        env.update(TERM="xterm-256color", PYTHONPATH=os.pathsep.join(sys.path))
        script = " ".join(f"{k}={shlex.quote(v)}" for k, v in env.items())
        self.tmux("new-session", "-d", "-x", str(columns), "-y", str(rows),
                  f"env {script} {shlex.quote(sys.executable)} -m llmkit.cli {command}; sleep 60")  # fmt: skip
        self.tmux("set-option", "-g", "history-limit", "10000")
        self.tmp_path = tmp_path

    def tmux(self, *args):
        return subprocess.run([*self.base, *args], capture_output=True, text=True, timeout=20, check=True).stdout

    def scrollback(self):
        return self.tmux("capture-pane", "-p", "-S", "-").splitlines()

    def wait_for(self, check, what):
        deadline = time.monotonic() + 30
        while not check(lines := self.scrollback()):
            assert time.monotonic() < deadline, f"never saw {what}:\n" + "\n".join(lines)
            time.sleep(0.1)
        return lines

    def paste(self, text):
        """As a terminal pastes: bracketed (ESC[200~ ... ESC[201~), since the prompt asked for it."""
        (self.tmp_path / "paste.txt").write_text(text)
        self.tmux("load-buffer", "-b", "paste", str(self.tmp_path / "paste.txt"))
        self.tmux("paste-buffer", "-p", "-d", "-b", "paste")

    def close(self):
        subprocess.run([*self.base, "kill-server"], capture_output=True, timeout=20)


def test_a_paste_taller_than_the_terminal_stays_whole_in_the_scrollback(tmp_path):
    if shutil.which("tmux") is None:
        pytest.skip("tmux is not installed")
    term = Tmux(tmp_path, "chat -m mock:echo", columns=80, rows=20)
    try:
        term.wait_for(lambda lines: any(line.startswith("> ") or line == ">" for line in lines), "the prompt")
        pasted = [f"pasted line {i:02}" for i in range(1, 61)]  # three screens of it
        term.paste("\n".join(pasted))
        term.wait_for(lambda lines: any(line.endswith("pasted line 60") for line in lines), "the paste")
        term.tmux("send-keys", "Enter")
        lines = term.wait_for(lambda lines: any("tok/s" in line for line in lines), "the reply")
        echoed = [(i, line) for i, line in enumerate(lines) if re.fullmatch(r"[>.] pasted line \d\d", line)]
        assert [line[2:] for _, line in echoed] == pasted, "\n".join(lines)  # each line once, in order
        assert echoed[0][1] == "> pasted line 01"  # on the prompt line, the rest under it
        reply = "\n".join(lines[echoed[-1][0] + 1:])
        assert reply.startswith("pasted line 01 pasted line 02") and "tok/s" in reply  # then the reply (Markdown)
        [(_, turn)] = History().find_turns()
        assert turn.user.text == "\n".join(pasted)

        start = len(lines)  # a short paste is shown as before: once, with the prompt and continuation marks
        term.paste("short one\nshort two\nshort three")
        term.wait_for(lambda lines: any(line.endswith("short three") for line in lines[start - 2:]), "the short paste")
        term.tmux("send-keys", "Enter")
        lines = term.wait_for(lambda lines: sum("tok/s" in line for line in lines) == 2, "the second reply")
        shown = [line for line in lines if re.fullmatch(r"[>.] short \w+", line)]
        assert shown == ["> short one", ". short two", ". short three"], "\n".join(lines)
    finally:
        term.close()
