"""Question answering over documents, with citations that are checked against the
text, and abstention when the documents do not hold the answer.

    >>> from llmkit import tasks
    >>> a = tasks.answer("Who led the Norse?", ["... under their leader Rollo, ..."], model="hf:PATH")  # doctest: +SKIP
    >>> a.answer, a.citations[0].text, a.abstained  # doctest: +SKIP

Documents are cut into passages that fit the model's window by its own token counts
(`_text.client_split`), and BM25 ranks the passages against the question (fused with
the model's embeddings where it has them, `retrieval="hybrid"`). Then, by what the
model can do (the strategy is reported on each Answer):

- "extractive" (local models, `capabilities.logprobs`): the levers a small model has.
  It reads the best two sentences and answers in its own words; the answer is aligned
  to the spans it may mean (`_spans.align`), log-probabilities pick the span, and the
  likelihood of the question and of the answer after the text decide whether to
  abstain (`_extractive`). The answer is always a span of the document.
- "structured": {answer, quote, passage} as JSON (`response_format`); the quote must be
  found in that passage, else one re-ask that says so, then a TaskError. Never a
  citation that is not in the text.
- "prompted": the same three fields asked for in words, parsed, re-asked once.

Every citation is (document index, start, end, text) with
`documents[document][start:end] == text`, checked before it is returned.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from ..client import Client
from ..errors import LLMKitError, TaskError
from ..types import assistant, to_messages, user
from ._core import Task, ask_parsed, ask_structured, failed, run_many, run_one, using
from ._retrieval import Hit, Index, fuse
from ._text import budget, check_text, client_split

__all__ = ["Answer", "Citation", "answer", "answer_batch"]

_STRATEGIES = ("extractive", "structured", "prompted")
_RETRIEVALS = ("bm25", "hybrid")
_PASSAGE_CAP = 384  # tokens in a passage: enough for a paragraph, small enough for a small model


@dataclass(frozen=True)
class Citation:
    """Where the answer stands: `documents[document][start:end] == text`. For the
    passages read (`Answer.passages`), `score` is the retrieval score."""

    document: int
    start: int
    end: int
    text: str
    score: float | None = None


@dataclass
class Answer:
    """The answer to one question. `answer` is None when `abstained` (the documents do
    not answer it; `reason` says why). `passages` are what the model read (for the
    extractive strategy, the sentences). `confidence` (0-1) and `scores` (the
    measures it decided on) come from the extractive strategy; None and {} otherwise."""

    question: str
    answer: str | None
    citations: list[Citation]
    abstained: bool
    strategy: str
    confidence: float | None = None
    reason: str | None = None
    passages: list[Citation] = field(default_factory=list)
    scores: dict[str, float] = field(default_factory=dict)


def answer(
    question: str,
    documents: str | Sequence[str],
    model: Client | str | None = None,
    *,
    strategy: str = "auto",
    retrieval: str = "bm25",
    top_k: int = 3,
    abstain: bool = True,
    threshold: float | None = None,
) -> Answer:
    """Answer `question` from `documents` (a text or a list of texts), citing them.

    `strategy`: "auto" (extractive where the model has log-probabilities, else
    structured, else prompted) or one of those. `retrieval`: "bm25", or "hybrid" (BM25
    fused with the model's embeddings). `top_k`: passages read. `abstain=False`
    answers whenever it can (extractive), or does not offer the model "no answer"
    (others). `threshold` (extractive): the question's log-probability after the text
    read, in nats, below which it abstains (default: set for SmolLM2-135M, see the
    README); a larger model wants a higher one."""

    def work(client: Client) -> Answer:
        job = _Job(client, strategy, retrieval, top_k, abstain, threshold)
        return run_one(job.task(question, documents), client)

    return using(model, work)


def answer_batch(
    questions: Sequence[str],
    documents: Sequence[str] | Sequence[Sequence[str]],
    model: Client | str | None = None,
    *,
    strategy: str = "auto",
    retrieval: str = "bm25",
    top_k: int = 3,
    abstain: bool = True,
    threshold: float | None = None,
    concurrency: int = 8,
    progress: bool | None = None,
) -> list[Answer | LLMKitError]:
    """Answers to several questions, in order, a failed item holding its TaskError.
    `documents` is one list of texts for all questions, or one list per question;
    the other settings are answer()'s."""
    if isinstance(questions, str):
        raise TaskError("answer_batch takes a list of questions", hint="Use answer() for one question.")
    questions = list(questions)
    per_question = _per_question(questions, documents)

    def work(client: Client) -> list[Answer | LLMKitError]:
        job = _Job(client, strategy, retrieval, top_k, abstain, threshold)
        tasks = [job.task(q, docs) for q, docs in zip(questions, per_question, strict=True)]
        return run_many(tasks, client, concurrency=concurrency, progress=progress, label="qa")

    return using(model, work)


def _per_question(questions: list[str], documents: Any) -> list[Any]:
    if isinstance(documents, str):
        return [documents] * len(questions)
    documents = list(documents)
    if documents and all(isinstance(d, list | tuple) for d in documents):
        if len(documents) != len(questions):
            raise TaskError(f"answer_batch got {len(questions)} questions but {len(documents)} document lists",
                            hint="Give one list of documents for all questions, or one list per question.")  # fmt: skip
        return documents
    if any(isinstance(d, list | tuple) for d in documents):
        raise TaskError("answer_batch's documents mix texts and lists of texts",
                        hint="Give one list of documents for all questions, or one list per question.")  # fmt: skip
    return [documents] * len(questions)


class _Job:
    """The settings of one answer() or answer_batch() call, checked once, and the
    passages of each distinct document, cut once (a batch often shares documents)."""

    def __init__(self, client: Client, strategy: str, retrieval: str, top_k: int, abstain: bool,
                 threshold: float | None) -> None:  # fmt: skip
        caps = client.capabilities
        if strategy == "auto":
            strategy = "extractive" if caps.logprobs else "structured" if caps.structured_output else "prompted"
        if strategy not in _STRATEGIES:
            raise TaskError(f"unknown qa strategy {strategy!r}", hint="Use auto, extractive, structured or prompted.")
        if strategy == "extractive" and not caps.logprobs:
            raise TaskError(f"the extractive strategy needs log-probabilities, which {client.model} does not give",
                            hint="Use strategy='auto' (a local model has them).")  # fmt: skip
        if retrieval not in _RETRIEVALS:
            raise TaskError(f"unknown retrieval {retrieval!r}", hint="Use bm25 or hybrid.")
        if retrieval == "hybrid" and not caps.embeddings:
            raise TaskError(f"hybrid retrieval needs embeddings, which {client.model} does not give",
                            hint="Use retrieval='bm25'.")  # fmt: skip
        if isinstance(top_k, bool) or not isinstance(top_k, int) or top_k < 1:
            raise TaskError(f"top_k must be an int >= 1, not {top_k!r}")
        if threshold is not None and (isinstance(threshold, bool) or not isinstance(threshold, int | float)):
            raise TaskError(f"threshold must be a number (nats), not {threshold!r}")
        self.client, self.strategy, self.retrieval, self.top_k = client, strategy, retrieval, top_k
        self.abstain, self.threshold = abstain, threshold
        if strategy == "extractive":  # two sentences, the question and a short answer: any two passages fit
            self.room = budget(client, reserve=128, cap=1536)
            self.passage_tokens = min(self.room // 2, _PASSAGE_CAP)
        else:  # the numbered passages, the instructions and a JSON answer with its quote
            self.room = budget(client, reserve=320, cap=1536)
            self.passage_tokens = min(self.room, _PASSAGE_CAP)
        self._cut: dict[str, list[Citation]] = {}
        self._indexes: dict[tuple[str, ...], tuple[list[Citation], Index]] = {}
        self._vectors: dict[tuple[str, ...], list[list[float]]] = {}

    def task(self, question: str, documents: Any) -> Task[Answer]:
        question = check_text(question, "question").strip()
        docs = _check_documents(documents)
        passages = self.retrieve(question, docs)
        if self.strategy == "extractive":
            from ._extractive import extractive

            return (yield from extractive(self.client, question, docs, passages, self.abstain, self.threshold))
        return (yield from self.asked(question, docs, passages))

    def passages_of(self, index: int, text: str) -> list[Citation]:
        if text not in self._cut:
            pieces = client_split(self.client, text, self.passage_tokens)
            self._cut[text] = [Citation(0, p.start, p.end, p.text) for p in pieces if p.text.strip()]
        return [Citation(index, c.start, c.end, c.text) for c in self._cut[text]]

    def retrieve(self, question: str, docs: list[str]) -> list[Citation]:
        """Every passage of `docs`, best for `question` first, each with its score."""
        key = tuple(docs)
        if key not in self._indexes:  # a batch's questions share the index of their documents
            passages = [c for i, d in enumerate(docs) for c in self.passages_of(i, d)]
            self._indexes[key] = (passages, Index([p.text for p in passages]))
        passages, index = self._indexes[key]
        ranking = index.rank(question)
        if self.retrieval == "hybrid" and len(passages) > 1:
            if key not in self._vectors:  # the passages are embedded once, the question each time
                self._vectors[key] = self.client.embed([p.text for p in passages]).vectors
            ranking = fuse(ranking, _by_similarity(self.client.embed(question).vectors[0], self._vectors[key]))
        return [_scored(passages[h.index], h.score) for h in ranking]

    # --- structured and prompted ------------------------------------------------------

    def asked(self, question: str, docs: list[str], ranked: list[Citation]) -> Task[Answer]:
        shown = self.shown(ranked)
        prompt = _prompt(question, shown, self.abstain, lines=self.strategy == "prompted")
        if self.strategy == "structured":
            value = yield from ask_structured(prompt, _SCHEMA, {"temperature": 0}, "qa")
            try:
                found = _verified(value, shown, docs)
            except ValueError as exc:
                again = [*to_messages(prompt), assistant(json.dumps(value)),
                         user(f"That answer cannot be used: {exc}. Answer again in the same JSON form.")]  # fmt: skip
                value = yield from ask_structured(again, _SCHEMA, {"temperature": 0}, "qa")
                try:
                    found = _verified(value, shown, docs)
                except ValueError as exc2:
                    raise failed(f"qa: the model's answer did not check out after a re-ask ({exc2})",
                                 hint="Try a larger model.", output=json.dumps(value)) from None  # fmt: skip
        else:
            found = yield from ask_parsed(prompt, lambda text: _verified(_fields(text), shown, docs),
                                          {"temperature": 0, "max_tokens": 300}, "qa")  # fmt: skip
        text, citation = found
        if text is None:
            return Answer(question, None, [], True, self.strategy, reason="the model found no answer in the passages",
                          passages=shown)  # fmt: skip
        return Answer(question, text, [citation] if citation else [], False, self.strategy, passages=shown)

    def shown(self, ranked: list[Citation]) -> list[Citation]:
        """The top passages that fit the prompt together (at least one)."""
        out: list[Citation] = []
        used = 0
        for p in ranked[: self.top_k]:
            tokens = int(self.client.count_tokens(p.text)) + 4
            if out and used + tokens > self.room:
                break
            out.append(p)
            used += tokens
        return out


def _check_documents(documents: Any) -> list[str]:
    if isinstance(documents, str):
        documents = [documents]
    if documents is None or not isinstance(documents, Sequence) or isinstance(documents, bytes):
        raise TaskError("qa needs documents: a text or a list of texts", hint="e.g. answer(q, [text1, text2]).")
    if not documents:
        raise TaskError("qa got no documents to answer from", hint="Give at least one text.")
    return [check_text(d, f"document {i + 1}") for i, d in enumerate(documents)]


def _scored(c: Citation, score: float) -> Citation:
    return Citation(c.document, c.start, c.end, c.text, round(score, 4))


def _by_similarity(query: list[float], vectors: list[list[float]]) -> list[Hit]:
    """The vectors ranked by dot product with `query` (cosine: llmkit's vectors are unit length)."""
    sims = [sum(a * b for a, b in zip(query, v, strict=True)) for v in vectors]
    return [Hit(i, sims[i]) for i in sorted(range(len(vectors)), key=lambda i: -sims[i])]


_SCHEMA = {
    "type": "object",
    "properties": {
        "answer": {"type": ["string", "null"]},
        "quote": {"type": ["string", "null"]},
        "passage": {"type": ["integer", "null"]},
    },
    "required": ["answer", "quote", "passage"],
    "additionalProperties": False,
}


def _prompt(question: str, shown: list[Citation], abstain: bool, lines: bool) -> str:
    numbered = "\n\n".join(f"[{i + 1}] {p.text}" for i, p in enumerate(shown))
    if lines:
        none = "If the passages do not contain the answer, write NONE on all three lines.\n" if abstain else ""
        form = "Reply with three lines:\nAnswer: ...\nQuote: ...\nPassage: ...\n"
    else:
        none = "If the passages do not contain the answer, give null for answer, quote and passage.\n" if abstain else ""
        form = "Reply in JSON with answer, quote and passage.\n"
    return (
        "Answer the question from the numbered passages only. Give a short answer, the passage number, "
        "and a quote: words copied exactly from that passage that contain the answer.\n"
        f"{none}{form}\nPassages:\n{numbered}\n\nQuestion: {question}"
    )


_FIELD = re.compile(r"^\s*\**(answer|quote|passage)\**\s*:\s*(.*)$", re.IGNORECASE | re.MULTILINE)
_NONE = {"", "none", "null", "n/a", "unknown", "unanswerable", "-"}


def _fields(text: str) -> dict[str, Any]:
    """The Answer/Quote/Passage lines of a prompted reply (ValueError if missing)."""
    found = {m.group(1).lower(): m.group(2).strip() for m in _FIELD.finditer(text)}
    if "answer" not in found:
        raise ValueError("reply with the lines 'Answer: ...', 'Quote: ...' and 'Passage: ...'")
    value: dict[str, Any] = {k: (None if found.get(k, "").strip(" .\"'").lower() in _NONE else found[k])
                             for k in ("answer", "quote", "passage")}  # fmt: skip
    if value["passage"] is not None:
        digits = re.search(r"\d+", value["passage"])
        value["passage"] = int(digits.group()) if digits else None
    return value


def _verified(value: Any, shown: list[Citation], docs: list[str]) -> tuple[str | None, Citation | None]:
    """(answer, citation) from the model's fields, the quote found in the document
    text; ValueError saying what is wrong otherwise."""
    if not isinstance(value, dict):
        raise ValueError("the answer must be a JSON object with answer, quote and passage")
    text = value.get("answer")
    if text is None or (isinstance(text, str) and text.strip().lower() in _NONE):
        return None, None
    if not isinstance(text, str):
        raise ValueError("answer must be a string or null")
    quote = value.get("quote")
    if not isinstance(quote, str) or not quote.strip():
        raise ValueError("give the quote: words copied exactly from the passage that hold the answer")
    order = list(range(len(shown)))
    n = value.get("passage")
    if isinstance(n, int) and 1 <= n <= len(shown):
        order.remove(n - 1)
        order.insert(0, n - 1)  # the passage named first, then the others (a wrong number is forgiven)
    for i in order:
        p = shown[i]
        found = _find(quote.strip().strip("\"'\u201c\u201d"), p.text)
        if found is not None:
            start, end = p.start + found[0], p.start + found[1]
            citation = Citation(p.document, start, end, docs[p.document][start:end])
            return text.strip(), citation
    where = f"passage {n}" if isinstance(n, int) else "the passages"
    raise ValueError(f"the quote {quote[:80]!r} is not in {where}: copy it exactly from the passage")


def _find(quote: str, text: str) -> tuple[int, int] | None:
    """(start, end) of `quote` in `text`: exactly, else ignoring case and spacing."""
    if not quote:
        return None
    at = text.find(quote)
    if at >= 0:
        return at, at + len(quote)
    pattern = r"\s+".join(re.escape(w) for w in quote.split())
    m = re.search(pattern, text, re.IGNORECASE)
    return (m.start(), m.end()) if m else None
