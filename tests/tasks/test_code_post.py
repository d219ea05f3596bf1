"""The editor rules of code completion, one pure function at a time (no model)."""

from __future__ import annotations

import pytest

from llmkit.tasks._code_post import (
    balance_brackets,
    drop_degenerate,
    heal_prefix,
    postprocess,
    remove_suffix_overlap,
    scope_at,
    strip_specials,
    trim_to_scope,
    unheal,
)

BODY = "def f(xs):\n    total = 0\n"


@pytest.mark.parametrize(
    ("prefix", "suffix", "scope"),
    [
        ("x = foo(", "a)\n", "line"),  # mid-line
        ("    return ", "\n", "line"),  # the end of a typed line
        ("def f(x):", "\n", "block"),  # the end of a block opener
        ("for x in y:", "", "block"),
        (BODY + "    ", "", "block"),  # nothing after the cursor
        (BODY, "    return total\n", "line"),  # a line before an existing one
        ("def f(x):\n    ", "\n\ndef g():\n    pass\n", "block"),  # a body not written yet
        ("def f(x):\n    ", "\n    return x\n", "line"),  # the body goes on below
        ("if (a) {\n  ", "\n}\n", "block"),
        ("def f():\n    x = 1\n    ", "\ndef g():\n", "block"),  # the block ends after the cursor
    ],
)
def test_scope_at(prefix, suffix, scope):
    assert scope_at(prefix, suffix) == scope


def test_heal_prefix_takes_trailing_whitespace():
    assert heal_prefix("def f():\n    ") == ("def f():", "\n    ")
    assert heal_prefix("x = 1") == ("x = 1", "")
    assert heal_prefix("   ") == ("   ", "")  # nothing but whitespace: nothing to heal


@pytest.mark.parametrize(
    ("output", "whitespace", "text"),
    [
        ("\n    return 1", "\n    ", "return 1"),  # re-created exactly
        ("\n        return 1", "\n    ", "    return 1"),  # deeper: the extra indentation stays
        ("\n  return 1", "\n    ", "return 1"),  # shallower: the cursor's own indentation stays
        (" return 1\nelse:", "\n    ", "return 1\nelse:"),  # on the opener's line: its code at the cursor
        ("\n\n    return 1", "\n    ", "return 1"),  # a blank line first
        ("\treturn 1", "\n    ", "return 1"),
        (" 1", " ", "1"),
        ("1", " ", "1"),
        ("abc", "", "abc"),
    ],
)
def test_unheal(output, whitespace, text):
    assert unheal(output, whitespace) == text


def test_strip_specials():
    assert strip_specials("x = 1<|endoftext|>junk") == "x = 1"
    assert strip_specials("y<fim_middle>z") == "y"
    assert strip_specials("z = 2<｜fim▁end｜>") == "z = 2"
    assert strip_specials("a < b and c > d") == "a < b and c > d"  # comparisons are not tokens


def test_trim_line_scope():
    assert trim_to_scope("x + 1\ny = 2", "total = ", "line") == "x + 1"
    assert trim_to_scope("\n\n    return total\n    y", BODY, "line") == "    return total"  # first non-blank
    assert trim_to_scope("\n\n", BODY, "line") == ""


def test_trim_block_stops_at_dedent():
    out = "return a + b\n\ndef other():\n    pass\n"
    assert trim_to_scope(out, "def add(a, b):\n    ", "block") == "return a + b"
    out = "for x in xs:\n        total += x\n    return total\n\nprint(f([1]))"
    assert trim_to_scope(out, BODY + "    ", "block") == "for x in xs:\n        total += x\n    return total"


def test_trim_block_after_an_opener_keeps_its_body_and_closing_brace():
    out = "\n    return 1\n\ndef g():\n    return 2"
    assert trim_to_scope(out, "def f():", "block") == "\n    return 1"
    js = "\n  return a + b;\n}\n\nfunction g() {}"
    assert trim_to_scope(js, "function add(a, b) {", "block") == "\n  return a + b;\n}"


