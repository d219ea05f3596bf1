"""Code tasks: completion at a cursor, generation from a description, translation
between languages.

Completion (`complete_code`), by strategy, chosen from the model's capabilities and
reported on each result:
- "fim": fill-in-the-middle, the prefix and suffix in the model's own FIM format
  (`complete(prefix, suffix=...)`: the `hf:` backend writes StarCoder/SmolLM,
  Qwen2.5-Coder, DeepSeek-Coder or CodeLlama tokens, the bundled `mini` its own,
  OpenAI-compatible completion endpoints take `suffix`).
- "prefix": plain continuation of the prefix, for completion models without FIM; the
  prompt ends before the prefix's trailing whitespace (text-level token healing) and
  the suffix is used only by post-processing.
- "chat": a hole-filling prompt (the code with a <FILL_HERE> marker) for chat models,
  and where a completion request is refused (a chat-only model behind an endpoint).

Only the nearest context goes to the model: the end of the prefix and the start of
the suffix, in whole lines, as many as the context window leaves room for by the
model's own token counts (`count_tokens`, `context_window`); the output is then cut
by the editor rules of `_code_post` (scope, suffix overlap, brackets, loops).

Generation and translation ask for one fenced block, parse it with the language's own
checker (`_code_check`), re-ask once with the error when it does not parse, and report
the check on the result: a failed check is never passed off as good code.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from ..client import Client
from ..errors import BadRequestError, ContextLengthError, LLMKitError, MissingCapabilityError, NotFoundError, TaskError
from ..types import Message, assistant, system, to_messages, user
from ._code_check import CodeCheck, Language, check_code, extract_code, guess_language, resolve
from ._code_fit import fit_context, fit_prefix
from ._code_post import heal_prefix, indent_of, postprocess, scope_at, unheal
from ._core import Chat, Complete, Task, ask_parsed, run_many, run_one, using
from ._text import budget

__all__ = ["CodeCheck", "CodeCompletion", "CodeResult", "complete_code", "complete_code_batch", "generate_code",
           "translate_code"]  # fmt: skip

HOLE = "<FILL_HERE>"
_STRATEGIES = ("auto", "fim", "prefix", "chat")
_MAX_CONTEXT = 4096  # tokens of prefix + suffix at most: the nearest code matters, and long prompts are slow
_OVERHEAD = 8  # FIM and BOS tokens, and token boundaries that shift when texts are joined


@dataclass
class CodeCompletion:
    """What goes at the cursor. `raw` is the model's output before post-processing and
    `rules` names the post-processing rules that changed it; `context` is how many
    lines of the prefix and of the suffix the model saw."""

    text: str
    strategy: str
    scope: str
    raw: str = ""
    language: str | None = None
    rules: list[str] = field(default_factory=list)
    context: tuple[int, int] = (0, 0)
    finish_reason: str | None = None


@dataclass
class CodeResult:
    """Generated or translated code and the syntax check that was run on it
    (`check.ok` False: it still did not parse after one re-ask). `attempts`: code
    answers checked (2 after a re-ask); `source`: the language translated from."""

    code: str
    language: str
    check: CodeCheck
    attempts: int = 1
    source: str | None = None


# --- completion ----------------------------------------------------------------------


def complete_code(
    prefix: str,
    suffix: str = "",
    language: str | None = None,
    model: Client | str | None = None,
    *,
    strategy: str = "auto",
    scope: str = "auto",
    max_tokens: int | None = None,
    temperature: float = 0.0,
    postprocess: bool = True,
) -> CodeCompletion:
    """The code for the cursor between `prefix` and `suffix`.

    `strategy`: "auto" (fim where the model has it and there is a suffix, else prefix
    where it completes text, else chat) or one of those. `scope`: "auto" (what an
    editor would complete here: the line, or a block after a block opener), "line" or
    "block". `postprocess=False` gives the model's output as it came."""
    lang = _language(language)
    return using(model, lambda c: run_one(_complete(c, prefix, suffix, lang, strategy, scope, max_tokens,
                                                    temperature, postprocess), c))  # fmt: skip


def complete_code_batch(
    items: Sequence[str | tuple[str, str]],
    language: str | None = None,
    model: Client | str | None = None,
    *,
    strategy: str = "auto",
    scope: str = "auto",
    max_tokens: int | None = None,
    temperature: float = 0.0,
    postprocess: bool = True,
    concurrency: int = 8,
    progress: bool | None = None,
) -> list[CodeCompletion | LLMKitError]:
    """`complete_code` for many cursors (prefixes, or (prefix, suffix) pairs), batched
    where the backend generates in batches; one result or error per item, in order."""
    if isinstance(items, str):
        raise TaskError("complete_code_batch takes a list of prefixes or (prefix, suffix) pairs",
                        hint="Use complete_code for one.")  # fmt: skip
    lang = _language(language)

    def work(client: Client) -> list[CodeCompletion | LLMKitError]:
        tasks = [_complete(client, *_pair(item), lang, strategy, scope, max_tokens, temperature, postprocess)
                 for item in items]  # fmt: skip
        return run_many(tasks, client, concurrency=concurrency, progress=progress, label="completions")

    return using(model, work)


