"""The bundled model: complete code, fill in the middle, sample, stream, score.

    python examples/mini_code.py                    # the shipped checkpoint
    python examples/mini_code.py --model mini:DIR   # one you trained with `llmkit train`
"""

import argparse

import llmkit

parser = argparse.ArgumentParser()
parser.add_argument("--model", default="mini")
args = parser.parse_args()

mini = llmkit.Client(args.model, temperature=0, max_tokens=40)
print("completion model:", mini.backend.completion_model, "| context window:", mini.context_window())

r = mini.complete("def fibonacci(n):\n    ")
print("complete:", repr(r.text), f"[{r.usage.output_tokens} tokens, {r.finish_reason}]")

r = mini.complete("def is_even(n):\n    return ", suffix=" == 0\n", max_tokens=10)
print("infill:  ", repr(r.text))

r = mini.complete("import ", n=3, temperature=0.9, seed=1, max_tokens=8)
print("samples: ", r.texts)

print("stream:   ", end="")
for event in mini.stream("class Stack:\n    def __init__(self):\n        ", max_tokens=20):
    print(event.text, end="", flush=True)
print()

lp = mini.logprobs("for i in range(10):\n    print(i)\n")
print(f"logprobs: {len(lp.tokens)} tokens, {lp.bits_per_byte:.2f} bits per byte")
