"""The message writer: cleaning what models write, and large diffs split so that every
prompt, with its answer, fits the model's context window."""

import re

import pytest
from commit_fixtures import *  # noqa: F403  (the fixtures; a conftest.py would clash across plugins)
from llmkit_commit.git import Staged
from llmkit_commit.writer import MAX_PARTS, clean_message, split_files, split_hunks, write_message

import llmkit
from llmkit.errors import TaskError, UsageError


@pytest.mark.parametrize("raw, expected", [
    ("Add a parser\n\nIt reads TOML.", "Add a parser\n\nIt reads TOML."),
    ("```\nAdd a parser\n\nIt reads TOML.\n```", "Add a parser\n\nIt reads TOML."),
    ("```text\nAdd a parser\n```", "Add a parser"),
    ("~~~\nAdd a parser\n~~~", "Add a parser"),
    ("Here is the commit message:\n\n```\nAdd a parser\n\nIt reads TOML.\n```\nHope this helps!",
     "Add a parser\n\nIt reads TOML."),
    ("Here's a commit message for your changes:\nAdd a parser", "Add a parser"),
    ("Commit message:\nAdd a parser", "Add a parser"),
    ('"Add a parser"', "Add a parser"),
    ("'Add a parser'", "Add a parser"),
    ("\u201cAdd a parser\u201d", "Add a parser"),
    ("`Add a parser`", "Add a parser"),
    ('"""\nAdd a parser\n\nBody.\n"""', "Add a parser\n\nBody."),
    ("# Add a parser\n\nBody.", "Add a parser\n\nBody."),
    ("**Add a parser**\n\nBody.", "Add a parser\n\nBody."),
    ("Subject: Add a parser\n\nBody: \nIt reads TOML.", "Add a parser\n\nIt reads TOML."),
    ("Add a parser.\nIt reads TOML.", "Add a parser\n\nIt reads TOML."),  # a blank line after the subject
    ("Add a parser\n\n\n\nBody.\r\n", "Add a parser\n\nBody."),
    ("Add a parser...", "Add a parser..."),
    ("   ", ""),
    ("```\n```", ""),
    # quotes of the message's own words are kept (they used to be stripped from both ends)
    ("`parse()` now returns `None`", "`parse()` now returns `None`"),
    ('"foo" is renamed to "bar"\n\nBody.', '"foo" is renamed to "bar"\n\nBody.'),
    ("'a' and 'b' are swapped", "'a' and 'b' are swapped"),
    ("'Don't retry on 404'", "Don't retry on 404"),
    ('"Add a parser\n\nIt reads "TOML" files."', 'Add a parser\n\nIt reads "TOML" files.'),
])
def test_clean_message(raw, expected):
    assert clean_message(raw) == expected


def scripted(respond, window=None):
    """A mock client whose answers come from respond(prompt_text, options); calls are kept."""
    calls = []

    def answer(messages, options):
        calls.append((messages, options))
        return respond(messages[-1].text, options)

    settings = {"context_window": window} if window else {}
    client = llmkit.Client("mock", responses=answer, **settings)
    return client, calls


def fake_diff(files, hunks=1, lines=3, width=6):
    """A diff in git's shape: `files` files, each with `hunks` hunks of `lines` added lines."""
    out = []
    for f in range(files):
        out.append(f"diff --git a/src/mod{f}.py b/src/mod{f}.py\nindex 1111111..2222222 100644\n"
                   f"--- a/src/mod{f}.py\n+++ b/src/mod{f}.py\n")
        for h in range(hunks):
            out.append(f"@@ -{h * 10 + 1},1 +{h * 10 + 1},{lines} @@ def f{h}():\n")
            for i in range(lines):
                out.append(f"+    value_{f}_{h}_{i} = " + " + ".join(f"w{i}x{j}" for j in range(width)) + "\n")
    return "".join(out)


def stat_of(diff):
    names = re.findall(r"^\+\+\+ b/(.*)$", diff, re.M)
    return "".join(f"{n} (+3 -0)\n" for n in names) + f"{len(names)} files changed\n"


def check_every_call_fits(client, calls, window):
    assert calls
    for messages, options in calls:
        prompt = client.count_tokens(messages)
        assert prompt + options["max_tokens"] <= window, (prompt, options["max_tokens"])


def test_split_files_and_hunks():
    diff = fake_diff(3, hunks=2)
    sections = split_files(diff)
    assert len(sections) == 3 and "".join(sections) == diff
    header, hunks = split_hunks(sections[1])
    assert header.startswith("diff --git a/src/mod1.py") and header.endswith("+++ b/src/mod1.py\n")
    assert len(hunks) == 2 and all(h.startswith("@@") for h in hunks)
    assert header + "".join(hunks) == sections[1]


def test_a_small_diff_takes_one_call():
    diff = fake_diff(1)
    client, calls = scripted(lambda prompt, options: "Add value helpers\n\nThey compute sums.")
    assert write_message(client, Staged(diff, stat_of(diff))) == "Add value helpers\n\nThey compute sums."
    assert len(calls) == 1
    prompt = calls[0][0][-1].text
    assert diff in prompt and "72 characters" in prompt
    assert calls[0][0][0].role == "system"


