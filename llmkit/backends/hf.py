"""Local Hugging Face models in-process: `hf:org/name`, `hf:/path/to/dir`, `hf:/path/to/file.gguf`.

    client = llmkit.Client("hf:/models/SmolLM2-135M-Instruct.Q4_1.gguf", threads=1)
    client.chat("What is the capital of France?", max_tokens=20, temperature=0).text

Loading (hub, directory, GGUF with a cached safetensors conversion) is in hf_loading,
chat templates in hf_chat, generation (batching, stop strings, streaming) in
hf_generate, log-probabilities in hf_scoring. This module is imported only when an
`hf:` id is used, so torch and transformers load then, never on `import llmkit`.

Beyond the Backend contract it offers batched generation, several prompts padded on
the left and generated together (higher throughput than one after another):

    backend.chat_batch([[user("Hi")], [user("2+2?")]], {"max_tokens": 20})  -> list[Response]
    backend.complete_batch(["The cat", "Once upon"], {"max_tokens": 20})   -> list[Response]
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from ..errors import InvalidOptionError
from ..options import stop_list, validate
from ..types import Capabilities, Embeddings, Logprobs, Message, Response, StreamEvent, TokenCount, Usage
from .base import Backend
from .hf_chat import ChatFormatter

if TYPE_CHECKING:  # torch and transformers load with the first model, not with this module
    from .hf_generate import Sample
    from .hf_loading import LoadedModel

# (prefix, suffix, middle) token spellings of fill-in-the-middle-trained tokenizers
_FIM_TOKENS = [
    ("<fim_prefix>", "<fim_suffix>", "<fim_middle>"),  # StarCoder, SmolLM
    ("<|fim_prefix|>", "<|fim_suffix|>", "<|fim_middle|>"),  # Qwen2.5-Coder
]
_WINDOW_KEYS = ("max_position_embeddings", "n_positions", "max_sequence_length", "seq_length", "n_ctx")


class HFBackend(Backend):
    provider = "hf"
    capabilities = Capabilities(
        chat=True, streaming=True, completion=True, logprobs=True, multiple_samples=True, embeddings=True,
        fill_in_the_middle=False,  # per model: True when the tokenizer has FIM tokens
    )  # fmt: skip
    options = frozenset({"max_tokens", "temperature", "top_p", "top_k", "stop", "seed", "n", "repetition_penalty"})
    complete_options = options | {"suffix"}
    embed_options = frozenset({"truncate"})
    settings = {
        "device": "torch device: auto (default: cuda when present, else cpu), cpu, cuda, cuda:1, mps",
        "dtype": "weights dtype: float32 (default on cpu), bfloat16 (default on cuda), float16, auto",
        "threads": "torch threads (process-wide; on few cores 1 is often fastest for one prompt)",
        "trust_remote_code": "run the model repository's own Python code (default false)",
        "revision": "hub branch, tag or commit (hub ids only)",
        "batch_size": "prompts generated together by chat_batch/complete_batch (default 8)",
        "context_window": "override the context window read from the model's config (tokens)",
    }

    def __init__(self, model: str, **settings: Any) -> None:
        super().__init__(model, **settings)
        for name in ("threads", "batch_size", "context_window"):
            value = settings.get(name)
            if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
                raise InvalidOptionError(f"{name}={value!r} is invalid: it must be an int >= 1")
        trust = settings.get("trust_remote_code", False)
        if not isinstance(trust, bool):  # "False" is truthy: running a repository's code needs a real True
            raise InvalidOptionError(f"trust_remote_code={trust!r} is invalid: it must be true or false")
        threads = settings.get("threads")
        if threads is not None:
            import torch

            torch.set_num_threads(threads)
        from .hf_generate import Generator, author_defaults
        from .hf_loading import acquire

        self._lease = acquire(
            model,
            device=settings.get("device"),
            dtype=settings.get("dtype"),
            trust_remote_code=trust,
            revision=settings.get("revision"),
        ).release_with(self)
        self.lm: LoadedModel = self._lease.value
        self.tokenizer = self.lm.tokenizer
        self.batch_size = int(settings.get("batch_size") or 8)
        self._window = settings.get("context_window") or _config_window(self.lm.model.config)
        self.formatter = ChatFormatter(self.tokenizer, model)
        self.generator = Generator(self.lm, self._window)
        self.defaults_from_model = author_defaults(getattr(self.lm.model, "generation_config", None))
        self._fim = _fim_tokens(self.tokenizer)
        if self._fim:
            self.capabilities = replace(type(self).capabilities, fill_in_the_middle=True)

    def attention(self, text: str) -> tuple[list[str], Any]:
        """(tokens, attention weights (layers, heads, T, T)) for `llmkit attention`.

        Fused attention kernels never materialise the weights, so the model runs once
        with the eager implementation, which returns them, and is switched back."""
        import torch

        ids = self._encode(text, special=False)[: self._window or None]
        model = self.lm.model
        with self.lm.lock, torch.no_grad():
            previous = model.config._attn_implementation
            model.set_attn_implementation("eager")
            try:
                out = model(torch.tensor([ids], device=self.lm.device), output_attentions=True)
            finally:
                model.set_attn_implementation(previous)
        maps = torch.stack([a[0].float().cpu() for a in out.attentions])
        return [self.tokenizer.decode([i]) for i in ids], maps

    # --- prompts -------------------------------------------------------------------

    def _encode(self, text: str, special: bool) -> list[int]:
        return self.tokenizer(text, add_special_tokens=special)["input_ids"]

    def _chat_ids(self, messages: list[Message]) -> list[int]:
        # the template writes any BOS itself: adding special tokens again would double it
        return self._encode(self.formatter.render(messages), special=False)

    def _complete_ids(self, prompt: str, options: dict[str, Any]) -> list[int]:
        suffix = options.get("suffix")
        if suffix is None:
            return self._encode(prompt, special=True)
        if not self._fim:
            raise self._missing("fill in the middle (its tokenizer has no FIM tokens)")
        pre, suf, mid = self._fim
        return self._encode(f"{pre}{prompt}{suf}{suffix}{mid}", special=False)

    def _stops(self, options: dict[str, Any], chat: bool) -> list[str]:
        return stop_list(options.get("stop")) + (self.formatter.extra_stops if chat else [])

    def _gen_options(self, options: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in {**self.defaults_from_model, **options}.items() if k != "suffix"}

    def _response(self, samples: list[Sample]) -> Response:
        usage = Usage(samples[0].prompt_tokens, sum(s.completion_tokens for s in samples))
        return Response(text=samples[0].text, texts=[s.text for s in samples], finish_reason=samples[0].finish_reason,
                        usage=usage, served_model=self.lm.name, raw=samples)  # fmt: skip

    def _generate(self, prompts: list[list[int]], options: dict[str, Any], chat: bool) -> list[Response]:
        results = self.generator.generate_many(
            prompts, self._gen_options(options), self._stops(options, chat), self.batch_size
        )
        return [self._response(samples) for samples in results]

    # --- the Backend contract ------------------------------------------------------

    def chat(self, messages: list[Message], options: dict[str, Any]) -> Response:
        return self._generate([self._chat_ids(messages)], options, chat=True)[0]

    def complete(self, prompt: str, options: dict[str, Any]) -> Response:
        return self._generate([self._complete_ids(prompt, options)], options, chat=False)[0]

    def stream(self, messages: list[Message], options: dict[str, Any]) -> Iterator[StreamEvent]:
        ids = self._chat_ids(messages)
        return self.generator.stream(ids, self._gen_options(options), self._stops(options, chat=True))

    def logprobs(self, text: str, context: str | None = None) -> Logprobs:
        from .hf_scoring import score

        tokens = score(self.lm.model, self.tokenizer, text, self.lm.device, self._window, self.lm.lock,
                       context=context)  # fmt: skip
        return Logprobs(tokens, model=self.model_id, num_bytes=len(text.encode("utf-8")))

    def embed(self, texts: list[str], options: dict[str, Any]) -> Embeddings:
        from .hf_scoring import embed

        vectors, read = embed(self.lm.model, self.tokenizer, texts, self.lm.device, self._window, self.lm.lock,
                              truncate=options.get("truncate"), batch_size=self.batch_size,
                              model_id=self.model_id)  # fmt: skip
        return Embeddings(vectors, served_model=self.lm.name, usage=Usage(read, 0))

    def count_tokens(self, content: str | list[Message]) -> TokenCount:
        """Tokens of a text, or of a conversation as sent (the applied chat template,
        with the assistant's turn opened)."""
        ids = self._encode(content, special=False) if isinstance(content, str) else self._chat_ids(content)
        return TokenCount(len(ids), encoding=f"hf:{self.lm.name}")

    def context_window(self) -> int | None:
        return self._window

    def check_context(self, payload: str | list[Message], options: dict[str, Any]) -> None:
        """Count what generation will be given: a completion prompt with its special
        tokens (BOS) and, with `suffix`, the fill-in-the-middle tokens and the suffix."""
        if not isinstance(payload, str) or self._window is None:
            return super().check_context(payload, options)
        from .. import tokens

        prompt = len(self._complete_ids(payload, options))
        tokens.check_fits(prompt, options.get("max_tokens"), self._window, self.model_id)

    def close(self) -> None:
        """Release the shared model: other clients still using it keep it, and the most
        recently released one stays loaded for the next client (hf_loading.MODELS)."""
        self._lease.release()

    # --- batching ------------------------------------------------------------------

    def chat_batch(self, conversations: Sequence[list[Message]], options: dict[str, Any]) -> list[Response]:
        """Answer several conversations together (left-padded batches of `batch_size`);
        one Response per conversation, in order."""
        opts = validate(options, self.options, f"{self.model_id} chat_batch()")
        for messages in conversations:
            self.check_context(messages, opts)
        return self._generate([self._chat_ids(list(m)) for m in conversations], opts, chat=True)

    def complete_batch(self, prompts: Sequence[str], options: dict[str, Any]) -> list[Response]:
        """Raw continuations of several prompts, generated together; in order."""
        opts = validate(options, self.complete_options, f"{self.model_id} complete_batch()")
        ids = [self._complete_ids(p, opts) for p in prompts]
        for p in prompts:
            self.check_context(p, opts)
        return self._generate(ids, opts, chat=False)


def _config_window(config: Any) -> int | None:
    """The context window from a model config (multimodal ones keep it in text_config)."""
    for cfg in (config, getattr(config, "text_config", None)):
        for key in _WINDOW_KEYS:
            value = getattr(cfg, key, None) if cfg is not None else None
            if isinstance(value, int) and value > 0:
                return value
    return None


def _fim_tokens(tokenizer: Any) -> tuple[str, str, str] | None:
    vocab = tokenizer.get_vocab()
    for spelling in _FIM_TOKENS:
        if all(t in vocab for t in spelling):
            return spelling
    return None
