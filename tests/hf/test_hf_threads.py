"""threads="auto" on an hf: model: the count is measured at batch 1 and the batch size,
the one whose slower shape is nearest its best is set (the fewest within SLACK), and the
verdict is remembered per model and machine and shown by runtime() and `llmkit models`."""

from __future__ import annotations

import json

import pytest

pytest.importorskip("transformers")

import torch

import llmkit
from llmkit.backends import hf_precision, hf_threads
from llmkit.config import cache_dir
from llmkit.errors import InvalidOptionError


@pytest.fixture(autouse=True)
def _threads_restored():
    before = torch.get_num_threads()  # process-wide: the rest of the suite keeps its count
    yield
    torch.set_num_threads(before)


def test_candidates_double_up_to_the_cores():
    assert hf_threads.candidates(1) == [1]
    assert hf_threads.candidates(2) == [1, 2]
    assert hf_threads.candidates(6) == [1, 2, 4, 6]
    assert hf_threads.candidates(8) == [1, 2, 4, 8]


# ms per step by (threads, rows): one prompt is fastest on 2 threads, a batch on 4, and
# 2 threads are within 10% of 4 at batch 4: 2 is nearest both bests; 1 and 4 are not.
_CLOCK = {(1, 1): 30.0, (2, 1): 20.0, (4, 1): 26.0, (1, 4): 90.0, (2, 4): 55.0, (4, 4): 50.0}


def _fake_clock(monkeypatch, table):
    timed = []

    def seconds(model, rows, steps):
        timed.append((torch.get_num_threads(), rows))
        return table.get((torch.get_num_threads(), rows), 10.0 * rows) / 1000

    monkeypatch.setattr(hf_precision, "decode_seconds", seconds)
    monkeypatch.setattr(hf_threads, "usable_cores", lambda: 4)
    return timed


def test_auto_measures_once_sets_the_count_and_says_so(tiny_dir, monkeypatch):
    timed = _fake_clock(monkeypatch, _CLOCK)
    torch.set_num_threads(1)
    llmkit.clear_caches()
    with llmkit.Client(f"hf:{tiny_dir}", threads="auto", batch_size=4) as client:
        assert torch.get_num_threads() == 2
        assert client.backend.threads["single"] == {"1": 30.0, "2": 20.0, "4": 26.0}
        assert "2 threads (threads=auto: 2 of 4 cores; ms per decode step at batch 1/4: 1: 30/90 ms" in client.backend.runtime()
        assert client.chat("Hello", max_tokens=3, temperature=0).usage.output_tokens > 0
    assert sorted(timed) == sorted([(n, rows) for n in (1, 2, 4) for rows in (1, 4)] * 2)  # two passes
    remembered = json.loads((cache_dir() / "precision.json").read_text())
    assert [v["threads"] for v in remembered.values() if v.get("kind") == "threads"] == [2]
    from llmkit.cli.models import _precision_note

    assert "; threads=auto: 2 of 4 cores" in _precision_note("hf", str(tiny_dir))
    assert hf_precision.measured(tiny_dir.name) is None  # a thread verdict is not a dtype one
    torch.set_num_threads(1)
    llmkit.clear_caches()
    with llmkit.Client(f"hf:{tiny_dir}", threads="auto", batch_size=4):  # loaded again: remembered
        assert torch.get_num_threads() == 2
    assert len(timed) == 12
    with llmkit.Client(f"hf:{tiny_dir}", threads="auto", batch_size=2):  # another batch size: measured anew
        pass
    assert {rows for _, rows in timed[12:]} == {1, 2}


@pytest.mark.parametrize(("table", "chosen"), [
    ({(1, 1): 20.0, (2, 1): 20.2, (4, 1): 20.4, (1, 4): 50.0, (2, 4): 50.5, (4, 4): 50.9}, 1),  # all within 3%: fewest
    ({(1, 1): 30.0, (2, 1): 25.0, (4, 1): 20.0, (1, 4): 90.0, (2, 4): 60.0, (4, 4): 40.0}, 4),  # more is faster
    ({(1, 1): 20.0, (2, 1): 21.0, (4, 1): 40.0, (1, 4): 100.0, (2, 4): 55.0, (4, 4): 50.0}, 2),  # best at neither, near both
])  # fmt: skip
def test_the_fewest_threads_within_slack_of_the_best(tiny_dir, monkeypatch, table, chosen):
    _fake_clock(monkeypatch, table)
    with llmkit.Client(f"hf:{tiny_dir}", threads="auto", batch_size=4) as client:
        assert client.backend.threads["threads"] == chosen == torch.get_num_threads()


def test_each_count_keeps_its_faster_pass(tiny_dir, monkeypatch):
    """A burst of other work during one pass does not decide: 1 thread looks slow once."""
    passes = iter([90.0, 30.0, 20.0, 50.0])  # pass 1: 1 thread 90 (a burst), 2 threads 30; pass 2: 20, 50

    def seconds(model, rows, steps):
        return next(passes) / 1000

    monkeypatch.setattr(hf_precision, "decode_seconds", seconds)
    monkeypatch.setattr(hf_threads, "usable_cores", lambda: 2)
    with llmkit.Client(f"hf:{tiny_dir}", threads="auto", batch_size=1) as client:
        assert client.backend.threads["single"] == {"1": 20.0, "2": 30.0}
        assert torch.get_num_threads() == 1


def test_the_real_measurement_runs(tiny_dir):
    with llmkit.Client(f"hf:{tiny_dir}", threads="auto", batch_size=2) as client:
        verdict = client.backend.threads
        assert verdict["threads"] in hf_threads.candidates(verdict["cores"])
        assert torch.get_num_threads() == verdict["threads"]
        assert all(ms > 0 for ms in verdict["single"].values()) and set(verdict["batched"]) == set(verdict["single"])
        assert client.chat("Hello", max_tokens=3, temperature=0).usage.output_tokens > 0


@pytest.mark.parametrize("bad", ["fast", 0, 1.5, True])
def test_a_bad_thread_count_is_refused_naming_auto(tiny_dir, bad):
    with pytest.raises(InvalidOptionError, match=r"threads=.* is invalid: it must be an int >= 1 or 'auto'"):
        llmkit.Client(f"hf:{tiny_dir}", threads=bad)


def test_a_count_far_behind_everywhere_is_not_timed_again(tiny_dir, monkeypatch):
    """Under load, threads fighting other work take many times as long: one pass says so."""
    table = {(1, 1): 20.0, (2, 1): 200.0, (4, 1): 50.0, (1, 4): 50.0, (2, 4): 500.0, (4, 4): 100.0}
    timed = _fake_clock(monkeypatch, table)
    with llmkit.Client(f"hf:{tiny_dir}", threads="auto", batch_size=4) as client:
        assert client.backend.threads["threads"] == 1
    assert timed.count((2, 1)) == 1 and timed.count((4, 1)) == 2  # 4 is 2.5x behind: timed again
