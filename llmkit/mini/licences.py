"""Which licence a wheel's metadata declares, and whether the code corpus may use it.

Read in order: `License-Expression` (SPDX, with AND, OR, WITH and parentheses), else
`License` (an SPDX id, a common alias such as "BSD" or "Apache 2.0", or the licence text
itself, recognised by its first sentences), else the `Classifier: License :: ...` lines
(all of them must be allowed), else the text of the wheel's licence file. Only the SPDX
ids in ALLOWED_LICENSES pass (permissive licences); anything else, or nothing
recognisable, is refused with the reason. Used by llmkit.mini.code_corpus.
"""

from __future__ import annotations

import email.parser
import re
from dataclasses import dataclass

__all__ = ["ALLOWED_LICENSES", "LicenseInfo", "license_from_metadata", "license_from_text"]

# SPDX ids allowed in the corpus. Zlib and CC0-1.0 are here because numpy and scipy list
# them for small bundled parts (`BSD-3-Clause AND 0BSD AND MIT AND Zlib AND CC0-1.0`).
ALLOWED_LICENSES = frozenset({
    "MIT", "MIT-0", "BSD-2-Clause", "BSD-3-Clause", "Apache-2.0", "PSF-2.0", "Python-2.0", "ISC",
    "Unlicense", "0BSD", "Zlib", "CC0-1.0",
})  # fmt: skip
_CANONICAL = {name.lower(): name for name in ALLOWED_LICENSES}

# Free-text `License:` values and classifier names, lower-cased, to SPDX ids.
_ALIASES = {
    "mit": "MIT", "mit license": "MIT", "the mit license": "MIT", "mit licence": "MIT", "expat": "MIT",
    "the mit license (mit)": "MIT", "mit-0": "MIT-0",
    "bsd": "BSD-3-Clause", "bsd license": "BSD-3-Clause", "new bsd": "BSD-3-Clause", "new bsd license": "BSD-3-Clause",
    "3-clause bsd": "BSD-3-Clause", "bsd 3-clause": "BSD-3-Clause", "bsd-3": "BSD-3-Clause",
    "3-clause bsd license": "BSD-3-Clause", "bsd 3-clause license": "BSD-3-Clause", "modified bsd": "BSD-3-Clause",
    "revised bsd": "BSD-3-Clause", "bsd-3-clause license": "BSD-3-Clause", "bsd (3 clause)": "BSD-3-Clause",
    "simplified bsd": "BSD-2-Clause", "2-clause bsd": "BSD-2-Clause", "bsd 2-clause": "BSD-2-Clause",
    "bsd-2": "BSD-2-Clause", "freebsd": "BSD-2-Clause",
    "apache": "Apache-2.0", "apache 2": "Apache-2.0", "apache 2.0": "Apache-2.0", "apache-2": "Apache-2.0",
    "apache license 2.0": "Apache-2.0", "apache license, version 2.0": "Apache-2.0", "apache license": "Apache-2.0",
    "apache software license": "Apache-2.0", "apache software license 2.0": "Apache-2.0",
    "apache license version 2.0": "Apache-2.0", "apache 2.0 license": "Apache-2.0", "asl 2": "Apache-2.0",
    "apache software license (apache license 2.0)": "Apache-2.0", "apache software license (apache-2.0)": "Apache-2.0",
    "apache-2.0 license": "Apache-2.0", "apache software license (apache 2.0)": "Apache-2.0",
    "psf": "PSF-2.0", "psf license": "PSF-2.0", "psfl": "PSF-2.0", "python software foundation license": "PSF-2.0",
    "python": "Python-2.0", "python license": "Python-2.0",
    "isc": "ISC", "isc license": "ISC", "isc license (iscl)": "ISC", "iscl": "ISC",
    "unlicense": "Unlicense", "the unlicense": "Unlicense", "the unlicense (unlicense)": "Unlicense",
    "zlib": "Zlib", "zlib/libpng": "Zlib", "zlib/libpng license": "Zlib", "cc0": "CC0-1.0",
    "cc0 1.0 universal (cc0 1.0) public domain dedication": "CC0-1.0",
}  # fmt: skip
# Words that mark a free-text licence as known and not allowed (rather than unknown).
_NOT_ALLOWED_WORDS = re.compile(r"\b(a?gpl|lgpl|gnu|mpl|mozilla|epl|eclipse|cddl|eupl|osl|artistic|zope|zpl|"
                                r"proprietary|commercial|copyleft|cc-by|creative commons|hpnd)\b", re.I)
