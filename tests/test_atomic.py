"""All-or-nothing writes: files and whole directories (checkpoints, converted models)."""

import os
import time

import pytest

from llmkit.atomic import replace_dir, temporary_dir, write_text_atomic


def test_a_directory_is_replaced_whole_and_a_failed_write_leaves_the_old_one(tmp_path):
    target = tmp_path / "model"
    with temporary_dir(target) as tmp:
        (tmp / "a.txt").write_text("one")
        replace_dir(tmp, target)
    with pytest.raises(RuntimeError), temporary_dir(target) as tmp:
        (tmp / "a.txt").write_text("half")
        raise RuntimeError("killed mid-write")
    assert (target / "a.txt").read_text() == "one" and sorted(p.name for p in tmp_path.iterdir()) == ["model"]
    with temporary_dir(target) as tmp:
        (tmp / "b.txt").write_text("two")
        replace_dir(tmp, target)
    assert [p.name for p in target.iterdir()] == ["b.txt"] and sorted(p.name for p in tmp_path.iterdir()) == ["model"]


def test_temporaries_of_killed_writers_are_swept_after_an_hour(tmp_path):
    target = tmp_path / "ckpt"
    old, recent = tmp_path / ".ckpt.tmp-dead", tmp_path / ".ckpt.tmp-busy"
    old.mkdir()
    recent.mkdir()
    hour_ago = time.time() - 3700
    os.utime(old, (hour_ago, hour_ago))
    with temporary_dir(target):
        pass
    assert not old.exists() and recent.exists()  # another writer may still be filling the recent one


def test_text_files_keep_their_mode_when_replaced(tmp_path):
    path = tmp_path / "config.toml"
    write_text_atomic(path, "a = 1\n")
    assert path.stat().st_mode & 0o777 == 0o600
    path.chmod(0o644)
    write_text_atomic(path, "a = 2\n")
    assert path.read_text() == "a = 2\n" and path.stat().st_mode & 0o777 == 0o644
