"""The conversation history from Python: record turns, search them, continue one.

`llmkit ask` and `llmkit chat` write to the same SQLite file (`llmkit logs` reads it);
this example uses a file of its own so that it leaves your history alone.
"""

import tempfile
from pathlib import Path

import llmkit
from llmkit.logs import History

path = Path(tempfile.mkdtemp()) / "logs.db"
history = History(path)

# A conversation commits each turn to the history when its reply completes.
conv = llmkit.Conversation(llmkit.Client("mock:echo"), system="Be brief.", history=history)
for question in ["What is the capital of France?", "And of Norway?"]:
    turn = conv.send(question)
    print(f"turn {turn.number}: {turn.user.text!r} -> {turn.reply.text!r} ({turn.usage.output_tokens} tokens)")

# Anything else can be logged too, e.g. an answer obtained elsewhere.
answer = llmkit.Client("mock:echo").chat("A haiku about moonlight")
history.add_turn(None, llmkit.Turn(llmkit.user("A haiku about moonlight"), answer.message, model=answer.model))

# Full-text search over questions and answers.
for cid, turn in history.find_turns(query="norway"):
    print(f"found in {cid}: {turn.user.text!r}")

# Continue the last conversation, as `llmkit chat -c` does.
cid = history.last_conversation_id()
turns = history.turns(cid)
print(f"last conversation: {len(turns)} turn(s), first question {turns[0].user.text!r}")
resumed = llmkit.Conversation(llmkit.Client("mock:echo"), history=history, cid=cid, turns=turns)
resumed.send("Thanks!")
print(f"after continuing: {len(history.turns(cid))} turn(s)")
