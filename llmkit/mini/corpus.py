"""Reading a training corpus: files and folders of text in any common encoding.

Each file is one document. Files are read as bytes and decoded (UTF-8, UTF-16/32 with a
byte-order mark, else Windows-1252/Latin-1), so the model always trains on UTF-8.
Binary files (NUL bytes, many control characters) are skipped and reported.
"""

from __future__ import annotations

import os
import random
from dataclasses import dataclass, field
from pathlib import Path

from llmkit.errors import ConfigurationError

__all__ = ["Document", "Corpus", "decode_text", "read_corpus", "split_documents"]

_BOMS = [
    (b"\xef\xbb\xbf", "utf-8"),
    (b"\xff\xfe\x00\x00", "utf-32-le"),
    (b"\x00\x00\xfe\xff", "utf-32-be"),
    (b"\xff\xfe", "utf-16-le"),
    (b"\xfe\xff", "utf-16-be"),
]
_SKIP_DIRS = {".git", ".hg", ".svn", "__pycache__", "node_modules", ".venv", "venv", ".tox", ".mypy_cache"}
_TEXT_CONTROLS = set("\t\n\r\f\v\b\x1b")


@dataclass
class Document:
    name: str
    text: str

    @property
    def n_bytes(self) -> int:
        return len(self.text.encode("utf-8", errors="surrogatepass"))


@dataclass
class Corpus:
    documents: list[Document]
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (path, reason)

    @property
    def n_bytes(self) -> int:
        return sum(d.n_bytes for d in self.documents)


def decode_text(data: bytes) -> str | None:
    """The text in `data`, or None when it looks binary."""
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            try:
                return data[len(bom):].decode(encoding)
            except UnicodeDecodeError:
                return None
    if b"\x00" in data[:65536]:
        return None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        try:
            text = data.decode("cp1252")
        except UnicodeDecodeError:
            text = data.decode("latin-1")  # never fails: every byte is a character
    sample = text[:65536]
    controls = sum(1 for ch in sample if ord(ch) < 32 and ch not in _TEXT_CONTROLS)
    if sample and controls / len(sample) > 0.05:
        return None
    return text


def _walk(path: Path) -> list[Path]:
    if path.is_file():
        return [path]
    found: list[Path] = []
    for root, dirs, files in os.walk(path):
        dirs[:] = sorted(d for d in dirs if d not in _SKIP_DIRS and not d.startswith("."))
        found.extend(Path(root) / f for f in sorted(files) if not f.startswith("."))
    return found


def read_corpus(paths: list[str | os.PathLike[str]] | str | os.PathLike[str]) -> Corpus:
    """Read files and (recursively) folders; raise ConfigurationError if no text is found."""
    if isinstance(paths, str | os.PathLike):
        paths = [paths]
    documents: list[Document] = []
    skipped: list[tuple[str, str]] = []
    for raw in paths:
        path = Path(raw)
        if not path.exists():
            raise ConfigurationError(f"corpus path {path} does not exist",
                                     hint="Pass existing text files or folders of text files.")
        for file in _walk(path):
            try:
                data = file.read_bytes()
            except OSError as exc:
                skipped.append((str(file), f"unreadable: {exc.strerror or exc}"))
                continue
            text = decode_text(data)
            if text is None:
                skipped.append((str(file), "binary"))
            elif not text.strip():
                skipped.append((str(file), "empty"))
            else:
                documents.append(Document(name=str(file), text=text))
    if not documents:
        detail = f" ({len(skipped)} files skipped as binary or empty)" if skipped else ""
        raise ConfigurationError(
            f"the corpus {[str(p) for p in paths]} contains no text{detail}",
            hint="Point at text files (any encoding) or folders containing them.")
    return Corpus(documents=documents, skipped=skipped)


def split_documents(documents: list[Document], val_fraction: float, seed: int) -> tuple[list[Document],
                                                                                        list[Document]]:
    """Split into (train, validation) by whole documents, about `val_fraction` of the bytes.

    Whole documents keep validation text unseen in training. With a single document
    (or only documents too large to hold out), the tail of one document is held out at a
    line boundary instead.
    """
    if not 0 <= val_fraction < 1:
        raise ConfigurationError(f"val_fraction must be in [0, 1), got {val_fraction}")
    if val_fraction == 0:
        return list(documents), []
    order = list(documents)
    random.Random(seed).shuffle(order)
    target = val_fraction * sum(d.n_bytes for d in order)
    train: list[Document] = []
    val: list[Document] = []
    val_bytes = 0
    for doc in order:
        fits = val_bytes + doc.n_bytes <= 1.5 * target and len(val) < len(order) - 1
        if val_bytes < target and fits:
            val.append(doc)
            val_bytes += doc.n_bytes
        else:
            train.append(doc)
    if not val:
        # Hold out the tail of the largest document.
        big = max(train, key=lambda d: len(d.text))
        cut = int(len(big.text) * (1 - val_fraction))
        newline = big.text.rfind("\n", 0, cut)
        if newline > len(big.text) // 2:
            cut = newline + 1
        train[train.index(big)] = Document(big.name, big.text[:cut])
        val.append(Document(big.name + " (tail)", big.text[cut:]))
    return train, val