@pytest.mark.parametrize("shape", ["many files", "one file, many hunks", "one huge hunk", "one huge line"])
def test_a_large_diff_is_chunked_and_every_prompt_fits_the_window(shape):
    window = 600
    if shape == "many files":
        diff = fake_diff(30)
    elif shape == "one file, many hunks":
        diff = fake_diff(1, hunks=25)
    elif shape == "one huge hunk":
        diff = fake_diff(1, lines=200)
    else:
        diff = fake_diff(1, lines=1, width=2000)
    seen = []

    def respond(prompt, options):
        if prompt.startswith("This is part"):
            seen.append(prompt)
            files = sorted(set(re.findall(r"src/mod\d+\.py", prompt)))
            return "- change " + ", ".join(files)
        if prompt.startswith("These are summaries"):  # a round of merging, when the summaries are many
            return "- " + "; ".join(sorted(set(re.findall(r"src/mod\d+\.py", prompt))))
        assert prompt.startswith("Write a git commit message for a change whose staged diff was too long")
        assert "Summaries of the parts:" in prompt and "files changed" in prompt
        return "Add value helpers across modules\n\nEach module gets its values."

    client, calls = scripted(respond, window=window)
    message = write_message(client, Staged(diff, stat_of(diff)))
    assert message == "Add value helpers across modules\n\nEach module gets its values."
    # parts (a line longer than a part is cut: one part), then the message
    assert len(seen) >= (1 if shape == "one huge line" else 2) and len(calls) > len(seen)
    check_every_call_fits(client, calls, window)
    # every part says which file it is from, and nothing of the diff was dropped on the way
    assert all("diff --git a/src/mod" in p for p in seen)
    added = re.findall(r"^\+    value_\S+", diff, re.M)
    read = "".join(seen)
    if shape == "one huge line":
        assert "[line cut]" in read
    else:
        assert all(line in read for line in added)
    if shape == "one file, many hunks":
        assert all(p.count("@@") >= 2 for p in seen)  # whole hunks, several to a part


@pytest.mark.parametrize("window", [500, 255])  # 255: the bundled mini model's window
def test_too_many_summaries_are_merged_before_the_message(window):
    diff = fake_diff(30)
    kinds = []

    def respond(prompt, options):
        if prompt.startswith("This is part"):
            kinds.append("part")
            return "- " + " ".join(["a long summary that says a great deal about this part"] * 3)
        if prompt.startswith("These are summaries"):
            kinds.append("merge")
            return "- merged"
        kinds.append("final")
        return "Rework the modules"

    client, calls = scripted(respond, window=window)
    assert write_message(client, Staged(diff, stat_of(diff))) == "Rework the modules"
    assert "merge" in kinds and kinds[-1] == "final" and kinds.count("final") == 1
    check_every_call_fits(client, calls, window)


def test_at_most_max_parts_are_read(monkeypatch):
    import llmkit_commit.writer as writer

    monkeypatch.setattr(writer, "MAX_PARTS", 3)
    diff = fake_diff(40, lines=6)
    notes = []
    client, calls = scripted(lambda p, o: "- part" if p.startswith("This is part") else "Change many modules", 400)
    assert write_message(client, Staged(diff, stat_of(diff)), progress=notes.append) == "Change many modules"
    assert len(calls) == 4
    assert "Only the first 3 of its" in calls[-1][0][-1].text
    assert any("reading the first 3" in n for n in notes)
    assert MAX_PARTS == 40


def test_a_window_too_small_is_a_clear_error():
    diff = fake_diff(5)
    client, calls = scripted(lambda p, o: "x", window=120)
    with pytest.raises(UsageError, match="too small a context window"):
        write_message(client, Staged(diff, stat_of(diff)))
    assert calls == []


def test_a_long_subject_is_asked_again_then_cut():
    long = "Add " + "a very long subject line " * 5
    answers = iter([long + "\n\nBody.", "Add a short subject\n\nBody."])
    client, calls = scripted(lambda p, o: next(answers))
    diff = fake_diff(1)
    assert write_message(client, Staged(diff, stat_of(diff))) == "Add a short subject\n\nBody."
    assert len(calls) == 2 and "the limit is 72" in calls[1][0][-1].text

    client, calls = scripted(lambda p, o: long + "\n\nBody.")  # it cannot: the subject is cut at a word
    message = write_message(client, Staged(diff, stat_of(diff)))
    subject = message.split("\n")[0]
    assert len(subject) <= 72 and long.startswith(subject) and not subject.endswith(" ")
    assert message.endswith("\n\nBody.")


def test_an_empty_answer_is_an_error():
    client, _ = scripted(lambda p, o: "```\n```")
    diff = fake_diff(1)
    with pytest.raises(TaskError, match="wrote no commit message"):
        write_message(client, Staged(diff, stat_of(diff)))
