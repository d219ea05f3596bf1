"""The pure parts of translation: what must be kept, masking, the checks, Markdown
structure, code fences, and language codes."""

import pytest

from llmkit.errors import TaskError
from llmkit.tasks import language_name
from llmkit.tasks._languages import resolve
from llmkit.tasks._protect import blocks, find_items, item_problems, mask, segments, skeleton, unmask


@pytest.mark.parametrize(
    "text, items",
    [
        ("Hello %(name)s, you have %d new %s", ["%(name)s", "%d", "%s"]),
        ("{0} of {total} ({pct:.1f}%) {}", ["{0}", "{total}", "{pct:.1f}", "{}"]),
        ("Hi {{ user.name }}, ${HOME} %1$s", ["{{ user.name }}", "${HOME}", "%1$s"]),
        ('Click <b>here</b> or <a href="x.html">there</a><br/>', ["<b>", "</b>", '<a href="x.html">', "</a>", "<br/>"]),
        ("Run `pip install llmkit` then ``a ` b``", ["`pip install llmkit`", "``a ` b``"]),
        ("See https://example.com/a?b=1. Or (https://x.org/y).", ["https://example.com/a?b=1", "https://x.org/y"]),
        ("Wiki https://en.wikipedia.org/wiki/Foo_(bar), ok", ["https://en.wikipedia.org/wiki/Foo_(bar)"]),
        ('[the docs](docs/index.md "Docs") and ![logo](img/a.png)', ['(docs/index.md "Docs")', "(img/a.png)"]),
        ("Mail me@example.org &amp; <!-- note -->", ["me@example.org", "&amp;", "<!-- note -->"]),
        ("100%% sure, 50% of people (see [1])", ["%%"]),
    ],
)
def test_find_items(text, items):
    assert find_items(text) == items


def test_percent_words_are_not_placeholders():
    assert find_items("50% off, 10% of them, a 5%-discount") == []


def test_item_problems_lost_added_repeated():
    assert item_problems("a %s b {0}", "x {0} y %s") == []
    assert item_problems("a %s b {0}", "x {0} y") == ["lost %s"]
    assert item_problems("a %s", "x %s %s") == ["repeated %s"]
    assert item_problems("a %s", "x %s {name}") == ["added {name}"]
    assert item_problems("%s and %s", "%s et") == ["lost 1 of 2x %s"]
    assert item_problems("%s MB", "%s Mo, [2] messages") == ["added [2]"]  # a stray mask token
    assert item_problems("see [1]", "voir [1]") == []  # a reference the source has


def test_mask_round_trip_and_lenient_tokens():
    masked, spans = mask("Hello %(name)s, see [the docs](https://x.y/z) or `ls`.")
    assert masked == "Hello [1], see [the docs][2] or [3]."
    assert spans == {1: "%(name)s", 2: "(https://x.y/z)", 3: "`ls`"}
    assert (
        unmask("Bonjour [ 1 ], voir [la doc][2] ou [3].", spans)
        == "Bonjour %(name)s, voir [la doc](https://x.y/z) ou `ls`."
    )
    assert unmask("[9] stays", spans) == "[9] stays"  # names no span: the item check reports the loss


def test_mask_refuses_ambiguous_or_empty():
    assert mask("a reference [1] and %s") is None  # the text already looks like tokens
    assert mask("nothing to protect here") is None


def test_segments_keep_fenced_code_apart():
    text = "Intro\n\n```python\nprint('%s')\n```\nMiddle ~~~ inline\n~~~~\nunclosed %s"
    parts = segments(text)
    assert "".join(p.text for p in parts) == text
    assert [(p.translate, p.text.split("\n")[0]) for p in parts] == [
        (True, "Intro"), (False, "```python"), (True, "Middle ~~~ inline"), (False, "~~~~"),
    ]  # fmt: skip


def test_segments_blank_parts_are_not_translated():
    parts = segments("```\ncode\n```\n\n\n```\nmore\n```")
    assert [p.translate for p in parts] == [False]


MARKDOWN = """# Title

Some text, wrapped
over two lines.

- item one
- item two
  1. nested

> quoted

| a | b |
|---|---|

---
"""


def test_skeleton_ignores_rewrapping_not_structure():
    assert skeleton(MARKDOWN) == ["h1", "", "p", "", "- ", "- ", "  1.", "", ">", "", "|2", "|2", "", "---"]
    rewrapped = MARKDOWN.replace("Some text, wrapped\nover two lines.", "Du texte sur une ligne.")
    assert skeleton(rewrapped) == skeleton(MARKDOWN)
    assert skeleton(MARKDOWN.replace("# Title", "Title")) != skeleton(MARKDOWN)
    assert skeleton(MARKDOWN.replace("- item two\n", "")) != skeleton(MARKDOWN)
    assert skeleton(MARKDOWN.replace("# Title", "## Title")) != skeleton(MARKDOWN)


def test_blocks_rebuild_the_text_and_hold_prefixes_apart():
    parts = blocks(MARKDOWN)
    assert "".join(b.prefix + b.body + b.sep for b in parts) == MARKDOWN
    assert [(b.prefix, b.body) for b in parts if b.body][:5] == [
        ("# ", "Title"), ("", "Some text, wrapped\nover two lines."), ("- ", "item one"), ("- ", "item two"),
        ("  1. ", "nested"),
    ]  # fmt: skip
    assert any(b.prefix == "---" and b.body == "" for b in parts)


@pytest.mark.parametrize(
    "code, tag, name",
    [("fr", "fr", "French"), ("FR", "fr", "French"), ("pt_BR", "pt-BR", "Portuguese (Brazil)"),
     ("zh-hant", "zh-Hant", "Chinese (Traditional)"), ("deu", "de", "German"), ("French", "fr", "French"),
     ("es-419", "es-419", "Spanish (Latin America)"), ("sr-Latn", "sr-Latn", "Serbian (Latin script)")],
)  # fmt: skip
def test_language_codes(code, tag, name):
    assert resolve(code) == (tag, name)
    assert language_name(code) == name


def test_unknown_language_lists_the_closest():
    with pytest.raises(TaskError, match=r"unknown language code 'fe'; closest: fr \(French\)"):
        language_name("fe")
    with pytest.raises(TaskError, match=r"closest: fr \(French\)"):
        language_name("Frnech")
    with pytest.raises(TaskError, match="a language must be a code"):
        language_name("")
