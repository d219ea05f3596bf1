"""Topic extraction: the themes of a set of documents, with no language model needed.

Strategy, reported on the result (`strategy`, `k_by`, `labels_by`):
- Statistical, always: TF-IDF (English stop words and numbers out, sublinear term
  frequency) factorised by NMF (scikit-learn, `init="nndsvda"`, fixed `random_state`,
  so the same documents give the same topics). Each document is assigned the topic
  with its largest weight; a document with none of the vocabulary's words gets -1.
- `k` when not given: every k in a small range (2..10, at most half the documents)
  is fitted and the one with the best topic quality wins (`k_by="coherence"`): mean
  NPMI coherence times diversity (Dieng et al., 2020), so that splitting one theme
  into look-alike topics does not pay, times coverage (the fraction of documents
  sharing at least two words with their topic's keywords), so that a k too small,
  which files one theme under another's keywords, does not pay either; ties go to
  the smaller k.
- With `model=`: one request shows the model each topic's keywords and the start of
  its most typical document and asks for one short label per topic (`N: label`);
  topics given the same label are merged. A reply that does not parse is re-asked
  once, then the keyword labels stay and `notes` says so (`labels_by="keywords"`).
  `model=None` (the default) uses no model at all, and never loads the default one.

Quality is measured on the documents themselves (llmkit.tasks._coherence): NPMI by
document co-occurrence over each topic's top words, and diversity (the fraction of
distinct words among all topics' top words).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from ..client import Client
from ..errors import TaskError
from ._coherence import diversity, document_sets, topic_npmi
from ._core import Task, ask_parsed, run_one, using
from ._text import budget

__all__ = ["Topic", "Topics", "extract_topics"]

MIN_DOCUMENTS = 3
MAX_AUTO_K = 10
_SEED = 0
_EXAMPLE_WORDS = 40  # of a topic's most typical document, shown to the model


@dataclass
class Topic:
    """One theme: `keywords` are (word, weight) pairs, heaviest first, weights the
    word's share of the topic; `size` is how many documents have it as their main
    topic; `documents` the indices of its most typical documents; `coherence` its NPMI."""

    label: str
    keywords: list[tuple[str, float]]
    size: int
    documents: list[int]
    coherence: float

    @property
    def words(self) -> list[str]:
        return [w for w, _ in self.keywords]


@dataclass
class Topics:
    """The topics found, each document's topic (`assignments[i]` indexes `topics`,
    -1 for a document with no vocabulary words), mean NPMI `coherence` (by document
    co-occurrence) and `diversity` of the top keywords."""

    topics: list[Topic]
    assignments: list[int]
    coherence: float
    diversity: float
    k: int
    strategy: str
    k_by: str
    labels_by: str
    notes: list[str] = field(default_factory=list)
    coherence_measure: str = "NPMI, document co-occurrence"


def extract_topics(
    documents: Sequence[str],
    k: int | None = None,
    model: Client | str | None = None,
    *,
    top_n: int = 10,
    representatives: int = 3,
) -> Topics:
    """The topics of `documents` (a list of texts, at least 3 non-empty).

    `k`: how many topics (None: chosen by coherence). `model`: a Client or id whose
    job is only to label (and merge) the topics; None uses no model. `top_n`: keywords
    kept per topic (and used for coherence and diversity)."""
    docs = _check_documents(documents)
    if top_n < 2:
        raise TaskError(f"top_n must be at least 2, not {top_n}")
    fit = _Fitted(docs, top_n)
    if k is None:
        k, k_by = fit.choose_k(), "coherence"
    else:
        if isinstance(k, bool) or not isinstance(k, int) or k < 1:
            raise TaskError(f"k must be a positive whole number, not {k!r}")
        if k > fit.max_k:
            raise TaskError(f"k={k} is more topics than these documents can give (at most {fit.max_k})",
                            hint="Give a smaller k, or more documents.")  # fmt: skip
        k_by = "given"
    W, H = fit.factorise(k)
    groups = [[t] for t in range(k)]
    labels = [", ".join(fit.top_words(H[t])[:3]) for t in range(k)]
    result_notes: list[str] = []
    labels_by, strategy = "keywords", "tfidf-nmf"
    if model is not None:
        strategy = "tfidf-nmf+model-labels"
        typical = [fit.typical(W, [t], 1) for t in range(k)]
        examples = [_example(docs[d[0]]) if d else "" for d in typical]
        keywords = [fit.top_words(H[t])[:8] for t in range(k)]
        named = using(model, lambda c: run_one(_labels(c, keywords, examples), c))
        if isinstance(named, TaskError):
            result_notes.append(f"the model's labels could not be used ({named.message}); keyword labels kept")
        else:
            labels_by = "model"
            groups, labels, merged = _merge(named)
            result_notes.extend(merged)
    return fit.result(W, H, groups, labels, representatives=representatives,
                      strategy=strategy, k_by=k_by, labels_by=labels_by, notes=result_notes)  # fmt: skip


def _check_documents(documents: Sequence[str]) -> list[str]:
    if isinstance(documents, str | bytes):
        raise TaskError("extract_topics takes a list of documents, not one text",
                        hint="Split the text into documents first (e.g. by paragraph).")  # fmt: skip
    docs = list(documents)
    for i, d in enumerate(docs):
        if not isinstance(d, str):
            raise TaskError(f"document {i} is a {type(d).__name__}, not a string")
        if "\x00" in d:
            raise TaskError(f"document {i} looks binary (it holds NUL bytes)")
    filled = sum(1 for d in docs if d.strip())
    if filled < MIN_DOCUMENTS:
        raise TaskError(f"topic extraction needs at least {MIN_DOCUMENTS} non-empty documents, got {filled}",
                        hint="Give more documents (one theme needs several documents to show).")  # fmt: skip
    return docs


class _Fitted:
    """The TF-IDF matrix of the documents, and NMF fits of it."""

    def __init__(self, docs: list[str], top_n: int) -> None:
        from sklearn.feature_extraction.text import TfidfVectorizer

        many = len(docs) >= 20  # on a handful of documents every word may matter
        self.vectorizer = TfidfVectorizer(
            stop_words="english", token_pattern=r"(?u)\b[^\W\d_][^\W\d_]+\b", sublinear_tf=True,
            min_df=2 if many else 1, max_df=0.95 if many else 1.0,
        )  # fmt: skip
        try:
            self.X = self.vectorizer.fit_transform(docs)
        except ValueError:  # sklearn: "empty vocabulary"
            raise TaskError("the documents hold no words to form topics from (only stop words, numbers or "
                            "symbols)", hint="Give documents with some prose in them.") from None  # fmt: skip
        self.vocab = self.vectorizer.get_feature_names_out()
        analyse = self.vectorizer.build_analyzer()
        self.sets = document_sets([analyse(d) for d in docs])
        self.top_n = top_n
        self.max_k = max(1, min(self.X.shape[1], sum(1 for d in docs if d.strip())))

    def factorise(self, k: int) -> tuple[Any, Any]:
        from sklearn.decomposition import NMF

        nmf = NMF(n_components=k, init="nndsvda", random_state=_SEED, max_iter=500)
        W = nmf.fit_transform(self.X)
        return W, nmf.components_

    def top_words(self, row: Any) -> list[str]:
        order = row.argsort()[::-1][: self.top_n]
        return [str(self.vocab[i]) for i in order if row[i] > 0]

    def choose_k(self) -> int:
        """The k in the small range with the best NPMI x diversity x coverage."""
        filled = sum(1 for s in self.sets if s)
        high = min(MAX_AUTO_K, self.max_k, max(2, filled // 2))
        best, best_score = 2 if high >= 2 else 1, float("-inf")
        for k in range(2, high + 1):
            W, H = self.factorise(k)
            main = W.argmax(axis=1)[W.max(axis=1) > 0]
            if len(set(main.tolist())) < k:  # a topic no document is mainly about
                continue
            words = [self.top_words(H[t]) for t in range(k)]
            score = sum(topic_npmi(w, self.sets) for w in words) / k * diversity(words) * self.coverage(W, words)
            if score > best_score + 1e-9:
                best, best_score = k, score
        return best

    def coverage(self, W: Any, words: list[list[str]]) -> float:
        """Fraction of the documents that share at least two words (or all theirs) with
        their topic's keywords: a k too small leaves a theme under another's words."""
        keys = [set(w) for w in words]
        filled = [(i, s) for i, s in enumerate(self.sets) if s and W[i].max() > 0]
        hit = sum(1 for i, s in filled if len(s & keys[int(W[i].argmax())]) >= min(2, len(s)))
        return hit / len(filled) if filled else 0.0

    def typical(self, W: Any, group: list[int], n: int) -> list[int]:
        """Indices of the documents most about the topics in `group` (main topic among them)."""
        main = W.argmax(axis=1)
        weight = W[:, group].sum(axis=1)
        mine = [i for i in range(W.shape[0]) if W[i].max() > 0 and int(main[i]) in group]
        return sorted(mine, key=lambda i: (-float(weight[i]), i))[:n]

    def result(self, W: Any, H: Any, groups: list[list[int]], labels: list[str], *, representatives: int,
               **how: Any) -> Topics:  # fmt: skip
        topics, where = [], {}
        for g, (group, label) in enumerate(zip(groups, labels, strict=True)):
            row = H[group].sum(axis=0)
            total = float(row.sum()) or 1.0
            words = self.top_words(row)
            keywords = [(w, round(float(row[self.vectorizer.vocabulary_[w]]) / total, 4)) for w in words]
            docs = self.typical(W, group, representatives)
            size = sum(1 for i in range(W.shape[0]) if W[i].max() > 0 and int(W[i].argmax()) in group)
            topics.append(Topic(label, keywords, size, docs, round(topic_npmi(words, self.sets), 4)))
            where.update(dict.fromkeys(group, g))
        assignments = [where[int(W[i].argmax())] if W[i].max() > 0 else -1 for i in range(W.shape[0])]
        coherence = sum(t.coherence for t in topics) / len(topics)
        return Topics(topics, assignments, round(coherence, 4), round(diversity([t.words for t in topics]), 4),
                      k=len(topics), **how)  # fmt: skip


# --- labels from a model ------------------------------------------------------------

_LINE = re.compile(r"^\s*(?:[-*]\s*)?(?:topic\s*)?#?(\d+)\s*[:.)\-]\s*(.+?)\s*$", re.I)


def _example(text: str) -> str:
    words = text.split()
    return " ".join(words[:_EXAMPLE_WORDS]) + (" ..." if len(words) > _EXAMPLE_WORDS else "")


def _prompt(keywords: list[list[str]], examples: list[str]) -> str:
    blocks = []
    for i, (words, example) in enumerate(zip(keywords, examples, strict=True), 1):
        block = f"Topic {i}: {', '.join(words)}"
        if example:
            block += f'\nExample: "{example}"'
        blocks.append(block)
    return ("These topics were found in a collection of documents, each shown by its keywords and an example "
            "document.\n\n" + "\n\n".join(blocks) + "\n\nGive each topic a short label of 1 to 5 words. Answer "
            f"with {len(keywords)} lines, one per topic, in the form `N: label`, and nothing else. If two topics "
            "are about the same subject, give them exactly the same label.")  # fmt: skip


def _labels(client: Client, keywords: list[list[str]], examples: list[str]) -> Task[list[str] | TaskError]:
    """The model's label for each topic, or the TaskError of a reply that never parsed."""
    k = len(keywords)
    max_tokens = 12 * k + 16
    room = budget(client, reserve=max_tokens + 16, cap=4096)
    prompt = _prompt(keywords, examples)
    if int(client.count_tokens(prompt)) > room:  # too long for the window: keywords only
        prompt = _prompt([w[:6] for w in keywords], [""] * k)
    try:
        return (yield from ask_parsed(prompt, lambda reply: _parse_labels(reply, k),
                                      {"temperature": 0, "max_tokens": max_tokens}, "topic labels"))  # fmt: skip
    except TaskError as exc:
        return exc