# The licence texts themselves, when a `License:` field holds the whole text.
_FULL_TEXTS = [
    (re.compile(r"permission is hereby granted, free of charge, to any person", re.I), "MIT"),
    (re.compile(r"redistribution and use in source and binary forms", re.I), "BSD"),
    (re.compile(r"apache license\W+version 2\.0", re.I), "Apache-2.0"),
    (re.compile(r"permission to use, copy, modify, and(/or)? distribute this software for any purpose", re.I), "ISC"),
    (re.compile(r"python software foundation license", re.I), "PSF-2.0"),
    (re.compile(r"this is free and unencumbered software released into the public domain", re.I), "Unlicense"),
    (re.compile(r"gnu (lesser |library |affero )?general public license", re.I), "GPL-family"),
    (re.compile(r"mozilla public license", re.I), "MPL-2.0"),
]


@dataclass(frozen=True)
class LicenseInfo:
    """What a wheel's metadata says about its licence, and whether the corpus may use it."""

    expression: str  # SPDX-like, e.g. "MIT", "BSD-3-Clause AND MIT"; "unknown" when nothing was recognised
    source: str  # "License-Expression", "License", "Classifier" or "none"
    allowed: bool
    reason: str = ""  # why not, when not allowed


def _spdx_tokens(expression: str) -> list[str]:
    return re.findall(r"\(|\)|[^\s()]+", expression)


def _spdx_allowed(expression: str) -> bool | None:
    """True/False for a parsable SPDX expression over known ids, None when it does not parse."""
    tokens = _spdx_tokens(expression)
    if not tokens:
        return None
    pos = 0

    def parse_or() -> bool:
        nonlocal pos
        value = parse_and()
        while pos < len(tokens) and tokens[pos].upper() == "OR":
            pos += 1
            value = parse_and() or value
        return value

    def parse_and() -> bool:
        nonlocal pos
        value = parse_atom()
        while pos < len(tokens) and tokens[pos].upper() == "AND":
            pos += 1
            value = parse_atom() and value
        return value

    def parse_atom() -> bool:
        nonlocal pos
        if pos >= len(tokens):
            raise ValueError("expression ends early")
        token = tokens[pos]
        pos += 1
        if token == "(":
            value = parse_or()
            if pos >= len(tokens) or tokens[pos] != ")":
                raise ValueError("unbalanced parenthesis")
            pos += 1
        elif token == ")" or token.upper() in ("AND", "OR", "WITH"):
            raise ValueError(f"unexpected {token!r}")
        else:
            if not re.fullmatch(r"[A-Za-z0-9.+-]+|LicenseRef-[A-Za-z0-9.-]+", token):
                raise ValueError(f"not an SPDX id: {token!r}")
            value = token.rstrip("+").lower() in _CANONICAL
        if pos < len(tokens) and tokens[pos].upper() == "WITH":  # an exception only adds permissions
            pos += 2
        return value

    try:
        result = parse_or()
    except ValueError:
        return None
    return result if pos == len(tokens) else None


def _looks_spdx(expression: str) -> bool:
    """Whether every id in the expression is a real-looking SPDX id (e.g. "MIT", "GPL-3.0-only")."""
    ids = [t for t in _spdx_tokens(expression) if t not in "()" and t.upper() not in ("AND", "OR", "WITH")]
    return bool(ids) and all(t.rstrip("+").lower() in _CANONICAL or re.fullmatch(
        r"(A|L)?GPL-\d\.\d(-only|-or-later)?|MPL-\d\.\d|EPL-\d\.\d|LicenseRef-[\w.-]+|[A-Z][A-Za-z0-9.+-]*-\d[\w.+-]*",
        t) for t in ids)  # fmt: skip


