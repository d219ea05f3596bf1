"""Conversations: turns with a model, sent, streamed, retried, undone, saved and loaded.

    >>> import llmkit
    >>> conv = llmkit.Conversation(llmkit.Client("mock:echo"), system="Be brief.")
    >>> conv.send("Hello there").text
    'Hello there'
    >>> pieces = []
    >>> conv.send("streamed in pieces", on_text=pieces.append).text, pieces
    ('streamed in pieces', ['streamed ', 'in ', 'pieces'])
    >>> [m.role for m in conv.messages()]
    ['system', 'user', 'assistant', 'user', 'assistant']
    >>> conv.undo().user.text, len(conv.turns)
    ('streamed in pieces', 1)

`llmkit ask` and `llmkit chat` send through this object; give it a
`history` (`llmkit.logs.History()`) and every turn is recorded in SQLite as it ends.

    core.py    Conversation, ConversationStream, Cancelled, ContextInfo, open_client
    turn.py    Turn: one exchange (the user's message, the reply, usage, timing)
    files.py   conversations as Markdown or JSON files (save / load)
"""

from .core import Cancelled, ContextInfo, Conversation, ConversationStream, HistoryStore, open_client
from .turn import Turn

__all__ = ["Conversation", "ConversationStream", "Turn", "Cancelled", "ContextInfo", "HistoryStore", "open_client"]