@pytest.mark.parametrize(
    ("text", "suffix", "kept"),
    [
        ("    total += x\n    return total", "    return total\n", "    total += x"),  # the suffix's next line
        ("    return total", "    return total\n", ""),  # only the suffix again
        ("x = 1\ny = 2", "\n", "x = 1\ny = 2"),  # nothing in common
        ("a, b) + 1", ") + 1\n", "a, b"),  # the tail is the start of the suffix
        ("foo();", ";\n", "foo()"),  # one punctuation mark, no bracket
        ("len(x)", ")\n", "len(x)"),  # a bracket alone: the bracket rule decides
        ("    i += 1\n    }", "}\n", "    i += 1"),  # a short line at the end of the output
        ("    x = 1\n    }\n    y = 2", "}\nmore()\n", "    x = 1\n    }\n    y = 2"),  # short, not confirmed
    ],
)
def test_remove_suffix_overlap(text, suffix, kept):
    assert remove_suffix_overlap(text, suffix) == kept


@pytest.mark.parametrize(
    ("text", "prefix", "suffix", "kept"),
    [
        ("x)", "print(", ")\n", "x"),  # the suffix closes it
        ("len(x)", "print(", ")\n", "len(x)"),  # its own brackets
        ("x))", "print(len(", "\n", "x))"),  # the suffix closes nothing: the output may
        ("a, b]", "xs = [", "]\n", "a, b"),
        ("1, 2}", "d = {", "\n", "1, 2}"),
        ("x]", "f(", "\n", "x"),  # a closer that matches nothing open
        ("x) + (y", "f(", ")\n", "x"),
        ("'(' + s)", "f(", ")\n", "'(' + s"),  # brackets in strings do not count
        ("1)", '"""doc (a"""\nf(', ")\n", "1"),  # nor those in a docstring
        ("foo)", "# (\ns = '(", "", "foo)"),  # the cursor inside a string: left alone
    ],
)
def test_balance_brackets(text, prefix, suffix, kept):
    assert balance_brackets(text, prefix, suffix) == kept


def test_balance_brackets_c_comments():
    assert balance_brackets("x)", "/* ( */ f(", ")\n", "c") == "x"
    assert balance_brackets("x) // )", "f(", ");\n", "javascript") == "x"


def test_drop_degenerate():
    assert drop_degenerate("   \n\t") == ("", "blank")
    assert drop_degenerate("") == ("", None)
    assert drop_degenerate("x = 1") == ("x = 1", None)
    assert drop_degenerate("a\nb\nb\nb\nb") == ("a\nb", "loop")  # one copy of the repeated line
    assert drop_degenerate("f()\ng()\nf()\ng()\nf()\ng()") == ("f()\ng()", "loop")
    assert drop_degenerate("e, end_width, end_width, end_width, end_width") == ("", "loop")
    assert drop_degenerate("xs = [0, 0, 0, 0, 0, 0]") == ("xs = [0, 0, 0, 0, 0, 0]", None)  # short units are code
    assert drop_degenerate("# ----------------") == ("# ----------------", None)


def test_postprocess_reports_each_rule():
    text, rules = postprocess("x)<|endoftext|>", "print(", ")\n", "line")
    assert (text, rules) == ("x", ["special", "brackets"])
    text, rules = postprocess("   ", "x = ", "\n", "line")
    assert (text, rules) == ("", ["blank"])
    text, rules = postprocess("return total", BODY + "    ", "", "block")
    assert (text, rules) == ("return total", [])


def test_postprocess_line_before_an_existing_line_ends_with_a_break():
    # the hole is a whole line before "    return total": the insertion ends its line
    text, _ = postprocess("    total = sum(xs)\n    return total\n", "def f(xs):\n", "    return total\n", "line")
    assert text == "    total = sum(xs)\n"
    text, _ = postprocess("1\n", "x = ", "\nprint(x)\n", "line")
    assert text == "1"  # the suffix brings the line break
