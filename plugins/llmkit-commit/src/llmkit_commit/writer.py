"""Writing a commit message from a staged diff, with any model, whatever the diff's size.

    message = write_message(llmkit.Client("mock:echo"), staged)

Design: a diff that fits the model's window (with room for the answer) goes to the model
whole, in one call. A larger one is split on its natural seams, per file, then per hunk
(the file's header repeated, so each part says which file it is), then by lines, and a
line longer than a part is cut, marked. The pieces are packed into as few parts as fit,
each part is summarised in a few bullet points, and one message is written from the
summaries and the list of changed files (which names every file, read or not); summaries
too many for one prompt are merged in rounds first (each cut to fit). Every prompt is
counted with the model's own `count_tokens` before it is sent, and sent with `max_tokens`
set to the room left for the answer, so prompt + answer fit `context_window()` (8192
tokens when the model does not say; under 2048 the rules for the message are one
sentence, so that a small model keeps room for the diff). At most MAX_PARTS parts are
read; the rest is named by the file list alone.

What the model writes is cleaned (`clean_message`): a code fence, quotes or a preamble
around the message are taken off, a Markdown heading or bold subject made plain, a blank
line put after the subject. A subject over 72 characters is sent back once to be
shortened, then cut at a word.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from llmkit.errors import TaskError, UsageError
from llmkit.types import Message, system, user

from .git import Staged

__all__ = ["write_message", "clean_message", "split_files", "split_hunks", "Budget", "MAX_SUBJECT",
           "DEFAULT_WINDOW", "MAX_PARTS"]  # fmt: skip

MAX_SUBJECT = 72
DEFAULT_WINDOW = 8192  # for a model that does not say its context window
ANSWER_TOKENS = 400  # room kept for each answer (a quarter of the window at most)
MAX_PARTS = 40  # parts of one diff read at most: more is a vendored tree, not a change to describe
MIN_ROOM = 40  # a window with less room than this for the diff cannot do the job

SYSTEM = "You write clear, accurate git commit messages from diffs."
RULES = f"""Rules:
- The first line is a summary in the imperative mood ("Add ...", "Fix ...", "Rename ..."), at most {MAX_SUBJECT} characters, with no period at the end.
- Then one blank line, then a short body (lines of at most 72 characters) saying what changed and why, where that is not plain from the summary. A trivial change needs no body.
- Describe only what the changes show; do not invent reasons.
- Reply with the commit message alone: no quotes, no code fences, no introduction."""
# for a model with a small window (under SHORT_RULES_BELOW tokens), where RULES would take most of it
SHORT_RULES = (f"Reply with the commit message alone: a summary line in the imperative, at most {MAX_SUBJECT} "
               "characters, then a blank line and a short body.")  # fmt: skip
SHORT_RULES_BELOW = 2048


def _direct_prompt(diff: str, rules: str = RULES) -> str:
    return f"Write a git commit message for this staged diff.\n\n{rules}\n\nThe staged diff:\n{diff}"


def _part_prompt(i: int, n: int, text: str) -> str:
    return (f"This is part {i} of {n} of a staged git diff. Summarise what this part changes in at most 5 short "
            "bullet points: which files, what changed, and why where the diff shows it. Reply with the bullet "
            f"points alone.\n\n{text}")  # fmt: skip


def _merge_prompt(text: str) -> str:
    return ("These are summaries of parts of one change to a code base. Merge them into at most 8 short bullet "
            f"points that keep what matters most. Reply with the bullet points alone.\n\n{text}")  # fmt: skip


def _final_prompt(stat: str, summaries: str, note: str, rules: str = RULES) -> str:
    return (f"Write a git commit message for a change whose staged diff was too long to show whole: each part of "
            f"it was summarised.{note}\n\n{rules}\n\nChanged files (lines added and removed):\n{stat}\n\n"
            f"Summaries of the parts:\n{summaries}")  # fmt: skip


def _shorten_prompt(message: str, length: int) -> str:
    return (f"The first line of this commit message has {length} characters; the limit is {MAX_SUBJECT}. Rewrite "
            f"the first line to at most {MAX_SUBJECT} characters, keeping its meaning, and keep the rest as it is. "
            f"Reply with the whole message alone.\n\n{message}")  # fmt: skip


# --- splitting a diff --------------------------------------------------------------------------------


def split_files(diff: str) -> list[str]:
    """The diff's per-file sections ("diff --git ..." up to the next one)."""
    starts = [m.start() for m in re.finditer(r"^diff --git ", diff, re.M)]
    if not starts or starts[0] != 0:
        starts = [0, *starts]
    return [diff[a:b] for a, b in zip(starts, [*starts[1:], len(diff)], strict=True) if diff[a:b].strip()]


