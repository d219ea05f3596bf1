"""What the two in-process backends (`hf:` and `mini`) share, written once.

A local backend holds an *engine*: the object that owns a loaded model and knows how to
generate with it, score a text and embed texts. Both engines answer the same questions:

    engine.name                  what `served_model` reports
    engine.context_window        tokens the model attends to (prompt + output), or None
    engine.sampling_defaults     the model authors' sampling defaults, as llmkit options
    engine.count_tokens(text)    engine.logprobs(text, context=None) -> list[TokenLogprob]
    engine.embed(texts, truncate=None) -> (vectors, tokens read)
    engine.attention(text)       -> (tokens, weights (layers, heads, T, T))
    engine.tokenize(text) -> ids     engine.detokenize(ids) -> text
    engine.stepper(batch_size, threads=None, adapt=None) -> a TokenStepper (generation.CachedStepper)
    engine.next_token_logprobs(sequences) -> (rows, longest, vocab) float32 numpy array
    engine.iter_next_token_logprobs(sequences, adapt=None) -> (row, t, logp) blocks
    engine.fingerprint()         -> {"weights": hex, "tokenizer": hex}

The loaded model behind an engine is shared through a cache (llmkit.cache) and leased:
`close()` releases it and drops the engine, so a closed client frees its model; a closed
client used again leases it anew (warm, if the cache kept it). The backend turns calls
into `SamplingParams` (the call's options over `sampling_defaults`) and `Generation`s
into `Response`s.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

from ..cache import Lease
from ..generation import SAMPLING_OPTIONS, Generation, SamplingParams
from ..structured import schema_of
from ..types import Embeddings, Logprobs, Message, Response, StreamEvent, TokenStepper, ToolCallDelta, Usage
from . import tool_protocol
from .base import Backend

if TYPE_CHECKING:
    from collections.abc import Iterator

    import numpy

    from ..adaptation import Adaptation

__all__ = ["LocalBackend", "response_events"]


class LocalBackend(Backend):
    """A backend whose model runs in this process. Subclasses implement `_open()`,
    returning the lease on the shared model and the engine built on it."""

    def __init__(self, model: str, **settings: Any) -> None:
        super().__init__(model, **settings)
        self._lease: Lease[Any] | None = None
        self._engine: Any = None
        self._opening = threading.Lock()

    def _open(self) -> tuple[Lease[Any], Any]:
        raise NotImplementedError

    @property
    def engine(self) -> Any:
        """The engine; leased again if this backend was closed."""
        if self._engine is None:
            with self._opening:  # two threads using a closed client lease the model once
                if self._engine is None:
                    lease, self._engine = self._open()
                    self._lease = lease.release_with(self)
        return self._engine

    def close(self) -> None:
        """Release the shared model (kept warm for the next client, up to its cache's keep)."""
        lease, self._lease, self._engine = self._lease, None, None
        if lease is not None:
            lease.release()

    # --- options -------------------------------------------------------------------

    @property
    def sampling_defaults(self) -> dict[str, Any]:
        """The model's own defaults for the options this backend takes (a call's win)."""
        return {k: v for k, v in self.engine.sampling_defaults.items() if k in self.options}

    def _params(self, options: dict[str, Any]) -> SamplingParams:
        return SamplingParams.from_options({k: v for k, v in options.items() if k in SAMPLING_OPTIONS},
                                           self.sampling_defaults, where=self.model_id)  # fmt: skip

    def _response(self, generations: list[Generation]) -> Response:
        first = generations[0]
        usage = Usage(first.prompt_tokens, sum(g.completion_tokens for g in generations))
        return Response(text=first.text, texts=[g.text for g in generations], finish_reason=first.finish_reason,
                        usage=usage, served_model=self.engine.name, raw=generations)  # fmt: skip

    # --- the Backend contract, shared ----------------------------------------------

    def logprobs(self, text: str, context: str | None = None) -> Logprobs:
        tokens = self.engine.logprobs(text, context=context)
        return Logprobs(tokens, model=self.model_id, num_bytes=len(text.encode("utf-8")))

    def embed(self, texts: list[str], options: dict[str, Any]) -> Embeddings:
        vectors, read = self.engine.embed(texts, truncate=options.get("truncate"))
        return Embeddings(vectors, served_model=self.engine.name, usage=Usage(read, 0))

    def context_window(self) -> int | None:
        return self.engine.context_window

    # --- distributions: tokens and full next-token distributions (llmkit.compress) ----

    def tokenize(self, text: str) -> list[int]:
        return list(self.engine.tokenize(text))

    def detokenize(self, ids: list[int]) -> str:
        return str(self.engine.detokenize(ids))

    def token_stepper(self, batch_size: int, threads: int | None = None,
                      adapt: Adaptation | None = None) -> TokenStepper:  # fmt: skip
        return self.engine.stepper(batch_size, threads, adapt)

    def next_token_logprobs(self, sequences: list[list[int]]) -> numpy.ndarray:
        return self.engine.next_token_logprobs(sequences)

    def iter_next_token_logprobs(self, sequences: list[list[int]],
                                 adapt: Adaptation | None = None) -> Iterator[tuple[int, int, numpy.ndarray]]:  # fmt: skip
        return self.engine.iter_next_token_logprobs(sequences, adapt)

    def fingerprint(self) -> dict[str, Any]:
        return dict(self.engine.fingerprint())

    def attention(self, text: str) -> tuple[list[str], Any]:
        """(tokens, attention weights (layers, heads, T, T)) for `llmkit attention`."""
        return self.engine.attention(text)

    # --- tools: the JSON protocol of tool_protocol.py, under constrained decoding --------

    def _with_tools(self, messages: list[Message], options: dict[str, Any]) -> tuple[list[Message], dict[str, Any]]:
        """The conversation and options to generate with: with tools, the protocol's
        prompt and its reply schema as the response format (calls and results of earlier
        steps are transcribed either way, for templates without a tool role)."""
        tools = options.get("tools")
        if not tools:
            needs = any(m.role == "tool" or m.tool_calls for m in messages)
            return (tool_protocol.transcribe(messages) if needs else messages), options
        fmt = options.get("response_format")
        opts = {k: v for k, v in options.items() if k not in ("tools", "tool_choice")}
        opts["response_format"] = tool_protocol.reply_schema(tools, options.get("tool_choice"),
                                                             schema_of(fmt) if fmt is not None else None)  # fmt: skip
        return tool_protocol.prompt_messages(messages, tools, options.get("tool_choice")), opts

    def _read_tools(self, response: Response, options: dict[str, Any]) -> Response:
        """A protocol reply as a Response: its tool call, or its answer as the text."""
        if not options.get("tools"):
            return response
        texts, calls = [], []
        for i, text in enumerate(response.texts):
            answer, found = tool_protocol.parse_reply(text, i)
            texts.append(answer)
            calls.append(found)
        response.text, response.texts, response.tool_calls = texts[0], texts, calls[0]
        if calls[0]:
            response.finish_reason = "tool_calls"
        response.structured_by = "constrained" if options.get("response_format") is not None and not calls[0] else None
        return response


def response_events(response: Response) -> list[StreamEvent]:
    """A whole Response as a stream's events (the text, each tool call, the end)."""
    events = [StreamEvent(text=t, index=i) for i, t in enumerate(response.texts) if t]
    events += [StreamEvent(tool_calls=[ToolCallDelta(i, c.id, c.name, c.arguments)]) for i, c in enumerate(response.tool_calls)]
    events.append(StreamEvent(finish_reason=response.finish_reason))
    events.append(StreamEvent(usage=response.usage))
    return events
