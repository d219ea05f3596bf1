"""Post-processing of code completions, as editors do it: the model's raw output is cut
to what belongs at the cursor, and never repeats what already follows it.

Each rule is a pure function of the raw output and the text around the cursor, and
`postprocess` applies them in order, returning the kept text and the names of the
rules that changed something (reported on the result, so that a cut is never silent):

- "special": special-token spellings a model wrote out as text are removed.
- "scope": the output is cut to the scope of the cursor. `line`: the rest of the line
  (after a blank cursor line, its first non-blank line); `block`: up to where the
  indentation falls back below the block's (a closing bracket line at the opener's
  indentation is kept).
- "suffix": text the suffix already holds is cut: from the first output line that is
  the suffix's next line, and an output tail that is the start of the suffix.
- "brackets": a closing bracket that closes what the suffix closes (`foo(` + `x)` +
  suffix `)`) ends the output before it.
- "loop": a line repeated three times or more in a row keeps one copy; a line whose
  words loop (`a, b, b, b, b`) is dropped with what follows.
- "blank": blank or whitespace-only output becomes "".

`heal_prefix` / `unheal` are text-level token healing for plain continuation: the
prompt ends before the prefix's trailing whitespace (a prompt ending in "\\n    " is a
token boundary no tokenizer makes before code), and the output's re-created whitespace
is taken off again.
"""

from __future__ import annotations

import re
from collections.abc import Callable

__all__ = [
    "balance_brackets", "drop_degenerate", "end_of_block", "heal_prefix", "indent_of", "postprocess", "remove_suffix_overlap",
    "scope_at", "strip_specials", "trim_to_scope", "unheal",
]  # fmt: skip

_OPENERS = {"(": ")", "[": "]", "{": "}"}
_CLOSERS = {v: k for k, v in _OPENERS.items()}
# special tokens that chat and FIM models sometimes write out as text
_SPECIALS = re.compile(
    r"<\|(?:endoftext|fim_prefix|fim_suffix|fim_middle|fim_pad|file_sep|repo_name|im_end|im_start|eot_id)\|>"
    r"|<(?:fim_prefix|fim_suffix|fim_middle|file_sep|reponame|filename|gh_stars|jupyter_\w+)>"
    r"|<｜fim▁(?:begin|hole|end)｜>|<｜end▁of▁sentence｜>|<EOT>|</s>"
)
# what ends a line that opens a block: Python's ":", braces, Ruby/Lua/shell keywords
_OPENS_BLOCK = re.compile(r"(?::|\{|\(|\[|=>|\bdo|\bthen|\belse)\s*(?:#.*|//.*)?$")
_CLOSING_LINE = re.compile(r"^\s*(?:[}\])]|end\b|fi\b|done\b|esac\b)")
_WORD_LOOP = re.compile(r"(.{3,}?)\1{3,}")


def indent_of(line: str) -> int:
    """Columns of leading whitespace (a tab counts as 4)."""
    n = 0
    for ch in line:
        if ch == " ":
            n += 1
        elif ch == "\t":
            n += 4
        else:
            break
    return n


def _cursor_line(prefix: str) -> str:
    return prefix[prefix.rfind("\n") + 1 :]


def _rest_of_line(suffix: str) -> str:
    end = suffix.find("\n")
    return suffix if end < 0 else suffix[:end]


def _nonblank(lines: list[str]) -> list[str]:
    return [line for line in lines if line.strip()]


def scope_at(prefix: str, suffix: str) -> str:
    """ "line" or "block": what an editor completes at this cursor. A block where the
    cursor ends a block opener, or sits on a blank line whose block has no body yet
    (nothing after it, or what follows is not indented deeper than the opener);
    elsewhere the line."""
    before, after = _cursor_line(prefix), _rest_of_line(suffix)
    if after.strip():
        return "line"  # in the middle of a line
    if before.strip():
        return "block" if _OPENS_BLOCK.search(before.rstrip()) else "line"
    if not suffix.strip():
        return "block"  # nothing after the cursor: the code ends here
    above = _nonblank(prefix.split("\n")[:-1])
    below = _nonblank(suffix.split("\n"))
    if above and _OPENS_BLOCK.search(above[-1].rstrip()):
        return "block" if indent_of(below[0]) <= indent_of(above[-1]) else "line"
    return "block" if indent_of(below[0]) < indent_of(before) else "line"


def heal_prefix(prefix: str) -> tuple[str, str]:
    """(prompt, whitespace): the prefix without its trailing whitespace, which the
    model then re-creates in its own tokens; a prefix that is all whitespace stays."""
    kept = prefix.rstrip()
    if not kept:
        return prefix, ""
    return kept, prefix[len(kept) :]


