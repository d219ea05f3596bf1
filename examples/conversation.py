"""A conversation: turns sent with everything before them, streamed, retried, undone,
saved to a file and picked up again.

    python examples/conversation.py                          # the echo model (offline, no key)
    python examples/conversation.py --model openai:gpt-4o-mini
    python examples/conversation.py --model openai:qwen2.5 --base-url http://localhost:8000/v1
"""

import argparse
import tempfile
from pathlib import Path

import llmkit
from llmkit.logs import History

parser = argparse.ArgumentParser()
parser.add_argument("--model", default="mock:echo")
parser.add_argument("--base-url", help="an OpenAI-compatible server")
args = parser.parse_args()
settings = {"base_url": args.base_url} if args.base_url else {}
workdir = Path(tempfile.mkdtemp())

conv = llmkit.Conversation(llmkit.Client(args.model, **settings), system="Answer in one short sentence.",
                           history=History(workdir / "logs.db"),  # its own history file: yours stays untouched
                           max_tokens=40)  # an option for every send (a send's own options win)
turn = conv.send("What is the capital of France?")
print(f"1. {turn.text!r} ({turn.usage.output_tokens} tokens from {turn.model})")

print("2. ", end="")
conv.send("And of Norway?", on_text=lambda piece: print(piece, end="", flush=True))
print()

with conv.stream("And of Peru?") as stream:
    pieces = [event.text for event in stream if event.text]
print(f"3. streamed in {len(pieces)} pieces: {stream.turn.text!r}")

conv.undo()  # forget the last exchange
print(f"after undo: {len(conv.turns)} turns; the next message goes with {len(conv.messages())} messages")

path = conv.save(workdir / "chat.md")
again = llmkit.Conversation.load(path, llmkit.Client(args.model, **settings))
print(f"loaded {len(again.turns)} turns from {path.name}; system prompt: {again.system!r}")
print(f"continued: {again.send('Thanks!').text!r}")
