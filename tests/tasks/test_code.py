"""Code tasks: completion by FIM, prefix continuation and a hole-filling chat prompt,
with the editor rules and window fitting; generation and translation with a syntax
check and re-asks; the `llmkit complete` command; the example."""

from __future__ import annotations

import argparse
import io
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from task_doubles import scripted

import llmkit
from llmkit.cli import complete as complete_cli
from llmkit.errors import NotFoundError, TaskError, UsageError
from llmkit.tasks import CodeCompletion, CodeResult, complete_code, complete_code_batch, generate_code, translate_code
from llmkit.tasks._code_check import check_code, extract_code, guess_language
from llmkit.tasks._code_fit import fit_context
from llmkit.tasks.code import HOLE

NO_FIM = {"capabilities": {"fill_in_the_middle": False}}
CHAT_ONLY = {"capabilities": {"completion": False, "fill_in_the_middle": False}}
PREFIX = "def total(xs):\n    result = 0\n    for x in xs:\n"
SUFFIX = "    return result\n"
EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


# --- strategies ----------------------------------------------------------------------


def test_fim_sends_prefix_and_suffix_and_cuts_to_the_line():
    client = scripted("        result += x\n    return result\n")
    c = complete_code(PREFIX, SUFFIX, "python", client)
    assert (c.strategy, c.scope, c.language) == ("fim", "line", "python")
    assert c.text == "        result += x\n"  # the suffix's line is not repeated
    kind, prompt, options = client.backend.calls[0]
    assert (kind, prompt, options["suffix"]) == ("complete", PREFIX, SUFFIX)
    assert c.context == (4, 2) and c.raw.endswith("return result\n") and c.rules == ["scope"]


def test_prefix_strategy_heals_trailing_whitespace_and_stops_at_the_block_end():
    client = scripted("\n    return a + b\n\ndef other():\n    pass\n", **NO_FIM)
    c = complete_code("def add(a, b):\n    ", model=client)
    assert (c.strategy, c.scope) == ("prefix", "block")
    assert client.backend.calls[0][1] == "def add(a, b):"  # the prompt ends before "\n    "
    assert "suffix" not in client.backend.calls[0][2]
    assert c.text == "return a + b" and "scope" in c.rules


def test_prefix_strategy_never_repeats_the_suffix():
    client = scripted("\n        result += x\n    return result\n\nprint(total([1]))", **NO_FIM)
    c = complete_code(PREFIX, SUFFIX, model=client)
    assert c.strategy == "prefix" and c.text == "        result += x\n"


def test_chat_strategy_fills_the_hole_and_indents_for_the_cursor():
    client = scripted("Here you go:\n```python\nresult += x\n```", **CHAT_ONLY)
    c = complete_code(PREFIX, SUFFIX, "python", client)
    assert c.strategy == "chat"
    prompt = client.backend.calls[0][1][-1].text
    assert f"    for x in xs:\n{HOLE}    return result" in prompt and "```py" in prompt
    assert c.text == "        result += x\n"  # indented for the loop's body


def test_chat_answer_that_echoes_the_context_is_cut_to_the_hole():
    echoed = "```python\ndef total(xs):\n    result = 0\n    for x in xs:\n        result += x\n    return result\n```"
    c = complete_code(PREFIX, SUFFIX, "python", scripted(echoed, **CHAT_ONLY))
    assert c.text == "        result += x\n"


def test_chat_answer_that_rewrites_the_function_starts_at_its_first_new_line():
    rewrite = "```python\ndef total(xs):\n    acc = sum(xs)\n    return acc\n```"
    c = complete_code(PREFIX, SUFFIX, "python", scripted(rewrite, **CHAT_ONLY))
    assert c.text == "        acc = sum(xs)\n"  # not the copied `def` line


