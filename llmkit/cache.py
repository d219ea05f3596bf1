"""Process-wide caches with an owner: what backends share, and who frees it.

Loading a model or opening an HTTP connection pool is expensive, so backends share them
through a `SharedCache`: one value per key, built once, handed out as leases. A
backend's `close()` releases its lease (so does the garbage collector, for a backend
nobody closed). A value that no lease holds stays warm while it is among the `keep`
most recently released, then it is dropped (and closed, when the cache has a closer):
a chat that switches `/model` ten times holds the model in use plus at most `keep`
idle ones, never all ten.

    >>> loads = []
    >>> models = SharedCache("demo models", keep=1)
    >>> a = models.acquire("tiny", lambda: loads.append("tiny") or object())
    >>> b = models.acquire("tiny", lambda: loads.append("again") or object())
    >>> a.value is b.value, loads             # one load, shared
    (True, ['tiny'])
    >>> a.release(); b.release()
    >>> models.stats()                        # released, but kept warm for the next user
    {'live': 0, 'idle': 1}
    >>> c = models.acquire("other", object); c.release()
    >>> models.stats()                        # only `keep` idle values stay
    {'live': 0, 'idle': 1}
    >>> models.clear(); models.stats()
    {'live': 0, 'idle': 0}

`clear_caches()` (also `llmkit.clear_caches()`) empties every cache in the process:
the public way for tests, and for programs that want the memory back.
"""

from __future__ import annotations

import threading
import weakref
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any, Generic, TypeVar

__all__ = ["SharedCache", "Lease", "clear_caches", "on_clear", "stats"]

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")

_caches: weakref.WeakSet[SharedCache[Any, Any]] = weakref.WeakSet()
_resets: list[Callable[[], None]] = []


class _Entry(Generic[V]):
    __slots__ = ("value", "users")

    def __init__(self, value: V) -> None:
        self.value = value
        self.users = 0


class Lease(Generic[V]):
    """One user's hold on a cached value. `release()` is idempotent."""

    __slots__ = ("value", "_cache", "_key", "_entry", "_released", "_finalizer", "__weakref__")

    def __init__(self, cache: SharedCache[Any, V], key: Any, entry: _Entry[V]) -> None:
        self.value = entry.value
        self._cache, self._key, self._entry = cache, key, entry
        self._released = False
        self._finalizer: weakref.finalize | None = None

    def release(self) -> None:
        if self._cache._release(self):
            if self._finalizer is not None:
                self._finalizer.detach()  # the registry must not keep the value alive any more

    def release_with(self, owner: object) -> Lease[V]:
        """Release this lease when `owner` is garbage-collected (if not released before)."""
        self._finalizer = weakref.finalize(owner, self.release)
        return self


class SharedCache(Generic[K, V]):
    """Values built once per key and shared; idle ones kept up to `keep`, then dropped.

    `close(value)` runs when a value leaves the cache idle (evicted or cleared); values
    still leased when `clear()` runs are forgotten, not closed: their users still hold them.
    """

    def __init__(self, name: str, *, keep: int = 1, close: Callable[[V], None] | None = None) -> None:
        self.name = name
        self.keep = keep
        self._close = close
        self._entries: dict[K, _Entry[V]] = {}
        self._idle: OrderedDict[K, None] = OrderedDict()  # keys with no users, oldest first
        self._building: dict[K, threading.Event] = {}
        self._lock = threading.RLock()
        _caches.add(self)

    def acquire(self, key: K, build: Callable[[], V]) -> Lease[V]:
        """A lease on the value for `key`, building it when it is not there. Two threads
        asking for one key build it once (the second waits); builds of other keys, and
        releases, go on meanwhile: the lock is not held while a model loads."""
        while True:
            with self._lock:
                entry = self._entries.get(key)
                if entry is not None:
                    return self._lease(key, entry)
                building = self._building.get(key)
                if building is None:
                    building = self._building[key] = threading.Event()
                    break
            building.wait()  # another thread builds it: take its value (or build, if it failed)
        try:
            value = build()
        except BaseException:
            with self._lock:
                del self._building[key]
            building.set()
            raise
        with self._lock:
            entry = self._entries[key] = _Entry(value)
            del self._building[key]
            lease = self._lease(key, entry)
        building.set()
        return lease

    def _lease(self, key: K, entry: _Entry[V]) -> Lease[V]:
        entry.users += 1
        self._idle.pop(key, None)
        return Lease(self, key, entry)

    def peek(self, key: K) -> V | None:
        """The cached value for `key`, if any, without holding it."""
        with self._lock:
            entry = self._entries.get(key)
            return entry.value if entry is not None else None

    def _release(self, lease: Lease[V]) -> bool:
        """End `lease` (once: False when it had ended already)."""
        evicted: list[V] = []
        with self._lock:
            if lease._released:
                return False
            lease._released = True
            key, entry = lease._key, lease._entry
            if self._entries.get(key) is not entry:  # cleared meanwhile: nothing of ours to release
                return True
            entry.users -= 1
            if entry.users > 0:
                return True
            self._idle[key] = None
            while len(self._idle) > self.keep:
                old, _ = self._idle.popitem(last=False)
                evicted.append(self._entries.pop(old).value)
        self._closing(evicted)
        return True

    def clear(self) -> None:
        """Drop every value: idle ones are closed; leased ones are forgotten (their users
        keep them until they close)."""
        with self._lock:
            idle = [self._entries[k].value for k in self._idle]
            self._entries.clear()
            self._idle.clear()
        self._closing(idle)

    def stats(self) -> dict[str, int]:
        with self._lock:
            return {"live": len(self._entries) - len(self._idle), "idle": len(self._idle)}

    def __len__(self) -> int:
        return len(self._entries)

    def __repr__(self) -> str:
        s = self.stats()
        return f"<SharedCache {self.name!r}: {s['live']} in use, {s['idle']} idle (keep {self.keep})>"

    def _closing(self, values: list[V]) -> None:
        if self._close is not None:
            for value in values:
                try:
                    self._close(value)
                except Exception:  # closing is best effort: a failing close must not break a release
                    pass


def on_clear(reset: Callable[[], None]) -> Callable[[], None]:
    """Register a small memo table's reset to run with `clear_caches()`."""
    _resets.append(reset)
    return reset


def clear_caches() -> None:
    """Empty every cache in the process: shared models and HTTP clients, the config,
    plugin registrations and memo tables. The next use builds them again."""
    for cache in list(_caches):
        cache.clear()
    for reset in list(_resets):
        reset()


def stats() -> dict[str, dict[str, int]]:
    """{cache name: {"live": values in use, "idle": values kept warm}} for every cache."""
    return {cache.name: cache.stats() for cache in list(_caches)}
