"""llmkit-anthropic: Claude models in llmkit, through Anthropic's Messages API.

    >>> import llmkit
    >>> client = llmkit.Client("anthropic:claude-sonnet-4-5")   # key from ANTHROPIC_API_KEY  # doctest: +SKIP
    >>> client.chat("Hello").text                                                               # doctest: +SKIP

The provider is declared in this package's metadata (entry point group
`llmkit.providers`), so llmkit finds it without importing it. Importing this package
imports nothing else: the backend module is loaded on first access to AnthropicBackend,
and the `anthropic` SDK on the first request.

    backend.py     AnthropicBackend: settings, the SDK client, chat, stream, tokens, window
    wire.py        messages, tools, tool_choice, structured output -> request parameters
    replies.py     replies and stream events -> text, tool calls, finish reasons, counts
    error_map.py   SDK exceptions -> llmkit errors (status and error type)
    models.py      context windows and prices of Claude models
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"
__all__ = ["AnthropicBackend", "__version__"]

if TYPE_CHECKING:
    from .backend import AnthropicBackend


def __getattr__(name: str) -> Any:
    if name == "AnthropicBackend":
        from .backend import AnthropicBackend

        return AnthropicBackend
    raise AttributeError(f"module 'llmkit_anthropic' has no attribute {name!r}")
