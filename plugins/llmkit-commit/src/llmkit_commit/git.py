"""Running git for `llmkit commit`: always an argument list, never a shell, and the
message on stdin (`git commit -F -`), so nothing in a message or a file name is ever
interpreted. Failures are UsageErrors that say what to do."""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

from llmkit.errors import UsageError

__all__ = ["Staged", "GitResult", "repo_root", "staged", "index_tree", "commit", "editor"]

MAX_DIFF_BYTES = 20_000_000  # a staged diff past 20 MB is read that far, and says so


@dataclass
class GitResult:
    returncode: int
    stdout: str
    stderr: str


@dataclass
class Staged:
    """The staged changes: the diff (cut at MAX_DIFF_BYTES, `cut` says so) and a file list
    with line counts (`stat`, one line a file, then the total)."""

    diff: str
    stat: str
    cut: bool = False
    tree: str = ""  # the index as a tree id when the diff was read ("" when git could not say)


def _git(args: list[str], cwd: str | Path, *, input_text: str | None = None, plain: bool = True) -> GitResult:
    env = dict(os.environ, GIT_PAGER="cat")
    if plain:  # output read by this module: in English, whatever the user's locale
        env["LC_ALL"] = "C"
    try:
        r = subprocess.run(["git", *args], cwd=cwd, input=input_text.encode("utf-8") if input_text is not None else None,
                           capture_output=True, env=env, timeout=600)  # fmt: skip
    except FileNotFoundError:
        raise UsageError("git is not installed (or not on PATH)", hint="Install git, then run llmkit commit again.") from None
    except subprocess.TimeoutExpired:
        raise UsageError(f"git {args[0]} did not finish in 10 minutes") from None
    return GitResult(r.returncode, r.stdout.decode("utf-8", "replace"), r.stderr.decode("utf-8", "replace"))


def repo_root(cwd: str | Path = ".") -> Path:
    """The top folder of the work tree around `cwd`; a UsageError when there is none."""
    r = _git(["rev-parse", "--show-toplevel"], cwd)
    if r.returncode != 0 or not r.stdout.strip():
        why = r.stderr.strip().splitlines()[0] if r.stderr.strip() else "git rev-parse failed"
        raise UsageError(f"not inside a git work tree ({why.removeprefix('fatal: ')})",
                         hint="Run llmkit commit inside a repository (`git init` makes one) after `git add`.")  # fmt: skip
    return Path(r.stdout.strip())


def staged(root: Path) -> Staged:
    """What `git diff --staged` shows (no colour, no external diff tools, renames found)."""
    common = ["-c", "core.quotepath=false", "diff", "--staged", "--no-color", "--no-ext-diff", "--no-textconv", "-M"]
    tree = index_tree(root)
    r = _git(common, root)
    if r.returncode != 0:
        raise UsageError(f"git diff --staged failed: {r.stderr.strip()[:300]}")
    diff = r.stdout
    if not diff.strip():
        raise UsageError("nothing is staged to commit",
                         hint="Stage changes first: `git add FILE` (or `git add -p` for parts), then run llmkit commit.")  # fmt: skip
    cut = len(diff.encode("utf-8")) > MAX_DIFF_BYTES
    if cut:
        diff = diff.encode("utf-8")[:MAX_DIFF_BYTES].decode("utf-8", "ignore")
    return Staged(diff, _stat(_git([*common, "--numstat"], root).stdout), cut, tree)


def index_tree(root: Path) -> str:
    """The staged content as a tree id (`git write-tree`): what a commit now would record.
    "" when it cannot be made (unmerged paths): git commit then says why itself."""
    r = _git(["write-tree"], root)
    return r.stdout.strip() if r.returncode == 0 else ""


def _stat(numstat: str) -> str:
    """`git diff --numstat` as one short line a file ("path (+3 -1)") and a total: what
    --stat says, without its bar of + and - signs, which costs tokens and says nothing more."""
    lines, added, deleted = [], 0, 0
    for row in numstat.splitlines():
        a, _, rest = row.partition("\t")
        d, _, path = rest.partition("\t")
        if not path:
            continue
        if a == "-" and d == "-":
            lines.append(f"{path} (binary)")
            continue
        added, deleted = added + int(a), deleted + int(d)
        lines.append(f"{path} (+{a} -{d})")
    total = f"{len(lines)} file{'s' if len(lines) != 1 else ''} changed, {added} insertions(+), {deleted} deletions(-)"
    return "\n".join([*lines, total]) + "\n"


def commit(root: Path, message: str) -> GitResult:
    """`git commit -F -` with the message on stdin (hooks run as for any commit)."""
    return _git(["commit", "-F", "-"], root, input_text=message, plain=False)


def editor(root: Path) -> str:
    """The editor git would use (GIT_EDITOR, core.editor, VISUAL, EDITOR), as a command line."""
    r = _git(["var", "GIT_EDITOR"], root)
    return r.stdout.strip() if r.returncode == 0 and r.stdout.strip() else os.environ.get("EDITOR", "vi")
