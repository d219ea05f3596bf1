"""Answer questions from a few documents, with citations checked against the text.

    python examples/tasks_qa.py          # offline: a scripted model
    python examples/tasks_qa.py MODEL    # e.g. hf:/path/SmolLM2-135M-Instruct.Q4_1.gguf

BM25 picks the passage, the model answers with a quote, and llmkit checks that the
quote is in the document at the offsets it cites. The scripted model first quotes
words that are not in the text: llmkit asks again, saying so. The last question is
not answered by the documents, and the answer says so (abstained) instead of guessing.
"""

import argparse
import json

import llmkit
from llmkit import tasks

DOCUMENTS = [
    "The Normans were the people who in the 10th and 11th centuries gave their name to Normandy, "
    "a region in France. Their leader Rollo agreed to swear fealty to King Charles III of West Francia.",
    "Honey bees live in colonies with one queen, thousands of female workers and a few hundred drones. "
    "The workers gather nectar and pollen.",
    "The Eiffel Tower was built for the 1889 World's Fair in Paris. It is 330 metres tall.",
]
QUESTIONS = ["Who was the leader of the Normans?", "How tall is the Eiffel Tower?", "Who invented the telescope?"]


def _reply(answer, quote, passage):
    return json.dumps({"answer": answer, "quote": quote, "passage": passage})


SCRIPT = [  # what a model might answer, in order
    _reply("Rollo", "their great leader Rollo", 1),  # not in the text: asked again
    _reply("Rollo", "Their leader Rollo", 1),
    _reply("330 metres", "It is 330 metres tall", 1),
    _reply(None, None, None),  # nothing in the documents about telescopes
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", nargs="?", help="a model id (default: a scripted mock)")
    args = parser.parse_args()
    client = llmkit.Client(args.model, temperature=0) if args.model else llmkit.Client("mock", responses=SCRIPT)
    with client:
        for question in QUESTIONS:
            a = tasks.answer(question, DOCUMENTS, model=client)
            print(f"Q: {question}")
            if a.abstained:
                print(f"A: (abstained: {a.reason}) [{a.strategy}]")
                continue
            print(f"A: {a.answer} [{a.strategy}]")
            for c in a.citations:
                verified = DOCUMENTS[c.document][c.start : c.end] == c.text
                print(f"   document {c.document} chars {c.start}-{c.end}: {c.text!r} verified={verified}")
        if not args.model:  # what llmkit told the scripted model when it asked again
            for _kind, messages, _ in client.backend.calls:
                if messages[-1].text.startswith("That answer cannot be used"):
                    print("re-asked:", messages[-1].text.split(": ", 1)[1].split(":")[0])


if __name__ == "__main__":
    main()