def unheal(output: str, whitespace: str) -> str:
    """The output without the whitespace `heal_prefix` took from the prompt: the text
    as it goes at the cursor. Code a model put on the line the cursor had left goes at
    the cursor; a model that indented less keeps the cursor's own indentation."""
    if not whitespace:
        return output
    if output.startswith(whitespace):
        return output[len(whitespace) :]
    lead = output[: len(output) - len(output.lstrip())]
    if whitespace.startswith(lead):  # it wrote less of it: the cursor's own whitespace stays
        return output[len(lead) :]
    if "\n" not in whitespace:
        return output.lstrip(" \t")
    if "\n" not in lead:  # it went on with the line the cursor had left: its code goes at the cursor
        return output.lstrip(" \t")
    body = output[lead.rfind("\n") + 1 :]  # other line breaks or indentation: its text from the line start
    indent = whitespace[whitespace.rfind("\n") + 1 :]
    return body[len(indent) :] if body.startswith(indent) else body.lstrip(" \t")


def strip_specials(text: str) -> str:
    """The text up to the first special-token spelling (what follows one is not code)."""
    m = _SPECIALS.search(text)
    return text if m is None else text[: m.start()]


def trim_to_scope(text: str, prefix: str, scope: str) -> str:
    """The output cut to the cursor's line or block (see the module docstring)."""
    before = _cursor_line(prefix)
    lines = text.split("\n")
    if scope == "line":
        if before.strip():
            return lines[0]
        for line in lines:  # a blank cursor line: its first non-blank line
            if line.strip():
                return line
        return ""
    first = before + lines[0]
    # the cursor ends a block opener: the block ends where the indentation comes back to it
    opener = bool(before.strip()) and bool(_OPENS_BLOCK.search(first.rstrip()))
    kept = [lines[0]]
    base: int | None = indent_of(first) if first.strip() else None
    for line in lines[1:]:
        if not line.strip():
            kept.append(line)
            continue
        if base is None:
            base = indent_of(line)
            kept.append(line)
            continue
        level = indent_of(line)
        if opener and level <= base or not opener and level < base:
            if opener and level == base and _CLOSING_LINE.match(line):
                kept.append(line)  # the opener's own closing bracket ends the block
            break
        kept.append(line)
    while len(kept) > 1 and not kept[-1].strip():
        kept.pop()
    return "\n".join(kept)


def remove_suffix_overlap(text: str, suffix: str) -> str:
    """The output without what the suffix already holds (see the module docstring)."""
    following = [line.strip() for line in _nonblank(suffix.split("\n"))]
    if following and text.strip():
        lines = text.split("\n")
        for i, line in enumerate(lines):
            if line.strip() != following[0]:
                continue
            rest = [x.strip() for x in _nonblank(lines[i + 1 :])]
            long_enough = len(following[0]) >= 8
            next_matches = len(following) > 1 and bool(rest) and rest[0] == following[1]
            if long_enough or next_matches or not rest:
                text = "\n".join(lines[:i])
                if i == 0:
                    return ""
                break
    start = suffix.lstrip(" \t")
    tail = text.rstrip()
    for k in range(min(len(tail), len(start)), 0, -1):
        piece = start[:k]
        if tail.endswith(piece) and piece.strip():
            solid = len(piece.replace(" ", "").replace("\n", ""))
            if solid >= 3 or not any(c in piece for c in "()[]{}") or k == len(tail):
                return tail[: len(tail) - k]
            break
    return text


class _Scanner:
    """Brackets outside strings and comments, one character at a time; knows Python's
    and C's comment and string syntax well enough for this."""

    def __init__(self, hash_comments: bool = True) -> None:
        self.hash = hash_comments
        self.quote = ""  # the open string's delimiter
        self.comment = ""  # "#", "//" or "/*"

    def brackets(self, text: str) -> list[tuple[int, str]]:
        out: list[tuple[int, str]] = []
        i, n = 0, len(text)
        while i < n:
            ch = text[i]
            if self.comment:
                if self.comment == "/*" and text.startswith("*/", i):
                    self.comment, i = "", i + 2
                    continue
                if self.comment != "/*" and ch == "\n":
                    self.comment = ""
                i += 1
                continue
            if self.quote:
                if ch == "\\":
                    i += 2
                    continue
                if text.startswith(self.quote, i):
                    i += len(self.quote)
                    self.quote = ""
                    continue
                if ch == "\n" and len(self.quote) == 1 and self.quote != "`":
                    self.quote = ""  # an unclosed one-line string ends with its line
                i += 1
                continue
            if ch in "\"'`":
                triple = text[i : i + 3]
                self.quote = triple if triple in ('"""', "'''") else ch
                i += len(self.quote)
                continue
            if ch == "#" and self.hash:
                self.comment = "#"
            elif text.startswith("//", i):
                self.comment = "//"
            elif text.startswith("/*", i):
                self.comment = "/*"
            elif ch in _OPENERS or ch in _CLOSERS:
                out.append((i, ch))
            i += 1
        return out