def _parse_labels(reply: str, k: int) -> list[str]:
    found: dict[int, str] = {}
    for line in reply.splitlines():
        m = _LINE.match(line)
        if not m:
            continue
        n, label = int(m.group(1)), m.group(2).strip().strip("*_`\"'").strip()
        if 1 <= n <= k and label and n not in found:
            if len(label.split()) > 8:
                raise ValueError(f"the label of topic {n} is too long: give at most 5 words")
            found[n] = label
    missing = [str(n) for n in range(1, k + 1) if n not in found]
    if missing:
        topics = "topics" if len(missing) > 1 else "topic"
        raise ValueError(f"give a label for {topics} {', '.join(missing)}, one line each as `N: label`")
    return [found[n] for n in range(1, k + 1)]


def _merge(labels: list[str]) -> tuple[list[list[int]], list[str], list[str]]:
    """Topics with the same label (ignoring case and spacing) become one."""
    groups: dict[str, list[int]] = {}
    names: dict[str, str] = {}
    for t, label in enumerate(labels):
        key = " ".join(label.lower().split())
        groups.setdefault(key, []).append(t)
        names.setdefault(key, label)
    notes = [f"topics {', '.join(str(t + 1) for t in g)} merged: the model labelled them alike ({names[key]!r})"
             for key, g in groups.items() if len(g) > 1]  # fmt: skip
    return list(groups.values()), list(names.values()), notes
