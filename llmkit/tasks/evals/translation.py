"""Translation quality on Django's gettext catalogs: human translations of real UI
strings, many with placeholders (`%(name)s`, `%s`, `{0}`) that must survive.

    >>> from llmkit.tasks.evals.translation import evaluate_translation
    >>> evaluate_translation("hf:PATH.gguf", to="fr", limit=40)  # doctest: +SKIP

The `Django` wheel from the package index (BSD-3-Clause, translations by the Django
community on Transifex) ships compiled catalogs,
`django/conf/locale/<lang>/LC_MESSAGES/django.mo` and the same under
`django/contrib/<app>/locale/`; `gettext.GNUTranslations` reads them. Plural forms,
empty translations and strings without a word are skipped; `limit` pairs are taken
evenly from the sorted catalog, half of them (where there are enough) with
placeholders.

Figures: chrF (sacrebleu, character n-gram F-score against the human translation,
0-100) and the share of strings with protected spans whose translation keeps every
one of them, for `llmkit.tasks.translate` beside a naive baseline on the same model
(a plain "Translate to French:" prompt, no protection, no check, no clean-up), and
the chrF of the source left untranslated (`copy_source`): UI strings share so many
characters with their translations (placeholders, names, cognates) that a model must
beat that floor before its chrF means it translates.
"""

from __future__ import annotations

import gettext
import io
import re
import time
import zipfile
from typing import Any

from ...client import Client
from ...errors import UsageError
from .._core import using
from .._languages import resolve
from .._protect import find_items, item_problems
from ._wheels import wheel

__all__ = ["django_pairs", "evaluate_translation"]


def django_pairs(to: str = "fr") -> list[tuple[str, str]]:
    """(English msgid, human translation) pairs for the language `to`, sorted by msgid."""
    tag, _ = resolve(to)
    locale = tag.replace("-", "_")
    pairs: dict[str, str] = {}
    with zipfile.ZipFile(wheel("django")) as zf:
        names = [n for n in zf.namelist() if n.endswith(f"/locale/{locale}/LC_MESSAGES/django.mo")]
        if not names:
            have = sorted({n.split("/")[3] for n in zf.namelist() if n.startswith("django/conf/locale/")
                           and n.endswith("django.mo")})  # fmt: skip
            raise UsageError(f"Django has no {locale} catalog", hint=f"Use one of: {', '.join(have)}.")
        for name in sorted(names):
            catalog = gettext.GNUTranslations(io.BytesIO(zf.read(name)))._catalog  # type: ignore[attr-defined]
            for msgid, msgstr in catalog.items():
                if not isinstance(msgid, str) or not msgid or not msgstr:
                    continue  # plural forms are keyed (msgid, n); "" is the header
                msgid = msgid.split("\x04")[-1]  # drop a msgctxt
                if re.search(r"[A-Za-z]{2}", msgid) and msgid not in pairs:
                    pairs[msgid] = msgstr
    return sorted(pairs.items())


