"""The chat REPL behind `llmkit chat`: a llmkit.Conversation at a terminal.

    app.py       the loop: read a line, run a command or send a turn, render it (ChatApp)
    commands.py  the slash commands: one table drives dispatch, /help and Tab completion
    render.py    rich output: banner, streamed Markdown, per-turn footer, one-line errors
    mdstream.py  Markdown that renders while it streams, without redrawing the scrollback
    input.py     prompt_toolkit input (multi-line, history, Tab), plain input() without a TTY
    attach.py    /attach: text files added to the next message

Imports point one way: app -> commands -> render; commands see the app only through
the narrow ChatContext. Nothing here is imported by `import llmkit` or `llmkit --help`.
Internal: the public face of a conversation is llmkit.Conversation.
"""

__all__: list[str] = []
