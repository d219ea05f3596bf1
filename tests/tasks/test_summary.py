"""Summaries: one request when the text fits, map-reduce by the model's own window when
it does not; every summary sentence traced to source spans (or shown as untraced);
empty or too-long answers re-asked, then errors."""

import argparse
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from task_doubles import scripted

import llmkit
from llmkit.cli import summarize as summarize_cli
from llmkit.errors import TaskError
from llmkit.tasks import Summary, summarize, summarize_batch
from llmkit.tasks._trace import content_words, sentence_spans, trace

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
SOURCE = ("The city council met on Monday to discuss the new park. Residents asked for more trees and a playground. "
          "The mayor promised a decision by June.\n\nIn other news, the river flooded the old bridge. "
          "Engineers say repairs will take three months. Traffic is diverted through the north road.")  # fmt: skip


def first_sentence(messages, options):
    """A scripted 'model': the first sentence of the text after 'Text:'."""
    text = messages[-1].text.split("Text:\n", 1)[-1].strip()
    return re.split(r"(?<=[.!?])\s", text, maxsplit=1)[0]


def long_text(paragraphs=8):
    topics = ["harbour", "school", "railway", "library", "hospital", "market", "bridge", "museum"]
    return "\n\n".join(
        f"The {t} opened a new wing this spring. Visitors to the {t} praised its bright rooms and its staff. "
        f"Funding for the {t} came from the regional budget and private donors."
        for t in (topics * 2)[:paragraphs]
    )  # fmt: skip


def test_a_short_text_is_summarised_in_one_request_and_each_sentence_is_traced():
    client = scripted("Summary: The council discussed a new park and the mayor promised a decision by June. "
                      "Engineers will repair the flooded bridge in three months. Aliens landed.")  # fmt: skip
    r = summarize(SOURCE, model=client)
    assert isinstance(r, Summary) and (r.strategy, r.chunks, r.rounds) == ("single", 1, 1)
    assert r.text.startswith("The council") and r.words == 25
    first, second, third = r.sentences
    assert [SOURCE[a:b] for a, b in first.sources] == [
        "The city council met on Monday to discuss the new park.",
        "The mayor promised a decision by June.",
    ]
    assert [SOURCE[a:b] for a, b in second.sources] == [
        "In other news, the river flooded the old bridge.",
        "Engineers say repairs will take three months.",
    ]
    assert second.overlap == 1.0 and 0.5 < first.overlap < 1
    assert third.sources == [] and third.overlap == 0.0 and r.untraced == [third]  # not claimed
    assert all(r.text[s.start : s.end] == s.text for s in r.sentences)
    prompt = client.backend.calls[0][1][0].text
    assert "in 3 sentences" in prompt and SOURCE in prompt


def test_the_length_asked_for_reaches_the_prompt():
    client = scripted("The park.", "The bridge.", "Both.")
    summarize(SOURCE, words=12, model=client)
    summarize(SOURCE, sentences=1, model=client)
    summarize(SOURCE, sentences=2, model=client)
    prompts = [c[1][0].text for c in client.backend.calls]
    assert "in about 12 words" in prompts[0] and "in one sentence" in prompts[1] and "in 2 sentences" in prompts[2]
    assert client.backend.calls[0][2]["max_tokens"] == 48 and client.backend.calls[0][2]["temperature"] == 0


def test_bad_lengths_are_clear_errors():
    with pytest.raises(TaskError, match="not both"):
        summarize(SOURCE, words=10, sentences=2, model="mock:echo")
    with pytest.raises(TaskError, match="positive whole number"):
        summarize(SOURCE, words=0, model="mock:echo")
    with pytest.raises(TaskError, match="empty"):
        summarize("   ", model="mock:echo")


def test_an_empty_or_too_long_summary_is_re_asked_then_an_error():
    r = summarize(SOURCE, model=scripted("", "The park and the bridge."))
    assert r.text == "The park and the bridge."
    with pytest.raises(TaskError, match="longer than the text") as info:
        summarize(SOURCE, model=scripted("", SOURCE + " And more words."))
    assert info.value.output == SOURCE + " And more words."
    client = scripted("Here is a summary:", "   ")
    with pytest.raises(TaskError, match="summary is empty"):
        summarize(SOURCE, model=client)
    assert "summary is empty" in client.backend.calls[1][1][-1].text  # the re-ask says why


