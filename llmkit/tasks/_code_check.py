"""Programming languages for the code tasks: their names, the fence tags and file
extensions that stand for them, pulling code out of a model's answer, and checking
that the code parses with the language's own tool where one is installed.

Checks never run the code: Python is parsed with `ast`; other languages go to their
compiler's or interpreter's syntax-only mode (`node --check`, `gcc -fsyntax-only`,
`bash -n`, `ruby -c`, `gofmt -e`, `rustfmt`, `javac` into a scratch folder, ...) on
a temporary file, in a subprocess with a timeout. Where no checker is installed the
check says so (`ok=None`), which is not the same as passing.
"""

from __future__ import annotations

import ast
import difflib
import os
import re
import shutil
import subprocess
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path

from ..errors import TaskError

__all__ = ["LANGUAGES", "CodeCheck", "check_code", "extract_code", "guess_language", "language_of_path", "resolve"]

CHECK_TIMEOUT_S = 20.0


@dataclass(frozen=True)
class Language:
    key: str
    name: str
    extensions: tuple[str, ...]
    aliases: tuple[str, ...] = ()
    checker: tuple[str, ...] = ()  # argv of the syntax check; "{file}" is the code's file, "{dir}" a scratch folder


_LIST = [
    Language("python", "Python", ("py", "pyi"), ("py", "python3"), ("ast",)),
    Language("javascript", "JavaScript", ("js", "mjs", "cjs"), ("js", "node"), ("node", "--check", "{file}")),
    Language("typescript", "TypeScript", ("ts", "tsx"), ("ts",), ("tsc", "--noEmit", "--skipLibCheck", "{file}")),
    Language("c", "C", ("c", "h"), (), ("gcc", "-fsyntax-only", "-x", "c", "{file}")),
    Language(
        "cpp", "C++", ("cpp", "cc", "cxx", "hpp", "hh"), ("c++", "cxx"), ("g++", "-fsyntax-only", "-x", "c++", "{file}")
    ),  # fmt: skip
    Language("java", "Java", ("java",), (), ("javac", "-d", "{dir}", "{file}")),
    Language("go", "Go", ("go",), ("golang",), ("gofmt", "-e", "{file}")),
    Language("rust", "Rust", ("rs",), ("rs",), ("rustfmt", "--edition", "2021", "--emit", "stdout", "{file}")),
    Language("ruby", "Ruby", ("rb",), ("rb",), ("ruby", "-c", "{file}")),
    Language("bash", "Bash", ("sh", "bash"), ("sh", "shell", "zsh"), ("bash", "-n", "{file}")),
    Language("php", "PHP", ("php",), (), ("php", "-l", "{file}")),
    Language("lua", "Lua", ("lua",), (), ("luac", "-p", "{file}")),
    Language("csharp", "C#", ("cs",), ("c#", "cs"), ()),
    Language("kotlin", "Kotlin", ("kt", "kts"), ("kt",), ()),
    Language("swift", "Swift", ("swift",), (), ()),
    Language("sql", "SQL", ("sql",), (), ()),
    Language("r", "R", ("r",), (), ()),
    Language("haskell", "Haskell", ("hs",), ("hs",), ()),
    Language("scala", "Scala", ("scala",), (), ()),
    Language("perl", "Perl", ("pl", "pm"), (), ()),  # `perl -c` runs BEGIN blocks: no check
]
LANGUAGES = {lang.key: lang for lang in _LIST}
_BY_NAME = {n.lower(): lang for lang in _LIST for n in (lang.key, lang.name, *lang.aliases)}


@dataclass(frozen=True)
class CodeCheck:
    """The syntax check that was run: `tool` (e.g. "python ast", "node --check"),
    `ok` (True parsed, False did not, None not checked) and what it said."""

    tool: str
    ok: bool | None
    message: str = ""


def resolve(language: str, what: str = "language") -> Language:
    """The Language for a name, alias or fence tag; a clear TaskError listing the known
    ones (the closest first) for anything else."""
    if not isinstance(language, str) or not language.strip():
        raise TaskError(f"the {what} must be a language name such as 'python', not {language!r}")
    found = _BY_NAME.get(language.strip().lower())
    if found is None:
        close = difflib.get_close_matches(language.strip().lower(), list(_BY_NAME), n=3)
        hint = f"Did you mean {' or '.join(repr(c) for c in close)}? " if close else ""
        raise TaskError(f"unknown {what} {language!r}", hint=f"{hint}Known: {', '.join(LANGUAGES)}.")
    return found


def language_of_path(path: str) -> str | None:
    """The language key for a file name's extension, or None."""
    ext = Path(path).suffix.lower().lstrip(".")
    return next((lang.key for lang in _LIST if ext in lang.extensions), None)


