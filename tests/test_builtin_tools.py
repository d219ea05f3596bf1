"""The built-in tools are safe: arithmetic is parsed, never evaluated; file tools never
leave their folder (.., absolute paths, symlinks)."""

import datetime
import os

import pytest

from llmkit.agents.builtin import Files, ToolInputError, calculate, default_tools, now


@pytest.mark.parametrize("expression,value", [
    ("2 + 3 * 4", 14), ("(2 + 3) * 4", 20), ("2 ** 10", 1024), ("7 // 2", 3), ("7 % 4", 3), ("-3 + +1", -2),
    ("sqrt(16) + abs(-2)", 6.0), ("max(1, 5, 3)", 5), ("round(pi, 2)", 3.14), ("10 / 4", 2.5),
])  # fmt: skip
def test_arithmetic(expression, value):
    assert calculate.call({"expression": expression}) == value


@pytest.mark.parametrize("expression", [
    "__import__('os').system('echo pwned')", "open('/etc/passwd').read()", "().__class__.__bases__[0]",
    "lambda: 1", "[1, 2]", "x + 1", "'a' * 3", "True + 1", "f'{1}'", "9 ** 9 ** 9", "10 ** 200",
    "1 / 0", "sqrt(-1)", "round(1, ndigits=2)", "2 +",
])  # fmt: skip
def test_anything_but_arithmetic_is_refused_and_nothing_runs(expression, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ToolInputError):
        calculate.call({"expression": expression})
    assert not list(tmp_path.iterdir())  # nothing was written, nothing ran


def test_now_in_a_time_zone():
    stamp = datetime.datetime.fromisoformat(now.call({}))
    assert stamp.utcoffset() == datetime.timedelta(0)
    assert datetime.datetime.fromisoformat(now.call({"timezone": "Asia/Tokyo"})).utcoffset() == datetime.timedelta(hours=9)
    with pytest.raises(ToolInputError, match="time zone"):
        now.call({"timezone": "Mars/Olympus"})


@pytest.fixture
def tree(tmp_path):
    root = tmp_path / "root"
    (root / "notes").mkdir(parents=True)
    (root / "notes" / "a.md").write_text("buy milk\ncall Anna\n")
    (root / "b.txt").write_text("milk is white\n")
    (tmp_path / "secret.txt").write_text("the password is hunter2\n")
    os.symlink(tmp_path / "secret.txt", root / "link.txt")
    os.symlink(tmp_path, root / "up")
    return root


def test_file_tools_read_list_and_search_inside_their_folder(tree):
    files = Files(tree)
    assert files.read_file("notes/a.md") == "buy milk\ncall Anna\n"
    assert files.list_files() == ["b.txt", "notes/"]  # the links that leave the folder are not shown
    assert files.search_files("milk") == ["b.txt:1: milk is white", "notes/a.md:1: buy milk"]
    assert files.search_files("ANNA", "notes") == ["notes/a.md:2: call Anna"]  # any case
    with pytest.raises(ToolInputError, match="no such folder"):
        files.search_files("milk", "b.txt")


def test_search_is_literal_text_not_a_regular_expression(tree):
    (tree / "c.txt").write_text("a+b = (c)\n" + "a" * 50 + "\n")
    files = Files(tree)
    assert files.search_files("a+b = (c)") == ["c.txt:1: a+b = (c)"]
    assert files.search_files("(a+)+$") == []  # a catastrophic regex is just text here


def test_big_files_are_read_only_up_to_the_limit(tree):
    files = Files(tree)
    files.MAX_READ = 10
    (tree / "big.txt").write_text("é" * 1000)  # 2 bytes each: the cut lands inside one
    text = files.read_file("big.txt")
    assert text.startswith("é" * 5) and "cut at 10 bytes of 2000" in text and "\ufffd" not in text


def test_a_search_stops_after_its_file_budget_and_says_so(tree):
    for i in range(5):
        (tree / f"n{i}.txt").write_text("milk\n")
    files = Files(tree)
    files.MAX_SEARCHED_FILES = 3
    found = files.search_files("milk")
    assert len(found) == 4 and found[-1].startswith("[search stopped after 3 files")


@pytest.mark.parametrize("path", ["../secret.txt", "notes/../../secret.txt", "/etc/passwd", "link.txt",
                                  "up/secret.txt", "~/.bashrc"])  # fmt: skip
def test_file_tools_cannot_leave_their_folder(tree, path):
    files = Files(tree)
    with pytest.raises(ToolInputError):
        files.read_file(path)
    with pytest.raises(ToolInputError):
        files.list_files(path if not path.endswith(".txt") else "up")
    assert all("hunter2" not in m for m in files.search_files("password", "."))


def test_default_tools_with_and_without_a_folder(tree):
    import llmkit

    names = sorted(t.name for spec in default_tools(tree) for t in llmkit.agents.tools_of(spec))
    assert names == ["calculate", "list_files", "now", "read_file", "search_files"]
    assert [t.name for spec in default_tools() for t in llmkit.agents.tools_of(spec)] == ["calculate", "now"]
