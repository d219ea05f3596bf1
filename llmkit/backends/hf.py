"""Local Hugging Face models in-process: `hf:org/name`, `hf:/path/to/dir`, `hf:/path/to/file.gguf`.

    >>> client = llmkit.Client("hf:/models/SmolLM2-135M-Instruct.Q4_1.gguf", threads=1)  # doctest: +SKIP
    >>> client.chat("What is the capital of France?", max_tokens=20).text  # doctest: +SKIP
    'The capital of France is Paris.'

(Skipped here: it needs the model file; tests/hf/test_hf_e2e.py runs exactly this.)

Loading (hub, directory, GGUF with a cached safetensors conversion) is in hf_loading,
chat templates in hf_chat, the engine (generation with batching, stop strings and
streaming; attention maps) in hf_engine, log-probabilities and embeddings in
hf_scoring; what it shares with the bundled model's backend is in `local`. This module
is imported only when an `hf:` id is used, so torch and transformers load then, never
on `import llmkit`.

`client.chat_batch([...])` and `client.complete_batch([...])` generate several prompts
together here (left-padded batches of `batch_size`): higher throughput than one after
another, and the same greedy output.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from ..constraints import Constraint, schema_of
from ..errors import InvalidOptionError
from ..generation import StopMatcher
from ..options import stop_list, validate
from ..structured import with_note
from ..tools import calls_in_text
from ..types import Capabilities, Message, Response, StreamEvent, TokenCount
from .hf_chat import ChatFormatter
from .local import LocalBackend, response_events
from .openai_wire import tool_param

if TYPE_CHECKING:  # torch and transformers load with the first model, not with this module
    from ..cache import Lease
    from .hf_engine import HFEngine

__all__ = ["HFBackend"]


class HFBackend(LocalBackend):
    provider = "hf"
    capabilities = Capabilities(
        chat=True, streaming=True, completion=True, logprobs=True, multiple_samples=True, embeddings=True,
        structured_output=True, tools=True,  # both by constrained decoding (tool_protocol.py)
        fill_in_the_middle=False,  # per model: True when the tokenizer has FIM tokens
        batching=True, in_process=True, distributions=True,
    )  # fmt: skip
    options = frozenset({"max_tokens", "temperature", "top_p", "top_k", "stop", "seed", "n", "repetition_penalty",
                         "response_format", "tools", "tool_choice"})  # fmt: skip
    complete_options = (options - {"response_format", "tools", "tool_choice"}) | {"suffix"}
    embed_options = frozenset({"truncate"})
    settings = {
        "device": "torch device: auto (default: cuda when present, else cpu), cpu, cuda, cuda:1, mps",
        "dtype": "weights dtype: float32 (default on cpu), bfloat16 (default on cuda), float16, or auto (on cpu: "
                 "bfloat16 where measured faster here, else float32; on a gpu: the checkpoint's)",
        "threads": "torch threads (process-wide; on few cores 1 is often fastest for one prompt), or auto: the "
                   "count measured fastest here at batch 1 and batch_size (remembered per model and machine)",
        "trust_remote_code": "run the model repository's own Python code (default false)",
        "revision": "hub branch, tag or commit (hub ids only)",
        "batch_size": "prompts generated together by chat_batch/complete_batch (default 8)",
        "context_window": "override the context window read from the model's config (tokens)",
        "tool_format": "auto (the chat template's own, where it renders tools; else llmkit's constrained JSON "
                       "protocol), template, or protocol",
    }
    engine: HFEngine

    def __init__(self, model: str, **settings: Any) -> None:
        super().__init__(model, **settings)
        for name in ("threads", "batch_size", "context_window"):
            value = settings.get(name)
            if name == "threads" and value == "auto":
                continue
            if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
                also = " or 'auto' (measured)" if name == "threads" else ""
                raise InvalidOptionError(f"{name}={value!r} is invalid: it must be an int >= 1{also}")
        trust = settings.get("trust_remote_code", False)
        if not isinstance(trust, bool):  # "False" is truthy: running a repository's code needs a real True
            raise InvalidOptionError(f"trust_remote_code={trust!r} is invalid: it must be true or false")
        threads = settings.get("threads")
        if isinstance(threads, int):
            import torch

            torch.set_num_threads(threads)
        engine = self.engine  # load now: a missing model is an error when the client is made
        self.threads: dict[str, Any] = {}  # what threads="auto" measured (hf_threads)
        if threads == "auto" and engine.lm.device.type == "cpu":
            from .hf_threads import choose_threads

            engine.lm.ready()  # timed on the packed kernels, with no packing thread beside it
            with engine.lm.lock:
                self.threads = choose_threads(engine.lm.model, engine.lm.name, engine.batch_size)
        self.formatter = ChatFormatter(engine.tokenizer, model)
        self.completion_model = self.formatter.fallback  # no chat template: a base model, treated as such
        if engine.fim:
            self.capabilities = replace(type(self).capabilities, fill_in_the_middle=True)

    def _open(self) -> tuple[Lease[Any], HFEngine]:
        from .hf_engine import HFEngine
        from .hf_loading import acquire

        s = self.settings_values
        lease = acquire(self.model, device=s.get("device"), dtype=s.get("dtype"),
                        trust_remote_code=s.get("trust_remote_code", False), revision=s.get("revision"))  # fmt: skip
        return lease, HFEngine(lease.value, s.get("context_window"), int(s.get("batch_size") or 8))

    def runtime(self) -> str | None:
        lm = self.engine.lm
        lm.ready()
        precision = lm.precision or {}
        why = f" ({precision['why']})" if precision.get("why") else ""
        packed = ""
        if precision.get("packed"):
            where = " to generate" if precision.get("dtype") == "float32" else ""  # scoring keeps the BLAS's bits
            packed = f", {precision['packed']} linear layers on oneDNN-packed weights{where}"
        threads = f", {self.threads['threads']} threads ({self.threads['why']})" if self.threads else ""
        return f"runs on {lm.device} in {precision.get('dtype', '?')}{why}{threads}{packed}"

    # --- prompts -------------------------------------------------------------------

    def _chat_ids(self, messages: list[Message], options: dict[str, Any] | None = None) -> list[int]:
        """The templated prompt, with the tool protocol (tools) or the schema note
        (response_format) in the system prompt: a model told what the constraint holds
        it to writes better JSON. The template writes any BOS itself."""
        options = options or {}
        if self._template_tools(options):  # the template describes the tools in the model's own format
            specs = [tool_param(t) for t in options["tools"]]
            return self.engine.encode(self.formatter.render(messages, tools=specs))
        messages, opts = self._with_tools(messages, options)
        if opts.get("response_format") is not None and not options.get("tools"):
            messages = with_note(messages, opts["response_format"])
        return self.engine.encode(self.formatter.render(messages))

    def _template_tools(self, options: dict[str, Any]) -> bool:
        if not options.get("tools"):
            return False
        mode = self.settings_values.get("tool_format") or "auto"
        if mode not in ("auto", "template", "protocol"):
            raise InvalidOptionError(f"tool_format={mode!r} is invalid: use auto, template or protocol")
        return mode == "template" or (mode == "auto" and self.formatter.renders_tools)

    def _read_tools(self, response: Response, options: dict[str, Any]) -> Response:
        if not self._template_tools(options):
            return super()._read_tools(response, options)
        calls = calls_in_text(response.text, [t.name for t in options["tools"]])  # the model's own format
        if calls:
            response.text, response.texts, response.tool_calls = "", [""] * len(response.texts), calls
            response.finish_reason = "tool_calls"
        return response

    def _complete_ids(self, prompt: str, options: dict[str, Any]) -> list[int]:
        suffix = options.get("suffix")
        if suffix is None:
            return self.engine.encode(prompt, special=True) or self._start_ids()
        if not self.engine.fim:
            raise self._missing("fill in the middle (its tokenizer has no FIM tokens)")
        pre, suf, mid = self.engine.fim
        return self.engine.encode(f"{pre}{prompt}{suf}{suffix}{mid}")

    def _start_ids(self) -> list[int]:
        """What an empty prompt is continued from: the start of a text (the tokenizer's
        BOS, else its end-of-text token, as GPT-2-style models begin), as OpenAI's
        completions do; a model cannot generate from no tokens at all."""
        tok = self.engine.tokenizer
        start = tok.bos_token_id if tok.bos_token_id is not None else tok.eos_token_id
        if start is None:
            raise InvalidOptionError(f"{self.model_id} cannot continue an empty prompt: its tokenizer has no start "
                                     "or end-of-text token", hint="Give the prompt some text.")  # fmt: skip
        return [start]

    def _stops(self, options: dict[str, Any], chat: bool, constraint: Constraint | None = None) -> StopMatcher:
        if constraint is not None:  # the grammar decides where the output ends, not a stop string
            return StopMatcher([])
        return StopMatcher(stop_list(options.get("stop")) + (self.formatter.extra_stops if chat else []))

    def _constraint(self, options: dict[str, Any]) -> Constraint | None:
        if self._template_tools(options):  # the model's own tool format: not held to a grammar
            return None
        fmt = self._with_tools([], options)[1].get("response_format")
        return None if fmt is None else Constraint.json_schema(schema_of(fmt), self.engine.vocabulary())

    def _generate(self, prompts: list[list[int]], options: dict[str, Any], chat: bool) -> list[Response]:
        constraint = self._constraint(options)
        results = self.engine.generate_many(prompts, self._params(options), self._stops(options, chat, constraint),
                                            constraint)  # fmt: skip
        responses = [self._response(samples) for samples in results]
        for r in responses:
            r.structured_by = "constrained" if constraint is not None else None
        return [self._read_tools(r, options) for r in responses]

    # --- the Backend contract ------------------------------------------------------

    def chat(self, messages: list[Message], options: dict[str, Any]) -> Response:
        return self._generate([self._chat_ids(messages, options)], options, chat=True)[0]

    def complete(self, prompt: str, options: dict[str, Any]) -> Response:
        return self._generate([self._complete_ids(prompt, options)], options, chat=False)[0]

    def stream(self, messages: list[Message], options: dict[str, Any]) -> Iterator[StreamEvent]:
        if options.get("tools"):  # a protocol reply is one JSON object: read whole, then given as events
            return iter(response_events(self.chat(messages, options)))
        constraint = self._constraint(options)
        return self.engine.stream(self._chat_ids(messages, options), self._params(options),
                                  self._stops(options, True, constraint), constraint)  # fmt: skip

    def count_tokens(self, content: str | list[Message]) -> TokenCount:
        """Tokens of a text, or of a conversation as sent (the applied chat template,
        with the assistant's turn opened)."""
        ids = self.engine.encode(content) if isinstance(content, str) else self._chat_ids(content)
        return TokenCount(len(ids), encoding=f"hf:{self.engine.name}")

    def check_context(self, payload: str | list[Message], options: dict[str, Any]) -> None:
        """Count what generation will be given: a completion prompt with its special
        tokens (BOS) and, with `suffix`, the fill-in-the-middle tokens and the suffix; a
        conversation as templated, with the schema note of a response_format."""
        window = self.context_window()
        if window is None:
            return
        from .. import tokens

        ids = self._complete_ids(payload, options) if isinstance(payload, str) else self._chat_ids(payload, options)
        tokens.check_fits(len(ids), options.get("max_tokens"), window, self.model_id)

    # --- batching ------------------------------------------------------------------

    def chat_batch(self, conversations: Sequence[list[Message]], options: dict[str, Any]) -> list[Response]:
        """Answer several conversations together (left-padded batches of `batch_size`);
        one Response per conversation, in order."""
        opts = validate(options, self.options, f"{self.model_id} chat_batch()")
        for messages in conversations:
            self.check_context(messages, opts)
        return self._generate([self._chat_ids(list(m), opts) for m in conversations], opts, chat=True)

    def complete_batch(self, prompts: Sequence[str], options: dict[str, Any]) -> list[Response]:
        """Raw continuations of several prompts, generated together; in order."""
        opts = validate(options, self.complete_options, f"{self.model_id} complete_batch()")
        ids = [self._complete_ids(p, opts) for p in prompts]
        for p in prompts:
            self.check_context(p, opts)
        return self._generate(ids, opts, chat=False)