def _pair(item: Any) -> tuple[Any, Any]:
    if isinstance(item, tuple | list) and len(item) == 2:
        return item[0], item[1]
    return item, ""


def _language(language: str | None) -> Language | None:
    return None if language is None else resolve(language)


def _check_cursor(prefix: Any, suffix: Any) -> None:
    for what, value in (("prefix", prefix), ("suffix", suffix)):
        if isinstance(value, bytes):
            raise TaskError(f"the {what} is bytes, not text", hint="Decode it first (e.g. data.decode('utf-8')).")
        if not isinstance(value, str):
            raise TaskError(f"the {what} must be a string, not {type(value).__name__}")
        if "\x00" in value:
            raise TaskError(
                f"the {what} looks binary (it holds NUL bytes)", hint="Give source code, not a binary file."
            )
    if not prefix.strip() and not suffix.strip():
        raise TaskError("there is no code around the cursor (the prefix and suffix are empty)",
                        hint="Give the code before the cursor, and after it if there is some.")  # fmt: skip


def _pick(client: Client, asked: str, prefix: str, suffix: str) -> str:
    if asked not in _STRATEGIES:
        raise TaskError(f"unknown completion strategy {asked!r}", hint=f"Use one of: {', '.join(_STRATEGIES)}.")
    caps = client.capabilities
    if asked == "fim" and not (caps.fill_in_the_middle and caps.completion):
        raise TaskError(f"{client.model} has no fill-in-the-middle", hint='Use strategy="auto", "prefix" or "chat".')
    if asked == "prefix" and not caps.completion:
        raise TaskError(f"{client.model} does not complete plain text", hint='Use strategy="auto" or "chat".')
    if asked != "auto":
        return asked
    if caps.completion and caps.fill_in_the_middle and suffix.strip():
        return "fim"
    return "prefix" if caps.completion and prefix.strip() else "chat"


def _complete(client: Client, prefix: Any, suffix: Any, lang: Language | None, asked: str, scope: str,
              max_tokens: int | None, temperature: float, post: bool) -> Task[CodeCompletion]:  # fmt: skip
    _check_cursor(prefix, suffix)
    if scope not in ("auto", "line", "block"):
        raise TaskError(f"unknown completion scope {scope!r}", hint="Use auto, line or block.")
    how = _pick(client, asked, prefix, suffix)
    scope = scope_at(prefix, suffix) if scope == "auto" else scope
    key = lang.key if lang else guess_language(prefix + suffix)
    limit = max_tokens or _default_max_tokens(client, scope, how)
    options = {"temperature": temperature, "max_tokens": limit}
    raw, context, finish = "", (0, 0), None
    if how != "chat":
        try:
            raw, context, finish = yield from _by_completion(client, prefix, suffix, how, options)
        except (NotFoundError, BadRequestError, MissingCapabilityError) as exc:
            if isinstance(exc, ContextLengthError) or asked != "auto":
                raise
            how = "chat"  # a completion request refused (a chat-only model): ask in a conversation
    if how == "chat":
        options["max_tokens"] = max_tokens or _default_max_tokens(client, scope, "chat")
        raw, context, finish = yield from _by_chat(client, prefix, suffix, key, scope, options)
    text, rules = postprocess(raw, prefix, suffix, scope, key) if post else (raw, [])
    return CodeCompletion(text, how, scope, raw, key, rules, context, finish)


