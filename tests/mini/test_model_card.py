"""scripts/model_card.py: the checks of a greedy completion, and a card written for one
checkpoint measured beside another (tiny models built by the fixtures)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

from mini.conftest import make_code

from llmkit.mini.evaluate import check_completion

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "model_card.py"


def _script():
    spec = importlib.util.spec_from_file_location("model_card", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules["model_card"] = module  # its dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def test_a_clean_completion_passes():
    check = check_completion("def area(w, h):\n    ", "return w * h\n\n\ndef perimeter(w, h):\n    return 2 * (w + h)\n")
    assert check.ok and check.repeated is None and check.parses


def test_a_repeated_line_is_named_and_short_lines_may_repeat():
    check = check_completion("def f(x):\n", "    if x:\n        pass\n    if x:\n        pass\n    y = x.value + 1\n"
                             "    y = x.value + 1\n")
    assert check.repeated == "y = x.value + 1" and not check.ok and check.parses


def test_code_that_does_not_parse_says_why():
    check = check_completion("def f(x):\n    ", 'return """never closed\n', cut=False)
    assert not check.parses and "line" in check.error


def test_a_completion_cut_by_the_token_cap_is_taken_as_an_editor_would():
    prompt, text = "def f(items):\n    ", "for item in items:\n        if item.ok:\n            yield item."
    assert check_completion(prompt, text, cut=True).parses  # the unfinished last line dropped, the block given a pass
    assert not check_completion(prompt, text, cut=False).parses


def test_an_indented_fragment_and_an_infill_are_parsed_whole():
    assert check_completion("    for i, line in enumerate(", "lines):\n        print(i, line)\n").parses
    assert check_completion("def is_even(n):\n    return ", "n % 2", " == 0\n", cut=False).parses
    assert not check_completion("def is_even(n):\n    return ", "n %% 2", " == 0\n", cut=False).parses


def _archive(path: Path) -> Path:
    """A corpus archive whose held-out packages are code like the fixtures' training corpus."""
    from llmkit.mini.code_corpus import LicenseInfo, PackageSource, build_corpus, write_archive

    mit = LicenseInfo("MIT", "License-Expression", True)
    sources = [PackageSource(f"pkg{i}", "1.0", mit, [(f"pkg{i}/mod{j}.py", make_code(500 + 10 * i + j, 30).encode())
                                                     for j in range(3)]) for i in range(6)]  # fmt: skip
    result = build_corpus(sources, seed=0, heldout_fraction=0.3)
    assert result.heldout
    write_archive(result, path)
    return path


def test_card_and_comparison_for_two_checkpoints(random_ckpt: Path, trained, tmp_path: Path, capsys):
    card_file = trained.path / "MODEL_CARD.md"
    before = card_file.read_text() if card_file.exists() else None
    corpus = _archive(tmp_path / "corpus.tar.xz")
    _script().main([str(trained.path), "--baseline", str(random_ckpt), "--corpus", str(corpus), "--max-bytes", "4000",
                    "--infill", "0", "--threads", "1", "--command", "llmkit train corpus/ -o model --steps 100"])
    out = capsys.readouterr().out
    table = out.split("\n\n")[0]
    assert f"| | {random_ckpt} | {trained.path} | target |" in table
    bpb = next(line for line in table.splitlines() if line.startswith("| held-out bits per byte"))
    old, new = (float(cell) for cell in bpb.split("|")[2:4])
    assert new < 0.8 * old  # a trained model beats random weights on held-out packages of the same kind of code
    assert f"new/old {new / old:.2f} (<= 0.8)" in bpb
    assert "| infilling exact match (llmkit) | not measured | not measured |" in table
    card = card_file.read_text()
    assert card != before and "## Against the previous checkpoint" in card and table in card
    assert card.count("**Greedy** (") == 4 and "llmkit train corpus/ -o model --steps 100" in card
    assert "held-out files of packages no model here trained on (" in card  # the packages scored, named
    assert "| pkg" not in card  # it did not train on the archive: no package table


def test_a_checkpoint_trained_on_the_archive_lists_its_packages(random_model, tokenizer, tmp_path: Path, capsys):
    from llmkit.mini.checkpoint import save_checkpoint

    corpus = _archive(tmp_path / "corpus.tar.xz")
    ckpt = save_checkpoint(tmp_path / "v2", random_model, tokenizer, metadata={"training": {"corpus": corpus.name}})
    _script().main([str(ckpt), "--corpus", str(corpus), "--max-bytes", "2000", "--infill", "0", "--threads", "1"])
    card = (ckpt / "MODEL_CARD.md").read_text()
    assert "permissively licensed Python packages" in card and "| pkg0 | 1.0 | MIT |" in card


def test_no_write_leaves_the_card(random_ckpt: Path, capsys):
    card_file = random_ckpt / "MODEL_CARD.md"
    assert not card_file.exists()
    _script().main([str(random_ckpt), "--max-bytes", "2000", "--infill", "0", "--threads", "1", "--no-write"])
    assert "# The bundled `mini` model" in capsys.readouterr().out and not card_file.exists()
