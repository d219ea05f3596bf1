"""HumanEval pass@1 (llmkit.tasks.evals.code_generation): programs really run with their
tests; a right program passes, a wrong one fails, on chat and completion models."""

import llmkit
from llmkit.tasks import CodeResult, generate_code_batch
from llmkit.tasks.evals.code_generation import _passes, _program, evaluate_generation, problems


def test_the_canonical_solutions_pass_and_a_wrong_one_fails():
    first, *_ = problems(3)
    assert _passes(_program(first, first["prompt"] + first["canonical_solution"]), timeout=30)
    assert _passes(_program(first, first["canonical_solution"]), timeout=30)  # a body alone goes under the prompt
    assert not _passes(_program(first, first["prompt"] + "    return None\n"), timeout=30)


def test_evaluation_on_a_chat_model_counts_what_passes():
    items = problems(2)

    def answer(messages, options):  # right code for the first problem when asked by generate_code, else junk
        asked = messages[-1].text
        if asked.startswith("Write a Python function"):
            return "I cannot"  # the naive prompt: prose, not a program
        if items[0]["entry_point"] in asked:
            return f"```python\n{items[0]['prompt']}{items[0]['canonical_solution']}```"
        return "```python\ndef nope(:\n```"

    report = evaluate_generation(llmkit.Client("mock", responses=answer), limit=2)
    assert report["n"] == 2 and report["llmkit"]["pass@1"] == 0.5 and report["raw"]["pass@1"] == 0.0
    assert report["solved"] == [items[0]["task_id"]] and report["llmkit"]["parsed"] == 0.5


def test_generate_code_batch_keeps_order_and_per_item_errors():
    def answer(messages, options):  # "set x" -> x = 1, whatever the order the requests arrive in
        name = "x" if "set x" in messages[-1].text else "y"
        return f"```python\n{name} = 1\n```"

    client = llmkit.Client("mock", responses=answer)
    results = generate_code_batch(["set x", "", "set y"], model=client)
    assert isinstance(results[0], CodeResult) and results[0].code.strip().startswith("x")
    assert isinstance(results[1], llmkit.TaskError)  # the empty one, alone
    assert isinstance(results[2], CodeResult) and results[2].code.strip().startswith("y")
