"""Byte-level BPE tokenizer for the bundled GPT, trained with Hugging Face `tokenizers`.

Every byte string round-trips exactly: valid UTF-8 goes through the trained BPE (whose
alphabet is the 256 bytes, GPT-2 style), and any byte that is not part of valid UTF-8
is emitted as its single-byte token. Decoding concatenates each token's bytes.

Special tokens live in the vocabulary but are *never* produced by encoding ordinary
text, even text that spells "<|endoftext|>": they are only inserted by id. Otherwise a
user's document containing that string could end a generation or fake a FIM prompt.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Iterator
from functools import lru_cache
from pathlib import Path

from llmkit.errors import CheckpointError, ConfigurationError

__all__ = [
    "EOT",
    "FIM_PREFIX",
    "FIM_SUFFIX",
    "FIM_MIDDLE",
    "SPECIAL_TOKENS",
    "MiniTokenizer",
    "train_tokenizer",
]

EOT = "<|endoftext|>"
FIM_PREFIX = "<|fim_prefix|>"
FIM_SUFFIX = "<|fim_suffix|>"
FIM_MIDDLE = "<|fim_middle|>"
SPECIAL_TOKENS = [EOT, FIM_PREFIX, FIM_SUFFIX, FIM_MIDDLE]
MIN_VOCAB_SIZE = 256 + len(SPECIAL_TOKENS)

# Lone surrogates produced by decoding with errors="surrogateescape" stand for the bytes
# that are not valid UTF-8 (U+DC80..U+DCFF <-> 0x80..0xFF).
_ESCAPED_BYTE = re.compile("[\udc80-\udcff]")


@lru_cache(maxsize=1)
def bytes_to_unicode() -> dict[int, str]:
    """GPT-2's reversible map from the 256 bytes to printable characters (the BPE alphabet)."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(
        range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return {b: chr(c) for b, c in zip(bs, cs, strict=True)}


