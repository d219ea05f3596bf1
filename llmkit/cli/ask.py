"""`llmkit ask [-m MODEL] [-s SYSTEM] [--no-stream] [--json] PROMPT`"""

from __future__ import annotations

import argparse
import json
import sys


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("prompt", nargs="*", help="the question (stdin is appended when piped)")
    p.add_argument("-m", "--model", help="model id, e.g. openai:gpt-4o-mini (default: see `llmkit models`)")
    p.add_argument("-s", "--system", help="system prompt")
    p.add_argument("--max-tokens", type=int, help="maximum tokens to generate")
    p.add_argument("-t", "--temperature", type=float, help="sampling temperature (0 = greedy)")
    p.add_argument("--no-stream", action="store_true", help="print the answer when it is complete")
    p.add_argument("--json", action="store_true", help="print the answer and usage as JSON")


def run(args: argparse.Namespace) -> int:
    import llmkit

    prompt = " ".join(args.prompt)
    if not sys.stdin.isatty():
        piped = sys.stdin.read()
        if piped.strip():
            prompt = f"{prompt}\n\n{piped}" if prompt else piped
    if not prompt.strip():
        print("error: no prompt given (pass it as an argument or pipe it in)", file=sys.stderr)
        return 2
    messages = ([llmkit.system(args.system)] if args.system else []) + [llmkit.user(prompt)]
    options = {k: v for k, v in (("max_tokens", args.max_tokens), ("temperature", args.temperature)) if v is not None}
    client = llmkit.Client(args.model)
    if args.json or args.no_stream:
        r = client.chat(messages, **options)
    else:
        stream = client.stream(messages, **options) if client.capabilities.streaming else None
        if stream is None:
            r = client.chat(messages, **options)
            print(r.text)
            return 0
        for event in stream:
            sys.stdout.write(event.text)
            sys.stdout.flush()
        sys.stdout.write("\n")
        return 0
    if args.json:
        u = r.usage
        print(json.dumps({"model": r.model, "text": r.text, "finish_reason": r.finish_reason,
                          "usage": {"input_tokens": u.input_tokens, "output_tokens": u.output_tokens,
                                    "cost": u.cost, "estimated": u.estimated}}, ensure_ascii=False))  # fmt: skip
    else:
        print(r.text)
    return 0