def _canonical_expression(expression: str) -> str:
    parts = []
    for token in _spdx_tokens(expression):
        bare = token.rstrip("+")
        parts.append(_CANONICAL.get(bare.lower(), token) if token not in "()" else token)
    return " ".join(parts).replace("( ", "(").replace(" )", ")")


def _from_free_text(text: str) -> tuple[str, bool] | None:
    """(expression, allowed) from a `License:` field or a classifier name, None when unknown."""
    value = " ".join(text.split()).strip().strip(".")
    if not value or value.lower() in ("unknown", "none", "n/a", "other", "other/proprietary license", "dual license"):
        return None
    alias = _ALIASES.get(value.lower())
    if alias:
        return alias, True
    if len(value) <= 100:
        if _looks_spdx(value):
            allowed = _spdx_allowed(value)
            if allowed is not None:
                return _canonical_expression(value), allowed
        if _NOT_ALLOWED_WORDS.search(value):
            return value, False
        if len(value) < 40:
            return None
    for pattern, spdx in _FULL_TEXTS:
        if pattern.search(value[:3000]):
            if spdx == "BSD":
                spdx = "BSD-3-Clause" if re.search(r"neither the name|endorse or promote", value, re.I) else "BSD-2-Clause"
            return spdx, spdx in ALLOWED_LICENSES
    if _NOT_ALLOWED_WORDS.search(value[:400]):
        return value[:60], False
    return None


def _from_classifiers(classifiers: list[str]) -> tuple[str, bool] | None:
    names = []
    for classifier in classifiers:
        parts = [p.strip() for p in classifier.split("::")]
        if len(parts) < 2 or parts[0] != "License":
            continue
        if parts[1:] == ["OSI Approved"]:
            continue  # says nothing on its own
        names.append(parts[-1])
    if not names:
        return None
    found = []
    for name in names:
        recognised = _from_free_text(name)
        if recognised is None:
            return name, False
        found.append(recognised)
    return " AND ".join(sorted({e for e, _ in found})), all(ok for _, ok in found)


def license_from_metadata(metadata: str) -> LicenseInfo:
    """The licence of a distribution from its METADATA (or PKG-INFO) text.

    >>> license_from_metadata("Name: x\\nLicense-Expression: MIT OR GPL-3.0-only\\n").allowed
    True
    >>> license_from_metadata("Name: x\\nClassifier: License :: OSI Approved :: MIT License\\n").expression
    'MIT'
    """
    message = email.parser.HeaderParser().parsestr(metadata)
    expression = (message.get("License-Expression") or "").strip()
    if expression:
        allowed = _spdx_allowed(expression)
        if allowed is not None:
            canonical = _canonical_expression(expression)
            reason = "" if allowed else f"licence {canonical} is not on the allow-list (License-Expression)"
            return LicenseInfo(canonical, "License-Expression", allowed, reason)
    free = message.get("License") or ""
    recognised = _from_free_text(free) if free.strip() else None
    if recognised:
        spdx, allowed = recognised
        reason = "" if allowed else f"licence {spdx!r} is not on the allow-list (License field)"
        return LicenseInfo(spdx, "License", allowed, reason)
    recognised = _from_classifiers(message.get_all("Classifier") or [])
    if recognised:
        spdx, allowed = recognised
        reason = "" if allowed else f"licence {spdx!r} is not on the allow-list (classifiers)"
        return LicenseInfo(spdx, "Classifier", allowed, reason)
    shown = (expression or free).strip().splitlines()[0][:60] if (expression or free).strip() else ""
    return LicenseInfo("unknown", "none", False,
                       f"licence unknown (metadata says {shown!r})" if shown else "no licence in the metadata")


def license_from_text(text: str) -> LicenseInfo:
    """The licence of a LICENSE file's text (recognised by its first sentences), source "License-File"."""
    recognised = _from_free_text(text[:3000])
    if not recognised:
        return LicenseInfo("unknown", "none", False, "licence unknown (the License-File is not a text we recognise)")
    spdx, allowed = recognised
    reason = "" if allowed else f"licence {spdx!r} is not on the allow-list (License-File)"
    return LicenseInfo(spdx, "License-File", allowed, reason)
