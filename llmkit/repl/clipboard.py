"""/copy and /edit: the system clipboard, and the user's editor.

Copying tries the platform's clipboard command (pbcopy, wl-copy, xclip, xsel, clip) and
falls back to the terminal's own clipboard escape (OSC 52), which most terminals honour,
also over SSH. The editor is $VISUAL, else $EDITOR, run on a temporary file.
"""

from __future__ import annotations

import base64
import os
import shlex
import shutil
import subprocess
import tempfile
from typing import Any

from ..errors import UsageError

__all__ = ["copy", "edit"]

_COMMANDS = (["pbcopy"], ["wl-copy"], ["xclip", "-selection", "clipboard"], ["xsel", "--clipboard", "--input"], ["clip"])


def copy(text: str, console: Any) -> str:
    """Put `text` on the clipboard; returns how (for the message)."""
    for cmd in _COMMANDS:
        if shutil.which(cmd[0]) and (cmd[0] != "wl-copy" or os.environ.get("WAYLAND_DISPLAY")) \
                and (cmd[0] not in ("xclip", "xsel") or os.environ.get("DISPLAY")):  # fmt: skip
            try:
                subprocess.run(cmd, input=text.encode("utf-8"), check=True, timeout=5, capture_output=True)
                return f"with {cmd[0]}"
            except (OSError, subprocess.SubprocessError):
                continue
    payload = base64.b64encode(text.encode("utf-8")).decode("ascii")
    console.file.write(f"\x1b]52;c;{payload}\x07")
    console.file.flush()
    return "through the terminal (OSC 52: most terminals accept it; some need it allowed)"


def edit(initial: str = "") -> str:
    """The text written in the user's editor (starting from `initial`)."""
    editor = os.environ.get("VISUAL") or os.environ.get("EDITOR")
    if not editor:
        raise UsageError("/edit needs an editor", hint="Set VISUAL or EDITOR, e.g. export EDITOR=nano.")
    fd, path = tempfile.mkstemp(prefix="llmkit-message-", suffix=".md")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(initial)
        try:
            done = subprocess.run([*shlex.split(editor), path])
        except OSError as exc:
            raise UsageError(f"cannot run the editor {editor!r}: {exc}", hint="Check VISUAL or EDITOR.") from None
        if done.returncode != 0:
            raise UsageError(f"the editor {editor!r} exited with status {done.returncode}: nothing sent")
        with open(path, encoding="utf-8", errors="replace") as f:
            return f.read()
    finally:
        os.unlink(path)
