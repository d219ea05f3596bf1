"""Testing code that uses llmkit without reaching a real model.

    >>> import llmkit
    >>> from llmkit.testing.models import block_model_requests, scripted_model
    >>> with block_model_requests():                   # only test doubles may answer in here
    ...     llmkit.Client("mock:echo").chat("hi").text
    ...     llmkit.Client("openai:gpt-4o-mini", api_key="sk-test-0000000000").chat("hi")
    Traceback (most recent call last):
    ...
    llmkit.errors.ModelRequestBlockedError: openai:gpt-4o-mini chat() would reach a real model, ...
    >>> def respond(messages):                          # a function of the whole conversation
    ...     return f"you said {len(messages)} thing(s); the last: {messages[-1].text}"
    >>> scripted_model(respond).chat([llmkit.user("a"), llmkit.user("b")]).text
    'you said 2 thing(s); the last: b'

In a test suite, block every real request at once: set LLMKIT_BLOCK_MODEL_REQUESTS=1 in
the environment, or use `block_model_requests()` in an autouse fixture.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from .. import client as _client
from ..types import Message

__all__ = ["block_model_requests", "scripted_model"]


@contextmanager
def block_model_requests(blocked: bool = True) -> Iterator[None]:
    """Within the block, a request to any real model (every backend but the mock one)
    raises ModelRequestBlockedError before anything is sent."""
    previous, _client._blocked = _client._blocked, blocked
    try:
        yield
    finally:
        _client._blocked = previous


def scripted_model(respond: Callable[[list[Message]], Any], **settings: Any) -> _client.Client:
    """A Client whose answers come from `respond(messages)`: a string, a ToolCall (or a
    list of them), a Response, or an exception to raise; see llmkit.backends.mock."""
    return _client.Client("mock", responses=lambda messages, options: respond(messages), **settings)
