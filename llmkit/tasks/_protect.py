"""What a translation must keep unchanged, and the checks that it did.

- `segments`: a Markdown text cut into the parts a model translates and the fenced
  code blocks (``` or ~~~) it never sees, kept verbatim.
- `find_items`: the spans a model must copy unchanged: inline code, URLs and link
  targets, HTML/XML tags, printf placeholders (`%(name)s`, `%s`, `%1$d`), format
  placeholders (`{name}`, `{0}`, `{}`, `{{ var }}`, `${var}`).
- `mask` / `unmask`: those spans swapped for numbered tokens (`[1]`, `[2]`, ...) that
  a model copies more reliably than the spans themselves, and back; a token the model
  mangled lightly (`[ 1 ]`) is still recognised.
- `item_problems` / `skeleton`: the checks after translation: the same protected
  spans, as many times each, and the same Markdown structure (headings and their
  levels, list items, quotes, table rows, rules), in order.
- `blocks`: a text's structural lines with their Markdown prefix apart, for a
  translation one block at a time whose structure cannot be lost; `item_spans`: where
  the protected spans are, for a translation of the words between them.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass

__all__ = [
    "Block", "Segment", "blocks", "find_items", "item_problems", "item_spans", "mask", "skeleton", "segments",
    "unmask",
]  # fmt: skip

_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})[^\n]*$", re.M)

# ordered: the first alternative that matches at a position wins
_ITEM = re.compile(
    r"(?P<code>(`+)(?!`).*?(?<!`)\2(?!`))"  # inline code
    r"|(?P<comment><!--.*?-->)"
    r"|(?P<autolink><(?:https?|ftp|mailto):[^>\s]+>)"
    r"|(?P<target>(?<=\])\((?:[^()\s]|\([^()\s]*\))+(?:\s+\"[^\"]*\")?\))"  # a Markdown link's "(url)"
    r"|(?P<url>(?:https?|ftp)://[^\s<>\"'`]+|www\.[\w-]+\.[^\s<>\"'`]+)"
    r"|(?P<email>\b[\w.+-]+@[\w-]+\.[\w.-]*\w)"
    r"|(?P<tag></?[A-Za-z][\w:-]*(?:\s+[\w:-]+(?:\s*=\s*(?:\"[^\"]*\"|'[^']*'|[^\s\"'>]+))?)*\s*/?>)"
    r"|(?P<entity>&(?:[A-Za-z]+|#\d+|#x[0-9A-Fa-f]+);)"
    r"|(?P<printf>%\([\w.-]+\)[-#0+]*\d*(?:\.\d+)?[diouxXeEfFgGcrsa]|%\d+\$[-#0+]*\d*(?:\.\d+)?[sdif]"
    r"|%[-#0+]*\d*(?:\.\d+)?(?:l{0,2}|h)[sdifuxXeEgGcr@](?![A-Za-z])|%%)"
    r"|(?P<jinja>\{\{.*?\}\}|\{%.*?%\}|\$\{[^{}\n]*\})"
    r"|(?P<brace>\{[\w.\[\]]*(?:![rsa])?(?::[^{}\s]*)?\})",
    re.S,
)
_TRAILING = ".,;:!?)]'\""  # punctuation after a URL belongs to the sentence
_TOKEN = re.compile(r"\[\s*(\d+)\s*\]")  # a mask token, as a model may space it


@dataclass(frozen=True)
class Segment:
    """A part of the text; `translate` is False for fenced code blocks (and blank runs)."""

    text: str
    translate: bool


def segments(text: str) -> list[Segment]:
    """The text cut into translatable parts and fenced code blocks (an unclosed fence
    runs to the end, as Markdown reads it)."""
    out: list[Segment] = []
    pos = 0
    while True:
        opening = _FENCE.search(text, pos)
        if opening is None:
            break
        marker = opening.group(1)
        closing = re.compile(rf"^ {{0,3}}{re.escape(marker[0])}{{{len(marker)},}}[ \t]*$", re.M)
        end_match = closing.search(text, opening.end() + 1)
        end = len(text) if end_match is None else end_match.end()
        if end < len(text) and text[end] == "\n":
            end += 1
        _add(out, text[pos : opening.start()], True)
        _add(out, text[opening.start() : end], False)
        pos = end
    _add(out, text[pos:], True)
    return out


def _add(out: list[Segment], text: str, translate: bool) -> None:
    if not text:
        return
    translate = translate and bool(text.strip())
    if out and out[-1].translate == translate:
        out[-1] = Segment(out[-1].text + text, translate)
    else:
        out.append(Segment(text, translate))


def find_items(text: str) -> list[str]:
    """The spans of `text` a translation must keep unchanged, in order."""
    return [text[start:end] for start, end in item_spans(text)]


def item_spans(text: str) -> list[tuple[int, int]]:
    """(start, end) of each span `find_items` finds."""
    return [(m.start(), m.start() + len(_trim(m.group(0)) if m.lastgroup == "url" else m.group(0)))
            for m in _ITEM.finditer(text)]  # fmt: skip


def _trim(url: str) -> str:
    """A URL without the sentence's punctuation after it (a ")" stays when it closes
    one in the URL, as in Wikipedia's)."""
    while url and url[-1] in _TRAILING:
        if url[-1] == ")" and url.count("(") >= url.count(")"):
            break
        url = url[:-1]
    return url