def test_a_refused_completion_request_falls_back_to_chat():
    client = scripted(NotFoundError("no completions for this model"), "```python\nresult += x\n```")
    c = complete_code(PREFIX, SUFFIX, "python", client)
    assert c.strategy == "chat" and c.text.strip() == "result += x"
    assert [call[0] for call in client.backend.calls] == ["complete", "chat"]
    with pytest.raises(NotFoundError):  # asked for fim explicitly: no silent change of strategy
        complete_code(PREFIX, SUFFIX, model=scripted(NotFoundError("no")), strategy="fim")


def test_a_strategy_the_model_lacks_is_a_clear_error():
    with pytest.raises(TaskError, match="no fill-in-the-middle"):
        complete_code(PREFIX, SUFFIX, model=scripted("x", **NO_FIM), strategy="fim")
    with pytest.raises(TaskError, match="does not complete plain text"):
        complete_code(PREFIX, model=scripted("x", **CHAT_ONLY), strategy="prefix")
    with pytest.raises(TaskError, match="unknown completion strategy"):
        complete_code(PREFIX, model="mock:echo", strategy="magic")
    with pytest.raises(TaskError, match="unknown completion scope"):
        complete_code(PREFIX, model="mock:echo", scope="file")


# --- post-processing through the task ----------------------------------------------------


@pytest.mark.parametrize(
    ("output", "prefix", "suffix", "text", "rule"),
    [
        ("x)", "print(", ")\n", "x", "brackets"),
        ("a, b) + 1", "f(", ") + 1\n", "a, b", "suffix"),
        ("   \n  ", "x = ", "\n", "", "blank"),
        ("e, end_width, end_width, end_width, end_width", "w = ", "\n", "", "loop"),
        ("1<|endoftext|>x = 2", "n = ", "\n", "1", "special"),
        ("    return result\n", PREFIX, SUFFIX, "", "suffix"),  # only the suffix again: nothing
    ],
)
def test_each_rule_on_scripted_output(output, prefix, suffix, text, rule):
    c = complete_code(prefix, suffix, model=scripted(output))
    assert c.text == text and rule in c.rules and c.raw.strip() == output.strip()


def test_postprocess_off_gives_the_output_as_it_came():
    c = complete_code("print(", ")\n", model=scripted("x)\nmore"), postprocess=False)
    assert c.text == "x)\nmore" and c.rules == []


# --- the context window --------------------------------------------------------------


def test_long_context_is_fitted_in_whole_lines_nearest_the_cursor():
    client = scripted("        result += x\n", context_window=120)
    long_prefix = "".join(f"def f{i}(x):\n    return x + {i}\n" for i in range(100)) + PREFIX
    long_suffix = SUFFIX + "".join(f"def g{i}():\n    pass\n" for i in range(100))
    c = complete_code(long_prefix, long_suffix, model=client)
    prompt, suffix = client.backend.calls[0][1], client.backend.calls[0][2]["suffix"]
    assert long_prefix.endswith(prompt) and long_prefix[: -len(prompt)].endswith("\n")  # starts at a line start
    assert long_suffix.startswith(suffix) and long_suffix[len(suffix)] == "\n"
    assert prompt.endswith(PREFIX) and suffix.startswith(SUFFIX.rstrip("\n"))  # the nearest lines are kept
    sent = int(client.count_tokens(prompt)) + int(client.count_tokens(suffix))
    assert sent + client.backend.calls[0][2]["max_tokens"] <= 120
    assert c.context == (prompt.count("\n") + 1, suffix.count("\n") + 1)


def test_fit_context_cuts_an_overlong_line_at_words():
    count = len  # one token a character
    before, after = fit_context("x" * 10 + "\n" + "a b c d e f", "g h i\nj", 8, count)
    assert before == "d e f" and after == "g h"  # the words nearest the cursor
    before, after = fit_context("ab\ncd", "ef\ngh", 100, count)
    assert (before, after) == ("ab\ncd", "ef\ngh")


def test_a_window_too_small_for_any_context_is_a_clear_error():
    with pytest.raises(TaskError, match="context window"):
        complete_code(PREFIX, SUFFIX, model=scripted("x", context_window=40), max_tokens=30)


