"""Code tasks: complete code at a cursor, generate and translate code with a syntax check.

    python examples/tasks_code.py                  # the bundled model (completion), a scripted one (chat)
    python examples/tasks_code.py --model hf:PATH  # a local model for everything

Completion runs on the bundled `mini` by default (fill-in-the-middle); generation and
translation need a chat model, so without --model they use a scripted mock whose
answers show the re-ask on a syntax error and the check on the result.
"""

import argparse

import llmkit
from llmkit import tasks

parser = argparse.ArgumentParser()
parser.add_argument("--model", help="a model for every task (default: mini and a scripted mock)")
args = parser.parse_args()

completer = llmkit.Client(args.model or "mini", **({} if args.model else {"threads": 1}))
prefix = "def mean(xs):\n    total = 0\n    for x in xs:\n"
suffix = "    return total / len(xs)\n"
c = tasks.complete_code(prefix, suffix, language="python", model=completer)
print(f"complete: strategy={c.strategy} scope={c.scope} context={c.context} rules={c.rules}")
print(f"complete: {c.text!r}")

# a long file: only the nearest lines go to the model, as many as its window holds
long_prefix = "".join(f"def f{i}(x):\n    return x + {i}\n\n" for i in range(200)) + prefix
c = tasks.complete_code(long_prefix, suffix, language="python", model=completer)
print(f"long file: {long_prefix.count(chr(10))} lines before the cursor, {c.context[0]} sent")

writer = llmkit.Client(args.model) if args.model else llmkit.Client("mock", responses=[
    "Here it is:\n```python\ndef is_even(n):\n    return n % 2 == 0\n```",
    "```javascript\nfunction isEven(n) {\n  return n % 2 === 0;\n```",  # a brace missing: re-asked
    "```javascript\nfunction isEven(n) {\n  return n % 2 === 0;\n}\n```",
])  # fmt: skip
g = tasks.generate_code("a function is_even(n) that says whether n is even", "python", model=writer)
print(f"generate: {g.check.tool} ok={g.check.ok} attempts={g.attempts}")
print(g.code, end="")
t = tasks.translate_code(g.code, to="javascript", source="python", model=writer)
print(f"translate: {t.check.tool} ok={t.check.ok} attempts={t.attempts} {t.check.message}".rstrip())
print(t.code, end="")
