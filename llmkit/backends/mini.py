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

from ..cache import Lease, SharedCache
from ..errors import CheckpointError
from ..types import Capabilities, Embeddings, Logprobs, Message, Response, StreamEvent, TokenCount, TokenLogprob, Usage
from .base import Backend

SHIPPED = Path(__file__).resolve().parent.parent / "mini" / "weights"
GENERATION_DEFAULTS = ("temperature", "top_p", "top_k")  # what a checkpoint may set for its callers
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

    return ENGINES.acquire((str(path.resolve()), threads), load)


class MiniBackend(Backend):
    provider = "mini"
    capabilities = Capabilities(
        chat=True, streaming=True, completion=True, logprobs=True, fill_in_the_middle=True,
        embeddings=True, multiple_samples=True,
    )  # fmt: skip
    options = frozenset({"max_tokens", "temperature", "top_p", "top_k", "stop", "seed", "n", "truncate"})
    complete_options = options | {"suffix"}
    embed_options = frozenset({"truncate"})
    completion_model = True
    settings = {
        "threads": "torch threads for this model (default: torch's choice; 1 is often fastest for batch 1)",
        "token_healing": "re-create the prompt's last token so prompts ending in whitespace work (default true)",
    }

    def __init__(self, model: str = "", **settings: Any) -> None:
        super().__init__(model, **settings)
        self._lease = acquire_engine(checkpoint_path(model), settings.get("threads")).release_with(self)
        self.engine = self._lease.value
        self._heal = settings.get("token_healing", True)

    def _gen_options(self, options: dict[str, Any]) -> dict[str, Any]:
        """The call's options over the checkpoint's own generation defaults (metadata
        "generation", like Hugging Face's generation_config.json)."""
        defaults = self.engine.metadata.get("generation") or {}
        merged = {**{k: v for k, v in defaults.items() if k in GENERATION_DEFAULTS}, **options}
        return {k: v for k, v in merged.items() if k != "suffix"}

    def _generate(self, prompt: str, options: dict[str, Any]) -> Response:
        opts = self._gen_options(options)
        if options.get("suffix") is not None:
            gens = self.engine.infill(prompt, options["suffix"], **opts)
        else:
            gens = self.engine.generate(prompt, token_healing=self._heal, **opts)
        texts = [g.text for g in gens]
        usage = Usage(gens[0].prompt_tokens, sum(g.completion_tokens for g in gens))
        return Response(text=texts[0], texts=texts, finish_reason=gens[0].finish_reason, usage=usage,
                        served_model=self.engine.name, raw=gens)  # fmt: skip

    def chat(self, messages: list[Message], options: dict[str, Any]) -> Response:
        return self._generate(render_prompt(messages), options)

    def complete(self, prompt: str, options: dict[str, Any]) -> Response:
        return self._generate(prompt, options)

    def stream(self, messages: list[Message], options: dict[str, Any]) -> Iterator[StreamEvent]:
        gen = self.engine.stream(render_prompt(messages), token_healing=self._heal, **self._gen_options(options))
        try:
            for delta in gen:
                yield StreamEvent(text=delta)
        finally:
            gen.close()  # the caller stopped early (Ctrl-C, break): no more decoding
        yield StreamEvent(finish_reason=gen.finish_reason or "stop")
        yield StreamEvent(usage=Usage(gen.prompt_tokens, gen.completion_tokens))

    def logprobs(self, text: str, context: str | None = None) -> Logprobs:
        pairs = self.engine.logprobs(text, context=context)
        return Logprobs([TokenLogprob(t, lp) for t, lp in pairs], model=self.model_id,
                        num_bytes=len(text.encode("utf-8")))  # fmt: skip

    def embed(self, texts: list[str], options: dict[str, Any]) -> Embeddings:
        vectors, read = self.engine.embed(texts, truncate=options.get("truncate"))
        return Embeddings(vectors, served_model=self.engine.name, usage=Usage(read, 0))

    def count_tokens(self, content: str | list[Message]) -> TokenCount:
        text = content if isinstance(content, str) else render_prompt(content)
        return TokenCount(self.engine.count_tokens(text), encoding="mini-bpe")

    def context_window(self) -> int | None:
        return self.engine.context_window

    def attention(self, text: str) -> tuple[list[str], Any]:
        """(tokens, attention weights (layers, heads, T, T)) for `llmkit attention`."""
        from ..mini.attention_maps import attention_maps

        tok = self.engine.tokenizer
        ids = tok.encode(text)[: self.engine.context_window]
        return [tok.token_str(i) for i in ids], attention_maps(self.engine.model, ids)

    def check_context(self, payload: str | list[Message], options: dict[str, Any]) -> None:
        if options.get("truncate") is None:  # with truncation, the engine makes it fit
            super().check_context(payload, options)

    def close(self) -> None:
        """Release the shared engine (kept warm for the next client, up to ENGINES.keep)."""
        self._lease.release()
