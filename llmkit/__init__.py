"""llmkit: one interface over every kind of language model.

    >>> import llmkit
    >>> client = llmkit.Client("mock:echo")   # or "openai:gpt-4o-mini", "hf:ORG/NAME", "mini"
    >>> client.chat("Hello").text
    'Hello'

Everything here is imported lazily, so `import llmkit` stays fast and pulls in none
of torch, transformers, openai or rich.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from ._version import __version__

# public name -> module that defines it
_EXPORTS = {
    "Client": "llmkit.client",
    "Conversation": "llmkit.conversation",
    "Agent": "llmkit.agents",
    "mcp_server": "llmkit.agents",
    "AgentResult": "llmkit.agents",
    "Turn": "llmkit.conversation",
    "Stream": "llmkit.streaming",
    "AsyncStream": "llmkit.streaming",
    "Message": "llmkit.types",
    "ToolCall": "llmkit.types",
    "ToolCallDelta": "llmkit.types",
    "Response": "llmkit.types",
    "Usage": "llmkit.types",
    "StreamEvent": "llmkit.types",
    "Capabilities": "llmkit.types",
    "Logprobs": "llmkit.types",
    "Embeddings": "llmkit.types",
    "cosine": "llmkit.types",
    "TokenLogprob": "llmkit.types",
    "TokenCount": "llmkit.types",
    "system": "llmkit.types",
    "user": "llmkit.types",
    "assistant": "llmkit.types",
    "tool_result": "llmkit.types",
    "Tool": "llmkit.tools",
    "tool": "llmkit.tools",
    "RetryPolicy": "llmkit.retry",
    "Backend": "llmkit.backends.base",
    "register_provider": "llmkit.registry",
    "clear_caches": "llmkit.cache",
    "errors": "llmkit.errors",
    "compress": "llmkit.compress",
    "decompress": "llmkit.compress",
    "CompressionStats": "llmkit.compress",
    "TokenStepper": "llmkit.types",
    "Adaptation": "llmkit.adaptation",
}
_ERRORS = {
    "LLMKitError", "ConfigurationError", "UnknownModelError", "MissingCapabilityError",
    "InvalidOptionError", "APIError", "AuthenticationError", "PermissionDeniedError",
    "NotFoundError", "BadRequestError", "ContextLengthError", "ContentFilterError",
    "RateLimitError", "QuotaExceededError", "ServerError", "APIConnectionError",
    "APITimeoutError", "MalformedResponseError", "MalformedStreamError", "CheckpointError",
    "PluginError", "UsageError", "HistoryError", "ReplyInterruptedError", "ToolArgumentsError", "ModelRequestBlockedError", "FormatUnsupportedError", "TaskError", "CompressedFileError",
}  # fmt: skip

__all__ = sorted([*_EXPORTS, *_ERRORS, "__version__"])


def __getattr__(name: str) -> Any:
    if name in _ERRORS:
        module = importlib.import_module("llmkit.errors")
    elif name in _EXPORTS:
        module = importlib.import_module(_EXPORTS[name])
        if name == "errors":
            return module
    else:
        raise AttributeError(f"module 'llmkit' has no attribute {name!r}")
    value = getattr(module, name)
    globals()[name] = value  # cache: the next access is a plain dict lookup
    return value


def __dir__() -> list[str]:
    return __all__


if TYPE_CHECKING:  # for type checkers and IDEs
    from . import errors
    from .adaptation import Adaptation
    from .agents import Agent, AgentResult, mcp_server
    from .backends.base import Backend
    from .cache import clear_caches
    from .client import Client
    from .compress import CompressionStats, compress, decompress
    from .conversation import Conversation, Turn
    from .errors import *  # noqa: F403
    from .registry import register_provider
    from .retry import RetryPolicy
    from .streaming import AsyncStream, Stream
    from .tools import Tool, tool
    from .types import (
        Capabilities,
        Embeddings,
        Logprobs,
        Message,
        Response,
        StreamEvent,
        TokenCount,
        TokenLogprob,
        TokenStepper,
        ToolCall,
        ToolCallDelta,
        Usage,
        assistant,
        cosine,
        system,
        tool_result,
        user,
    )  # fmt: skip
