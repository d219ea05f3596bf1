"""Shared caches have an owner: leases, a bounded set of idle values, clear()."""

import gc
import threading

import pytest

import llmkit
from llmkit import cache
from llmkit.cache import SharedCache


def test_idle_values_beyond_keep_are_closed_and_leased_ones_never():
    closed = []
    c = SharedCache("test: closing", keep=2, close=closed.append)
    leases = [c.acquire(k, lambda k=k: f"v{k}") for k in range(4)]
    assert c.stats() == {"live": 4, "idle": 0} and closed == []
    for lease in leases:
        lease.release()
        lease.release()  # idempotent
    assert closed == ["v0", "v1"] and c.stats() == {"live": 0, "idle": 2}
    again = c.acquire(3, lambda: "rebuilt")
    assert again.value == "v3"  # warm: not rebuilt
    c.clear()
    assert closed == ["v0", "v1", "v2"]  # the idle one; the leased one is forgotten, not closed
    again.release()  # a lease from before clear() releases nothing of the new state
    assert c.stats() == {"live": 0, "idle": 0}


def test_one_build_per_key_under_concurrency():
    c = SharedCache("test: concurrency", keep=1)
    builds = []
    barrier = threading.Barrier(8)

    def build():
        builds.append(1)
        return object()

    values = []

    def worker():
        barrier.wait()
        values.append(c.acquire("k", build).value)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(builds) == 1 and len({id(v) for v in values}) == 1 and c.stats()["live"] == 1


def test_a_lease_is_released_when_its_owner_is_collected():
    c = SharedCache("test: finalizer", keep=0)

    class Owner:
        pass

    owner = Owner()
    c.acquire("k", object).release_with(owner)
    assert c.stats() == {"live": 1, "idle": 0}
    del owner
    gc.collect()
    assert c.stats() == {"live": 0, "idle": 0}


def test_clear_caches_resets_every_cache_and_memo(isolated_home):
    c = SharedCache("test: global", keep=3)
    c.acquire("k", object).release()
    isolated_home.mkdir(parents=True, exist_ok=True)
    (isolated_home / "config.toml").write_text('[aliases]\nfast = "mock:echo"\n')
    assert llmkit.Client("fast").model == "mock:echo"
    llmkit.clear_caches()
    assert c.stats() == {"live": 0, "idle": 0} and "test: global" in cache.stats()


def test_a_slow_build_blocks_neither_other_keys_nor_releases():
    c = SharedCache("test: slow build", keep=1)
    started, finish = threading.Event(), threading.Event()

    def slow():
        started.set()
        finish.wait(10)
        return "slow"

    worker = threading.Thread(target=lambda: c.acquire("slow", slow))
    worker.start()
    started.wait(10)
    other = c.acquire("fast", lambda: "fast")  # does not wait for the slow load
    other.release()
    assert c.stats() == {"live": 0, "idle": 1}
    finish.set()
    worker.join(10)
    assert c.peek("slow") == "slow"


def test_a_failed_build_lets_the_next_caller_build():
    c = SharedCache("test: failed build", keep=1)

    def broken():
        raise OSError("disk full")

    with pytest.raises(OSError):
        c.acquire("k", broken)
    assert c.acquire("k", lambda: "second try").value == "second try"


def test_releasing_from_two_threads_counts_once():
    c = SharedCache("test: double release", keep=0)
    keep_alive = c.acquire("k", object)
    lease = c.acquire("k", object)
    barrier = threading.Barrier(4)

    def release():
        barrier.wait()
        lease.release()

    threads = [threading.Thread(target=release) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert c.stats() == {"live": 1, "idle": 0}  # the other lease still holds it
    keep_alive.release()
    assert c.stats() == {"live": 0, "idle": 0}