def split_hunks(section: str) -> tuple[str, list[str]]:
    """(header, hunks) of one file's section; a hunk starts at its "@@" line."""
    starts = [m.start() for m in re.finditer(r"^@@", section, re.M)]
    if not starts:
        return section, []
    return section[: starts[0]], [section[a:b] for a, b in zip(starts, [*starts[1:], len(section)], strict=True)]


@dataclass
class Budget:
    """How many tokens a model has for a prompt: `window` minus `answer` (max_tokens)."""

    window: int
    answer: int

    @property
    def prompt(self) -> int:
        return self.window - self.answer


class _Writer:
    def __init__(self, client: Any, progress: Callable[[str], None] | None) -> None:
        self.client = client
        self.progress = progress or (lambda text: None)
        window = client.context_window() or DEFAULT_WINDOW
        self.budget = Budget(window, max(16, min(ANSWER_TOKENS, window // 4)))
        self.rules = RULES if window >= SHORT_RULES_BELOW else SHORT_RULES
        self._counts: dict[str, int] = {}

    # -- counting --
    def count(self, text: str) -> int:
        n = self._counts.get(text)
        if n is None:
            n = int(self.client.count_tokens(text))
            if len(self._counts) < 100_000:
                self._counts[text] = n
        return n

    def messages(self, prompt: str) -> list[Message]:
        return [system(SYSTEM), user(prompt)]

    def prompt_tokens(self, prompt: str) -> int:
        return int(self.client.count_tokens(self.messages(prompt)))

    def fits(self, prompt: str) -> bool:
        return self.prompt_tokens(prompt) <= self.budget.prompt

    def room(self, template: Callable[[str], str]) -> int:
        """Tokens left for the text put into `template` (with a margin for how pieces join)."""
        overhead = self.prompt_tokens(template(""))
        return self.budget.prompt - overhead - max(8, self.budget.window // 50)

    def ask(self, prompt: str) -> str:
        response = self.client.chat(self.messages(prompt), max_tokens=self.budget.answer)
        return (response.text or "").strip()

    # -- pieces of a diff, each within `room` tokens --
    def pieces(self, diff: str, room: int) -> list[str]:
        out: list[str] = []
        for section in split_files(diff):
            if self.count(section) <= room:
                out.append(section)
                continue
            header, hunks = split_hunks(section)
            if self.count(header) > room // 2:  # a giant header (a binary patch, a huge mode list): its first line
                header = header.splitlines(keepends=True)[0] if header else ""
                header = self._cut_line(header, room // 2)
            if not hunks:
                out.extend(self._by_lines(header, "", section[len(header):] or section, room))
                continue
            for hunk in hunks:
                text = header + hunk
                if self.count(text) <= room:
                    out.append(text)
                else:
                    at, _, body = hunk.partition("\n")
                    out.extend(self._by_lines(header, at + "\n", body, room))
        return out

    def _by_lines(self, header: str, at: str, body: str, room: int) -> list[str]:
        """A hunk too big for one piece, in runs of whole lines (each run under the header)."""
        lead = header + at
        space = room - self.count(lead) - 4
        if space < 8:
            lead, space = at[:200], room - self.count(at[:200]) - 4
        out: list[str] = []
        run: list[str] = []
        used = 0
        for line in body.splitlines(keepends=True):
            n = self.count(line)
            if n > space:
                line = self._cut_line(line, space)
                n = self.count(line)
            if run and used + n > space:
                out.append(lead + "".join(run))
                run, used = [], 0
            run.append(line)
            used += n
        if run:
            out.append(lead + "".join(run))
        return out

    def _cut_line(self, line: str, tokens: int) -> str:
        """The start of a line that alone is over `tokens`, marked as cut."""
        mark = " [line cut]\n"
        keep = len(line)
        while keep > 1 and self.count(line[:keep] + mark) > tokens:
            keep = int(keep * max(0.1, min(0.9, tokens / max(1, self.count(line[:keep] + mark)))))
        return line[:keep].rstrip("\n") + mark

    def pack(self, pieces: list[str], room: int) -> list[str]:
        """The pieces joined into as few parts as fit in `room` tokens, in order."""
        parts: list[str] = []
        run: list[str] = []
        used = 0
        for piece in pieces:
            n = self.count(piece) + 1
            if run and used + n > room:
                parts.append("\n".join(run))
                run, used = [], 0
            run.append(piece)
            used += n
        if run:
            parts.append("\n".join(run))
        return parts

    # -- the message --
    def write(self, staged: Staged) -> str:
        direct = _direct_prompt(staged.diff, self.rules)
        if len(staged.diff) <= 8 * self.budget.window and self.fits(direct):
            return self.ask(direct)
        room = self.room(lambda text: _part_prompt(99, 99, text))
        final_room = self.room(lambda text: _final_prompt("", text, " " * 200, self.rules))
        if min(room, final_room) < MIN_ROOM:
            raise UsageError(f"{self.client.model} has too small a context window ({self.budget.window} tokens) "
                             "to read a diff", hint="Use a model with a larger context window (-m MODEL).")  # fmt: skip
        parts = self._parts(staged.diff, room)
        note = ""
        if len(parts) > MAX_PARTS:
            self.progress(f"the diff has {len(parts)} parts: reading the first {MAX_PARTS}; "
                          "the file list names the rest")  # fmt: skip
            note = f" Only the first {MAX_PARTS} of its {len(parts)} parts were read; the file list has all files."
            parts = parts[:MAX_PARTS]
        if staged.cut:
            note += " The diff was cut at 20 MB."
        summaries = []
        for i, part in enumerate(parts, 1):
            self.progress(f"reading part {i} of {len(parts)} of the diff")
            summaries.append(self.ask(_part_prompt(i, len(parts), part)))
        return self._final(staged.stat, summaries, note)

    def _parts(self, diff: str, room: int) -> list[str]:
        """Parts whose prompt fits (counted again whole: joining may cost a few tokens)."""
        for _ in range(6):
            parts = self.pack(self.pieces(diff, room), room)
            if all(self.fits(_part_prompt(len(parts), len(parts), p)) for p in parts):
                return parts
            room = int(room * 0.8)
        raise UsageError(f"cannot split the diff into parts that fit {self.client.model}'s window",
                         hint="Use a model with a larger context window (-m MODEL).")  # fmt: skip

    def _final(self, stat: str, summaries: list[str], note: str) -> str:
        stat = self._short_stat(stat, max(MIN_ROOM // 2, self.room(lambda text: _final_prompt("", text, note, self.rules)) // 3))
        for _ in range(12):
            text = "\n\n".join(f"Part {i}:\n{s}" for i, s in enumerate(summaries, 1))
            prompt = _final_prompt(stat, text, note, self.rules)
            if self.fits(prompt):
                return self.ask(prompt)
            if len(summaries) == 1:  # one summary still too long: its start, as much as fits
                over = self.prompt_tokens(prompt) - self.budget.prompt
                size = self.count(summaries[0])
                if over >= size:
                    break
                summaries = [self._shorter(summaries[0], size - over - 8)]
                continue
            # too many summaries for one prompt: merge them in groups of two or more, then try again
            room = self.room(_merge_prompt)
            cap = max(8, room // 2 - 2)
            summaries = [self._shorter(s, cap) for s in summaries]
            groups = self.pack(summaries, room)
            self.progress(f"merging {len(summaries)} summaries into {len(groups)}")
            summaries = [self.ask(_merge_prompt(g)) if self.fits(_merge_prompt(g)) else self._shorter(g, cap)
                         for g in groups]  # fmt: skip
        raise UsageError(f"the summaries of the diff do not fit {self.client.model}'s window",
                         hint="Use a model with a larger context window (-m MODEL), or commit in smaller steps.")  # fmt: skip

    def _shorter(self, text: str, tokens: int) -> str:
        """`text`, or its start ending in "..." when it is over `tokens`."""
        if self.count(text) <= tokens:
            return text
        return self._cut_line(text, tokens).removesuffix(" [line cut]\n") + " ..."

    def _short_stat(self, stat: str, tokens: int) -> str:
        if self.count(stat) <= tokens:
            return stat
        lines = stat.rstrip("\n").splitlines()
        total, files = lines[-1:], lines[:-1]
        kept: list[str] = []
        used = self.count("".join(total)) + 10
        for line in files:
            used += self.count(line) + 1
            if used > tokens:
                break
            kept.append(line)
        return "\n".join([*kept, f" ... and {len(files) - len(kept)} more files", *total]) + "\n"

    def shorten(self, message: str) -> str:
        subject = message.split("\n", 1)[0]
        if len(subject) <= MAX_SUBJECT:
            return message
        prompt = _shorten_prompt(message, len(subject))
        if self.fits(prompt):
            self.progress(f"the subject line has {len(subject)} characters: asking for a shorter one")
            again = clean_message(self.ask(prompt))
            if again and len(again.split("\n", 1)[0]) <= MAX_SUBJECT:
                return again
        return _cut_subject(message)


def _cut_subject(message: str) -> str:
    subject, _, body = message.partition("\n")
    cut = subject[: MAX_SUBJECT + 1]
    cut = cut[: cut.rfind(" ")] if " " in cut[20:] else subject[:MAX_SUBJECT]
    cut = cut.rstrip(" ,;:-.")
    return cut + ("\n" + body if body else "")


# --- cleaning what the model wrote --------------------------------------------------------------------

_FENCE = re.compile(r"^(`{3,}|~{3,})[^\n]*\n(.*?)\n\1[ \t]*$", re.M | re.S)
_PREAMBLE = re.compile(r"^(?:here(?:'s| is)\b.*|(?:suggested |proposed )?commit message\b.*|sure\b.*):\s*$", re.I)
_QUOTES = {'"': '"', "'": "'", "`": "`", "\u201c": "\u201d", "\u2018": "\u2019"}


def _unwrap(text: str) -> str:
    """`text` without quotes that wrap all of it ("...", '''...''', `...`); quotes that only
    open its first word and close its last (`foo` is now `bar`: one closes on the first line)
    are the message's own."""
    for _ in range(2):
        if len(text) < 2 or text[0] not in _QUOTES:
            return text
        opening, closing = text[0], _QUOTES[text[0]]
        for width in (3, 1):
            lead, tail = opening * width, closing * width
            inner = text[width:-width] if len(text) > 2 * width else ""
            if text.startswith(lead) and text.endswith(tail) and inner and not _closes_inside(inner.split("\n", 1)[0], closing):
                text = inner.strip()
                break
        else:
            return text
    return text


def _closes_inside(inner: str, closing: str) -> bool:
    """Whether a quote closes inside `inner` (one followed by other than a letter or digit:
    the apostrophe of "don't" does not close)."""
    return any(not (inner[i + 1 : i + 2] or " ").isalnum() for i, ch in enumerate(inner) if ch == closing)


def clean_message(text: str) -> str:
    """A commit message as git wants it, from what a model wrote around it.

    >>> clean_message('Here is the commit message:\\n```\\nAdd a parser\\nIt reads TOML.\\n```')
    'Add a parser\\n\\nIt reads TOML.'
    >>> clean_message('"Fix the off-by-one in paging."')
    'Fix the off-by-one in paging'
    """
    text = text.replace("\r\n", "\n").strip()
    fenced = _FENCE.search(text)
    if fenced:
        text = fenced.group(2).strip()
    lines = text.split("\n")
    while len(lines) > 1 and _PREAMBLE.match(lines[0].strip()):
        lines = lines[1:]
    text = _unwrap("\n".join(lines).strip())
    lines = [line.rstrip() for line in text.split("\n")]
    if not lines or not lines[0].strip():
        return ""
    subject = re.sub(r"^#+\s+", "", lines[0].strip())  # a Markdown heading
    subject = re.sub(r"^(?:subject|summary|title)\s*:\s*", "", subject, flags=re.I)
    if subject.startswith("**") and subject.endswith("**"):
        subject = subject[2:-2].strip()
    subject = _unwrap(subject)
    if subject.endswith(".") and not subject.endswith(".."):
        subject = subject[:-1]
    body = lines[1:]
    while body and not body[0].strip():
        body = body[1:]
    if body and re.match(r"^(?:body|description)\s*:\s*$", body[0].strip(), re.I):
        body = body[1:]
    out = subject + ("\n\n" + "\n".join(body) if body else "")
    return re.sub(r"\n{3,}", "\n\n", out).strip()


def write_message(client: Any, staged: Staged, progress: Callable[[str], None] | None = None) -> str:
    """The commit message `client` writes for the staged changes (cleaned, subject <= 72)."""
    writer = _Writer(client, progress)
    message = clean_message(writer.write(staged))
    if not message:
        raise TaskError(f"{client.model} wrote no commit message", hint="Try again, or try another model (-m MODEL).")
    return writer.shorten(message)

