"""What makes a message valid before it is sent: text that is real Unicode (no lone
surrogates, in the text or anywhere in a content part) and content of the OpenAI shapes.

A layer below types, so that the Message dataclass and the client's prompt checks share
one set of rules and one wording of the errors.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from .errors import InvalidOptionError

__all__ = ["bad_message", "check_content", "check_part_strings", "check_text", "shown"]

_SURROGATE = re.compile("[\ud800-\udfff]")
_MESSAGE_HINT = ("Messages are llmkit.user(...)/system(...)/assistant(...) or OpenAI-shaped dicts: "
                 "{'role': 'user', 'content': 'text or a list of content parts'}.")  # fmt: skip


def bad_message(problem: str) -> InvalidOptionError:
    return InvalidOptionError(problem, hint=_MESSAGE_HINT)


def shown(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def check_text(text: str, what: str) -> None:
    """Text must be valid Unicode: a lone surrogate (from bytes decoded with
    surrogateescape, or a cut UTF-16 pair) cannot be encoded for a tokenizer or a server."""
    if not text.isascii():
        found = _SURROGATE.search(text)
        if found:
            raise InvalidOptionError(
                f"{what} holds a lone surrogate (U+{ord(found.group()):04X}) at character {found.start()}: "
                "it is not valid Unicode text",
                hint="Decode input with errors='replace' (or fix its encoding) before sending it.",
            )


def check_content(role: str, content: object) -> None:
    if content is None:
        return
    if isinstance(content, str):
        check_text(content, f"a {role} message")
        return
    if not isinstance(content, list):
        hint = " (decode bytes first)" if isinstance(content, (bytes, bytearray)) else ""
        raise bad_message(f"a {role} message's content is {shown(content)}: it must be text, None or a list "
                           f"of content parts{hint}")  # fmt: skip
    for part in content:
        if not isinstance(part, Mapping) or not isinstance(part.get("type"), str):
            raise bad_message(f"a {role} message's content part {shown(part)} is not a "
                               "{'type': ..., ...} object")  # fmt: skip
        if part["type"] == "text" and not isinstance(part.get("text"), str):
            raise bad_message(f"a {role} message's text part {shown(part)} has no text")
        check_part_strings(part, f"a {role} message's {part['type']!r} part")


def check_part_strings(value: object, what: str) -> None:
    """Every string in a content part, any part type and any depth (an image's URL, a stray
    "text" on an image part), is sent as JSON, so each must be valid Unicode too."""
    if isinstance(value, str):
        check_text(value, what)
    elif isinstance(value, Mapping):
        for key, item in value.items():
            check_part_strings(key, what)
            check_part_strings(item, what)
    elif isinstance(value, (list, tuple)):
        for item in value:
            check_part_strings(item, what)
