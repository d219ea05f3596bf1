"""What the local backends (`hf:` and `mini`) share, written once: the sampling
parameters of a call, the result of one generated sample, stop strings, the windows a
long text is scored in, mean-pooled embeddings, and the next-token distributions of
token sequences stepped one token at a time (CachedStepper: what llmkit.compress codes
with) with a fingerprint of the weights they come from.

    >>> params = SamplingParams.from_options({"temperature": 0, "stop": "\\n\\n", "max_tokens": 20})
    >>> params.greedy, params.stop, params.n
    (True, ('\\n\\n',), 1)
    >>> SamplingParams.from_options({"temperature": 3})
    Traceback (most recent call last):
    ...
    llmkit.errors.InvalidOptionError: option temperature=3 is invalid for local generation: it must be a number in [0, 2] (0 = greedy).
    ...
    >>> stops = StopMatcher(["\\nclass "])
    >>> stops.cut("x = 1\\nclass A:")
    ('x = 1', True)
    >>> stops.holdback("x = 1\\ncla")       # could still become a stop string: not shown yet
    4

torch is imported only by the functions that need it (pooling), so the pure parts
serve the mock backend and tests as well.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from .errors import ContextLengthError, InvalidOptionError
from .options import validate
from .types import StreamEvent, Usage

if TYPE_CHECKING:
    import numpy
    import torch

    from .online import OnlineLearner

__all__ = [
    "DEFAULT_MAX_TOKENS",
    "SAMPLING_OPTIONS",
    "SAMPLING_DEFAULT_KEYS",
    "SamplingParams",
    "Generation",
    "StopMatcher",
    "score_windows",
    "fit_tokens",
    "pooled_embeddings",
    "stream_ending",
    "CachedStepper",
    "weights_digest",
    "text_digest",
    "fingerprint_of",
]

DEFAULT_MAX_TOKENS = 256  # when a call sets no max_tokens: up to this, within what the window leaves
SAMPLING_OPTIONS = frozenset({"max_tokens", "temperature", "top_p", "top_k", "stop", "seed", "n", "repetition_penalty"})
# What a model's authors may choose for callers that set nothing (generation_config.json,
# a mini checkpoint's metadata "generation").
SAMPLING_DEFAULT_KEYS = ("temperature", "top_p", "top_k", "repetition_penalty")
FinishReason = Literal["stop", "length"]


@dataclass(frozen=True, slots=True)
class SamplingParams:
    """How to sample, validated once from the option catalogue (llmkit.options) and then
    passed through. temperature 0 is greedy; top_k/top_p None are off."""

    max_tokens: int | None = None
    temperature: float = 1.0
    top_p: float | None = None
    top_k: int | None = None
    stop: tuple[str, ...] = ()
    seed: int | None = None
    n: int = 1
    repetition_penalty: float = 1.0

    @classmethod
    def from_options(cls, options: Mapping[str, Any], defaults: Mapping[str, Any] | None = None,
                     where: str = "local generation") -> SamplingParams:  # fmt: skip
        """The call's options over `defaults` (the model authors'), checked against the
        catalogue: the same ranges and messages as everywhere else in llmkit."""
        merged = {**{k: v for k, v in (defaults or {}).items() if k in SAMPLING_DEFAULT_KEYS}, **options}
        opts = validate(merged, SAMPLING_OPTIONS, where)
        stop = opts.pop("stop", ())
        for name in ("temperature", "top_p", "repetition_penalty"):  # `-o temperature 2` is an int: engines want floats
            if name in opts:
                opts[name] = float(opts[name])
        return cls(stop=(stop,) if isinstance(stop, str) else tuple(stop), **opts)

    @property
    def greedy(self) -> bool:
        return self.temperature == 0

    def max_new_tokens(self, prompt_tokens: int, window: int | None) -> int:
        """max_tokens, or as much as the window leaves, up to DEFAULT_MAX_TOKENS."""
        if self.max_tokens is not None:
            return self.max_tokens
        room = (window - prompt_tokens) if window else DEFAULT_MAX_TOKENS
        return max(1, min(DEFAULT_MAX_TOKENS, room))


@dataclass
class Generation:
    """One generated sample: its text (stop string cut), why it ended, and its tokens."""

    text: str
    finish_reason: FinishReason  # "stop" (end of text, end of turn or a stop string) or "length"
    prompt_tokens: int
    completion_tokens: int
    token_ids: list[int] = field(default_factory=list, repr=False)


class StopMatcher:
    """Stop strings: where a text must end, and how much of its tail to hold back while
    streaming because it could still become one (a stop string may span tokens)."""

    __slots__ = ("stops", "longest")

    def __init__(self, stops: Sequence[str]) -> None:
        self.stops = tuple(s for s in stops if s)
        self.longest = max((len(s) for s in self.stops), default=0)

    def __bool__(self) -> bool:
        return bool(self.stops)

    def find(self, text: str, start: int = 0) -> int:
        """Where the earliest stop string begins at or after `start`, or -1."""
        hits = [p for s in self.stops if (p := text.find(s, start)) >= 0]
        return min(hits) if hits else -1

    def cut(self, text: str, start: int = 0) -> tuple[str, bool]:
        """The text up to the first stop string (searched from `start`), and whether one was found."""
        at = self.find(text, start)
        return (text[:at], True) if at >= 0 else (text, False)

    def holdback(self, text: str, start: int = 0) -> int:
        """Length of the longest tail of text[start:] that is a proper prefix of a stop string."""
        for k in range(min(self.longest - 1, len(text) - start), 0, -1):
            tail = text[-k:]
            if any(s.startswith(tail) for s in self.stops):
                return k
        return 0


def score_windows(length: int, width: int) -> Iterator[tuple[int, int, int, int]]:
    """How to score a sequence of `length` tokens whose targets are positions 1..length-1
    with a model that sees at most `width` tokens at once.

    Yields (begin, end, first, stop): run the model on seq[begin:end]; output row r
    predicts seq[begin + r + 1], so rows first-1-begin .. stop-2-begin give the targets
    seq[first:stop]. Windows start every half window, so every target after the first
    window sees at least half a window of context, and a prefix of a sequence is scored
    in the same windows as the whole (what a compressor's decoder needs).

    >>> list(score_windows(10, 4))
    [(0, 4, 1, 5), (2, 6, 5, 7), (4, 8, 7, 9), (6, 10, 9, 10)]
    """
    stride = max(1, width // 2)
    begin, first = 0, 1
    while first < length:
        end = min(begin + width, length)
        stop = min(end + 1, length)
        yield begin, end, first, stop
        first = stop
        begin += stride


def fit_tokens(ids: list[int], room: int, truncate: str | None, what: str = "embed") -> list[int]:
    """`ids` when they fit in `room` tokens; else the end (truncate="left") or the start
    ("right") of them, or ContextLengthError saying how to fix it (the client names the
    model in it)."""
    if len(ids) <= room:
        return ids
    if truncate not in ("left", "right"):
        raise ContextLengthError(
            f"a text of {len(ids)} tokens exceeds the {room} tokens the model can {what} at once",
            hint='Split the text, or pass truncate="left" (keep its end) or "right" (keep its start).',
        )
    return ids[-room:] if truncate == "left" else ids[:room]


TOKEN_BUDGET = 8192  # tokens per forward pass when embedding: bounds memory for long texts


def pooled_embeddings(rows: list[list[int]], *, pad_id: int, skip: int, batch_size: int,
                      hidden: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]) -> list[list[float]]:  # fmt: skip
    """One unit-length vector per row of token ids: the mean of `hidden(ids, mask)` (the
    model's last hidden states, (B, T, D)) over each row's tokens after its first `skip`
    (the conditioning token: a causal model's first position carries huge activations
    that would pull every text towards the same vector). A row of only those tokens gets
    their state. Rows are right-padded (causal attention never looks ahead) and grouped
    by length within `batch_size` rows and TOKEN_BUDGET padded tokens."""
    import torch

    vectors: list[list[float]] = [[] for _ in rows]
    for group in _groups(rows, batch_size):
        width = max(len(rows[i]) for i in group)
        x = torch.full((len(group), width), pad_id, dtype=torch.long)
        attend = torch.zeros(len(group), width, dtype=torch.long)
        for r, i in enumerate(group):
            x[r, : len(rows[i])] = torch.tensor(rows[i], dtype=torch.long)
            attend[r, : len(rows[i])] = 1
        states = hidden(x, attend).float().cpu()
        pool = attend.float()
        pool[:, :skip] = 0.0
        pool[pool.sum(1) == 0, 0] = 1.0  # an empty text: the conditioning token's state
        pooled = (states * pool[..., None]).sum(1) / pool.sum(1, keepdim=True)
        for i, vector in zip(group, torch.nn.functional.normalize(pooled, dim=-1).tolist(), strict=True):
            vectors[i] = vector
    return vectors


def _groups(rows: list[list[int]], batch_size: int) -> list[list[int]]:
    """Indices of `rows` in batches of similar length (little padding), each within
    batch_size rows and TOKEN_BUDGET padded tokens (a longer row goes alone)."""
    order = sorted(range(len(rows)), key=lambda i: len(rows[i]))
    groups: list[list[int]] = []
    for i in order:
        if groups and len(groups[-1]) < batch_size and len(rows[i]) * (len(groups[-1]) + 1) <= TOKEN_BUDGET:
            groups[-1].append(i)  # sorted: rows[i] is the longest in the group so far
        else:
            groups.append([i])
    return groups


def check_truncate(truncate: str | None) -> None:
    """Generation drops the oldest prompt tokens (truncate="left") or nothing."""
    if truncate not in (None, "left"):
        raise InvalidOptionError(f"truncate must be None or 'left' for generation, got {truncate!r}")


def stream_ending(reasons: Sequence[str], n: int, prompt_tokens: int, completion_tokens: int) -> Iterator[StreamEvent]:
    """A stream's last events: each choice's finish reason (greedy n>1: one row's reason
    for every choice), then the usage."""
    for index in range(n):
        yield StreamEvent(finish_reason=reasons[index % len(reasons)], index=index)
    yield StreamEvent(usage=Usage(prompt_tokens, completion_tokens))


class CachedStepper:
    """The local backends' llmkit.types.TokenStepper: next-token distributions of
    `batch_size` token sequences, one position at a time (`Client.token_stepper`,
    capability `distributions`):

        stepper = client.token_stepper(batch_size=2)
        logp = stepper.step()            # (2, vocab) float32 log-probs of each row's first token
        logp = stepper.step([17, 42])    # feed one token per row: the distributions of the next

    The first step conditions every row on the model's start token (BOS, else EOS, as
    `Client.logprobs` does; with neither it is uniform). Each step runs the model on the
    new tokens only (a KV cache), so a row of T tokens costs T small forward passes,
    and the rows go together as one batch. The numbers depend on the batch size, the
    thread count, the dtype and the device (`settings` says which were used): an
    entropy coder's decoder must replay exactly the same steps to see bit-identical
    distributions. A row whose sequence is over is fed None (it goes on with its last
    token; its outputs are not read); rows never see one another.

    With a `learner` (llmkit.online: `Client.token_stepper(adapt=...)`), the forward
    runs a private copy of the model that is trained after every segment of positions
    on the rows' tokens so far (`segment_forward(row, inputs, past)` reruns a row's
    inputs with gradients over the first `past` cached positions), and `settings`
    records the adaptation too.
    """

    def __init__(self, forward: Callable[[torch.Tensor], torch.Tensor], *, batch_size: int, vocab_size: int,
                 start: int | None, max_positions: int | None, settings: Mapping[str, Any],
                 lock: Any = None, learner: OnlineLearner | None = None,
                 segment_forward: Callable[[int, list[int], int], torch.Tensor] | None = None) -> None:  # fmt: skip
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise InvalidOptionError(f"batch_size={batch_size!r} is invalid: it must be an int >= 1")
        self._learner, self._segment_forward = learner, segment_forward
        self._fed: list[list[int | None]] = []  # per position since the segment began: each row's token
        self._segment_start = 0
        self._last = [0] * batch_size  # what a row that is over goes on with
        self._forward = forward  # (B, 1) token ids -> (B, vocab) logits; keeps its own cache
        self.batch_size = batch_size
        self.vocab_size = vocab_size
        self.start = start
        self.max_positions = max_positions  # the model's window: tokens it can be fed, start token included
        self.settings = dict(settings)  # batch_size, threads, dtype, device: what the numbers depend on
        self.position = 0  # tokens fed so far, the start token included
        self._lock = lock
        self._started = False

    @property
    def max_tokens(self) -> int | None:
        """How many tokens of a row can be given distributions (None: no limit known)."""
        if self.max_positions is None:
            return None
        return self.max_positions + (1 if self.start is None else 0)

    def step(self, tokens: Sequence[int | None] | None = None) -> numpy.ndarray:
        """(batch_size, vocab_size) float32 natural-log probabilities of each row's next
        token: call it first without tokens, then with the token each row continues with."""
        import torch

        if self._forward is _closed:
            _closed(None)
        if not self._started:
            if tokens is not None:
                raise InvalidOptionError("the first step() takes no tokens: it gives the first token's distribution")
            self._started = True
            if self.start is None:  # nothing to condition on: uniform
                return torch.full((self.batch_size, self.vocab_size), -math.log(self.vocab_size)).numpy()
            ids = [self.start] * self.batch_size
            fed: list[int | None] = list(ids)
        else:
            if tokens is None or len(tokens) != self.batch_size:
                raise InvalidOptionError(f"step() takes one token per row ({self.batch_size})")
            fed = [None if t is None else int(t) for t in tokens]
            ids = [self._last[i] if t is None else t for i, t in enumerate(fed)]
            self._last = ids
        if self.max_positions is not None and self.position >= self.max_positions:
            raise ContextLengthError(f"a row would exceed the {self.max_positions} positions the model attends to",
                                     hint="Score shorter sequences (cut long texts into chunks).")  # fmt: skip
        x = torch.tensor(ids, dtype=torch.long).unsqueeze(1)
        threads, previous = self.settings.get("threads"), torch.get_num_threads()
        if threads and threads != previous:  # the count the numbers were made with, whoever changed it since
            torch.set_num_threads(threads)
        try:
            with self._lock or contextlib.nullcontext():
                if self._learner is not None:
                    self._learn(fed)
                # no_grad when adapting: the cache must stay usable by the learner's backward pass
                with torch.no_grad() if self._learner is not None else torch.inference_mode():
                    logits = self._forward(x)
                    out = torch.log_softmax(logits.float(), dim=-1).cpu().numpy()
        finally:
            if threads and threads != previous:
                torch.set_num_threads(previous)
        self.position += 1
        return out

    def _learn(self, fed: list[int | None]) -> None:
        """Before feeding position `self.position`: when a segment of inputs is complete
        (its last target is what is fed now), train on it; then remember what is fed."""
        assert self._learner is not None and self._segment_forward is not None
        if self.position == self._segment_start + self._learner.segment:
            rows = []
            for i in range(self.batch_size):
                targets = [step[i] for step in self._fed[1:]] + [fed[i]]
                n = next((k for k, t in enumerate(targets) if t is None), len(targets))  # a row, once over, stays so
                if n:
                    inputs = [int(step[i]) for step in self._fed[:n]]  # type: ignore[arg-type]
                    rows.append((_bind(self._segment_forward, i, inputs, self._segment_start),
                                 [int(t) for t in targets[:n]]))  # type: ignore[arg-type]  # fmt: skip
            self._learner.learn(rows)
            self._segment_start, self._fed = self.position, []
        self._fed.append(fed)

    def close(self) -> None:
        """Drop the cache (the stepper cannot be used after this)."""
        self._forward = _closed
        if self._learner is not None:
            self._learner.close()
        self._learner = self._segment_forward = None
        self._fed = []

    def __enter__(self) -> CachedStepper:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _closed(x: torch.Tensor | None) -> torch.Tensor:
    raise InvalidOptionError("this TokenStepper is closed")


def _bind(forward: Callable[[int, list[int], int], torch.Tensor], row: int, inputs: list[int],
          past: int) -> Callable[[], torch.Tensor]:  # fmt: skip
    return lambda: forward(row, inputs, past)


def weights_digest(module: Any) -> str:
    """A short hex digest of a torch module's parameters and buffers (names, dtypes,
    shapes and bytes): what a compressed file records to recognise its model."""
    import hashlib

    import torch

    h = hashlib.blake2b(digest_size=8)
    for name, tensor in sorted(module.state_dict().items()):
        t = tensor.detach().to("cpu").contiguous()
        h.update(f"{name}:{t.dtype}:{tuple(t.shape)};".encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()


def fingerprint_of(module: Any, tokenizer_text: str) -> dict[str, Any]:
    """{"weights", "tokenizer"}: digests (what a compressed file checks), and
    {"parameters", "bytes"}: the model's size as loaded (tied weights counted once)."""
    params = list(module.parameters())  # each shared parameter once
    return {"weights": weights_digest(module), "tokenizer": text_digest(tokenizer_text),
            "parameters": sum(p.numel() for p in params), "bytes": sum(p.numel() * p.element_size() for p in params)}


def text_digest(text: str) -> str:
    """A short hex digest of a text (a tokenizer's serialised form)."""
    import hashlib

    return hashlib.blake2b(text.encode("utf-8", errors="surrogatepass"), digest_size=8).hexdigest()
