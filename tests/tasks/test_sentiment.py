"""Sentiment: logprob scoring on local models (no generation), structured or prompted
labels elsewhere; a list in gives a list out with per-item errors."""

import argparse
import math

import pytest
from task_doubles import scripted

import llmkit
from llmkit.cli import sentiment as sentiment_cli
from llmkit.errors import TaskError
from llmkit.tasks import Sentiment, sentiment

PROMPTED = {"capabilities": {"structured_output": False}}


def test_prompted_labels_are_parsed_and_an_unclear_answer_is_re_asked_then_an_error():
    r = sentiment("What a lovely day", model=scripted("Positive.", **PROMPTED))
    assert (r.label, r.strategy, r.score) == ("positive", "prompted", None)
    assert sentiment("meh", model=scripted("hmm", "negative", **PROMPTED)).label == "negative"
    with pytest.raises(TaskError, match="exactly one of negative, positive") as info:
        sentiment("meh", model=scripted("both negative and positive", "unsure", **PROMPTED))
    assert info.value.output == "unsure"


def test_structured_labels_are_constrained_to_the_given_labels():
    client = scripted('{"label": "mixed"}')
    r = sentiment("so-so", labels=["bad", "mixed", "good"], model=client)
    assert (r.label, r.strategy) == ("mixed", "structured")
    schema = client.backend.calls[0][2]["response_format"]
    assert schema["properties"]["label"]["enum"] == ["bad", "mixed", "good"]


def test_a_list_gives_results_in_order_with_per_item_errors():
    out = sentiment(["great", "", "awful"], model=scripted("positive", "negative", **PROMPTED), concurrency=1)
    assert isinstance(out[0], Sentiment) and out[0].label == "positive"
    assert isinstance(out[1], TaskError) and out[1].item == 1 and "empty" in out[1].message
    assert out[2].label == "negative"


def test_bad_labels_and_strategies_are_clear_errors():
    with pytest.raises(TaskError, match="at least two labels"):
        sentiment("x", labels=["only"], model="mock:echo")
    with pytest.raises(TaskError, match="distinct"):
        sentiment("x", labels=["a", "a"], model="mock:echo")
    with pytest.raises(TaskError, match="unknown sentiment strategy"):
        sentiment("x", model="mock:echo", strategy="vibes")


def test_local_models_score_each_label_without_generating(tiny_hf, monkeypatch):
    monkeypatch.setattr(tiny_hf, "chat", lambda *a, **k: pytest.fail("sentiment generated text"))
    out = sentiment(["The cat sat on the mat.", "A bird sang in the tree."], labels=["sad", "happy"],
                    model=tiny_hf)  # fmt: skip
    for r in out:
        assert r.strategy == "logprobs" and r.label in ("sad", "happy")
        assert math.isclose(sum(r.scores.values()), 1.0) and r.score == max(r.scores.values())


def test_a_long_text_is_scored_in_pieces_that_fit_the_window(tiny_hf):
    long = " ".join(["The dog sat on the log."] * 400)
    r = sentiment(long, model=tiny_hf)  # ~2,400 words: more than the 1,024-position window
    assert r.strategy == "logprobs" and math.isclose(sum(r.scores.values()), 1.0)


def test_the_command_prints_a_line_per_text_and_fails_when_one_failed(tmp_path, capsys):
    p = argparse.ArgumentParser()
    sentiment_cli.add_arguments(p)
    f = tmp_path / "reviews.txt"
    f.write_text("I loved it\nI hated it\n")
    args = p.parse_args([str(f), "--lines", "-m", "mock", "-o", "responses", '["positive", "negative"]',
                         "-o", "capabilities", '{"structured_output": false}'])  # fmt: skip
    assert sentiment_cli.run(args) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("positive\t-\tI loved it") and lines[1].startswith("negative")
    f.write_text("\x00\x01binary")
    with pytest.raises(llmkit.UsageError, match="looks binary"):
        sentiment_cli.run(p.parse_args([str(f), "-m", "mock:echo"]))


@pytest.mark.slow
def test_smollm2_tells_a_glowing_review_from_a_scathing_one(smollm2):
    good, bad = sentiment(["An absolute masterpiece: moving, funny and beautifully acted. I loved every minute.",
                           "A dull, painful mess. The worst film I have seen in years; I hated it."],
                          model=smollm2)  # fmt: skip
    assert good.strategy == "logprobs"
    assert good.scores["positive"] > bad.scores["positive"]  # the ordering, not a lucky label