class MiniTokenizer:
    """Wraps a byte-level BPE `tokenizers.Tokenizer`; encode/decode work on exact bytes."""

    def __init__(self, tokenizer: object) -> None:
        from tokenizers import Tokenizer

        if not isinstance(tokenizer, Tokenizer):
            raise TypeError("expected a tokenizers.Tokenizer")
        self._tok = tokenizer
        # Spell special tokens out like any text when they appear in input.
        self._tok.encode_special_tokens = True
        vocab = self._tok.get_vocab(with_added_tokens=True)
        missing = [s for s in SPECIAL_TOKENS if s not in vocab]
        if missing:
            raise ValueError(f"tokenizer lacks the special tokens {missing}")
        byte_of = {c: b for b, c in bytes_to_unicode().items()}
        table: list[bytes] = [b""] * (max(vocab.values()) + 1)
        for token, idx in vocab.items():
            if token in SPECIAL_TOKENS:
                table[idx] = token.encode()
                continue
            try:
                table[idx] = bytes(byte_of[ch] for ch in token)
            except KeyError:
                raise ValueError(f"token {token!r} is not byte-level BPE") from None
        self._bytes = table
        self._byte_ids = [vocab[bytes_to_unicode()[b]] for b in range(256)]
        self.eot_id = vocab[EOT]
        self.fim_prefix_id = vocab[FIM_PREFIX]
        self.fim_suffix_id = vocab[FIM_SUFFIX]
        self.fim_middle_id = vocab[FIM_MIDDLE]
        self.special_ids = frozenset(vocab[s] for s in SPECIAL_TOKENS)

    # --- sizes and lookups -------------------------------------------------------------

    @property
    def vocab_size(self) -> int:
        return len(self._bytes)

    def token_bytes(self, idx: int) -> bytes:
        """The bytes a token stands for (a special token's own spelling)."""
        return self._bytes[idx]

    def token_str(self, idx: int) -> str:
        return self._bytes[idx].decode("utf-8", errors="replace")

    # --- encoding ----------------------------------------------------------------------

    def encode(self, text: str | bytes) -> list[int]:
        """Token ids of `text`; bytes may be anything, not only valid UTF-8."""
        if isinstance(text, str):
            try:
                text.encode("utf-8")
            except UnicodeEncodeError:  # lone surrogates: go through bytes
                return self.encode(text.encode("utf-8", errors="surrogatepass"))
            return self._tok.encode(text, add_special_tokens=False).ids if text else []
        escaped = bytes(text).decode("utf-8", errors="surrogateescape")
        ids: list[int] = []
        pos = 0
        for m in _ESCAPED_BYTE.finditer(escaped):
            if m.start() > pos:
                ids.extend(self._tok.encode(escaped[pos:m.start()], add_special_tokens=False).ids)
            ids.append(self._byte_ids[ord(m.group()) - 0xDC00])
            pos = m.end()
        if pos < len(escaped):
            ids.extend(self._tok.encode(escaped[pos:], add_special_tokens=False).ids)
        return ids

    def encode_batch(self, texts: list[str]) -> list[list[int]]:
        """Fast path for many valid-UTF-8 strings (training data)."""
        return [e.ids for e in self._tok.encode_batch(texts, add_special_tokens=False)]

    # --- decoding ----------------------------------------------------------------------

    def decode_bytes(self, ids: Iterable[int], *, skip_special: bool = False) -> bytes:
        table = self._bytes
        if skip_special:
            return b"".join(table[i] for i in ids if i not in self.special_ids)
        return b"".join(table[i] for i in ids)

    def decode(self, ids: Iterable[int], *, skip_special: bool = False, errors: str = "replace") -> str:
        """Text of `ids`; bytes that are not valid UTF-8 become U+FFFD by default."""
        return self.decode_bytes(ids, skip_special=skip_special).decode("utf-8", errors=errors)

    # --- persistence -------------------------------------------------------------------

    def to_str(self) -> str:
        return self._tok.to_str()

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write tokenizer.json (a standard `tokenizers` file) to `path`."""
        Path(path).write_text(self.to_str(), encoding="utf-8")

    @classmethod
    def from_str(cls, data: str) -> MiniTokenizer:
        from tokenizers import Tokenizer

        return cls(Tokenizer.from_str(data))

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> MiniTokenizer:
        path = Path(path)
        if path.is_dir():
            path = path / "tokenizer.json"
        try:
            return cls.from_str(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise CheckpointError(f"tokenizer file {path} does not exist",
                                  hint="Point at a checkpoint directory that contains tokenizer.json.") from None
        except Exception as exc:  # tokenizers raises plain Exception on bad JSON
            raise CheckpointError(f"tokenizer file {path} is corrupt or not a byte-level BPE: {exc}",
                                  hint="Re-save the checkpoint or retrain the tokenizer.") from exc


def _iter_training_text(texts_or_files: Iterable[str | bytes | os.PathLike[str]]) -> Iterator[str]:
    """str/bytes items are text; Path-like items are files read as bytes.

    The trainer only needs statistics, so bytes that are not valid UTF-8 are replaced.
    """
    for item in texts_or_files:
        if isinstance(item, str):
            yield item
        elif isinstance(item, bytes | bytearray):
            yield bytes(item).decode("utf-8", errors="replace")
        else:
            yield Path(item).read_bytes().decode("utf-8", errors="replace")


def train_tokenizer(texts_or_files: Iterable[str | bytes | os.PathLike[str]], vocab_size: int,
                    *, min_frequency: int = 2) -> MiniTokenizer:
    """Train a byte-level BPE of at most `vocab_size` tokens (specials included).

    Pass `pathlib.Path` objects for files; plain strings are treated as text.
    The result may be smaller than asked when the corpus has few repeated pairs.
    """
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    if vocab_size < MIN_VOCAB_SIZE + 1:
        raise ConfigurationError(
            f"vocab_size {vocab_size} is too small for a byte-level BPE",
            hint=f"Use at least {MIN_VOCAB_SIZE + 1} (256 bytes + {len(SPECIAL_TOKENS)} special tokens + merges).")
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        min_frequency=min_frequency,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(_iter_training_text(texts_or_files), trainer=trainer)
    return MiniTokenizer(tok)
