"""The pieces under tasks.answer, on hand-made cases: BM25 retrieval, sentence ranking,
aligning a free answer to a passage span, and the official SQuAD 2.0 metrics."""

from __future__ import annotations

import json

import pytest

from llmkit.tasks._retrieval import Index, bm25, content_words, fuse, sentences, stem
from llmkit.tasks._spans import Span, align, norm_words, overlap, trim
from llmkit.tasks.evals.squad import exact, f1, load_squad, normalize, score_predictions

DOCS = [
    "The Eiffel Tower is a wrought-iron lattice tower in Paris, built for the 1889 World's Fair.",
    "Photosynthesis lets plants turn sunlight, water and carbon dioxide into sugar and oxygen.",
    "The Great Wall of China was built over centuries to protect Chinese states from raids.",
    "Honey bees live in colonies with one queen, thousands of workers and some drones.",
]


# --- retrieval -------------------------------------------------------------------


def test_bm25_finds_the_document_among_many():
    assert bm25("What do plants make from sunlight?", DOCS)[0].index == 1
    assert bm25("How many queens does a bee colony have?", DOCS)[0].index == 3
    hits = bm25("When was the Eiffel tower built?", DOCS)
    assert hits[0].index == 0 and hits[0].score > hits[1].score
    assert sorted(h.index for h in hits) == [0, 1, 2, 3]  # every document, ranked


def test_bm25_with_no_shared_word_scores_zero_and_keeps_order():
    hits = bm25("xylophone quartz?", DOCS)
    assert [h.index for h in hits] == [0, 1, 2, 3] and all(h.score == 0 for h in hits)


def test_stemming_and_stop_words():
    assert stem("centuries") == stem("century") == "century"
    assert stem("raids") == "raid" and stem("is") == "is"
    assert content_words("What were the raids of the centuries?") == ["raid", "century"]


def test_fuse_rewards_items_ranked_well_by_both():
    from llmkit.tasks._retrieval import Hit

    a = [Hit(0, 9), Hit(1, 5), Hit(2, 1)]
    b = [Hit(2, 9), Hit(1, 5), Hit(0, 1)]
    c = [Hit(1, 9), Hit(0, 5), Hit(2, 1)]
    assert fuse(a, b, c)[0].index == 1


def test_sentences_keep_offsets_and_skip_abbreviations():
    text = 'He left in 1066 A.D. for the coast. "Quoted!" Then (he stayed.) Last one'
    spans = sentences(text)
    assert [text[a:b] for a, b in spans] == [
        "He left in 1066 A.D. for the coast.", '"Quoted!"', "Then (he stayed.)", "Last one",
    ]  # fmt: skip


def test_bm25_ranks_the_sentences_of_a_passage():
    text = "Rollo led the Norse. The Franks lived in Gaul. Normandy is in France."
    spans = sentences(text)
    best = bm25("Where is Normandy?", [text[a:b] for a, b in spans])[0]
    assert text[slice(*spans[best.index])] == "Normandy is in France." and best.score > 0


def test_an_index_is_built_once_and_searched_by_many_questions():
    index = Index(DOCS + [""])  # an empty text is allowed, and never found
    assert index.rank("What do plants make from sunlight?")[0].index == 1
    assert index.rank("Which tower is in Paris?")[0].index == 0
    assert index.rank("")[0].score == 0.0


# --- spans -------------------------------------------------------------------------

PASSAGE = ("They were descended from Norse raiders and pirates from Denmark, Iceland and Norway who, "
           "under their leader Rollo, agreed to swear fealty to King Charles III of West Francia.")  # fmt: skip


@pytest.mark.parametrize(
    ("free", "question", "expected"),
    [
        ("The Norse leader was Rollo.", "Who was the Norse leader?", "Rollo"),
        ("They came from Denmark, Iceland, and Norway.", "Where did the Norse come from?",
         "Denmark, Iceland and Norway"),
        ("King Charles III", "To whom did they swear fealty?", "King Charles III"),
    ],
)  # fmt: skip
def test_align_finds_the_span_a_free_answer_means(free, question, expected):
    span = align(free, PASSAGE, question)
    assert span is not None and span.text == expected
    assert PASSAGE[span.start : span.end] == span.text and span.overlap > 0.6


