"""What an OpenAI-compatible server publishes about the model it serves: its context
window, and exact token counts from its own tokenizer.

Design note
- Learned on first need, once per endpoint (base_url, model) and process: when
  `context_window()` or `count_tokens()` is asked for (by a caller, the REPL, a task),
  then a dict lookup. Nothing is asked when a backend is built, nothing on the chat
  path (the backend's context check does not ask the server: see
  OpenAIBackend.check_context), and nothing for the official OpenAI API (its /models
  publishes no windows).
- One request for a server that publishes nothing. GET /models is standard; what else
  is asked depends on the engine its answer names (`owned_by`), never guessed by
  probing: llama.cpp's GET /props when its /models entry has no meta.n_ctx, TGI's
  GET /info. An unknown server gets nothing more, and its counts stay estimates.
- Never fatal, never a storm: a 4xx (404, 405, ...) or a malformed body means "not
  published" for the rest of the process; a refused connection, a timeout, a 429 or a
  5xx means "not now", asked again after RETRY_AFTER seconds. Each request has a short
  timeout (LOOKUP_TIMEOUT, within the call's own `timeout`). Concurrent first calls to
  one endpoint make one lookup; the others wait for it.
- An event loop's thread (achat, astream) never blocks here: it uses what is known and
  leaves the lookup to a background thread, for the calls after it.
- The HTTP requests are the backend's (`Fetch`): its SDK client, headers, credentials
  and injected http_client. This module only knows the shapes.
- Token counts ask the server each time, through a small LRU of recent answers (tasks
  count the same instructions again and again); a tokenizer endpoint that fails for
  good is not asked again.

Where the shapes come from (the engines' own sources):
- vLLM (vllm-project/vllm, vllm/entrypoints/openai/models/serving.py and
  vllm/entrypoints/serve/tokenize/protocol.py; 0.32 seen here): /v1/models entries have
  `owned_by: "vllm"` and `max_model_len`; POST /tokenize takes {"model", "prompt"} or
  {"model", "messages", "add_generation_prompt"} and answers {"count", "max_model_len",
  "tokens"}.
- llama.cpp server (ggml-org/llama.cpp, tools/server/server-context.cpp): /v1/models
  entries have `owned_by: "llamacpp"` and, in newer builds, meta.n_ctx (the per-slot
  window); GET /props has default_generation_settings.n_ctx; POST /tokenize takes
  {"content", "add_special"} and answers {"tokens": [...]}; POST /apply-template takes
  {"messages"} and answers {"prompt"}.
- TGI (huggingface/text-generation-inference, router/src/server.rs): /v1/models has one
  entry with `owned_by` equal to its `id` and `created: 0` and nothing else; GET /info
  has max_total_tokens (prompt + output); POST /tokenize takes {"inputs"} and answers a
  list of tokens; POST /chat_tokenize takes a chat request and answers
  {"tokenize_response": [...]}.
- Hosted OpenAI-compatible APIs that document a window in their /models entries:
  `context_length` (OpenRouter, Together), `context_window` (Groq),
  `max_context_length` (Mistral).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..cache import on_clear

__all__ = [
    "ServerInfo",
    "Unavailable",
    "Fetch",
    "lookup",
    "count",
    "root_url",
    "forget",
    "LOOKUP_TIMEOUT",
    "RETRY_AFTER",
    "KEEP",
]

LOOKUP_TIMEOUT = 3.0  # seconds one request may take (a server that does not answer costs the first call this)
RETRY_AFTER = 60.0  # seconds before asking a server that was unreachable (or busy) again
KEEP = 256  # endpoints remembered; counts remembered: 4 * KEEP
_WINDOW_FIELDS = ("max_model_len", "context_length", "context_window", "max_context_length")
_MAX_WINDOW = 1 << 30  # a window above this is not a window but a mistake (or a sentinel)


class Unavailable(Exception):
    """A request for server information failed: `transient` says whether asking again
    later may help (connection, timeout, 429, 5xx) or not (4xx, malformed)."""

    def __init__(self, what: str, *, transient: bool) -> None:
        super().__init__(what)
        self.transient = transient


# fetch(method, url, json_body or None, timeout seconds) -> the parsed JSON answer; raises Unavailable
Fetch = Callable[[str, str, "dict[str, Any] | None", float], Any]


@dataclass(frozen=True)
class ServerInfo:
    """What an endpoint published: `engine` ("vllm", "llama.cpp", "tgi" or None when
    it did not say), `context_window` (tokens, prompt + output) or None."""

    engine: str | None = None
    context_window: int | None = None


@dataclass
class _Entry:
    info: ServerInfo | None  # None: nothing learned (yet)
    retry_at: float | None  # monotonic time to ask again; None: the answer holds for the process
    tokenizer: bool = True  # False once the tokenizer endpoint failed for good
    tokenizer_retry_at: float | None = None


_lock = threading.Lock()
_entries: OrderedDict[tuple[str, str], _Entry] = OrderedDict()
_building: dict[tuple[str, str], threading.Event] = {}
_counts: OrderedDict[tuple[str, str, str], int] = OrderedDict()


def _reset() -> None:
    with _lock:
        _entries.clear()
        _counts.clear()


on_clear(_reset)


def forget(base_url: str, model: str) -> None:
    """Drop what is known about one endpoint (the next need asks again)."""
    with _lock:
        _entries.pop((base_url, model), None)


def root_url(base_url: str) -> str:
    """The server's root, where engines put their own endpoints (/tokenize, /props):
    the base_url without its trailing /v1."""
    url = base_url.rstrip("/")
    return url[:-3] if url.endswith("/v1") else url


def _in_event_loop() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


def lookup(base_url: str, model: str, fetch: Fetch, *, timeout: float | None = None) -> ServerInfo | None:
    """What the endpoint published, learned on the first call (None: nothing, or not
    yet: an event loop's thread does not wait, see the module's note)."""
    key = (base_url, model)
    now = time.monotonic()
    with _lock:
        entry = _entries.get(key)
        if entry is not None and (entry.retry_at is None or now < entry.retry_at):
            _entries.move_to_end(key)
            return entry.info
        building = _building.get(key)
        if building is None:
            building = _building[key] = threading.Event()
            mine = True
        else:
            mine = False
    if not mine:  # another thread asks: wait for its answer (an event loop does not)
        if not _in_event_loop():
            building.wait(2 * _limit(timeout) + 1)
        with _lock:
            entry = _entries.get(key)
            return entry.info if entry is not None else None
    if _in_event_loop():
        threading.Thread(target=_learn, args=(key, fetch, timeout, building), daemon=True,
                         name="llmkit-server-info").start()  # fmt: skip
        return None
    return _learn(key, fetch, timeout, building)


def _learn(key: tuple[str, str], fetch: Fetch, timeout: float | None, building: threading.Event) -> ServerInfo | None:
    base_url, model = key
    info: ServerInfo | None = None
    retry_at: float | None = None
    try:
        info = _ask(base_url, model, fetch, _limit(timeout))
    except Unavailable as exc:
        retry_at = time.monotonic() + RETRY_AFTER if exc.transient else None
    except Exception:  # a fetch that broke in a way nobody foresaw: still never fatal
        retry_at = time.monotonic() + RETRY_AFTER
    with _lock:
        old = _entries.get(key)
        entry = _Entry(info, retry_at)
        if old is not None:  # a tokenizer known to fail stays known
            entry.tokenizer, entry.tokenizer_retry_at = old.tokenizer, old.tokenizer_retry_at
        _entries[key] = entry
        _entries.move_to_end(key)
        while len(_entries) > KEEP:
            _entries.popitem(last=False)
        _building.pop(key, None)
    building.set()
    return info


def _limit(timeout: float | None) -> float:
    return LOOKUP_TIMEOUT if timeout is None else max(0.05, min(LOOKUP_TIMEOUT, timeout))


def _ask(base_url: str, model: str, fetch: Fetch, timeout: float) -> ServerInfo:
    listing = fetch("GET", base_url.rstrip("/") + "/models", None, timeout)
    entry = _model_entry(listing, model)
    if entry is None:
        return ServerInfo()
    engine = _engine(entry)
    window = _window(entry)
    root = root_url(base_url)
    try:
        if engine == "llama.cpp" and window is None:
            props = fetch("GET", root + "/props", None, timeout)
            settings = props.get("default_generation_settings") if isinstance(props, dict) else None
            window = _positive(settings.get("n_ctx")) if isinstance(settings, dict) else None
        elif engine == "tgi":
            about = fetch("GET", root + "/info", None, timeout)
            window = _positive(about.get("max_total_tokens")) if isinstance(about, dict) else None
    except Unavailable:
        pass  # the engine is known (its tokenizer may still answer); its window is not
    return ServerInfo(engine, window)


def _model_entry(listing: Any, model: str) -> dict[str, Any] | None:
    data = listing.get("data") if isinstance(listing, dict) else None
    if not isinstance(data, list):
        raise Unavailable("GET /models answered no model list", transient=False)
    entries = [e for e in data if isinstance(e, dict)]
    for e in entries:
        if e.get("id") == model:
            return e
    return entries[0] if len(entries) == 1 else None  # one model served, under another name


def _engine(entry: dict[str, Any]) -> str | None:
    owner = entry.get("owned_by")
    if owner == "vllm":
        return "vllm"
    if owner == "llamacpp":
        return "llama.cpp"
    if set(entry) <= {"id", "object", "created", "owned_by"} and owner == entry.get("id") and entry.get("created") == 0:
        return "tgi"  # router/src/server.rs openai_get_model_info: exactly this, and nothing else
    return None


def _window(entry: dict[str, Any]) -> int | None:
    for name in _WINDOW_FIELDS:
        window = _positive(entry.get(name))
        if window is not None:
            return window
    meta = entry.get("meta")
    return _positive(meta.get("n_ctx")) if isinstance(meta, dict) else None  # llama.cpp


def _positive(value: Any) -> int | None:
    if isinstance(value, int) and not isinstance(value, bool) and 0 < value < _MAX_WINDOW:
        return value
    return None


# --- exact token counts ------------------------------------------------------------------


def count(base_url: str, model: str, info: ServerInfo | None, content: str | list[dict[str, Any]], fetch: Fetch,
          *, timeout: float | None = None) -> int | None:  # fmt: skip
    """Tokens in a text or in chat messages (OpenAI dicts) as the server counts a
    prompt, or None when its engine has no tokenizer endpoint llmkit knows (or it
    failed: for good, or for RETRY_AFTER seconds). An event loop's thread never waits
    for one (None)."""
    if info is None or info.engine not in _COUNTERS or _in_event_loop():
        return None
    key = (base_url, model)
    now = time.monotonic()
    digest = hashlib.sha256(json.dumps(content, sort_keys=True, default=str).encode()).hexdigest()
    with _lock:
        entry = _entries.get(key)
        if entry is not None and not entry.tokenizer:
            if entry.tokenizer_retry_at is None or now < entry.tokenizer_retry_at:
                return None
        known = _counts.get((base_url, model, digest))
        if known is not None:
            _counts.move_to_end((base_url, model, digest))
            return known
    try:
        counted = _COUNTERS[info.engine](root_url(base_url), model, content, fetch, _limit(timeout))
    except Unavailable as exc:
        _tokenizer_failed(key, exc.transient)
        return None
    except Exception:
        _tokenizer_failed(key, True)
        return None
    with _lock:
        entry = _entries.get(key)
        if entry is not None:  # it answers (again)
            entry.tokenizer, entry.tokenizer_retry_at = True, None
        _counts[(base_url, model, digest)] = counted
        while len(_counts) > 4 * KEEP:
            _counts.popitem(last=False)
    return counted


def _tokenizer_failed(key: tuple[str, str], transient: bool) -> None:
    with _lock:
        entry = _entries.get(key)
        if entry is not None:
            entry.tokenizer = False
            entry.tokenizer_retry_at = time.monotonic() + RETRY_AFTER if transient else None


def _tokens(value: Any, what: str) -> int:
    if isinstance(value, list):
        return len(value)
    raise Unavailable(f"{what} answered no token list", transient=False)


def _vllm(root: str, model: str, content: str | list[dict[str, Any]], fetch: Fetch, timeout: float) -> int:
    if isinstance(content, str):
        body: dict[str, Any] = {"model": model, "prompt": content}
    else:
        body = {"model": model, "messages": content, "add_generation_prompt": True}
    answer = fetch("POST", root + "/tokenize", body, timeout)
    if isinstance(answer, dict):
        n = answer.get("count")
        if isinstance(n, int) and not isinstance(n, bool) and n >= 0:
            return n
        return _tokens(answer.get("tokens"), "POST /tokenize")
    raise Unavailable("POST /tokenize answered no count", transient=False)


def _llama_cpp(root: str, model: str, content: str | list[dict[str, Any]], fetch: Fetch, timeout: float) -> int:
    text: Any = content
    if not isinstance(content, str):  # the chat template first, as the server applies it to a chat
        templated = fetch("POST", root + "/apply-template", {"messages": content}, timeout)
        text = templated.get("prompt") if isinstance(templated, dict) else None
        if not isinstance(text, str):
            raise Unavailable("POST /apply-template answered no prompt", transient=False)
    answer = fetch("POST", root + "/tokenize", {"content": text, "add_special": True}, timeout)
    return _tokens(answer.get("tokens") if isinstance(answer, dict) else None, "POST /tokenize")


def _tgi(root: str, model: str, content: str | list[dict[str, Any]], fetch: Fetch, timeout: float) -> int:
    if isinstance(content, str):
        return _tokens(fetch("POST", root + "/tokenize", {"inputs": content}, timeout), "POST /tokenize")
    answer = fetch("POST", root + "/chat_tokenize", {"model": model, "messages": content}, timeout)
    return _tokens(answer.get("tokenize_response") if isinstance(answer, dict) else None, "POST /chat_tokenize")


_COUNTERS: dict[str, Callable[[str, str, Any, Fetch, float], int]] = {
    "vllm": _vllm,
    "llama.cpp": _llama_cpp,
    "tgi": _tgi,
}