# --- bad input and batches -------------------------------------------------------------


def test_bad_input_is_a_clear_error():
    with pytest.raises(TaskError, match="no code around the cursor"):
        complete_code("", "  \n", model="mock:echo")
    with pytest.raises(TaskError, match="bytes"):
        complete_code(b"def f():", model="mock:echo")  # type: ignore[arg-type]
    with pytest.raises(TaskError, match="binary"):
        complete_code("x = 1\x00\x01", model="mock:echo")
    with pytest.raises(TaskError, match="unknown language 'pyhton'") as info:
        complete_code("x = ", language="pyhton", model="mock:echo")
    assert "Did you mean 'python'" in info.value.hint and "javascript" in info.value.hint


def test_batch_gives_results_in_order_with_per_item_errors():
    client = scripted("1", "2")
    out = complete_code_batch(["a = ", ("", ""), ("b = ", "\nprint(b)\n")], model=client, concurrency=1)
    assert isinstance(out[0], CodeCompletion) and out[0].text == "1"
    assert isinstance(out[1], TaskError) and out[1].item == 1
    assert isinstance(out[2], CodeCompletion) and out[2].text == "2" and out[2].strategy == "fim"
    with pytest.raises(TaskError, match="list"):
        complete_code_batch("a = ", model="mock:echo")  # type: ignore[arg-type]


# --- local models ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def mini():
    client = llmkit.Client("mini", threads=1)
    yield client
    client.close()


def test_mini_fills_in_the_middle(mini):
    c = complete_code(PREFIX, SUFFIX, "python", mini)
    assert c.strategy == "fim" and c.context == (4, 2) and isinstance(c.text, str)
    assert c.raw[:1].isspace()  # healed: the middle starts a line, not the rest of a word


def test_mini_fits_a_long_file_into_its_window(mini):
    long_prefix = "".join(f"def f{i}(x):\n    return x * {i}\n\n" for i in range(150)) + PREFIX
    long_suffix = SUFFIX + "".join(f"\ndef g{i}(y):\n    return y - {i}\n" for i in range(150))
    assert int(mini.count_tokens(long_prefix)) > 4 * mini.context_window()
    c = complete_code(long_prefix, long_suffix, "python", mini)
    assert c.strategy == "fim" and 4 <= c.context[0] < long_prefix.count("\n") and 2 <= c.context[1]
    out = complete_code_batch([(long_prefix, long_suffix), long_prefix], "python", mini)
    assert [r.strategy for r in out] == ["fim", "prefix"]  # type: ignore[union-attr]


def test_tiny_hf_continues_the_prefix(tiny_hf):
    assert not tiny_hf.capabilities.fill_in_the_middle
    out = complete_code_batch([(PREFIX, SUFFIX), "x = ", ("def f():\n", "")], "python", tiny_hf, max_tokens=8)
    assert all(isinstance(r, CodeCompletion) and r.strategy == "prefix" for r in out), out
    assert all(SUFFIX.strip() not in r.text for r in out)  # type: ignore[union-attr]


@pytest.mark.slow
def test_smollm2_completes_a_loop_body(smollm2):
    prefix = "def count_vowels(s):\n    n = 0\n    for ch in s:\n        if ch in 'aeiou':\n"
    c = complete_code(prefix, "    return n\n", "python", smollm2)
    assert c.strategy == "prefix" and c.scope == "line"
    assert c.text.strip() and "\n" not in c.text.rstrip("\n") and "return n" not in c.text
    assert c.text.startswith(" " * 8)  # the body of the `if`, at the cursor's line


# --- generation and translation ------------------------------------------------------------

GOOD = "Sure:\n```python\ndef is_even(n):\n    return n % 2 == 0\n```\nDone."


def test_generate_code_extracts_and_checks():
    client = scripted(GOOD)
    r = generate_code("is_even(n)", model=client)
    assert isinstance(r, CodeResult) and r.code == "def is_even(n):\n    return n % 2 == 0\n"
    assert (r.language, r.check.tool, r.check.ok, r.attempts) == ("python", "python ast", True, 1)


