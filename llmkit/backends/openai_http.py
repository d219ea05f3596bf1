"""The HTTP clients under the OpenAI backend: total deadlines, credentials kept out of
URLs, and async clients that are closed with their backend or their event loop.

- `timeout` is a total deadline for a call, not a limit on each read: httpx's timeouts
  reset with every byte, so a server dripping one byte a second never times out. The
  sync transport here gives every socket operation only what is left of the call's
  deadline (`deadline()` sets it for the calling thread); async calls are bounded by
  `asyncio.wait_for`.
- A base_url's `user:password@` would be printed in httpx's INFO line for every request;
  it is taken out of the URL and sent as HTTP Basic auth, as httpx would have sent it.
- An AsyncOpenAI client belongs to one event loop; each backend owns one per loop and
  closes it when the backend closes or the loop shuts down (`asyncio.run` ends).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import math
import threading
import time
import weakref
from collections.abc import AsyncGenerator, Awaitable, Callable, Iterator
from typing import Any, TypeVar

from .. import errors as E

__all__ = ["deadline", "deadline_at", "within", "sync_http_client", "async_http_client", "split_credentials",
           "LoopClients"]  # fmt: skip

T = TypeVar("T")
_local = threading.local()  # the deadline of the call this thread is making (monotonic seconds)


def deadline_at(seconds: float | None) -> float | None:
    """The monotonic time `seconds` from now; None (no deadline) for None or inf."""
    if seconds is None or math.isinf(seconds):
        return None
    return time.monotonic() + seconds


@contextlib.contextmanager
def deadline(at: float | None) -> Iterator[None]:
    """Socket operations of this thread's HTTP calls end by `at` (monotonic)."""
    previous = getattr(_local, "at", None)
    _local.at = at
    try:
        yield
    finally:
        _local.at = previous


def _left(timeout: float | None, error: type[Exception]) -> float | None:
    at = getattr(_local, "at", None)
    if at is None:
        return timeout
    left = at - time.monotonic()
    if left <= 0:
        raise error("the call's deadline passed")
    return left if timeout is None else min(timeout, left)


async def within(at: float | None, awaitable: Awaitable[T]) -> T:
    """Await `awaitable` until the deadline `at`: asyncio.TimeoutError after it."""
    if at is None:
        return await awaitable
    return await asyncio.wait_for(awaitable, max(0.0, at - time.monotonic()))


# --- sync: a network backend that gives each operation what is left of the deadline -------


def _deadline_transport(**kwargs: Any) -> Any:
    import httpcore2
    import httpx2

    class Stream(httpcore2.NetworkStream):
        def __init__(self, stream: Any) -> None:
            self._stream = stream

        def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
            return self._stream.read(max_bytes, _left(timeout, httpcore2.ReadTimeout))

        def write(self, buffer: bytes, timeout: float | None = None) -> None:
            self._stream.write(buffer, _left(timeout, httpcore2.WriteTimeout))

        def close(self) -> None:
            self._stream.close()

        def start_tls(self, ssl_context: Any, server_hostname: str | None = None,
                      timeout: float | None = None) -> Any:  # fmt: skip
            return Stream(self._stream.start_tls(ssl_context, server_hostname, _left(timeout, httpcore2.ConnectTimeout)))

        def get_extra_info(self, info: str) -> Any:
            return self._stream.get_extra_info(info)

    class Backend(httpcore2.NetworkBackend):
        def __init__(self, backend: Any) -> None:
            self._backend = backend

        def connect_tcp(self, host: str, port: int, timeout: float | None = None, local_address: str | None = None,
                        socket_options: Any = None) -> Any:  # fmt: skip
            timeout = _left(timeout, httpcore2.ConnectTimeout)
            return Stream(self._backend.connect_tcp(host, port, timeout, local_address, socket_options))

        def connect_unix_socket(self, path: str, timeout: float | None = None, socket_options: Any = None) -> Any:
            return Stream(self._backend.connect_unix_socket(path, _left(timeout, httpcore2.ConnectTimeout), socket_options))

        def sleep(self, seconds: float) -> None:
            self._backend.sleep(seconds)

    transport = httpx2.HTTPTransport(**kwargs)
    pool = getattr(transport, "_pool", None)
    if pool is not None and hasattr(pool, "_network_backend"):  # httpcore's documented hook, set after the fact
        pool._network_backend = Backend(pool._network_backend)
    return transport


