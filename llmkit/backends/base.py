"""The contract every backend (built-in or plugin) implements.

A backend turns normalised messages and validated options into a `Response` or a
stream of `StreamEvent`s, raising `llmkit.errors` classes. It declares what it can do
(`capabilities`), which generation options it understands (`options`) and which
constructor settings it takes (`settings`). Retries, fallbacks, option validation and
capability checks live in the Client, once, not in every backend.

Options arrive validated, with None values dropped; `options["tools"]`, when given, is
a list of `llmkit.tools.Tool` (the client turns functions and tool dicts into Tools), and
`response_format` is what the caller passed ("json", a JSON-schema dict or a pydantic
model class).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator, Mapping
from typing import TYPE_CHECKING, Any, ClassVar

from .. import tokens
from ..errors import InvalidOptionError, MissingCapabilityError
from ..options import suggest
from ..types import Capabilities, Embeddings, Logprobs, Message, Response, StreamEvent, TokenCount, TokenStepper

if TYPE_CHECKING:
    import numpy

    from ..adaptation import Adaptation

__all__ = ["Backend"]


class Backend:
    # per class, and per instance where they differ (a configured provider's own name;
    # an hf model whose tokenizer can fill in the middle)
    provider: str = ""
    capabilities: Capabilities = Capabilities()
    # generation options understood by chat/stream (complete may add its own)
    options: ClassVar[frozenset[str]] = frozenset()
    complete_options: ClassVar[frozenset[str]] = frozenset()
    embed_options: ClassVar[frozenset[str]] = frozenset()
    # constructor settings: name -> short description (shown in errors and `llmkit models`)
    settings: ClassVar[Mapping[str, str]] = {}
    # a completion model (no chat training): chat() is a plain template, and UIs say so
    completion_model: bool = False
    # False for test doubles (mock): llmkit.testing.block_model_requests() lets only these answer
    real: ClassVar[bool] = True

    def __init__(self, model: str, **settings: Any) -> None:
        unknown = set(settings) - set(self.settings)
        if unknown:
            name = sorted(unknown)[0]
            raise InvalidOptionError(
                f"unknown setting {name!r} for provider {self.provider!r}.{suggest(name, self.settings)}",
                hint="Settings: " + (", ".join(sorted(self.settings)) or "none"),
            )
        self.model = model
        self.settings_values = settings

    @property
    def model_id(self) -> str:
        return f"{self.provider}:{self.model}" if self.model else self.provider

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.model_id}>"

    # --- what subclasses implement -------------------------------------------------

    def chat(self, messages: list[Message], options: dict[str, Any]) -> Response:
        raise self._missing("chat")

    def stream(self, messages: list[Message], options: dict[str, Any]) -> Iterator[StreamEvent]:
        raise self._missing("streaming")

    def complete(self, prompt: str, options: dict[str, Any]) -> Response:
        raise self._missing("completion")

    def chat_batch(self, conversations: list[list[Message]], options: dict[str, Any]) -> list[Response]:
        """Several conversations; local backends override this to generate them together."""
        return [self.chat(messages, options) for messages in conversations]

    def complete_batch(self, prompts: list[str], options: dict[str, Any]) -> list[Response]:
        return [self.complete(prompt, options) for prompt in prompts]

    def logprobs(self, text: str, context: str | None = None) -> Logprobs:
        """Log-probabilities of each token of `text`, given `context` when there is one."""
        raise self._missing("logprobs")

    def embed(self, texts: list[str], options: dict[str, Any]) -> Embeddings:
        """One vector per text, in order (capability `embeddings`)."""
        raise self._missing("embeddings")

    # capability `distributions` (local backends; see Client.token_stepper)
    def tokenize(self, text: str) -> list[int]:
        raise self._missing("distributions")

    def detokenize(self, ids: list[int]) -> str:
        raise self._missing("distributions")

    def token_stepper(self, batch_size: int, threads: int | None = None,
                      adapt: Adaptation | None = None) -> TokenStepper:  # fmt: skip
        raise self._missing("distributions")

    def next_token_logprobs(self, sequences: list[list[int]]) -> numpy.ndarray:
        raise self._missing("distributions")

    def iter_next_token_logprobs(self, sequences: list[list[int]],
                                 adapt: Adaptation | None = None) -> Iterator[tuple[int, int, numpy.ndarray]]:  # fmt: skip
        raise self._missing("distributions")

    def fingerprint(self) -> dict[str, Any]:
        raise self._missing("distributions")

    def count_tokens(self, content: str | list[Message]) -> TokenCount:
        raise self._missing("count_tokens")

    def context_window(self) -> int | None:
        """Tokens the model can attend to (prompt + output), or None when unknown."""
        return None

    def runtime(self) -> str | None:
        """How the model runs, in a few words, for `/model` (a local model's device and
        dtype, and why); None for remote ones."""
        return None

    def time_limit(self, options: dict[str, Any], kind: str) -> float | None:
        """Seconds one call (retries included) may take in all, or None for no limit;
        backends that take a `timeout` say what it is."""
        return None

    def check_context(self, payload: str | list[Message], options: dict[str, Any]) -> None:
        """Refuse a request that cannot fit the context window, before it is sent."""
        window = self.context_window()
        if window is not None:
            tokens.check_fits(self.count_tokens(payload), options.get("max_tokens"), window, self.model_id)

    def close(self) -> None:
        """Release resources (connections, models). Optional."""

    # Async defaults run the sync code in a worker thread; network backends override
    # them with native async clients.
    async def achat(self, messages: list[Message], options: dict[str, Any]) -> Response:
        return await asyncio.to_thread(self.chat, messages, options)

    async def aembed(self, texts: list[str], options: dict[str, Any]) -> Embeddings:
        return await asyncio.to_thread(self.embed, texts, options)

    async def astream(
        self, messages: list[Message], options: dict[str, Any]
    ) -> AsyncIterator[StreamEvent]:
        iterator = self.stream(messages, options)
        step: asyncio.Future[StreamEvent | None] | None = None
        try:
            while True:
                step = asyncio.ensure_future(asyncio.to_thread(next, iterator, None))  # a stream never yields None
                event = await asyncio.shield(step)  # a cancel must not abandon the thread inside next()
                step = None
                if event is None:
                    return
                yield event
        finally:  # left early (break, cancel, timeout): stop the sync generator's work too
            await _stop_sync_stream(iterator, step)

    def _missing(self, what: str) -> MissingCapabilityError:
        return MissingCapabilityError(
            f"{self.model_id} does not support {what}",
            hint=f"It supports: {', '.join(self.capabilities.names())}. Choose another model for this.",
            model=self.model_id,
        )


async def _stop_sync_stream(iterator: Iterator[StreamEvent], step: asyncio.Future[Any] | None) -> None:
    """Close a sync stream that an async reader left. A generator cannot be closed while a
    worker thread is inside its next(): ask it to stop (local engines end at the next
    token), wait for that step, then close it."""
    close = getattr(iterator, "close", None)
    if step is not None and not step.done():
        stop = getattr(iterator, "stop", None)
        if stop is not None:
            stop()
        try:
            await asyncio.shield(step)
        except asyncio.CancelledError:  # cancelled again while waiting: close it once the step is over
            if close is not None:
                step.add_done_callback(lambda _: close())
            raise
        except Exception:  # that step failed: the reader has left, nobody to tell
            pass
    if close is not None:
        close()