_GUESSES = [  # (language, pattern): first match wins; a rough guess, only for prompts
    ("cpp", r"#include\s*<(?:iostream|vector|string|map)>|\bstd::|\bcout\s*<<"),
    ("c", r"#include\s*[<\"]\w+\.h[>\"]|\bprintf\s*\(|\bint\s+main\s*\("),
    ("rust", r"\bfn\s+\w+\s*\(|\blet\s+mut\b|\bimpl\b.*\{|println!\("),
    ("go", r"^package\s+\w+|\bfunc\s+\w+\s*\(|:=\s"),
    ("java", r"\bpublic\s+(?:static\s+)?(?:class|void)\b|System\.out\.print"),
    ("typescript", r"\b(?:interface|type)\s+\w+\s*[={]|:\s*(?:string|number|boolean)\b"),
    ("javascript", r"\bfunction\s+\w*\s*\(|\bconst\s+\w+\s*=|=>|console\.log\("),
    ("ruby", r"^\s*(?:puts|require)\s|^\s*end\s*$|\bdo\s*\|"),
    ("bash", r"^#!/bin/(?:ba)?sh|^\s*echo\s|\$\{?\w+\}?"),
]


def guess_language(code: str) -> str | None:
    """The language this code looks like, or None: Python when `ast` parses it and it
    has a Python keyword, else the first pattern that matches."""
    if re.search(r"^\s*(?:def|class|import|from|for|while|if|return)\b", code, re.M) and _parses_as_python(code):
        return "python"
    for key, pattern in _GUESSES:
        if re.search(pattern, code, re.M):
            return key
    return None


def _parses_as_python(code: str) -> bool:
    return check_code(code, "python").ok is True


_FENCE = re.compile(r"^[ \t]*(`{3,}|~{3,})[ \t]*([\w+#.-]*)[^\n]*\n(.*?)(?:^[ \t]*\1[ \t]*$|\Z)", re.S | re.M)


def extract_code(reply: str, language: str | None) -> str:
    """The code in a model's answer: the first fenced block tagged with the language,
    else the first fenced block; an answer without a fence counts only if it parses as
    the language (and holds some code punctuation). ValueError (saying what to do)
    when there is no code."""
    blocks = [(m.group(2).lower(), m.group(3)) for m in _FENCE.finditer(reply)]
    blocks = [(tag, body) for tag, body in blocks if body.strip()]
    if blocks:
        lang = resolve(language) if language else None
        for tag, body in blocks:
            if lang is not None and _BY_NAME.get(tag) is lang:
                return body.rstrip() + "\n"
        return blocks[0][1].rstrip() + "\n"
    bare = reply.strip()
    if bare and language and re.search(r"[(){}=:;\[\]]", bare) and check_code(bare, language).ok is True:
        return bare + "\n"
    tag = resolve(language).extensions[0] if language else ""
    raise ValueError(f"there is no code in it: put the whole code in one ```{tag} fenced block")


def check_code(code: str, language: str, timeout: float = CHECK_TIMEOUT_S) -> CodeCheck:
    """Whether `code` parses as `language` (see the module docstring)."""
    lang = resolve(language)
    if lang.key == "python":
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # SyntaxWarning on odd escapes is not a failure
            try:
                ast.parse(code)
            except SyntaxError as exc:
                where = f"line {exc.lineno}: " if exc.lineno else ""
                return CodeCheck("python ast", False, f"{where}{exc.msg}")
            except ValueError as exc:  # NUL bytes
                return CodeCheck("python ast", False, str(exc))
        return CodeCheck("python ast", True, "")
    if not lang.checker:
        return CodeCheck("none", None, f"no syntax checker for {lang.name} in llmkit")
    program = lang.checker[0]
    tool = " ".join(a for a in lang.checker if "{" not in a)
    if shutil.which(program) is None:
        return CodeCheck(tool, None, f"no checker for {lang.name} installed ({program} not found)")
    return _run_checker(lang, code, tool, timeout)


def _run_checker(lang: Language, code: str, tool: str, timeout: float) -> CodeCheck:
    with tempfile.TemporaryDirectory(prefix="llmkit-check-") as tmp:
        name = "code"
        if lang.key == "java":  # javac wants the public class in a file of its name
            m = re.search(r"\bpublic\s+(?:final\s+|abstract\s+)*(?:class|interface|enum|record)\s+(\w+)", code)
            name = m.group(1) if m else "Main"
        path = Path(tmp) / f"{name}.{lang.extensions[0]}"
        path.write_text(code, encoding="utf-8")
        out_dir = Path(tmp) / "out"
        out_dir.mkdir()
        argv = [a.replace("{file}", str(path)).replace("{dir}", str(out_dir)) for a in lang.checker]
        try:
            proc = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL,
                                  cwd=tmp, env={**os.environ, "LC_ALL": "C"})  # fmt: skip
        except subprocess.TimeoutExpired:
            return CodeCheck(tool, False, f"{tool} did not finish within {timeout:g} s")
        except OSError as exc:
            return CodeCheck(tool, None, f"{tool} could not run: {exc}")
        if proc.returncode == 0:
            return CodeCheck(tool, True, "")
        said = (proc.stderr or proc.stdout).replace(str(path), f"<code>.{lang.extensions[0]}").replace(tmp, "")
        lines = [line for line in said.strip().splitlines() if line.strip()]
        return CodeCheck(tool, False, "\n".join(lines[:6])[:800] or f"{tool} exited with {proc.returncode}")
