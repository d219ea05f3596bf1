"""Shared caches have an owner: leases, a bounded set of idle values, clear()."""

import gc
import threading

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
