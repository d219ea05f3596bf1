"""What the local backends share (llmkit.generation): sampling parameters validated once
against the option catalogue, stop strings, scoring windows."""

import pytest

import llmkit
from llmkit.generation import SamplingParams, StopMatcher, score_windows


def test_sampling_params_come_from_the_catalogue_with_its_ranges():
    p = SamplingParams.from_options({"temperature": 0.5, "stop": ["a", "b"], "n": 2}, {"top_p": 0.9, "seed": 1})
    assert (p.temperature, p.stop, p.n, p.top_p, p.seed) == (0.5, ("a", "b"), 2, 0.9, None)  # seed is no default
    assert SamplingParams.from_options({}, {"temperature": 0}).greedy
    assert SamplingParams.from_options({"temperature": 1.2}, {"temperature": 0}).temperature == 1.2  # the call wins
    for bad in ({"temperature": 2.5}, {"top_p": 0}, {"top_k": 0}, {"n": 0}, {"stop": [""]}, {"max_tokens": 0},
                {"frequency_penalty": 1}):
        with pytest.raises(llmkit.InvalidOptionError):
            SamplingParams.from_options(bad)
    with pytest.raises(AttributeError):
        p.n = 3  # frozen: passed through, never changed on the way


def test_max_new_tokens_fills_the_window_up_to_the_default():
    assert SamplingParams(max_tokens=5).max_new_tokens(100, 128) == 5
    assert SamplingParams().max_new_tokens(100, 128) == 28
    assert SamplingParams().max_new_tokens(10, None) == 256
    assert SamplingParams().max_new_tokens(200, 128) == 1


def test_stop_matcher_cuts_and_holds_back():
    m = StopMatcher(["\n\n", "END", ""])
    assert m.stops == ("\n\n", "END") and bool(m) and not StopMatcher([])
    assert m.cut("a END b\n\nc") == ("a ", True) and m.cut("abc") == ("abc", False)
    assert m.holdback("text E") == 1 and m.holdback("text EN") == 2 and m.holdback("text\n") == 1
    assert m.holdback("text EN", start=6) == 0  # "E" was shown already: "N" alone starts no stop string
    assert m.find("xxENDxx", 3) == -1


@pytest.mark.parametrize("length,width", [(2, 4), (5, 4), (10, 4), (33, 8), (100, 7), (9, 2)])
def test_score_windows_cover_every_target_once_with_half_a_window_of_context(length, width):
    targets = []
    for begin, end, first, stop in score_windows(length, width):
        assert end - begin <= width and 0 <= first - 1 - begin and stop - 2 - begin < end - begin
        if begin > 0:
            assert first - 1 - begin >= width // 2  # context before the first target of a later window
        targets += range(first, stop)
    assert targets == list(range(1, length))


def test_windows_of_a_prefix_are_the_windows_of_the_whole():
    whole = list(score_windows(50, 8))
    for n in range(2, 50):
        for begin, _, first, _ in score_windows(n, 8):
            assert any(b == begin and f == first for b, _, f, _ in whole)
