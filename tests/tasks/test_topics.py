"""Topics: TF-IDF + NMF finds the themes with no model (k by coherence), quality
measured by NPMI and diversity; a model only labels and merges, and a reply that does
not parse leaves keyword labels, reported."""

import argparse
import json
import os
import random
import subprocess
import sys
from pathlib import Path

import pytest
from task_doubles import scripted

import llmkit
from llmkit.cli import topics as topics_cli
from llmkit.errors import TaskError
from llmkit.tasks import Topics, extract_topics
from llmkit.tasks._coherence import diversity, document_sets, npmi, topic_npmi

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
THEMES = {
    "space": "rocket orbit satellite astronaut planet launch telescope galaxy".split(),
    "cooking": "oven bread butter flour sugar recipe bake dough".split(),
    "football": "goal striker match penalty referee league goalkeeper stadium".split(),
}


def corpus(per_theme=6, seed=1):
    """Documents that each use five words of one theme, interleaved; and their themes."""
    rng = random.Random(seed)
    docs, truth = [], []
    for _ in range(per_theme):
        for name, words in THEMES.items():
            w = rng.sample(words, 5)
            docs.append(f"The {w[0]} and the {w[1]} were seen with a {w[2]}, a {w[3]} and the {w[4]} today.")
            truth.append(name)
    return docs, truth


def grouping(assignments):
    """The partition of document indices that assignments make (labels ignored)."""
    groups = {}
    for i, a in enumerate(assignments):
        groups.setdefault(a, set()).add(i)
    return sorted(map(sorted, groups.values()))


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_separated_themes_are_found_with_k_chosen_by_coherence(seed):
    docs, truth = corpus(seed=seed)
    r = extract_topics(docs)
    assert isinstance(r, Topics) and (r.k, r.k_by, r.strategy, r.labels_by) == (3, "coherence", "tfidf-nmf", "keywords")
    assert grouping(r.assignments) == grouping(truth)
    for t in r.topics:
        theme = truth[t.documents[0]]
        assert set(t.words[:5]) <= set(THEMES[theme])  # its keywords are its theme's words
        assert t.size == 6 and len(t.documents) == 3 and all(truth[d] == theme for d in t.documents)
        assert t.label == ", ".join(t.words[:3])
        weights = [w for _, w in t.keywords]
        assert weights == sorted(weights, reverse=True) and 0 < sum(weights) <= 1.001  # rounded shares
    assert 0.2 < r.coherence <= 1 and 0.8 < r.diversity <= 1  # "seen" and "today" are in every document


def test_k_given_is_kept_and_results_are_deterministic():
    docs, _ = corpus()
    a, b = extract_topics(docs, k=2), extract_topics(docs, k=2)
    assert a.k == 2 and a.k_by == "given" and a == b
    assert extract_topics(docs, k=4).k == 4


def test_coherence_and_diversity_measures():
    docs = document_sets([["a", "b"], ["a", "b"], ["c"], ["c", "d"]])
    assert npmi("a", "b", docs) == pytest.approx(1.0)  # always together
    assert npmi("a", "c", docs) == -1.0  # never together
    assert -1 < npmi("c", "d", docs) < 1
    assert topic_npmi(["a"], docs) == 0.0
    assert diversity([["a", "b"], ["a", "c"]]) == 0.75 and diversity([["a"], ["a"]]) == 0.5


def test_too_few_or_empty_documents_are_clear_errors():
    with pytest.raises(TaskError, match="at least 3 non-empty documents, got 2"):
        extract_topics(["cats purr", "", "dogs bark", "  "])
    with pytest.raises(TaskError, match="list of documents, not one text"):
        extract_topics("one long text")
    with pytest.raises(TaskError, match="no words to form topics"):
        extract_topics(["the and of", "123 456", "!!! ..."])
    with pytest.raises(TaskError, match="document 1 is a int"):
        extract_topics(["a b", 5, "c d"])
    with pytest.raises(TaskError, match="k must be a positive"):
        extract_topics(corpus()[0], k=0)


def test_an_empty_document_is_assigned_no_topic():
    docs, _ = corpus()
    r = extract_topics([*docs, "", "the of and"], k=3)
    assert r.assignments[-2:] == [-1, -1] and sum(t.size for t in r.topics) == len(docs)