def _open_stack(prefix: str, hash_comments: bool) -> tuple[list[str], _Scanner]:
    scanner = _Scanner(hash_comments)
    stack: list[str] = []
    for _, ch in scanner.brackets(prefix):
        if ch in _OPENERS:
            stack.append(ch)
        elif stack and stack[-1] == _CLOSERS[ch]:
            stack.pop()
    return stack, scanner


def balance_brackets(text: str, prefix: str, suffix: str, language: str | None = None) -> str:
    """The output ended before a closing bracket that the suffix supplies, or that
    closes nothing open (see the module docstring). Skipped inside a string or comment."""
    hash_comments = language not in ("javascript", "typescript", "c", "cpp", "java", "go", "rust", "csharp")
    stack, scanner = _open_stack(prefix, hash_comments)
    if scanner.quote or scanner.comment:
        return text
    closed_by_suffix, local = 0, []
    for _, ch in _Scanner(hash_comments).brackets(suffix):
        if ch in _OPENERS:
            local.append(ch)
        elif local:
            local.pop()
        elif closed_by_suffix < len(stack):
            closed_by_suffix += 1
    allowed = len(stack) - closed_by_suffix
    local, closed = [], 0
    for pos, ch in _Scanner(hash_comments).brackets(text):
        if ch in _OPENERS:
            local.append(ch)
            continue
        if local:
            if local[-1] != _CLOSERS[ch]:
                return text[:pos].rstrip(" \t")  # a mismatched closer: the code went wrong here
            local.pop()
            continue
        target = stack[len(stack) - 1 - closed] if closed < len(stack) else None
        if closed >= allowed or target != _CLOSERS[ch]:
            return text[:pos].rstrip(" \t")
        closed += 1
    return text


def drop_degenerate(text: str) -> tuple[str, str | None]:
    """(text, rule): blank output becomes "" ("blank"); a looping one is cut ("loop")."""
    if not text.strip():
        return "", "blank" if text else None
    lines = text.split("\n")
    for i, line in enumerate(lines):
        m = _WORD_LOOP.search(line)
        if m and sum(c.isalnum() for c in m.group(1)) >= 3:
            kept = "\n".join(lines[:i]).rstrip()
            return kept, "loop"
        for period in (1, 2, 3):
            block = lines[i : i + period]
            if not any(x.strip() for x in block) or i + 3 * period > len(lines):
                continue
            if all(lines[i + k * period : i + (k + 1) * period] == block for k in range(1, 3)):
                kept = "\n".join(lines[: i + period])
                return kept, "loop"
    return text, None


def _ends_line(text: str, prefix: str, suffix: str, ended: bool) -> str:
    """A whole line inserted before an existing one ends with its line break, where the
    model ended it; a completion that runs into the cursor line's own end does not."""
    if not text:
        return text
    if not _cursor_line(prefix).strip() and _rest_of_line(suffix).strip():
        return text.rstrip("\n") + "\n" if ended else text
    return text.rstrip("\n") if not _rest_of_line(suffix).strip() and suffix.startswith("\n") else text


def postprocess(raw: str, prefix: str, suffix: str, scope: str, language: str | None = None) -> tuple[str, list[str]]:
    """(text, rules): `raw` cut by each rule in turn; `rules` names those that changed it."""
    rules: list[str] = []
    text = raw

    def apply(name: str, new: str) -> None:
        nonlocal text
        if new != text:
            rules.append(name)
            text = new

    apply("special", strip_specials(text))
    whole = text
    apply("scope", trim_to_scope(text, prefix, scope))
    at = whole.find(text.rstrip("\n")) if text.strip() else -1
    ended = at >= 0 and whole[at + len(text.rstrip("\n")) :].startswith("\n")  # the model ended the line
    apply("suffix", remove_suffix_overlap(text, suffix))
    apply("brackets", balance_brackets(text, prefix, suffix, language))
    cleaned, rule = drop_degenerate(text)
    if rule is not None:
        apply(rule, cleaned)
    text = text.rstrip(" \t") if "\n" not in text else text
    if text.strip():
        text = _ends_line(text, prefix, suffix, ended)
    else:
        text = ""
    return text, rules


def end_of_block(prefix: str) -> Callable[[str], int | None]:
    """For a model continuing `prefix` as it streams: `check(text so far)` is where the
    continuation ends, the block `prefix` opens (or is in) being over, as `trim_to_scope`
    sees it, once the first line past the block has begun; None while the block goes on.
    Used for completion models, so that `def f(n):` gets one function, not a window full."""

    def check(text: str) -> int | None:
        kept = trim_to_scope(text, prefix, "block")
        return len(kept) if len(kept) < len(text) and text[len(kept) :].strip() else None

    return check
