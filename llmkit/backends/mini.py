"""The bundled GPT behind the common interface: `mini` (the shipped checkpoint) or
`mini:/path/to/checkpoint` (one you trained with `llmkit train`).

mini is a *completion* model (the shipped one was trained on Python source), not a chat
model. chat() therefore uses a deliberately simple template: the texts of the messages,
in order, joined by blank lines, and the model continues from there. So
`client.chat("def fibonacci(n):")` continues the code. Say so to users; do not pretend.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from .. import tokens
from ..cache import Lease, SharedCache
from ..constraints import Constraint, schema_of
from ..errors import CheckpointError
from ..generation import stream_ending
from ..types import Capabilities, Message, Response, StreamEvent, TokenCount
from .local import LocalBackend, response_events

__all__ = ["MiniBackend", "ENGINES", "SHIPPED", "acquire_engine", "checkpoint_path", "render_prompt"]

SHIPPED = Path(__file__).resolve().parent.parent / "mini" / "weights"
ENGINES: SharedCache[tuple[str, int | None], Any] = SharedCache("mini engines", keep=1)


def render_prompt(messages: list[Message]) -> str:
    """The documented chat template of completion models: texts joined by blank lines."""
    return "\n\n".join(m.text for m in messages if m.text)


def checkpoint_path(model: str) -> Path:
    if not model:
        return SHIPPED
    return Path(model).expanduser()


def acquire_engine(path: Path, threads: int | None = None) -> Lease[Any]:
    """A lease on the engine of a checkpoint, loaded once per process (per thread
    setting) and shared; released by the backend's close()."""
    from ..mini.checkpoint import is_checkpoint
    from ..mini.engine import MiniEngine

    def load() -> Any:
        if path == SHIPPED and not is_checkpoint(path):
            raise CheckpointError(
                f"the bundled checkpoint is missing from this install ({path})",
                hint="Reinstall llmkit, or train one with `llmkit train --stdlib -o DIR` and use mini:DIR.",
            )
        return MiniEngine.load(path, threads=threads)

    return ENGINES.acquire((str(path.resolve()), threads), load)  # keep=1: the last one released stays warm


class MiniBackend(LocalBackend):
    provider = "mini"
    capabilities = Capabilities(
        chat=True, streaming=True, completion=True, logprobs=True, fill_in_the_middle=True,
        embeddings=True, multiple_samples=True, in_process=True, distributions=True,
        structured_output=True, tools=True,  # both by constrained decoding (tools: weak, a small code model)
    )  # fmt: skip
    options = frozenset({"max_tokens", "temperature", "top_p", "top_k", "stop", "seed", "n", "repetition_penalty",
                         "truncate", "response_format", "tools", "tool_choice"})  # fmt: skip
    complete_options = (options - {"response_format", "tools", "tool_choice"}) | {"suffix"}
    embed_options = frozenset({"truncate"})
    completion_model = True
    settings = {
        "threads": "torch threads for this model (default: torch's choice; 1 is often fastest for batch 1)",
        "token_healing": "re-create the prompt's last token so prompts ending in whitespace work (default true)",
    }

    def __init__(self, model: str = "", **settings: Any) -> None:
        super().__init__(model, **settings)
        self._heal = settings.get("token_healing", True)
        _ = self.engine  # load now: a bad checkpoint is an error when the client is made, not at the first call

    def _open(self) -> tuple[Lease[Any], Any]:
        lease = acquire_engine(checkpoint_path(self.model), self.settings_values.get("threads"))
        return lease, lease.value

    def _generate(self, prompt: str, options: dict[str, Any]) -> Response:
        params, truncate = self._params(options), options.get("truncate")
        if options.get("suffix") is not None:
            return self._response(self.engine.infill(prompt, options["suffix"], params, truncate=truncate,
                                                    token_healing=self._heal))
        constraint = self._constraint(options)
        response = self._response(self.engine.generate(prompt, params, truncate=truncate, token_healing=self._heal,
                                                       constraint=constraint))  # fmt: skip
        response.structured_by = "constrained" if constraint is not None else None
        return self._read_tools(response, options)

    def _constraint(self, options: dict[str, Any]) -> Constraint | None:
        fmt = self._with_tools([], options)[1].get("response_format")
        return None if fmt is None else Constraint.json_schema(schema_of(fmt), self.engine.vocabulary())

    def _prompt(self, messages: list[Message], options: dict[str, Any]) -> str:
        return render_prompt(self._with_tools(messages, options)[0])

    def chat(self, messages: list[Message], options: dict[str, Any]) -> Response:
        return self._generate(self._prompt(messages, options), options)

    def complete(self, prompt: str, options: dict[str, Any]) -> Response:
        return self._generate(prompt, options)

    def stream(self, messages: list[Message], options: dict[str, Any]) -> Iterator[StreamEvent]:
        if options.get("tools"):  # a protocol reply is one JSON object: read whole, then given as events
            yield from response_events(self.chat(messages, options))
            return
        gen = self.engine.stream(self._prompt(messages, options), self._params(options),
                                 truncate=options.get("truncate"), token_healing=self._heal,
                                 constraint=self._constraint(options))  # fmt: skip
        try:
            for delta in gen:
                yield StreamEvent(text=delta)
        finally:
            gen.close()  # the caller stopped early (Ctrl-C, break): no more decoding
        yield from stream_ending([gen.finish_reason or "stop"], 1, gen.prompt_tokens, gen.completion_tokens)

    def count_tokens(self, content: str | list[Message]) -> TokenCount:
        text = content if isinstance(content, str) else render_prompt(self._with_tools(content, {})[0])
        return TokenCount(self.engine.count_tokens(text), encoding="mini-bpe")

    def check_context(self, payload: str | list[Message], options: dict[str, Any]) -> None:
        """Count what generation will be given (a conversation with the tool protocol's
        prompt, when there are tools); with truncation, the engine makes it fit."""
        if options.get("truncate") is None:
            text = payload if isinstance(payload, str) else self._prompt(payload, options)
            tokens.check_fits(self.engine.count_tokens(text), options.get("max_tokens"), self.context_window(),
                              self.model_id)  # fmt: skip