def _default_max_tokens(client: Client, scope: str, how: str) -> int:
    want = (48 if scope == "line" else 128) + (32 if how == "chat" else 0)  # chat answers carry a fence
    window = client.context_window()
    return min(want, window // 4) if window else want


def _by_completion(client: Client, prefix: str, suffix: str, how: str,
                   options: dict[str, Any]) -> Task[tuple[str, tuple[int, int], str | None]]:  # fmt: skip
    room = budget(client, reserve=options["max_tokens"] + _OVERHEAD, cap=_MAX_CONTEXT)
    count = _counter(client)
    if how == "prefix":
        before = fit_prefix(prefix, room, count)
        prompt, whitespace = heal_prefix(before)
        r = yield Complete(prompt, options)
        return unheal(r.text, whitespace), (_lines(before), 0), r.finish_reason
    before, after = fit_context(prefix, suffix, room, count)
    r = yield Complete(before, {**options, "suffix": after})
    return r.text, (_lines(before), _lines(after)), r.finish_reason


def _by_chat(client: Client, prefix: str, suffix: str, key: str | None, scope: str,
             options: dict[str, Any]) -> Task[tuple[str, tuple[int, int], str | None]]:  # fmt: skip
    lang = resolve(key) if key else None
    overhead = int(client.count_tokens([user(_hole_prompt("", "", lang, scope))]))
    room = budget(client, reserve=options["max_tokens"] + overhead + _OVERHEAD, cap=_MAX_CONTEXT)
    before, after = fit_context(prefix, suffix, room, _counter(client))
    r = yield Chat([user(_hole_prompt(before, after, lang, scope))], options)
    try:
        code = extract_code(r.text, key) if "`" in r.text else r.text
    except ValueError:
        code = r.text
    return _at_cursor(code, prefix, suffix), (_lines(before), _lines(after)), r.finish_reason


def _hole_prompt(prefix: str, suffix: str, lang: Language | None, scope: str) -> str:
    name, tag = (lang.name, lang.extensions[0]) if lang else ("", "")
    size = "one line (or part of one)" if scope == "line" else "the missing lines"
    return (f"Fill in the missing code at {HOLE} in this {name} code. Reply with only the code that replaces "
            f"{HOLE} ({size}), in one ```{tag} block, without repeating the code around it.\n\n"
            f"```{tag}\n{prefix}{HOLE}{suffix}\n```")  # fmt: skip


def _at_cursor(code: str, prefix: str, suffix: str) -> str:
    """A chat answer as text for the cursor: without the context it echoed (up to the
    last line before the cursor, and leading lines the prefix has), indented for the
    cursor's line."""
    code = code.replace(HOLE, "")
    lines = code.rstrip("\n").split("\n")
    above = [x.strip() for x in prefix.split("\n")[:-1] if x.strip()]
    if above and len(above[-1]) >= 4:
        for i in range(len(lines) - 1, -1, -1):
            if lines[i].strip() == above[-1]:
                lines = lines[i + 1 :]
                break
    seen = {x.strip() for x in prefix.split("\n")[:-1] if len(x.strip()) >= 4}
    while lines and (not lines[0].strip() or lines[0].strip() in seen):
        lines = lines[1:]  # a rewrite of the whole function: the lines it copied are not the hole's
    before = prefix[prefix.rfind("\n") + 1 :]
    if before.strip():  # mid-line: the answer may repeat the line's start
        first = lines[0].strip() if lines else ""
        if first.startswith(before.strip()):
            first = first[len(before.strip()) :]
            first = first.lstrip() if before[-1:].isspace() else first
        return "\n".join([first, *lines[1:]]) if lines else ""
    below = [x for x in suffix.split("\n") if x.strip()]
    prev = prefix.rstrip().split("\n")[-1] if prefix.strip() else ""
    target = indent_of(below[0]) if below else indent_of(prev)
    if prev.rstrip().endswith((":", "{")):
        target = max(target, indent_of(prev) + 4)
    first = next((x for x in lines if x.strip()), "")
    shift = target - indent_of(before) - indent_of(first)  # the first line lands at `target`; the rest keep their place
    return "\n".join(_shifted(x, shift) for x in lines) + "\n"  # whole lines, each with its line break


def _shifted(line: str, by: int) -> str:
    if not line.strip():
        return line
    if by >= 0:
        return " " * by + line
    text = line.expandtabs(4)
    return text[min(-by, indent_of(text)) :]


def _counter(client: Client) -> Any:
    return lambda text: int(client.count_tokens(text)) if text else 0


def _lines(text: str) -> int:
    return text.count("\n") + 1 if text else 0


# --- generation and translation ------------------------------------------------------


def generate_code(
    description: str,
    language: str = "python",
    model: Client | str | None = None,
    *,
    max_tokens: int = 1024,
    temperature: float = 0.0,
) -> CodeResult:
    """Code in `language` that does what `description` says, and its syntax check."""
    lang = resolve(language)
    _generation_messages(description, lang)  # an empty description is refused before any model loads
    return using(model, lambda client: run_one(_generation(client, description, lang, max_tokens, temperature), client))


def generate_code_batch(
    descriptions: Sequence[str],
    language: str = "python",
    model: Client | str | None = None,
    *,
    max_tokens: int = 1024,
    temperature: float = 0.0,
    concurrency: int = 8,
    progress: bool | None = None,
) -> list[CodeResult | LLMKitError]:
    """`generate_code` for many descriptions, batched where the backend generates in
    batches; one result or error per item, in order."""
    if isinstance(descriptions, str):
        raise TaskError("generate_code_batch takes a list of descriptions", hint="Use generate_code for one.")
    lang = resolve(language)

    def work(client: Client) -> list[CodeResult | LLMKitError]:
        tasks = [_generation(client, d, lang, max_tokens, temperature) for d in descriptions]  # a bad one: its own error
        return run_many(tasks, client, concurrency=concurrency, progress=progress, label="programs")

    return using(model, work)


def _generation_messages(description: Any, lang: Language) -> list[Message]:
    if not isinstance(description, str) or not description.strip():
        raise TaskError("the description is empty", hint="Say what the code should do.")
    return [system(f"You are an expert {lang.name} programmer."),
            user(f"Write {lang.name} code for this task:\n\n{description.strip()}\n\nReply with the complete "
                 f"code in one ```{lang.extensions[0]} block.")]  # fmt: skip


def _generation(client: Client, description: Any, lang: Language, max_tokens: int,
                temperature: float) -> Task[CodeResult]:  # fmt: skip
    messages = _generation_messages(description, lang)
    options = _writing_options(client, messages, max_tokens, temperature)
    code, check, attempts = yield from _write(messages, lang, options, f"generate_code ({lang.name})")
    return CodeResult(code, lang.key, check, attempts)


def translate_code(
    code: str,
    to: str = "javascript",
    source: str | None = None,
    model: Client | str | None = None,
    *,
    max_tokens: int | None = None,
    temperature: float = 0.0,
) -> CodeResult:
    """`code` translated to the language `to` (from `source`, guessed when None), and
    the syntax check of the translation."""
    target = resolve(to, "target language")
    if isinstance(code, bytes) or not isinstance(code, str) or "\x00" in code or not code.strip():
        raise TaskError("the code to translate must be non-empty text", hint="Give source code as a string.")
    from_key = resolve(source, "source language").key if source else guess_language(code)
    if from_key == target.key:
        raise TaskError(f"the code is already {target.name}", hint="Pick another target language with to=.")
    src = resolve(from_key) if from_key else None
    named = f"this {src.name} code" if src else "this code"
    tag = src.extensions[0] if src else ""
    messages = [system(f"You are an expert programmer in {src.name if src else 'many languages'} and {target.name}."),
                user(f"Translate {named} to {target.name}. Keep its behaviour, names and comments; use "
                     f"idiomatic {target.name}. Reply with the complete translation in one "
                     f"```{target.extensions[0]} block.\n\n```{tag}\n{code.rstrip()}\n```")]  # fmt: skip

    def work(client: Client) -> CodeResult:
        want = max_tokens or min(4096, max(256, 2 * int(client.count_tokens(code)) + 64))
        options = _writing_options(client, messages, want, temperature)
        out, check, attempts = run_one(_write(messages, target, options, f"translate_code (to {target.name})"), client)
        return CodeResult(out, target.key, check, attempts, from_key)

    return using(model, work)


def _writing_options(client: Client, messages: list[Message], max_tokens: int, temperature: float) -> dict[str, Any]:
    """max_tokens within what the context window leaves after the prompt."""
    window = client.context_window()
    if window is not None:
        left = window - int(client.count_tokens(messages)) - _OVERHEAD
        if left < 32:
            raise TaskError(f"the prompt does not leave room for code in {client.model}'s context window "
                            f"({window} tokens)", hint="Shorten the input, or use a model with a larger window.")  # fmt: skip
        max_tokens = min(max_tokens, left)
    return {"temperature": temperature, "max_tokens": max_tokens}


def _write(messages: list[Message], lang: Language, options: dict[str, Any],
           what: str) -> Task[tuple[str, CodeCheck, int]]:  # fmt: skip
    """Ask for code, check it; one re-ask with the checker's error; the last check."""
    tag = lang.extensions[0]
    code = yield from ask_parsed(messages, lambda text: extract_code(text, lang.key), options, what)
    check = check_code(code, lang.key)
    if check.ok is not False:
        return code, check, 1
    again = [*to_messages(messages), assistant(f"```{tag}\n{code}```"),
             user(f"That code does not parse ({check.tool}: {check.message}). Fix it and reply with the whole "
                  f"corrected code in one ```{tag} block.")]  # fmt: skip
    try:
        fixed = yield from ask_parsed(again, lambda text: extract_code(text, lang.key), options, what)
    except TaskError:
        return code, check, 2  # no code the second time: the first answer, with its failed check
    return fixed, check_code(fixed, lang.key), 2
