"""Translate a Markdown snippet, keeping its code block, placeholders, link and tags.

    python examples/tasks_translate.py                  # offline: a scripted model
    python examples/tasks_translate.py MODEL [--to de]  # e.g. hf:/path/SmolLM2-135M-Instruct.Q4_1.gguf

The scripted model drops `%(name)s` in its first reply: llmkit notices, asks again
with what was wrong, and the second reply is kept. With a real model, whatever is
still wrong after the retries is printed under "issues".
"""

import argparse

import llmkit
from llmkit import tasks

DOC = """# Welcome

Hello %(name)s, you have {count} new messages.

```python
print(greeting % name)
```

- Open the [settings](https://example.com/settings)
- Press <b>Save</b>
"""

SCRIPT = [  # what a model might answer, in order (placeholders arrive as tokens [1], [2], ...)
    "Here is the French translation:\n\n# Bienvenue\n\nBonjour, vous avez [2] nouveaux messages.",  # lost [1]
    "# Bienvenue\n\nBonjour %(name)s, vous avez {count} nouveaux messages.",  # the retry
    "- Ouvrez les [paramètres][1]\n- Appuyez sur [2]Enregistrer[3]",
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", nargs="?", help="a model id (default: a scripted mock)")
    parser.add_argument("--to", default="fr", help="target language code (default: fr)")
    args = parser.parse_args()
    if args.model is None and args.to != "fr":
        parser.error("the scripted model only speaks French: give a model for --to")
    client = llmkit.Client(args.model, temperature=0) if args.model else llmkit.Client("mock", responses=SCRIPT)
    with client:
        result = tasks.translate(DOC, to=args.to, source="en", model=client)
        print(f"{tasks.language_name(result.target)} ({result.chunks} chunks):\n")
        print(result.text)
        print("issues:", "none" if not result.issues else "")
        for issue in result.issues:
            print("  -", issue)
        if not args.model:  # what llmkit told the scripted model when it asked again
            for _kind, messages, _ in client.backend.calls:
                if messages[-1].text.startswith("That translation cannot be used"):
                    print("retried:", messages[-1].text.split(": ", 1)[1].split(".")[0])


if __name__ == "__main__":
    main()