_ssl: Any = None
_ssl_lock = threading.Lock()


def _ssl_context() -> Any:
    """One SSL context for every client: loading the CA bundle costs ~1 MB and ~20 ms each."""
    global _ssl
    with _ssl_lock:
        if _ssl is None:
            import httpx2

            _ssl = httpx2.create_ssl_context()
        return _ssl


def _limits() -> Any:
    import httpx2

    return httpx2.Limits(max_connections=1000, max_keepalive_connections=100)  # the SDK's own


def sync_http_client(auth: tuple[str, str] | None) -> Any:
    import openai

    return openai.DefaultHttpxClient(transport=_deadline_transport(verify=_ssl_context(), limits=_limits()),
                                     auth=auth)  # fmt: skip


def async_http_client(auth: tuple[str, str] | None) -> Any:
    import httpx2
    import openai

    return openai.DefaultAsyncHttpxClient(transport=httpx2.AsyncHTTPTransport(verify=_ssl_context(), limits=_limits()),
                                          auth=auth)  # fmt: skip


def split_credentials(url: str | None) -> tuple[str | None, tuple[str, str] | None]:
    """(the URL without `user:password@`, (user, password) or None)."""
    if not url or "@" not in url:
        return url, None
    from urllib.parse import unquote, urlsplit, urlunsplit

    try:
        parts = urlsplit(url)
    except ValueError:
        return url, None
    if parts.username is None and parts.password is None:
        return url, None
    host = parts.netloc.rpartition("@")[2]
    user, password = unquote(parts.username or ""), unquote(parts.password or "")
    E.remember_secret(password or user)  # a key is sometimes the user name, with no password
    E.remember_secret(base64.b64encode(f"{user}:{password}".encode()).decode())  # the Basic header's form
    return urlunsplit((parts.scheme, host, parts.path, parts.query, parts.fragment)), (user, password)


# --- async: one client per event loop, closed with the backend or the loop ----------------

_closing: set[Any] = set()  # close tasks in flight (a task nobody holds may be collected early)


async def _closer(sdk: Any) -> AsyncGenerator[None, None]:
    """Parked at its yield for the client's life; the loop closes it (and so the client)
    when it shuts down its async generators, as asyncio.run does at its end."""
    try:
        yield
    finally:
        with contextlib.suppress(Exception):
            await sdk.close()


class LoopClients:
    """A backend's AsyncOpenAI clients: one per event loop."""

    def __init__(self) -> None:
        self._by_loop: dict[int, tuple[weakref.ref[Any], Any, Any]] = {}
        self._lock = threading.Lock()

    async def get(self, build: Callable[[], Any]) -> Any:
        loop = asyncio.get_running_loop()
        with self._lock:
            entry = self._by_loop.get(id(loop))
        if entry is not None and entry[0]() is loop:
            return entry[1]
        sdk = build()
        guard = _closer(sdk)
        await guard.asend(None)  # started: the loop now knows it, and finalises it at shutdown
        with self._lock:
            self._by_loop[id(loop)] = (weakref.ref(loop), sdk, guard)
        return sdk

    def close(self) -> None:
        """Close every client: now on the running loop, or on its own loop's thread."""
        with self._lock:
            entries, self._by_loop = list(self._by_loop.values()), {}
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        for ref, _, guard in entries:
            loop = ref()
            if loop is None or loop.is_closed():
                continue  # asyncio.run closed it on the way out
            if running is not None and loop is running:
                task = running.create_task(guard.aclose())
                _closing.add(task)
                task.add_done_callback(_closing.discard)
            elif loop.is_running():
                asyncio.run_coroutine_threadsafe(guard.aclose(), loop)
            # a loop that is stopped but not closed finalises the dropped guard when it runs again
