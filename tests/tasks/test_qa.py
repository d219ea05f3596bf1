"""Question answering: retrieval over documents, citations checked against the text,
abstention; structured or prompted on scripted models (good and bad output), the
extractive strategy on local models, the batch form, the command and the example."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import pytest
from task_doubles import scripted

from llmkit.cli import qa as qa_cli
from llmkit.errors import TaskError, UsageError
from llmkit.tasks import Answer, answer, answer_batch

PROMPTED = {"capabilities": {"structured_output": False, "logprobs": False}}
DOCS = [
    "The Eiffel Tower is a wrought-iron lattice tower in Paris. It was built for the 1889 World's Fair.",
    "Photosynthesis lets plants turn sunlight, water and carbon dioxide into sugar and oxygen.",
    "The Great Wall of China was built over centuries to protect Chinese states from raids.",
    "Honey bees live in colonies with one queen, thousands of workers and some drones.",
]


def reply(answer, quote, passage=1):
    return json.dumps({"answer": answer, "quote": quote, "passage": passage})


def check_citations(a: Answer, docs: list[str]) -> None:
    for c in a.citations:
        assert docs[c.document][c.start : c.end] == c.text


# --- structured (mock: native JSON) --------------------------------------------------


def test_a_structured_answer_is_cited_at_its_offsets_in_the_right_document():
    client = scripted(reply("in 1889", "built for the 1889 World's Fair"))
    a = answer("When was the Eiffel Tower built?", DOCS, model=client)
    assert (a.answer, a.abstained, a.strategy) == ("in 1889", False, "structured")
    (c,) = a.citations
    assert c.document == 0 and c.text == "built for the 1889 World's Fair"
    check_citations(a, DOCS)
    assert a.passages[0].document == 0  # retrieval put the tower first among the four
    prompt = client.backend.calls[0][1][-1].text
    assert prompt.index("Eiffel") < prompt.index("Question:") and "[1] The Eiffel Tower" in prompt


def test_retrieval_picks_the_right_document_among_many():
    docs = [f"Note {i}: the meeting about budget item {i} was moved to room {100 + i}." for i in range(40)]
    docs.insert(27, "The lighthouse keeper, Ada Brook, lit the lamp every night at dusk.")
    client = scripted(reply("Ada Brook", "Ada Brook", 1))
    a = answer("Who was the lighthouse keeper?", docs, model=client, top_k=2)
    assert a.citations[0].document == 27 and a.passages[0].document == 27 and len(a.passages) == 2
    check_citations(a, docs)
    assert "lighthouse" in client.backend.calls[0][1][-1].text


def test_a_quote_in_another_case_or_spacing_is_cited_as_the_document_has_it():
    a = answer("What do plants make?", DOCS, model=scripted(reply("sugar", "SUGAR   and oxygen")))
    assert a.citations[0].text == "sugar and oxygen" and a.citations[0].document == 1
    check_citations(a, DOCS)


def test_a_quote_not_in_the_passage_is_re_asked_then_an_error():
    client = scripted(reply("1900", "built in 1900"), reply("1889", "for the 1889 World's Fair"))
    a = answer("When was the Eiffel Tower built?", DOCS, model=client)
    assert a.answer == "1889" and a.citations[0].text == "for the 1889 World's Fair"
    again = client.backend.calls[1][1][-1].text
    assert "is not in passage 1" in again and "built in 1900" in again

    bad = scripted(reply("1900", "built in 1900"), reply("1900", "still not there"))
    with pytest.raises(TaskError, match="did not check out after a re-ask") as info:
        answer("When was the Eiffel Tower built?", DOCS, model=bad)
    assert "still not there" in info.value.output


def test_an_answer_without_a_quote_is_re_asked():
    client = scripted(reply("1889", None), reply("1889", "1889"))
    a = answer("When was the Eiffel Tower built?", DOCS, model=client)
    assert a.citations[0].text == "1889" and "give the quote" in client.backend.calls[1][1][-1].text


def test_malformed_json_is_a_clear_error():
    with pytest.raises(TaskError, match="did not fit the schema"):
        answer("When was it built?", DOCS, model=scripted("not json", "still {not", "nope"))


def test_a_null_answer_is_an_abstention():
    a = answer("Who painted the Mona Lisa?", DOCS, model=scripted(reply(None, None, None)))
    assert a.abstained and a.answer is None and a.citations == [] and a.reason
    assert a.strategy == "structured"


# --- prompted ------------------------------------------------------------------------


def test_prompted_lines_are_parsed_and_verified():
    text = "Answer: one queen\nQuote: one queen\nPassage: 1"
    a = answer("How many queens does a colony have?", DOCS, model=scripted(text, **PROMPTED))
    assert (a.answer, a.strategy, a.citations[0].document) == ("one queen", "prompted", 3)
    check_citations(a, DOCS)
    none = answer("Who painted the Mona Lisa?", DOCS, model=scripted("Answer: NONE\nQuote: NONE\nPassage: NONE", **PROMPTED))
    assert none.abstained and none.answer is None


def test_prompted_garbage_is_re_asked_once_then_an_error():
    client = scripted("I think bees are nice.", "Answer: one queen\nQuote: one queen\nPassage: 1", **PROMPTED)
    assert answer("How many queens?", DOCS, model=client).answer == "one queen"
    assert "Answer: ..." in client.backend.calls[1][1][-1].text
    with pytest.raises(TaskError, match="did not fit after a re-ask"):
        answer("How many queens?", DOCS, model=scripted("bees", "Answer: two\nQuote: two kings\nPassage: 1", **PROMPTED))


# --- inputs and batches ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("question", "documents", "message"),
    [
        ("Who?", [], "no documents"),
        ("Who?", None, "needs documents"),
        ("", DOCS, "question is empty"),
        ("   ", DOCS, "question is empty"),
        ("Who?", ["fine", "  "], "document 2 is empty"),
        ("Who?", [b"bytes"], "is bytes"),
    ],
)
def test_bad_inputs_are_clear_errors(question, documents, message):
    with pytest.raises(TaskError, match=message):
        answer(question, documents, model=scripted())


def test_bad_settings_are_clear_errors():
    with pytest.raises(TaskError, match="unknown qa strategy"):
        answer("Who?", DOCS, model=scripted(), strategy="guess")
    with pytest.raises(TaskError, match="needs log-probabilities"):
        answer("Who?", DOCS, model=scripted(), strategy="extractive")
    with pytest.raises(TaskError, match="top_k"):
        answer("Who?", DOCS, model=scripted(), top_k=0)
    with pytest.raises(TaskError, match="hybrid retrieval needs embeddings"):
        answer("Who?", DOCS, model=scripted(capabilities={"embeddings": False}), retrieval="hybrid")


def test_hybrid_retrieval_uses_the_models_embeddings():
    client = scripted(reply("one queen", "one queen"))
    a = answer("How many queens live in a colony of honey bees?", DOCS, model=client, retrieval="hybrid", top_k=1)
    assert a.passages[0].document == 3 and a.citations[0].document == 3
    assert any(kind == "embed" for kind, _, _ in client.backend.calls)
    batch = scripted(reply("one queen", "one queen"), reply("1889", "1889"))
    out = answer_batch(["How many queens?", "When was the tower built?"], DOCS, model=batch, retrieval="hybrid",
                       concurrency=1)  # fmt: skip
    assert [a.citations[0].document for a in out] == [3, 0]
    embedded = [texts for kind, texts, _ in batch.backend.calls if kind == "embed"]
    assert len(embedded) == 3 and sum(len(t) == len(DOCS) for t in embedded) == 1  # passages once, then each question


def test_a_batch_keeps_order_and_holds_a_failed_items_error():
    client = scripted(reply("1889", "1889"), reply("one queen", "one queen"))
    out = answer_batch(["When was the tower built?", "", "How many queens?"], DOCS, model=client, concurrency=1)
    assert isinstance(out[0], Answer) and out[0].citations[0].document == 0
    assert isinstance(out[1], TaskError) and out[1].item == 1 and "question is empty" in out[1].message
    assert isinstance(out[2], Answer) and out[2].answer == "one queen"


def test_a_batch_with_one_document_list_per_question():
    client = scripted(reply("Paris", "Paris"), reply("oxygen", "oxygen"))
    out = answer_batch(["Where is the tower?", "What do plants give off?"], [[DOCS[0]], [DOCS[1]]], model=client,
                       concurrency=1)  # fmt: skip
    assert [a.citations[0].document for a in out] == [0, 0]  # each its own list's first document
    with pytest.raises(TaskError, match="2 questions but 3 document lists"):
        answer_batch(["a?", "b?"], [[DOCS[0]], [DOCS[1]], [DOCS[2]]], model=scripted())
    with pytest.raises(TaskError, match="mix texts and lists"):
        answer_batch(["a?"], [DOCS[0], [DOCS[1]]], model=scripted())


def test_long_documents_are_cut_into_passages_that_fit_the_window():
    filler = " ".join(f"Sentence {i} is about nothing much." for i in range(200))
    doc = filler + " The treasure is buried under the old oak tree. " + filler
    client = scripted(reply("under the old oak tree", "under the old oak tree"), context_window=400)
    a = answer("Where is the treasure buried?", [doc], model=client)
    assert len(a.passages) >= 1 and "treasure" in a.passages[0].text
    assert all(client.count_tokens(p.text) <= 80 for p in a.passages)  # the window less the prompt's reserve
    assert a.citations[0].start > len(filler)
    check_citations(a, [doc])


# --- the command and the example ---------------------------------------------------------


def qa_args(*argv):
    p = argparse.ArgumentParser()
    qa_cli.add_arguments(p)
    return p.parse_args(list(argv))


def test_the_command_prints_the_answer_with_file_offsets(tmp_path, capsys):
    f1, f2 = tmp_path / "tower.txt", tmp_path / "bees.txt"
    f1.write_text(DOCS[0])
    f2.write_text(DOCS[3])
    script = json.dumps([reply("one queen", "one queen", 1)])
    args = qa_args("-d", str(f1), "-d", str(f2), "How", "many", "queens?", "-m", "mock", "-o", "responses", script)
    assert qa_cli.run(args) == 0
    out = capsys.readouterr().out.splitlines()
    start = DOCS[3].index("one queen")
    assert out == ["one queen", f'[1] {f2}:{start}-{start + 9} "one queen"']


def test_the_command_says_when_the_documents_do_not_answer_and_gives_json(tmp_path, capsys):
    f = tmp_path / "tower.txt"
    f.write_text(DOCS[0])
    script = json.dumps([reply(None, None, None), reply("Paris", "in Paris", 1)])
    assert qa_cli.run(qa_args("-d", str(f), "Who painted it?", "-m", "mock", "-o", "responses", script)) == 0
    assert capsys.readouterr().out.strip() == qa_cli.ABSTAINED
    script = json.dumps([reply("Paris", "in Paris", 1)])
    assert qa_cli.run(qa_args("-d", str(f), "Where?", "--json", "-m", "mock", "-o", "responses", script)) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["answer"] == "Paris" and data["abstained"] is False
    c = data["citations"][0]
    assert DOCS[0][c["start"] : c["end"]] == c["text"] == "in Paris"


def test_the_command_reports_bad_input(tmp_path):
    f = tmp_path / "blob.bin"
    f.write_bytes(b"\x00\x01\x02")
    with pytest.raises(UsageError, match="looks binary"):
        qa_cli.run(qa_args("-d", str(f), "Who?", "-m", "mock:echo"))
    g = tmp_path / "ok.txt"
    g.write_text("text")
    with pytest.raises(UsageError, match="question is empty"):
        qa_cli.run(qa_args("-d", str(g), " ", "-m", "mock:echo"))
    with pytest.raises(UsageError, match="cannot read"):
        qa_cli.run(qa_args("-d", str(tmp_path / "missing.txt"), "Who?", "-m", "mock:echo"))


def test_the_example_runs_offline():
    example = Path(__file__).resolve().parents[2] / "examples" / "tasks_qa.py"
    r = subprocess.run([sys.executable, str(example)], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert "A: Rollo [structured]" in r.stdout and "'Their leader Rollo' verified=True" in r.stdout
    assert "A: (abstained:" in r.stdout and "verified=False" not in r.stdout
    assert "re-asked: the quote 'their great leader Rollo' is not in passage 1" in r.stdout


# --- extractive (log-probabilities) ------------------------------------------------------


def scored(free: str, logprob):
    """A scripted model that has log-probabilities: `free` is its answer, `logprob(text, context)` its scores."""
    from llmkit.types import Logprobs, TokenLogprob

    client = scripted(free, capabilities={"logprobs": True})
    client.logprobs = lambda text, context=None: Logprobs([TokenLogprob(text, logprob(text, context))])
    return client


def asked_well(text, context):
    """Scores for a model that finds the question likely and prefers short answers."""
    return -1.0 if context.endswith("Question:") else -float(len(text))


def test_extractive_answers_with_the_span_the_free_answer_means():
    client = scored("The tower was built in 1889.", asked_well)
    a = answer("When was the Eiffel Tower built?", DOCS, model=client)
    assert (a.answer, a.abstained, a.strategy) == ("1889", False, "extractive")
    check_citations(a, DOCS)
    assert a.citations[0].document == 0 and a.scores["question"] == -1.0 and a.scores["overlap"] == 1.0
    tokens = client.count_tokens(" 1889\n")
    assert a.scores["answer"] == pytest.approx(-len(" 1889\n") / tokens, abs=1e-3)
    assert a.scores["support"] == pytest.approx(-1.0 + 2 * a.scores["answer"], abs=1e-3)
    assert 0.5 < a.confidence <= 1
    prompt = client.backend.calls[0][1][-1].text
    assert "1889 World's Fair" in prompt and "Honey bees" not in prompt  # it read only the best sentences
    assert all(p.document == 0 for p in a.passages)


def test_extractive_scores_the_candidate_spans_and_keeps_the_likeliest():
    docs = ["The Norse raiders, under their leader Rollo, agreed to swear fealty to the king."]
    seen = []

    def logprob(text, context):
        seen.append((text, context))
        return asked_well(text, context)

    a = answer("Who was the Norse leader?", docs, model=scored("Rollo, a Danish pirate who agreed to swear", logprob))
    assert a.answer == "Rollo" and a.citations[0].start == docs[0].index("Rollo")
    spans = [text for text, context in seen if context.endswith("Answer:")]
    assert len(spans) >= 2 and " Rollo\n" in spans and all(t.endswith("\n") for t in spans)
    assert a.scores["answer"] == pytest.approx(-len(" Rollo\n") / scored("", asked_well).count_tokens(" Rollo\n"))


def test_extractive_abstains_without_generating_when_the_text_makes_the_question_unlikely():
    client = scored("in 1889", lambda text, context: -80.0)
    a = answer("When was the Eiffel Tower built?", DOCS, model=client)
    assert a.abstained and a.answer is None and a.citations == [] and "do not say this" in a.reason
    assert a.scores == {"question": -80.0, "support": -80.0} and a.confidence < 0.5
    assert not [c for c in client.backend.calls if c[0] == "chat"]  # no answer was generated
    unlikely = lambda text, context: -80.0 if context.endswith("Question:") else -1.0  # noqa: E731
    lenient = answer("When was the Eiffel Tower built?", DOCS, threshold=-100.0, model=scored("in 1889", unlikely))
    assert lenient.answer == "1889" and not lenient.abstained
    unsure = answer("When was the Eiffel Tower built?", DOCS,  # a likely question, an unlikely answer
                    model=scored("in 1889", lambda text, context: -5.0 if context.endswith("Question:") else -60.0))
    assert unsure.abstained and unsure.scores["support"] < -25 and unsure.scores["overlap"] == 1.0
    forced = answer("When was the Eiffel Tower built?", DOCS, abstain=False, model=scored("in 1889", unlikely))
    assert forced.answer == "1889" and not forced.abstained
    with pytest.raises(TaskError, match="threshold must be a number"):
        answer("When?", DOCS, model=scored("x", asked_well), threshold="high")


def test_extractive_abstains_when_the_free_answer_is_not_in_the_text():
    a = answer("When was the Eiffel Tower built?", DOCS, model=scored("Napoleon did it", asked_well))
    assert a.abstained and "not in the documents" in a.reason
    b = answer("Who sings opera?", DOCS, model=scored("nobody", asked_well))
    assert b.abstained and "shares a word" in b.reason  # no passage holds any word of the question


def test_a_tiny_local_model_gives_a_valid_answer_with_consistent_offsets(tiny_hf):
    out = answer_batch(["When was the Eiffel Tower built?", "What do honey bees live in?"], DOCS, model=tiny_hf,
                       threshold=-1e9)  # a random model finds every question unlikely  # fmt: skip
    for a in out:
        assert isinstance(a, Answer) and a.strategy == "extractive"
        check_citations(a, DOCS)
        if a.abstained:
            assert a.answer is None and a.reason
        else:
            assert a.answer == a.citations[0].text and {"question", "overlap"} <= set(a.scores)
        assert all(DOCS[p.document][p.start : p.end] == p.text for p in a.passages)


def test_the_bundled_model_with_its_small_window_reads_sentences_that_fit():
    import llmkit

    long = " ".join(DOCS * 30)  # ~900 words: far past mini's 255-token window
    with llmkit.Client("mini") as client:
        (a,) = answer_batch(["What do plants make from sunlight?"], [long, DOCS[2]], model=client, threshold=-1e9)
        assert isinstance(a, Answer) and a.strategy == "extractive"
        check_citations(a, [long, DOCS[2]])
        assert a.passages and all(client.count_tokens(p.text) <= 64 for p in a.passages)  # (255 - 128) // 2
        assert all([long, DOCS[2]][p.document][p.start : p.end] == p.text for p in a.passages)


# --- SmolLM2 end to end (slow) ----------------------------------------------------------

NORMANS = [
    "The Normans were the people who in the 10th and 11th centuries gave their name to Normandy, a region in "
    "France. They were descended from Norse raiders and pirates from Denmark, Iceland and Norway who, under "
    "their leader Rollo, agreed to swear fealty to King Charles III of West Francia.",
    "Honey bees live in colonies with one queen, thousands of female workers and a few hundred drones.",
]


@pytest.mark.slow
def test_smollm2_cites_an_answer_it_finds_and_abstains_on_what_the_text_does_not_say(smollm2):
    a = answer("Who was the leader of the Norse raiders?", NORMANS, model=smollm2)
    assert a.strategy == "extractive" and not a.abstained and a.citations
    check_citations(a, NORMANS)
    assert a.citations[0].document == 0 and a.answer in NORMANS[0]
    b = answer("What did the Norse raiders eat for breakfast on their ships?", NORMANS, model=smollm2)
    assert b.abstained and b.answer is None and b.citations == []


@pytest.mark.slow
def test_evaluate_squad_reports_both_figures_on_a_few_questions(smollm2, tmp_path):
    import json

    from llmkit.tasks.evals.squad import evaluate_squad

    context = NORMANS[0]  # a file in the official SQuAD 2.0 format, written here (no shared data needed)
    qas = [{"id": "a1", "question": "Who was the leader of the Norse?", "is_impossible": False,
            "answers": [{"text": "Rollo", "answer_start": context.index("Rollo")}]},
           {"id": "a2", "question": "Which region of France is named after the Normans?", "is_impossible": False,
            "answers": [{"text": "Normandy", "answer_start": context.index("Normandy")}]},
           {"id": "n1", "question": "Who was the leader of the Danes in 1200?", "is_impossible": True, "answers": []},
           {"id": "n2", "question": "What did the raiders eat on their ships?", "is_impossible": True, "answers": []}]
    data = tmp_path / "squad.json"
    data.write_text(json.dumps({"version": "v2.0", "data": [{"title": "Normans",
                                                             "paragraphs": [{"context": context, "qas": qas}]}]}))
    out = evaluate_squad(smollm2, data, limit=4)
    for part in ("answer", "naive"):
        figures = out[part]
        assert figures["total"] == 4 and figures["has_ans"] + figures["no_ans"] == 4
        assert all(0 <= figures[k] <= 100 for k in ("exact", "f1", "has_ans_f1") if figures[k] is not None)
        assert figures["seconds"] > 0 and figures["errors"] == 0
    assert out["answer"]["strategy"] == "extractive" and out["questions"] == 4