def test_a_reply_without_code_is_re_asked_then_an_error():
    r = generate_code("is_even(n)", model=scripted("I would write a function.", GOOD))
    assert r.check.ok and r.code.startswith("def is_even")
    with pytest.raises(TaskError, match="no code") as info:
        generate_code("is_even(n)", model=scripted("No.", "Still no."))
    assert info.value.output == "Still no."


def test_a_syntax_error_is_re_asked_once_with_the_error_then_reported():
    client = scripted("```python\ndef f(:\n    pass\n```", GOOD)
    r = generate_code("f", model=client)
    assert r.check.ok is True and r.attempts == 2
    assert "does not parse" in client.backend.calls[1][1][-1].text and "line 1" in client.backend.calls[1][1][-1].text
    r = generate_code("f", model=scripted("```python\ndef f(:\n```", "```python\nif x\n```"))
    assert r.check.ok is False and r.attempts == 2 and r.code == "if x\n" and "line 1" in r.check.message


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")
def test_translate_to_javascript_is_checked_with_node():
    client = scripted("```js\nfunction isEven(n) {\n  return n % 2 === 0;\n}\n```")
    r = translate_code("def is_even(n):\n    return n % 2 == 0\n", "javascript", model=client)
    assert (r.check.tool, r.check.ok, r.source, r.language) == ("node --check", True, "python", "javascript")
    assert "this Python code to JavaScript" in client.backend.calls[0][1][-1].text
    bad = scripted("```javascript\nfunction f( {\n```", "```javascript\nfunction f( {\n```")
    r = translate_code("def f(): pass", "js", model=bad)
    assert r.check.ok is False and "SyntaxError" in r.check.message and r.attempts == 2


def test_translate_without_a_checker_says_so(monkeypatch):
    r = translate_code("x = 1", "kotlin", model=scripted("```kotlin\nval x = 1\n```"))
    assert r.check.ok is None and "no syntax checker for Kotlin" in r.check.message
    monkeypatch.setattr(shutil, "which", lambda name: None)
    r = translate_code("x = 1", "go", model=scripted("```go\nvar x = 1\n```"))
    assert r.check.ok is None and r.check.message == "no checker for Go installed (gofmt not found)"


def test_translate_bad_languages_are_clear_errors():
    with pytest.raises(TaskError, match="unknown target language 'klingon'") as info:
        translate_code("x = 1", "klingon", model="mock:echo")
    assert "python, javascript" in info.value.hint
    with pytest.raises(TaskError, match="already Python"):
        translate_code("x = 1", "python", source="py", model="mock:echo")
    with pytest.raises(TaskError, match="non-empty text"):
        translate_code("  ", "js", model="mock:echo")
    with pytest.raises(TaskError, match="description is empty"):
        generate_code(" ", model="mock:echo")


def test_extract_and_check_helpers():
    assert extract_code("```js\na()\n```\n```python\nb()\n```", "python") == "b()\n"  # the block in the language
    assert extract_code("```\nc()\n", "python") == "c()\n"  # an unterminated fence (cut by max_tokens)
    assert extract_code("print(1)", "python") == "print(1)\n"  # bare code that parses
    with pytest.raises(ValueError, match="no code"):
        extract_code("hello world", "python")
    assert guess_language('#include <stdio.h>\nint main() { printf("x"); }') == "c"
    assert guess_language("const x = () => 1;") == "javascript"
    assert guess_language("def f():\n    return 1\n") == "python"
    assert check_code("echo 'unterminated", "bash").ok is (False if shutil.which("bash") else None)
    if shutil.which("gcc"):
        assert check_code("int main(void) { return 0; }\n", "c").ok is True
        failed = check_code("int main(void) { return 0 }\n", "c")
        assert failed.ok is False and "<code>.c" in failed.message and "/tmp" not in failed.message