def test_no_model_is_loaded_without_model(monkeypatch):
    monkeypatch.setattr(llmkit.Client, "__init__", lambda *a, **k: pytest.fail("a model was loaded"))
    assert extract_topics(corpus()[0]).k == 3


def _labelled(reply_for_topic):
    """A reply labelling each topic from its keywords in the prompt."""

    def respond(messages, options):
        prompt = messages[0].text
        lines = [line for line in prompt.splitlines() if line.startswith("Topic ")]
        return "\n".join(f"{i}: {reply_for_topic(line)}" for i, line in enumerate(lines, 1))

    return respond


def test_a_model_labels_the_topics():
    docs, truth = corpus()
    names = {"space": "Space", "cooking": "Baking", "football": "Football"}

    def label(line):  # the theme whose words the topic's keyword line shows
        return next(names[t] for t, words in THEMES.items() if sum(w in line for w in words) >= 3)

    client = llmkit.Client("mock", responses=_labelled(label))
    r = extract_topics(docs, model=client)
    assert (r.strategy, r.labels_by, r.k) == ("tfidf-nmf+model-labels", "model", 3)
    assert sorted(t.label for t in r.topics) == ["Baking", "Football", "Space"]
    prompt = client.backend.calls[0][1][0].text
    assert "Example:" in prompt and "N: label" in prompt
    for t in r.topics:
        assert t.label == names[truth[t.documents[0]]]


def test_topics_given_the_same_label_are_merged():
    docs, truth = corpus()
    r3 = extract_topics(docs, k=3)
    food_or_not = ["Food" if truth[t.documents[0]] == "cooking" else "Games and space" for t in r3.topics]
    reply = "\n".join(f"Topic {i}: **{label}**" for i, label in enumerate(food_or_not, 1))
    r = extract_topics(docs, k=3, model=scripted(reply))
    assert r.k == 2 and sorted(t.label for t in r.topics) == ["Food", "Games and space"]
    merged = next(t for t in r.topics if t.label == "Games and space")
    assert merged.size == 12 and len(merged.keywords) == 10
    assert {truth[i] for i, a in enumerate(r.assignments) if r.topics[a] is merged} == {"space", "football"}
    assert any("merged" in n for n in r.notes)


def test_an_unparseable_label_reply_is_re_asked_then_keyword_labels_are_kept():
    docs, _ = corpus()
    client = scripted("Sure! These are nice topics.", "1: Space\n2: Baking")  # both miss a topic
    r = extract_topics(docs, k=3, model=client)
    assert len(client.backend.calls) == 2 and "give a label for topics 1, 2, 3" in client.backend.calls[1][1][-1].text
    assert r.labels_by == "keywords" and r.topics[0].label == ", ".join(r.topics[0].words[:3])
    assert any("could not be used" in n and "keyword labels kept" in n for n in r.notes)
    fixed = extract_topics(docs, k=3, model=scripted("nonsense", "1: A\n2: B\n3: C"))
    assert fixed.labels_by == "model" and [t.label for t in fixed.topics] == ["A", "B", "C"]


def test_cli_documents_per_file_paragraph_or_line(tmp_path, capsys):
    docs, _ = corpus()
    paths = []
    for i, d in enumerate(docs):
        paths.append(tmp_path / f"doc{i}.txt")
        paths[-1].write_text(d)
    p = argparse.ArgumentParser()
    topics_cli.add_arguments(p)
    assert topics_cli.run(p.parse_args([*map(str, paths), "--json"])) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["documents"][0].endswith("doc0.txt") and out["result"]["k"] == 3
    assert len(out["result"]["assignments"]) == len(docs)

    joined = tmp_path / "all.txt"
    joined.write_text("\n\n".join(docs))
    assert topics_cli.run(p.parse_args([str(joined), "-k", "3"])) == 0
    text = capsys.readouterr().out
    assert text.startswith("3 topics in 18 documents (k given, labels by keywords)") and "all.txt:1" in text
    joined.write_text("\n".join(docs))
    names, texts = topics_cli.documents([("all.txt", joined.read_text())], "line")
    assert len(texts) == 18 and names[1] == "all.txt:2"


def test_example_runs_without_a_model():
    r = subprocess.run([sys.executable, str(EXAMPLES / "tasks_topics.py")], capture_output=True, text=True,
                       timeout=120, env=os.environ.copy())  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert "3 topics (k chosen by coherence)" in r.stdout
    assert "rocket" in r.stdout and "oven" in r.stdout and "goal" in r.stdout