def _sample(pairs: list[tuple[str, str]], limit: int) -> list[tuple[str, str]]:
    """`limit` pairs spread over the catalog, half with placeholders where possible."""
    marked = [p for p in pairs if find_items(p[0])]
    plain = [p for p in pairs if not find_items(p[0])]
    take_marked = min(len(marked), limit // 2)
    take_plain = min(len(plain), limit - take_marked)
    take_marked = min(len(marked), limit - take_plain)

    def spread(items: list[tuple[str, str]], n: int) -> list[tuple[str, str]]:
        return [items[i * len(items) // n] for i in range(n)] if n else []

    return sorted(spread(marked, take_marked) + spread(plain, take_plain))


_KINDS = {"kept losing": "translated between placeholders", "untranslated": "untranslated", "lost": "lost span",
          "added": "added span", "repeated": "added span", "structure": "Markdown structure", "glossary": "glossary",
          "cut off": "cut off", "longer": "too long", "empty": "empty"}  # fmt: skip


def _kinds(issues: list[str]) -> dict[str, int]:
    """How many issues of each kind (the first keyword each issue line holds)."""
    counts: dict[str, int] = {}
    for issue in issues:
        what = issue.split("): ", 1)[-1]
        kind = next((k for key, k in _KINDS.items() if key in what), "other")
        counts[kind] = counts.get(kind, 0) + 1
    return dict(sorted(counts.items(), key=lambda kv: -kv[1]))


def evaluate_translation(
    model: Client | str | None,
    to: str = "fr",
    limit: int = 100,
    *,
    protect: str = "mask",
    baseline: bool = True,
    progress: bool | None = None,
) -> dict[str, Any]:
    """chrF and placeholder preservation of `translate` on `limit` Django strings into
    `to`, with the naive baseline beside it (`baseline=False` skips it)."""
    import sacrebleu

    from ..translation import Translation, translate_batch

    tag, name = resolve(to)
    sample = _sample(django_pairs(tag), limit)
    sources = [s for s, _ in sample]
    refs = [r for _, r in sample]

    def score(outputs: list[str], seconds: float) -> dict[str, Any]:
        with_items = [i for i, s in enumerate(sources) if find_items(s)]
        kept = sum(1 for i in with_items if not item_problems(sources[i], outputs[i]))
        return {
            "chrf": round(sacrebleu.corpus_chrf(outputs, [refs]).score, 2),
            "placeholders_kept": round(kept / len(with_items), 4) if with_items else None,
            "unchanged": sum(1 for s, o in zip(sources, outputs, strict=True) if s.strip() == o.strip()),
            "seconds": round(seconds, 1),
        }

    def work(client: Client) -> dict[str, Any]:
        start = time.perf_counter()
        results = translate_batch(sources, to=tag, source="en", model=client, protect=protect, progress=progress)
        ours = score([r.text if isinstance(r, Translation) else "" for r in results], time.perf_counter() - start)
        ours["with_issues"] = sum(1 for r in results if isinstance(r, Translation) and r.issues)
        ours["issue_kinds"] = _kinds([i for r in results if isinstance(r, Translation) for i in r.issues])
        ours["errors"] = sum(1 for r in results if not isinstance(r, Translation))
        report: dict[str, Any] = {
            "task": "translation", "model": client.model, "target": tag,
            "data": f"{wheel('django').name.split('-py')[0]} gettext catalogs (en -> {tag})",
            "n": len(sample), "n_with_placeholders": sum(1 for s in sources if find_items(s)),
            "protect": protect, "llmkit": ours,
            # the floor to beat: chrF of the English left as it is (placeholders, names and
            # cognates match the reference without any translation)
            "copy_source": {"chrf": round(sacrebleu.corpus_chrf(sources, [refs]).score, 2)},
            "examples": [{"source": s, "reference": r, "llmkit": o.text if isinstance(o, Translation) else str(o)}
                         for (s, r), o in list(zip(sample, results, strict=True))[:5]],
        }  # fmt: skip
        if baseline:
            start = time.perf_counter()
            replies = client.chat_batch([f"Translate to {name}:\n\n{s}" for s in sources], temperature=0,
                                        max_tokens=128)  # fmt: skip
            report["baseline"] = score([r.text.strip() for r in replies], time.perf_counter() - start)
            for example, reply in zip(report["examples"], replies, strict=False):
                example["baseline"] = reply.text.strip()
        return report

    return using(model, work)


if __name__ == "__main__":  # the same as `llmkit eval translation -m MODEL [--limit N]`
    import json
    import sys

    if len(sys.argv) < 2:
        sys.exit("usage: python -m llmkit.tasks.evals.translation MODEL [LIMIT] [LANG]")
    limit = int(sys.argv[2]) if len(sys.argv) > 2 else 100
    report = evaluate_translation(sys.argv[1], to=sys.argv[3] if len(sys.argv) > 3 else "fr", limit=limit)
    print(json.dumps(report, ensure_ascii=False, indent=2))
