"""hf: what a call that sets no sampling options gets, against `model.generate()` with the
checkpoint's own defaults (the anchor), and greedy against temperature-1 sampling on a
fixed set of 20 short factual questions (the justification for following generate).

    python benchmarks/hf_sampling_defaults.py [--threads 2] [--model hf:...]

Prints: how many of the 20 answers are token-for-token what `model.generate()` gives for
the same chat prompt (target: 20/20), and how many answers contain the expected word
under llmkit's default (greedy, as generate) and under temperature 1 (OpenAI's default,
what llmkit used before; 3 seeds, averaged).
"""

from __future__ import annotations

import hf_common

import llmkit

QUESTIONS = [
    ("What is the capital of France?", "paris"),
    ("What is the capital of Japan?", "tokyo"),
    ("What is the capital of Italy?", "rome"),
    ("What is the capital of Germany?", "berlin"),
    ("What is the capital of Spain?", "madrid"),
    ("How many days are in a week?", "seven|7"),
    ("How many legs does a spider have?", "eight|8"),
    ("What color is the sky on a clear day?", "blue"),
    ("What is the opposite of hot?", "cold"),
    ("What do bees make?", "honey"),
    ("What is frozen water called?", "ice"),
    ("Which planet do we live on?", "earth"),
    ("What is 2 plus 2?", "four|4"),
    ("What animal says moo?", "cow"),
    ("What is the largest ocean on Earth?", "pacific"),
    ("Who wrote Romeo and Juliet?", "shakespeare"),
    ("What gas do plants take in from the air?", "carbon dioxide|co2"),
    ("What is the boiling point of water in Celsius?", "100"),
    ("How many continents are there?", "seven|7"),
    ("What is the chemical symbol for gold?", "au"),
]
MAX_TOKENS = 40


def right(text: str, expected: str) -> bool:
    import re

    return any(re.search(rf"\b{re.escape(word)}\b", text.lower()) for word in expected.split("|"))


def main() -> None:
    args = hf_common.parser(__doc__).parse_args()
    client = llmkit.Client(hf_common.model_id(args), threads=args.threads, max_tokens=MAX_TOKENS)
    questions = QUESTIONS[:5] if args.quick else QUESTIONS
    engine = client.backend.engine
    print(f"model: {client.model}; llmkit's defaults for a call that sets none: {client.backend.sampling_defaults}")

    import torch

    same = 0
    for q, _ in questions:
        text = engine.tokenizer.apply_chat_template([{"role": "user", "content": q}], tokenize=False,
                                                    add_generation_prompt=True)  # as transformers users do  # fmt: skip
        ids = engine.tokenizer(text, add_special_tokens=False).input_ids
        with torch.no_grad():
            out = engine.model.generate(torch.tensor([ids]), max_new_tokens=MAX_TOKENS,
                                        pad_token_id=engine.pad_id)  # the checkpoint's defaults, nothing else  # fmt: skip
        anchor = engine.tokenizer.decode(out[0, len(ids):], skip_special_tokens=True).strip()
        ours = client.chat(q).text.strip()
        same += anchor == ours
    print(f"llmkit default == model.generate() default: {same}/{len(questions)} answers identical (target: all)")

    greedy = client.chat_batch([[llmkit.user(q)] for q, _ in questions])
    greedy_right = sum(right(r.text, e) for r, (_, e) in zip(greedy, questions, strict=True))
    sampled_right = 0.0
    for seed in (1, 2, 3):
        sampled = client.chat_batch([[llmkit.user(q)] for q, _ in questions], temperature=1.0, seed=seed)
        sampled_right += sum(right(r.text, e) for r, (_, e) in zip(sampled, questions, strict=True)) / 3
    print(f"right answers: greedy (llmkit's default, as generate) {greedy_right}/{len(questions)}, "
          f"temperature 1 (OpenAI's default) {sampled_right:.1f}/{len(questions)} (mean of 3 seeds)")


if __name__ == "__main__":
    main()
