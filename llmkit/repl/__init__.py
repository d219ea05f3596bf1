"""The chat REPL behind `llmkit chat`.

    session.py   the conversation: turns, sending, /retry, /undo, history commits
    render.py    rich output: banner, streamed Markdown, per-turn footer, one-line errors
    mdstream.py  Markdown that renders while it streams, without redrawing the scrollback
    input.py     prompt_toolkit input (multi-line, history), plain input() without a TTY
    commands.py  the slash commands
    files.py     /attach, /save and /load file handling
    app.py       the loop that ties them together

Nothing here is imported by `import llmkit` or `llmkit --help`.
"""
