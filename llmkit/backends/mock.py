"""A scripted backend for tests, demos and plugin authors.

    >>> import llmkit
    >>> client = llmkit.Client("mock", responses=["Hello!", llmkit.ToolCall("1", "add", '{"a": 1}')])
    >>> client.chat("Hi").text, client.chat("Add one").tool_calls[0].args
    ('Hello!', {'a': 1})
    >>> llmkit.Client("mock", responses=lambda messages, options: messages[-1].text.upper()).chat("hi").text
    'HI'
    >>> llmkit.Client("mock:echo").chat("echoed back").text   # answers with the last user message
    'echoed back'

Each item of `responses` is used for one call, in order: a string, a Response, a
ToolCall or list of ToolCalls, a dict of Response fields, or an exception to raise
(an llmkit error class or instance, to script failures and retries). Streams split the
text into word-sized chunks. `embed` returns hashed-trigram vectors (similar texts,
similar vectors). Every call is recorded in `backend.calls`.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

from ..errors import InvalidOptionError, LLMKitError, UsageError
from ..options import stop_list
from ..types import Capabilities, Embeddings, Message, Response, StreamEvent, TokenCount, ToolCall, ToolCallDelta, Usage
from .base import Backend

__all__ = ["MockBackend"]

_WORDS = re.compile(r"\S+\s*|\s+")


class MockBackend(Backend):
    provider = "mock"
    real = False  # answers even while llmkit.testing.block_model_requests() is on
    capabilities = Capabilities(
        chat=True, streaming=True, completion=True, tools=True, structured_output=True,
        fill_in_the_middle=True, embeddings=True, multiple_samples=True,
    )  # fmt: skip
    options = frozenset(
        {"max_tokens", "temperature", "top_p", "top_k", "stop", "seed", "n", "tools",
         "tool_choice", "parallel_tool_calls", "response_format", "timeout"}
    )  # fmt: skip
    complete_options = frozenset({"max_tokens", "temperature", "top_p", "top_k", "stop", "seed", "n", "suffix"})
    embed_options = frozenset({"dimensions"})
    settings = {
        "responses": "a list of scripted answers, or a function (messages, options) -> answer",
        "delay": "seconds to wait before each streamed chunk (to test cancellation)",
        "context_window": "pretend context window in tokens",
        "capabilities": "a dict overriding capabilities, e.g. {'tools': False}",
    }

    def __init__(self, model: str = "", **settings: Any) -> None:
        super().__init__(model, **settings)
        responses = settings.get("responses")
        if responses is None and model not in ("", "echo"):
            raise InvalidOptionError(
                f"unknown mock model {model!r}",
                hint='Use "mock" with responses=[...], or "mock:echo".',
            )
        self._script = responses if callable(responses) else list(responses or [])
        self._delay = float(settings.get("delay", 0.0))
        self._window = settings.get("context_window")
        if settings.get("capabilities"):
            self.capabilities = replace(type(self).capabilities, **settings["capabilities"])
        self.calls: list[tuple[str, Any, dict[str, Any]]] = []
        self._last_failure: LLMKitError | None = None  # a retryable scripted error just raised

    # --- scripting -------------------------------------------------------------------

    def _next(self, kind: str, payload: Any, options: dict[str, Any]) -> Response:
        self.calls.append((kind, payload, dict(options)))
        if callable(self._script):
            item = self._script(payload, options)
        elif self._script:
            item = self._script.pop(0)
        elif self.model == "echo":
            item = payload[-1].text if isinstance(payload, list) else payload
        else:
            last = self._last_failure
            if last is not None:  # the client retried a scripted failure: say so, do not hide it
                raise UsageError(
                    f"the mock backend has no scripted responses left: its last one, {type(last).__name__} "
                    f"({last.message}), was retried by the client",
                    hint="Script one response per attempt (the failure, then what the retry gets), or pass "
                         "max_retries=0 to see the scripted failure itself.",
                ) from last
            raise UsageError(
                "the mock backend has no scripted responses left",
                hint="Add more items to responses=[...].",
            )
        if isinstance(item, type) and issubclass(item, BaseException):
            item = item("scripted failure") if issubclass(item, LLMKitError) else item()
        self._last_failure = item if isinstance(item, LLMKitError) and item.retryable else None
        if isinstance(item, BaseException):
            raise item
        response = self._to_response(item)
        response.text = _cut(response.text, options.get("stop"))
        response.texts = [_cut(t, options.get("stop")) for t in response.texts]
        if not response.usage.input_tokens:
            prompt = payload if isinstance(payload, str) else "\n".join(m.text for m in payload)
            response.usage = Usage(_count(prompt), sum(_count(t) for t in response.texts), estimated=True)
        n = options.get("n", 1)
        if n > 1 and len(response.texts) < n:
            response.texts = (response.texts * n)[:n]
        return response

    @staticmethod
    def _to_response(item: Any) -> Response:
        if isinstance(item, Response):
            return replace(item, texts=list(item.texts), tool_calls=list(item.tool_calls))
        if isinstance(item, str):
            return Response(text=item, finish_reason="stop")
        if isinstance(item, ToolCall):
            item = [item]
        if isinstance(item, list) and all(isinstance(t, ToolCall) for t in item):
            return Response(text="", tool_calls=item, finish_reason="tool_calls")
        if isinstance(item, dict):
            item = dict(item)
            calls = [tc if isinstance(tc, ToolCall) else ToolCall.from_dict(tc) for tc in item.pop("tool_calls", [])]
            item.setdefault("finish_reason", "tool_calls" if calls else "stop")
            return Response(tool_calls=calls, **item)
        raise InvalidOptionError(f"cannot use {item!r} as a scripted mock response")

    # --- the backend API ---------------------------------------------------------------

    def chat(self, messages: list[Message], options: dict[str, Any]) -> Response:
        return self._next("chat", messages, options)

    def complete(self, prompt: str, options: dict[str, Any]) -> Response:
        return self._next("complete", prompt, options)

    def stream(self, messages: list[Message], options: dict[str, Any]) -> Iterator[StreamEvent]:
        response = self._next("stream", messages, options)
        for index, text in enumerate(response.texts):
            for piece in _WORDS.findall(text):
                if self._delay:
                    time.sleep(self._delay)
                yield StreamEvent(text=piece, index=index)
        for i, call in enumerate(response.tool_calls):
            args = call.arguments
            half = len(args) // 2  # arguments arrive in pieces, as from real servers
            yield StreamEvent(tool_calls=[ToolCallDelta(i, call.id, call.name, args[:half])])
            yield StreamEvent(tool_calls=[ToolCallDelta(i, None, None, args[half:])])
        yield StreamEvent(finish_reason=response.finish_reason or "stop")
        yield StreamEvent(usage=response.usage)

    def embed(self, texts: list[str], options: dict[str, Any]) -> Embeddings:
        """Hashed character trigrams (llmkit.backends.fake_embeddings): not scripted, but
        deterministic, and similar texts get similar vectors."""
        from .fake_embeddings import trigram_vector

        self.calls.append(("embed", list(texts), dict(options)))
        size = options.get("dimensions", 32)
        return Embeddings([trigram_vector(t, size) for t in texts], served_model="mock",
                          usage=Usage(sum(_count(t) for t in texts), 0, estimated=True))  # fmt: skip

    def count_tokens(self, content: str | list[Message]) -> TokenCount:
        text = content if isinstance(content, str) else "\n".join(m.text for m in content)
        return TokenCount(_count(text), estimate=True, encoding="words")

    def context_window(self) -> int | None:
        return self._window


def _count(text: str) -> int:
    return len(re.findall(r"\w+|[^\w\s]", text))


def _cut(text: str, stop: Any) -> str:
    for s in stop_list(stop):
        pos = text.find(s)
        if pos >= 0:
            text = text[:pos]
    return text
