"""Translation that keeps what must not change, and says when it could not.

    >>> from llmkit import tasks
    >>> tasks.translate("Hello, %(name)s!", to="fr", model=...).text  # doctest: +SKIP
    'Bonjour, %(name)s !'

How a text is translated:
1. Fenced code blocks are cut out and kept verbatim: the model never sees them.
2. The rest is cut at paragraphs into chunks that fit the model's window by its own
   token counts (`_text.client_split`); a chunk of a longer text is sent with the
   end of the text before it and the start of the text after it, as context only.
3. In each chunk, the spans that must survive (inline code, URLs, link targets, HTML
   tags, placeholders such as `%(name)s`, `{0}`, `%s`) are swapped for numbered
   tokens `[1]`, `[2]` ("mask", the default), or sent as they are ("verify": the
   checks below still apply). The prompt (`_translation_prompt`) is a chat with two
   short demonstrations as earlier turns, temperature 0. Measured on SmolLM2-135M,
   Django's catalogs (llmkit/tasks/evals/translation.py), first replies only:
   masking kept all placeholders in 5 of 8 strings against 3 of 8 sent as they are,
   and the demonstrations raised chrF from 21 to 30. With the retries below, all
   30 of 30 placeholder strings kept them (the naive prompt: 5 of 30).
4. The reply, stripped of a preamble the model added ("Here is the translation:"),
   is checked: the same protected spans, each as many times; the same Markdown
   structure (headings, list items, quotes, table rows); glossary terms present; not
   cut off, not far longer than the source, not the source itself.
5. A chunk that fails is asked again in the same chat, told what was wrong, with the
   text in the other protection mode (the same prompt at temperature 0 would give the
   same answer). If it still fails and has several blocks, each block (heading, list
   item, paragraph) is translated alone, its Markdown marker kept by llmkit. If
   placeholders are still lost, the words between them are translated run by run and
   the spans put back by llmkit: they cannot be lost, but the word order may suffer,
   so that is reported. Whatever is left is kept as the best attempt and listed in
   `issues`. Nothing is dropped silently.

`source=None` tells the model to detect the language; `Translation.source` is then
"auto" (detecting it would cost another request).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace

from ..client import Client
from ..errors import LLMKitError, TaskError
from ..types import Message, assistant, user
from ._core import Chat, Task, run_many, run_one, using
from ._languages import language_name, resolve
from ._protect import blocks, item_problems, item_spans, mask, segments, skeleton, unmask
from ._text import budget, check_text, client_split
from ._translation_prompt import Spec, again, clean, prompt

__all__ = ["Translation", "language_name", "translate", "translate_batch"]

# scripts whose text takes several times the tokens of English in most tokenizers
_WIDE = {"ar", "be", "bg", "bn", "el", "fa", "gu", "he", "hi", "hy", "ja", "ka", "km", "kn", "ko", "lo", "ml",
         "mn", "mr", "my", "ne", "pa", "ru", "si", "sr", "ta", "te", "th", "uk", "ur", "yue", "zh"}  # fmt: skip
_PROTECT = ("mask", "verify")


@dataclass
class Translation:
    """A translated text. `source` is the source language's tag, or "auto" when the
    model was told to detect it; `chunks` is how many pieces were sent to the model;
    `issues` lists, one line each, what could not be kept after the retries (empty
    when every check passed)."""

    text: str
    source: str
    target: str
    chunks: int
    issues: list[str] = field(default_factory=list)


def translate(
    text: str,
    to: str = "fr",
    source: str | None = None,
    glossary: Mapping[str, str] | None = None,
    model: Client | str | None = None,
    *,
    protect: str = "mask",
    chunk_tokens: int = 300,
) -> Translation:
    """`text` translated into the language `to` (a BCP-47 / ISO 639 code such as "fr",
    "pt-BR", or an English name), from `source` (None: the model detects it).

    `glossary`: source term -> the target term it must become (asked for, then checked).
    `protect`: "mask" (placeholders, code, URLs and tags sent as numbered tokens) or
    "verify" (sent as they are); both check the result. `chunk_tokens`: the largest
    piece sent at once (smaller models translate short pieces better).
    Raises TaskError for an empty text or an unknown language code."""
    spec = _spec(to, source, glossary, protect, chunk_tokens)
    return using(model, lambda client: run_one(_translate(client, text, spec), client))


def translate_batch(
    texts: Sequence[str],
    to: str = "fr",
    source: str | None = None,
    glossary: Mapping[str, str] | None = None,
    model: Client | str | None = None,
    *,
    protect: str = "mask",
    chunk_tokens: int = 300,
    concurrency: int = 8,
    progress: bool | None = None,
) -> list[Translation | LLMKitError]:
    """Each text translated (batched on local models, concurrent over HTTP); a list in
    the same order, where an item that failed (empty, say) holds its error."""
    if isinstance(texts, str):
        raise TaskError("translate_batch takes a list of texts", hint="Use translate() for one text.")
    spec = _spec(to, source, glossary, protect, chunk_tokens)

    def work(client: Client) -> list[Translation | LLMKitError]:
        tasks = [_translate(client, t, spec) for t in texts]
        return run_many(tasks, client, concurrency=concurrency, progress=progress, label="translate")

    return using(model, work)


def _spec(to: str, source: str | None, glossary: Mapping[str, str] | None, protect: str, chunk_tokens: int) -> Spec:
    target, target_name = resolve(to)
    src, src_name = resolve(source) if source is not None else (None, None)
    if src is not None and src == target:
        raise TaskError(f"the source and target language are both {target}", hint="Give a different `to=`.")
    if protect not in _PROTECT:
        raise TaskError(f"unknown protect mode {protect!r}", hint="Use 'mask' or 'verify'.")
    if not isinstance(chunk_tokens, int) or chunk_tokens < 16:
        raise TaskError(f"chunk_tokens must be an integer of at least 16, not {chunk_tokens!r}")
    return Spec(src, src_name, target, target_name, _check_glossary(glossary), protect, chunk_tokens)


def _check_glossary(glossary: Mapping[str, str] | None) -> dict[str, str]:
    if glossary is None:
        return {}
    if not isinstance(glossary, Mapping):
        raise TaskError(f"glossary must be a dict of source term -> target term, not {type(glossary).__name__}")
    out = {}
    for k, v in glossary.items():
        if not isinstance(k, str) or not isinstance(v, str) or not k.strip() or not v.strip():
            raise TaskError(f"glossary entries must be non-empty strings, not {k!r}: {v!r}")
        out[k.strip()] = v.strip()
    return out


# --- one text ------------------------------------------------------------------------


def _translate(client: Client, text: str, spec: Spec) -> Task[Translation]:
    text = check_text(text)
    window = client.context_window()
    if window is not None and client.count_tokens(prompt(spec, "", masked=True)) > window // 4:
        spec = replace(spec, demos=False)  # a small window: the room goes to the text
    limit = _piece_limit(client, spec)
    out: list[str] = []
    issues: list[str] = []
    chunks = 0
    for seg in segments(text):
        if not seg.translate:
            out.append(seg.text)
            continue
        pieces = client_split(client, seg.text, limit)
        pos = 0
        for k, piece in enumerate(pieces):
            core = piece.text.strip()
            lead = piece.start + len(piece.text) - len(piece.text.lstrip())
            out.append(seg.text[pos:lead])  # whitespace between pieces stays as it was
            pos = lead + len(core)
            if not core:
                continue
            chunks += 1
            before, after = _context(client, [p.text for p in pieces], k, limit // 4)
            translated, problems = yield from _chunk(client, core, before, after, spec, limit)
            out.append(translated)
            issues += [f"chunk {chunks} ({_preview(core)}): {p}" for p in dict.fromkeys(problems)]  # once each
        out.append(seg.text[pos:])
    return Translation("".join(out), spec.source or "auto", spec.target, chunks, issues)


def _piece_limit(client: Client, spec: Spec) -> int:
    """Tokens of source text per chunk: what leaves room in the window for the
    instructions, context (half as much) and the answer (up to twice as much)."""
    instructions = int(client.count_tokens(prompt(spec, "", masked=True)))
    room = budget(client, reserve=instructions + 8, cap=4 * spec.chunk_tokens)
    return max(4, min(spec.chunk_tokens, int(room / (1.5 + _answer_factor(spec)))))


def _answer_factor(spec: Spec) -> float:
    return 4.0 if spec.target.split("-")[0] in _WIDE else 2.0


def _context(client: Client, pieces: Sequence[str], k: int, limit: int) -> tuple[str, str]:
    """The end of the text before piece `k` and the start of the text after it, each at
    most `limit` tokens (words kept whole)."""
    if len(pieces) == 1 or limit < 8:
        return "", ""
    before = " ".join(pieces[max(0, k - 2) : k]).split()
    after = " ".join(pieces[k + 1 : k + 3]).split()
    while before and client.count_tokens(" ".join(before)) > limit:
        before = before[max(1, len(before) // 4) :]
    while after and client.count_tokens(" ".join(after)) > limit:
        after = after[: -max(1, len(after) // 4)]
    return " ".join(before), " ".join(after)


def _preview(text: str) -> str:
    words = text.split()
    return " ".join(words[:6]) + (" ..." if len(words) > 6 else "")


# --- one chunk: ask, check, ask again, then block by block ---------------------------


def _chunk(client: Client, text: str, before: str, after: str, spec: Spec, limit: int) -> Task[tuple[str, list[str]]]:
    """The chunk's translation and what is still wrong with it (empty: all checks pass)."""
    best, problems = yield from _attempts(client, text, before, after, spec)
    if not problems:
        return best, problems
    parts = blocks(text)
    bodies = [b.body for b in parts]
    if sum(1 for b in bodies if re.search(r"\w", b)) < 2:
        return (yield from _around_items(client, text, spec, best, problems))
    # block by block: llmkit keeps each heading/list marker, the model sees one block
    # with its neighbours as context
    out, left = [], []
    for i, block in enumerate(parts):
        core = block.body.strip()
        if not re.search(r"\w", core):  # a rule, a table border, a blank line
            out.append(block.prefix + block.body + block.sep)
            continue
        near = _context(client, bodies, i, limit // 4)
        translated, block_problems = yield from _attempts(client, core, *near, spec)
        if block_problems:
            translated, block_problems = yield from _around_items(client, core, spec, translated, block_problems)
        lead, tail = block.body[: block.body.index(core)], block.body[block.body.index(core) + len(core) :]
        out.append(block.prefix + lead + translated + tail + block.sep)
        left += block_problems
    return "".join(out), left


def _around_items(client: Client, text: str, spec: Spec, best: str, problems: list[str]) -> Task[tuple[str, list[str]]]:
    """The last resort when the model keeps losing (or adding) placeholders, tags or
    code: translate the words between them one run at a time, the spans kept in place
    by llmkit. They cannot be lost then, but the word order around them may be off,
    which the returned issue says."""
    spans = item_spans(text)
    if not spans or not any(p.startswith(("lost ", "added ", "repeated ")) for p in problems):
        return best, problems
    out, left, pos = [], [], 0
    for start, end in [*spans, (len(text), len(text))]:
        run = text[pos:start]
        core = run.strip()
        if re.search(r"[^\W\d_]{2}", core):  # words to translate
            translated, run_problems = yield from _attempts(client, core, "", "", spec)
            if item_problems(core, translated):  # it added a placeholder or tag even here
                translated, run_problems = core, [f"left {_preview(core)!r} untranslated (the model added spans to it)"]
            run = run[: run.index(core)] + translated + run[run.index(core) + len(core) :]
            left += run_problems
        out += [run, text[start:end]]
        pos = end
    note = (
        "the model kept losing placeholders/tags: translated the words between them separately (check the word order)"
    )
    return "".join(out), [note, *left]


def _attempts(client: Client, text: str, before: str, after: str, spec: Spec) -> Task[tuple[str, list[str]]]:
    """Ask, check, and ask once more with what was wrong (switching protection mode,
    since the same prompt at temperature 0 gives the same answer); the better attempt."""
    modes = [spec.protect, "verify" if spec.protect == "mask" else "mask"]
    tried: list[tuple[str, list[str]]] = []
    messages: list[Message] = []
    reply, problems = "", list[str]()
    for attempt, mode in enumerate(modes):
        masked = mask(text) if mode == "mask" else None
        sent, spans = masked if masked is not None else (text, {})
        fresh = prompt(spec, sent, masked=masked is not None, before=before, after=after)
        tokens = int(client.count_tokens(sent))
        want = _bucket(int(tokens * _answer_factor(spec)) + 32) * (attempt + 1)
        window = client.context_window()
        if messages:  # the first exchange, what was wrong, and the text again (in the other mode)
            messages = [*messages, assistant(reply), user(again(problems, sent, masked is not None))]
            if window is not None and client.count_tokens(messages) + 2 * tokens > window:
                messages = fresh  # a small window: no room for the history
        else:
            messages = fresh
        # never more than the window leaves
        max_tokens = want if window is None else max(8, min(want, window - int(client.count_tokens(messages))))
        response = yield Chat(messages, {"temperature": 0, "max_tokens": max_tokens})
        reply = clean(response.text, sent, spec)
        result = unmask(reply, spans) if spans else reply
        problems = _check(text, result, spec, response.finish_reason, tokens, client)
        tried.append((result, problems))
        if not problems:
            break
    return min(tried, key=lambda t: len(t[1]))


def _bucket(n: int) -> int:
    """max_tokens rounded up, so that a batch's requests share options (one batched call)."""
    return -(-n // 64) * 64


# --- checking and cleaning a reply ---------------------------------------------------


def _check(source: str, result: str, spec: Spec, finish: str | None, tokens: int, client: Client) -> list[str]:
    if not result.strip():
        return ["the model's reply was empty"]
    problems = item_problems(source, result)
    if skeleton(source) != skeleton(result):
        problems.append("the Markdown structure changed (headings, list items, quotes or table rows)")
    for term, wanted in spec.glossary.items():
        if _has(source, term) and not _has(result, wanted):
            problems.append(f'glossary term "{term}" is not translated as "{wanted}"')
    if finish == "length":
        problems.append("the translation was cut off (max_tokens)")
    elif int(client.count_tokens(result)) > 3 * _answer_factor(spec) * tokens + 40:
        problems.append("the reply is far longer than the text (it added more than the translation)")
    if len(source.split()) >= 4 and " ".join(source.lower().split()) in " ".join(result.lower().split()):
        problems.append("the text came back untranslated")
    return problems


def _has(text: str, term: str) -> bool:
    left = r"\b" if term[0].isalnum() else ""
    right = r"\b" if term[-1].isalnum() else ""
    return re.search(left + re.escape(term) + right, text, re.I) is not None
