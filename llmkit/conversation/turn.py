"""A Turn: one exchange of a conversation, the user's message and the reply."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..types import Message, Usage

__all__ = ["Turn"]


@dataclass
class Turn:
    """One exchange: the user's message and the reply (None while unanswered).

    `interrupted` marks a reply cut short (Ctrl-C, a dropped stream): what arrived is
    kept. `number` is the turn's number in the history (0: not stored there)."""

    user: Message
    reply: Message | None = None
    model: str = ""
    options: dict[str, Any] = field(default_factory=dict)
    usage: Usage = field(default_factory=Usage)
    duration: float = 0.0
    first_token: float | None = None
    finish_reason: str | None = None
    interrupted: bool = False
    created_at: str = ""
    number: int = 0

    @property
    def text(self) -> str:
        """The reply's text ("" while unanswered)."""
        return self.reply.text if self.reply is not None else ""