def test_align_reports_a_poor_match_and_respects_the_range():
    assert align("bananas", PASSAGE, "What fruit?") is None  # no word of it in the passage
    partial = align("Rollo's bananas and apples", PASSAGE, "What fruit?")
    assert partial is not None and partial.text == "Rollo" and partial.overlap == pytest.approx(0.5)  # 1 of 3 content words
    assert align("", PASSAGE) is None and align("!!", PASSAGE) is None
    assert align("Rollo", PASSAGE, "", within=(0, 40)) is None  # Rollo is further on
    span = align("Norse raiders", PASSAGE, "", within=(0, 40))
    assert span is not None and span.text == "Norse raiders"


def test_trim_drops_outer_stop_words_and_question_words():
    text = "It was the leader Rollo of the Norse"
    span = Span(0, len(text), text)
    assert trim(span, text, "Who was the leader of the Norse?").text == "Rollo"
    assert trim(Span(0, 2, "It"), "It", "").text == "It"  # nothing left: unchanged


def test_norm_words_and_overlap_follow_squad():
    assert norm_words("The Normans' (Norse) land!") == ["normans", "norse", "land"]
    assert overlap(["a", "b"], ["a", "b"]) == 1.0 and overlap(["a"], ["b"]) == 0.0
    assert overlap([], []) == 1.0 and overlap(["a"], []) == 0.0


# --- SQuAD metrics -------------------------------------------------------------------


def test_official_normalisation():
    assert normalize("The  Cat's, an Apple!") == "cats apple"
    assert normalize("A") == "" and normalize("theatre") == "theatre"


def test_exact_and_f1_as_the_official_script():
    assert exact("10th century", "the 10th century.") == 1
    assert f1("10th and 11th centuries", "in the 10th and 11th centuries") == pytest.approx(2 * 1 * 0.8 / 1.8)
    assert f1("", "") == 1.0 and f1("", "anything") == 0.0 and f1("Rollo", "") == 0.0
    assert f1("Rollo", "Charles") == 0.0


def test_score_predictions_splits_has_ans_and_no_ans():
    items = [
        {"golds": ["France", "in France"], "answerable": True},
        {"golds": ["Rollo"], "answerable": True},
        {"golds": [""], "answerable": False},
        {"golds": [""], "answerable": False},
    ]
    out = score_predictions(items, ["the France", "Rollo the Norse", None, "Normandy"])
    assert out["has_ans_exact"] == 50.0 and out["has_ans_f1"] == pytest.approx(100 * (1 + 2 / 3) / 2, abs=0.1)
    assert out["no_ans_accuracy"] == 50.0
    assert out["exact"] == 50.0 and out["f1"] == pytest.approx(100 * (1 + 2 / 3 + 1) / 4, abs=0.1)
    assert (out["total"], out["has_ans"], out["no_ans"]) == (4, 2, 2)


def test_load_squad_reads_the_official_format(tmp_path):
    data = {"version": "v2.0", "data": [{"title": "T", "paragraphs": [{"context": "Rollo led.", "qas": [
        {"id": "1", "question": "Who led?", "answers": [{"text": "Rollo", "answer_start": 0}], "is_impossible": False},
        {"id": "2", "question": "Who followed?", "answers": [], "plausible_answers": [], "is_impossible": True},
    ]}]}]}  # fmt: skip
    path = tmp_path / "squad.json"
    path.write_text(json.dumps(data))
    items = load_squad(path)
    assert [(i["golds"], i["answerable"], i["context"]) for i in items] == [
        (["Rollo"], True, "Rollo led."), ([""], False, "Rollo led."),
    ]  # fmt: skip
    assert len(load_squad(path, limit=1)) == 1


def test_load_squad_with_a_bad_file_says_so(tmp_path):
    from llmkit.errors import UsageError

    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(UsageError, match="cannot read SQuAD data"):
        load_squad(bad)
    with pytest.raises(UsageError):
        load_squad(tmp_path / "missing.json")
