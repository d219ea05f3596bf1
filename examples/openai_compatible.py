"""Chat, stream, complete and count tokens against any OpenAI-compatible server.

    # with OpenAI:            OPENAI_API_KEY=sk-... python examples/openai_compatible.py --model gpt-4o-mini
    # with a local server:    python examples/openai_compatible.py --base-url http://localhost:8000/v1 --model qwen2.5
    # no server at hand? start llmkit's echo server first:
    #                         python -m llmkit.testing.openai_server --port 8000
"""

import argparse
import asyncio

import llmkit

parser = argparse.ArgumentParser()
parser.add_argument("--model", default="gpt-4o-mini")
parser.add_argument("--base-url", default=None, help="e.g. http://localhost:8000/v1 (vLLM, Ollama, llama.cpp, ...)")
args = parser.parse_args()

try:
    client = llmkit.Client(f"openai:{args.model}", base_url=args.base_url, temperature=0)
except llmkit.ConfigurationError as exc:  # no key and no server: say how to run it, no traceback
    raise SystemExit(f"{exc.one_line()}\n\nOr run it against a local server (llmkit's echo server will do):\n"
                     "  python -m llmkit.testing.openai_server --port 8000 &\n"
                     "  python examples/openai_compatible.py --base-url http://localhost:8000/v1 --model qwen2.5") from None

# 1. one question, one answer
r = client.chat([llmkit.system("Be brief."), llmkit.user("What is the capital of France?")], max_tokens=50)
print("chat:     ", r.text, f"({r.usage.input_tokens} in / {r.usage.output_tokens} out, finish={r.finish_reason})")

# 2. streaming, token by token; the whole answer is there at the end
stream = client.stream("Count from one to five.")
print("stream:   ", end="")
for event in stream:
    print(event.text, end="", flush=True)
print(f"  [{stream.response.usage.output_tokens} tokens]")


# 3. the same from async code
async def ask_async() -> str:
    return (await client.achat("Say hi asynchronously.")).text


print("async:    ", asyncio.run(ask_async()))

# 4. raw continuation with several samples (legacy completions endpoint)
try:
    r = client.complete("The cat sat on the", max_tokens=5, n=3)
    print("complete: ", r.texts)
except llmkit.NotFoundError:
    print("complete:  this server has no /completions endpoint")

# 5. tokens, counted before sending
print("tokens:   ", client.count_tokens("How many tokens is this sentence?"))
