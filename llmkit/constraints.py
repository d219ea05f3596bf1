"""Constrained decoding for the local backends: the model can only write what a JSON
schema accepts, so structured output from `hf:` and `mini` is valid by construction.

llmkit owns the sampler of its local backends. Before each token, a matcher from the
grammar library llguidance (picked for speed, a small wheel with no dependencies, and a
tokenizer interface that takes any byte-level vocabulary, the bundled model's included)
says which tokens keep the output a valid prefix; every other token's logit is set to
-inf; the chosen token advances the matcher. The end-of-text token is allowed only once
the JSON is complete. When few tokens are left (the constraint's `reserve`: its shortest
complete output plus a margin), the output is steered to its end (forced tokens, then
the closing token whose completion is shortest), so that a complete, valid value comes
back rather than one cut off by max_tokens.

    vocab = Vocabulary.from_bytes(token_bytes, eos_ids=[0])   # once per model (engine.vocabulary())
    constraint = Constraint.json_schema(schema, vocab)         # once per call
    m = constraint.matcher()                                   # once per sample
    logits[~m.allowed()] = -inf; token = sample(logits); m.advance(token)

llguidance is imported when the first constraint is built (`pip install 'llmkit[structured]'`).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from .errors import ConfigurationError, InvalidOptionError
from .structured import schema_of

if TYPE_CHECKING:
    import torch

__all__ = ["Vocabulary", "Constraint", "Matcher", "schema_of"]  # schema_of: from llmkit.structured


ROLLOUT_LIMIT = 512  # the longest completion a closing search plays out
RESERVE_MARGIN = 8  # tokens on top of the shortest complete output, before closing begins


def _llguidance() -> Any:
    try:
        import llguidance
    except ImportError:
        raise ConfigurationError(
            "structured output on a local model needs the 'llguidance' package (constrained decoding)",
            hint="pip install 'llmkit[structured]' (or: pip install llguidance).",
        ) from None
    return llguidance


class Vocabulary:
    """A model's tokens as bytes, for the grammar engine (built once per model: ~10 ms
    for the bundled model, up to a second for a 150k-token hub tokenizer)."""

    def __init__(self, *, tokenizer: Any) -> None:
        self.tokenizer = tokenizer  # an llguidance.LLTokenizer
        self.size: int = tokenizer.vocab_size
        self._closers: list[int] | None = None
        self.primary_closers: list[int] = []

    @property
    def closers(self) -> list[int]:
        """Tokens that close JSON fastest, best first: a string's quote, an object's and an
        array's brace, then the shortest values (0, false, null), a comma, and last the
        UTF-8 continuation bytes (to finish a character cut in half before a quote)."""
        if self._closers is None:
            primary = [self._single(text) for text in (b'"', b"}", b"]", b"0", b"false", b"null", b",")]
            continuations = [self._single(bytes([b])) for b in range(0x80, 0xC0)]
            self.primary_closers = [t for t in primary if t is not None]
            self._closers = self.primary_closers + [t for t in continuations if t is not None]
        return self._closers

    def _single(self, text: bytes) -> int | None:
        ids = self.tokenizer.tokenize_bytes(text)
        return ids[0] if len(ids) == 1 else None

    @classmethod
    def from_bytes(cls, tokens: Sequence[bytes], *, eos_ids: Sequence[int], special_ids: Sequence[int] = (),
                   n_vocab: int | None = None, encode: Callable[[str], list[int]] | None = None) -> Vocabulary:  # fmt: skip
        """Any byte-level vocabulary: `tokens[i]` is the bytes of token i."""
        llg = _llguidance()

        class _Wrapped:
            eos_token_id = eos_ids[0]
            bos_token_id = None
            special_token_ids = list(special_ids)

            def __init__(self) -> None:
                self.tokens = list(tokens)

            def __call__(self, text: str | bytes) -> list[int]:
                if encode is None:
                    raise NotImplementedError
                return encode(text.decode("utf-8", "replace") if isinstance(text, bytes) else text)

        lltok = llg.LLTokenizer(llg.TokenizerWrapper(_Wrapped()), n_vocab=n_vocab, eos_token=list(eos_ids))
        return cls(tokenizer=lltok)

    @classmethod
    def from_hf(cls, hf_tokenizer: Any, *, eos_ids: Sequence[int], n_vocab: int | None = None) -> Vocabulary:
        """A (fast) Hugging Face tokenizer."""
        _llguidance()
        from llguidance.hf import from_tokenizer

        try:
            return cls(tokenizer=from_tokenizer(hf_tokenizer, n_vocab=n_vocab, eos_token=list(eos_ids)))
        except ValueError as exc:  # a slow (Python) tokenizer
            raise InvalidOptionError(
                f"structured output needs a fast tokenizer for this model: {exc}",
                hint="Load the model with its tokenizer.json (fast tokenizer), or use a server with structured output.",
            ) from None


class Constraint:
    """A compiled grammar for one vocabulary; each sample takes its own `matcher()`."""

    def __init__(self, grammar: str, vocab: Vocabulary, schema: dict[str, Any] | None = None) -> None:
        llg = _llguidance()
        self.vocab = vocab
        self.schema = schema
        self._grammar = grammar
        is_error, messages = llg.LLMatcher.validate_grammar_with_warnings(grammar, vocab.tokenizer)
        if is_error:
            raise InvalidOptionError(f"the response format cannot be used for constrained decoding: {messages[0]}",
                                     hint="Simplify the JSON schema (llguidance supports most of JSON Schema).")
        # Closing begins this many tokens before max_tokens: the shortest complete output
        # (greedy, from the start) plus a margin. No partial output needs much more.
        self.reserve = self.matcher().completion_length() + RESERVE_MARGIN

    @classmethod
    def json_schema(cls, schema: Mapping[str, Any], vocab: Vocabulary) -> Constraint:
        llg = _llguidance()
        grammar = llg.LLMatcher.grammar_from_json_schema(json.dumps(schema), {"whitespace_flexible": False})
        return cls(grammar, vocab, dict(schema))

    def matcher(self) -> Matcher:
        llg = _llguidance()
        closers = self.vocab.closers
        return Matcher(llg.LLMatcher(self.vocab.tokenizer, self._grammar, log_level=0), self.vocab.size,
                       closers, len(self.vocab.primary_closers), self.vocab.tokenizer.eos_token)  # fmt: skip


class Matcher:
    """One sample's position in the grammar."""

    def __init__(self, matcher: Any, size: int, closers: list[int], primary: int, eos: int) -> None:
        self._m = matcher
        self.size = size
        self.eos = eos
        self.closers = closers  # the primary ones first, then UTF-8 continuation bytes
        self.primary = primary

    def allowed(self) -> torch.Tensor:
        """(vocab,) bool: the tokens that keep the output valid from here."""
        import numpy as np
        import torch

        bits = np.unpackbits(np.frombuffer(self._m.compute_bitmask(), dtype=np.uint8), bitorder="little")
        return torch.from_numpy(bits[: self.size].astype(np.bool_))

    def closing(self, allowed: torch.Tensor) -> int | None:
        """The token that brings the output to its end soonest, among `allowed` (used
        when few tokens are left: a complete value beats a cut-off one): a forced token,
        else the closing token whose greedy completion is shortest (each candidate is
        played out on a copy of the matcher); None when none of them can finish it.
        Once the output is complete (a number that could take more digits, say), the
        end token itself."""
        if self._m.is_accepting():
            return self.eos
        forced = self._m.compute_ff_tokens()
        if forced:
            return int(forced[0])
        best, best_length = None, ROLLOUT_LIMIT + 1
        usable = [t for t in self.closers if t < allowed.shape[0] and bool(allowed[t])]
        candidates = [t for t in usable if t in self.closers[: self.primary]] or usable  # bytes only mid-character
        if not candidates:  # e.g. inside an enum: any allowed token leads on
            first = int(allowed.nonzero()[0, 0]) if bool(allowed.any()) else -1
            candidates = [first] if first >= 0 else []
        for token in candidates:
            length = self._rollout(token, best_length)
            if length < best_length:
                best, best_length = token, length
        return best

    def completion_length(self) -> int:
        """Tokens the greedy closing walk needs from here to a complete output."""
        return 0 if self._m.is_accepting() else self._walk(self._m.deep_copy(), 0, ROLLOUT_LIMIT)

    def _rollout(self, first: int, limit: int) -> int:
        """Tokens to a complete output starting with `first`, always taking forced tokens,
        else the first closing token allowed, else (an enum's first letter, say) the first
        token allowed at all; `limit` + 1 when it takes longer than that."""
        m = self._m.deep_copy()
        m.consume_token(first)
        return self._walk(m, 1, limit)

    def _walk(self, m: Any, used: int, limit: int) -> int:
        while not m.is_accepting():
            if used >= limit:
                return limit + 1
            nxt = m.compute_ff_tokens() or [next((t for t in self.closers if m.validate_tokens([t]) == 1), -1)]
            if nxt == [-1]:
                nxt = [_first_allowed(m.compute_bitmask())]
            if nxt == [-1] or not m.consume_tokens(nxt):
                return limit + 1
            used += len(nxt)
        return used

    def advance(self, token: int) -> None:
        if not self._m.consume_token(token):
            raise RuntimeError(f"constrained decoding: token {token} was not allowed: {self._m.get_error()}")

    @property
    def done(self) -> bool:
        """The output is complete: only the end of text may follow."""
        return bool(self._m.is_stopped())

    @property
    def accepting(self) -> bool:
        return bool(self._m.is_accepting())


def _first_allowed(bitmask: bytes) -> int:
    """The lowest token id a bitmask (one bit per token, little-endian) allows, or -1."""
    for i, byte in enumerate(bitmask):
        if byte:
            return i * 8 + (byte & -byte).bit_length() - 1
    return -1