def item_problems(source: str, translation: str) -> list[str]:
    """What the translation lost, added or duplicated of the source's protected spans
    (empty when they all match, each as many times)."""
    want, got = Counter(find_items(source)), Counter(find_items(translation))
    problems = []
    for item, n in want.items():
        if got[item] < n:
            problems.append(f"lost {item}" if got[item] == 0 else f"lost {n - got[item]} of {n}x {item}")
    for item, n in got.items():
        if n > want[item] and item != "%%":
            problems.append(f"added {item}" if want[item] == 0 else f"repeated {item}")
    # a mask token the model invented (or copied from an example) names no span
    stray = Counter(m.group(0) for m in _TOKEN.finditer(translation)) - Counter(
        m.group(0) for m in _TOKEN.finditer(source)
    )
    problems += [f"added {token}" for token in stray]
    return problems


# --- masking -------------------------------------------------------------------------


def mask(text: str) -> tuple[str, dict[int, str]] | None:
    """`text` with each protected span replaced by a token "[n]", and the tokens' spans;
    None when there is nothing to protect or the text already holds such tokens (the
    tokens would be ambiguous: the caller then sends the text as it is)."""
    if _TOKEN.search(text):
        return None
    spans: dict[int, str] = {}
    parts, pos = [], 0
    for start, end in item_spans(text):
        spans[len(spans) + 1] = text[start:end]
        parts += [text[pos:start], f"[{len(spans)}]"]
        pos = end
    if not spans:
        return None
    parts.append(text[pos:])
    return "".join(parts), spans


def unmask(text: str, spans: dict[int, str]) -> str:
    """The tokens in a model's reply put back to their spans; a token that names no
    span is left as it is (the item check then reports what is missing)."""
    return _TOKEN.sub(lambda m: spans.get(int(m.group(1)), m.group(0)), text)


# --- Markdown structure --------------------------------------------------------------

_PREFIX = re.compile(
    r"^(?P<indent>[ \t]*)(?:(?P<heading>#{1,6})(?:[ \t]+|$)|(?P<quote>(?:>[ \t]?)+)"
    r"|(?P<bullet>[-*+])[ \t]+(?:\[[ xX]\][ \t]+)?|(?P<number>\d{1,9})[.)][ \t]+)"
)
_RULE = re.compile(r"^[ \t]{0,3}([-*_])(?:[ \t]*\1){2,}[ \t]*$")
_SETEXT = re.compile(r"^[ \t]{0,3}(=+|-+)[ \t]*$")


def _kind(line: str) -> str:
    """A line's structural kind: "h2", "- ", "1.", ">", "|3" (a table row of 3 cells),
    "---", "" (blank), or "p" (running text)."""
    stripped = line.strip()
    if not stripped:
        return ""
    if _RULE.match(line):
        return "---"
    if stripped.startswith("|") or stripped.endswith("|"):
        return "|" + str(stripped.strip("|").count("|") + 1)
    m = _PREFIX.match(line)
    if m is None:
        return "p"
    depth = len(m.group("indent").expandtabs(4)) // 2
    if m.group("heading"):
        return f"h{len(m.group('heading'))}"
    if m.group("quote"):
        return ">" * m.group("quote").count(">")
    return "  " * depth + ("- " if m.group("bullet") else "1.")


def skeleton(text: str) -> list[str]:
    """The structure of a Markdown text as a list of line kinds, running text and blank
    runs collapsed (a model may rewrap a paragraph, not drop a heading or an item)."""
    kinds: list[str] = []
    for line in text.strip("\n").split("\n"):
        kind = _kind(line)
        if kind in ("", "p") and kinds and kinds[-1] == kind:
            continue
        kinds.append(kind)
    return kinds


@dataclass(frozen=True)
class Block:
    """Some lines of a text: `prefix` (indentation and Markdown marker of the first line)
    is kept by the caller, `body` is what is translated, `sep` is the line break and
    blank lines after it. `body` is empty for lines with nothing to translate."""

    prefix: str
    body: str
    sep: str


def blocks(text: str) -> list[Block]:
    """`text` as structural blocks: each heading, list item, quote line, table row or
    rule alone, and runs of plain lines together, so that
    `"".join(b.prefix + b.body + b.sep for b in blocks(t)) == t`."""
    out: list[Block] = []
    lines = text.split("\n")
    i = 0
    while i < len(lines):
        line, kind = lines[i], _kind(lines[i])
        j = i + 1
        if kind == "p":  # a paragraph: its following plain lines (not a setext underline)
            while j < len(lines) and _kind(lines[j]) == "p" and not _SETEXT.match(lines[j]):
                j += 1
        body = "\n".join(lines[i:j])
        prefix = ""
        if kind not in ("", "p", "---") and not kind.startswith("|"):
            m = _PREFIX.match(line)
            assert m is not None
            prefix, body = body[: m.end()], body[m.end() :]
        elif kind in ("", "---") or _SETEXT.match(line):
            prefix, body = body, ""
        k = j
        while k < len(lines) and not lines[k].strip():  # blank lines belong to the separator
            k += 1
        sep = "" if j == len(lines) else "\n".join(["", *lines[j:k]]) + ("\n" if k < len(lines) else "")
        out.append(Block(prefix, body, sep))
        i = k
    return out