def test_a_long_text_goes_map_reduce_within_the_window():
    text = long_text()
    client = llmkit.Client("mock", responses=first_sentence, context_window=120)
    r = summarize(text, words=10, model=client)
    assert r.strategy == "map-reduce" and r.chunks > 2 and r.rounds >= 2
    calls = client.backend.calls
    assert len(calls) > r.chunks  # the pieces, then the summaries of their summaries
    for _, messages, options in calls:  # every request fit the pretend window with its answer
        assert int(client.count_tokens(messages)) + options["max_tokens"] <= 120
    assert "part of a longer text" in calls[0][1][0].text and "part of" not in calls[-1][1][0].text
    assert r.text == "The harbour opened a new wing this spring."
    (only,) = r.sentences
    assert [text[a:b] for a, b in only.sources] == ["The harbour opened a new wing this spring."]


def test_map_reduce_that_does_not_shrink_is_an_error_not_a_loop():
    def echo_piece(messages, options):
        return messages[-1].text.split("Text:\n", 1)[-1]

    with pytest.raises(TaskError, match="no shorter than the pieces"):
        summarize(long_text(), words=10, model=llmkit.Client("mock", responses=echo_piece, context_window=120))


def test_batch_keeps_order_with_per_item_errors():
    out = summarize_batch([SOURCE, "", long_text(2)], words=10, model=llmkit.Client("mock", responses=first_sentence))
    assert out[0].text == "The city council met on Monday to discuss the new park."
    assert isinstance(out[1], TaskError) and out[1].item == 1
    assert out[2].text.startswith("The harbour")
    with pytest.raises(TaskError, match="list of texts"):
        summarize_batch(SOURCE, model="mock:echo")


def test_trace_helpers():
    assert sentence_spans("  One. Two!\nThree  ") == [(2, 6), (7, 11), (12, 17)]
    assert content_words("The bridges were closed") == {"bridge", "closed"}
    assert trace("the of and", SOURCE) == ([], 0.0)


def test_a_tiny_local_model_gives_a_well_formed_summary(tiny_hf):
    text = long_text(16)
    assert int(tiny_hf.count_tokens(text)) > tiny_hf.context_window()  # it must go map-reduce
    r = summarize(text, words=5, model=tiny_hf)
    assert r.strategy == "map-reduce" and r.chunks >= 2 and r.text.strip()
    assert r.words <= len(text.split())
    for s in r.sentences:
        assert r.text[s.start : s.end] == s.text
        assert all(0 <= a < b <= len(text) for a, b in s.sources) and 0 <= s.overlap <= 1


def test_cli_prints_the_summary_or_its_sources(tmp_path, capsys, monkeypatch):
    path = tmp_path / "news.txt"
    path.write_text(SOURCE)
    monkeypatch.setattr(summarize_cli, "task_client", lambda args: llmkit.Client("mock", responses=first_sentence))
    p = argparse.ArgumentParser()
    summarize_cli.add_arguments(p)
    assert summarize_cli.run(p.parse_args([str(path), "--words", "10"])) == 0
    assert capsys.readouterr().out.strip() == "The city council met on Monday to discuss the new park."
    summarize_cli.run(p.parse_args([str(path), "--sources"]))
    assert "[line 1; overlap 100%]" in capsys.readouterr().out
    summarize_cli.run(p.parse_args([str(path), "--json"]))
    out = json.loads(capsys.readouterr().out)
    assert out["strategy"] == "single" and out["sentences"][0]["sources"] == [[0, 55]]
    with pytest.raises(SystemExit):
        p.parse_args([str(path), "--words", "5", "--sentences", "2"])


def test_example_runs_offline():
    r = subprocess.run([sys.executable, str(EXAMPLES / "tasks_summarize_extract.py")], capture_output=True,
                       text=True, timeout=120, env=os.environ.copy())  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert "summary (map-reduce, 3 pieces, 2 rounds): Ada Lovelace lives in London." in r.stdout
    assert "extraction (prompted, 2 pieces): 4 records" in r.stdout
    assert "Person(name='Charles Babbage', city='Paris') found as {}, not in the text: ['name', 'city']" in r.stdout


@pytest.mark.slow
def test_smollm2_summarises_a_paragraph(smollm2):
    r = summarize(SOURCE, words=20, model=smollm2)
    assert r.strategy == "single" and 0 < r.words <= len(SOURCE.split())
    assert any(s.sources for s in r.sentences)  # some of it comes from the source
