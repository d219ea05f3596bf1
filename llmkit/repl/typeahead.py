"""Keys typed while the chat starts (a model loading takes seconds) reach the prompt as typed.

While the terminal is in its ordinary (cooked) mode, the kernel echoes what is typed and
turns Enter (CR) into a line feed (ICRNL). prompt_toolkit, once it reads the typed-ahead
keys, would then show them twice (the kernel's echo, then its own) and take that line
feed for Ctrl-J, our "new line" key: `hello<Enter>` typed during loading became a
two-line draft instead of a message sent. So from the start of the chat until the prompt
takes over, echo and the CR translation are off; the keys wait in the input queue
unchanged, and prompt_toolkit reads them as if typed at the prompt.
"""

from __future__ import annotations

import sys
from typing import Any

__all__ = ["TypeaheadHold"]


class TypeaheadHold:
    """`start()` holds typed-ahead keys as typed (no echo, Enter kept as Enter); `release()`
    (idempotent; the prompt calls it just before its first read) gives the terminal back
    as it was. Nothing happens when stdin is not a terminal."""

    def __init__(self) -> None:
        self._saved: list[Any] | None = None

    def start(self) -> TypeaheadHold:
        try:
            import termios

            if not sys.stdin.isatty():
                return self
            fd = sys.stdin.fileno()
            saved = termios.tcgetattr(fd)
            held: list[Any] = [list(x) if isinstance(x, list) else x for x in saved]
            held[0] = int(saved[0]) & ~termios.ICRNL  # iflag: keep CR as CR
            held[3] = int(saved[3]) & ~(termios.ECHO | termios.ICANON)  # lflag: no echo or line editing; Ctrl-C signals
            termios.tcsetattr(fd, termios.TCSANOW, held)
            self._saved = saved
        except (ImportError, OSError, ValueError, AttributeError):  # Windows, a closed stdin, a pseudo-file
            self._saved = None
        except Exception:  # termios.error: a terminal that refuses; typeahead then works as before
            self._saved = None
        return self

    def release(self) -> None:
        saved, self._saved = self._saved, None
        if saved is None:
            return
        try:
            import termios

            termios.tcsetattr(sys.stdin.fileno(), termios.TCSANOW, saved)  # TCSANOW: waiting keys are kept
        except Exception:
            pass