# --- the command ---------------------------------------------------------------------------


def run_cli(argv, capsys, stdin: bytes | None = None, monkeypatch=None):
    p = argparse.ArgumentParser()
    complete_cli.add_arguments(p)
    args = p.parse_args(argv)
    if stdin is not None:
        fake = io.TextIOWrapper(io.BytesIO(stdin))
        fake.isatty = lambda: False  # type: ignore[method-assign]
        monkeypatch.setattr(sys, "stdin", fake)
    code = complete_cli.run(args)
    out = capsys.readouterr()
    return code, out.out, out.err


def mock_args(*answers):
    return ["-m", "mock", "-o", "responses", json.dumps(list(answers))]


def test_cli_completes_at_file_line(tmp_path, capsys):
    f = tmp_path / "m.py"
    f.write_text("def inc(x):\n    return \n\nprint(inc(1))\n")
    code, out, _ = run_cli([f"{f}:2", *mock_args("x + 1\nmore stuff")], capsys)
    assert code == 0 and out == "x + 1\n"
    code, out, _ = run_cli([f"{f}:2:5", "--json", *mock_args("return x + 1")], capsys)
    data = json.loads(out)
    assert data["strategy"] == "fim" and data["language"] == "python" and data["text"] == "return x + 1"


def test_cli_cursor_positions():
    text = "ab\ncd\n"
    assert complete_cli.cursor_of(text, 1, None, "f") == 2  # the end of line 1
    assert complete_cli.cursor_of(text, 2, 1, "f") == 3  # before "c"
    assert complete_cli.cursor_of(text, 3, None, "f") == 6  # the empty line after the last newline
    with pytest.raises(UsageError, match="line 4 is beyond the end of f"):
        complete_cli.cursor_of(text, 4, None, "f")
    with pytest.raises(UsageError, match="column 4 is outside line 1"):
        complete_cli.cursor_of(text, 1, 4, "f")


def test_cli_bad_files_are_clear_errors(tmp_path, capsys):
    binary = tmp_path / "b.bin"
    binary.write_bytes(b"\x7fELF\x00\x00")
    with pytest.raises(UsageError, match="binary"):
        run_cli([f"{binary}:1", "-m", "mock:echo"], capsys)
    f = tmp_path / "a.py"
    f.write_text("x = 1\n")
    with pytest.raises(UsageError, match="line 9 is beyond"):
        run_cli([f"{f}:9", "-m", "mock:echo"], capsys)
    with pytest.raises(UsageError, match="cannot read"):
        run_cli([str(tmp_path / "missing.py:3"), "-m", "mock:echo"], capsys)
    (tmp_path / "empty.py").write_text("\n\n")
    with pytest.raises(UsageError, match="no code"):
        run_cli([str(tmp_path / "empty.py"), "-m", "mock:echo"], capsys)


def test_cli_reads_the_prefix_from_stdin(capsys, monkeypatch):
    code, out, _ = run_cli(["-l", "python", *mock_args("\n    return 0\n\nx = 1")], capsys, b"def zero():\n    ",
                           monkeypatch)  # fmt: skip
    assert code == 0 and out == "return 0\n"
    code, out, err = run_cli(mock_args("   "), capsys, b"y = ", monkeypatch)
    assert code == 0 and out == "" and "no completion" in err and "blank" in err


# --- the example ---------------------------------------------------------------------------


def test_example_runs():
    r = subprocess.run([sys.executable, str(EXAMPLES / "tasks_code.py")], capture_output=True, text=True,
                       timeout=300, env=os.environ.copy())  # fmt: skip
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0].startswith("complete: strategy=fim scope=line context=(4, 2)")
    sent = int(lines[2].split(", ")[1].split()[0])
    assert lines[2].startswith("long file: 603 lines before the cursor") and 3 <= sent < 100
    assert "generate: python ast ok=True attempts=1" in lines
    if shutil.which("node"):
        assert "translate: node --check ok=True attempts=2" in lines
