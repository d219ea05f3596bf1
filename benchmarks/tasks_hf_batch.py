"""A task batch on hf: 16 inputs generated together vs one at a time.

SmolLM2-135M-Instruct through `hf:`, 16 different Python prefixes, greedy, the same
max_tokens: once through `tasks.complete_code_batch` (the task core sends each round's
requests as one `complete_batch`), once through `tasks.complete_code` in a loop. Both
produce the same completions (checked); prints items per second of each and the
ratio. Target: >= 3x.

    python benchmarks/tasks_hf_batch.py [--threads 2] [--tokens 32] [--quick]
"""

from __future__ import annotations

import time

from hf_common import model_id, parser

PREFIXES = [
    "def add(a, b):\n    ",
    "def is_even(n):\n    ",
    "def reverse(s):\n    ",
    "def mean(values):\n    ",
    "def factorial(n):\n    ",
    "def square(x):\n    ",
    "def first(items):\n    ",
    "def is_empty(items):\n    ",
    "def maximum(a, b):\n    ",
    "def count_words(text):\n    ",
    "def celsius_to_fahrenheit(c):\n    ",
    "def last(items):\n    ",
    "def to_upper(s):\n    ",
    "def absolute(x):\n    ",
    "def double(x):\n    ",
    "def greet(name):\n    ",
]


def main() -> None:
    p = parser(__doc__)
    p.add_argument("--tokens", type=int, default=32)
    args = p.parse_args()
    if args.quick:
        args.tokens = 8

    import llmkit
    from llmkit import tasks

    settings = {"threads": args.threads} if args.threads else {}
    client = llmkit.Client(model_id(args), batch_size=len(PREFIXES), **settings)
    options = {"model": client, "strategy": "prefix", "scope": "block", "max_tokens": args.tokens}
    tasks.complete_code(PREFIXES[0], **options)  # load and warm up, outside the timings

    start = time.perf_counter()
    one_by_one = [tasks.complete_code(prefix, **options) for prefix in PREFIXES]
    single = time.perf_counter() - start

    start = time.perf_counter()
    batched = tasks.complete_code_batch(PREFIXES, progress=False, **options)
    batch = time.perf_counter() - start

    same = sum(a.text == getattr(b, "text", None) for a, b in zip(one_by_one, batched, strict=True))
    n = len(PREFIXES)
    print(f"{n} complete_code inputs, greedy, max_tokens {args.tokens}, model {client.model}")
    print(f"  one at a time (anchor): {single:6.2f} s  {n / single:5.2f} items/s")
    print(f"  complete_code_batch:    {batch:6.2f} s  {n / batch:5.2f} items/s")
    print(f"  identical completions:  {same}/{n}")
    print(f"ratio: {single / batch:.2f}x (target >= 3x)")


if __name__ == "__main__":
    main()
