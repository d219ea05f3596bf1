"""Plugin discovery: which installed distributions add to llmkit, read from their metadata
alone (no plugin is imported), and cached on disk.

`scan()` walks importlib.metadata's distributions for entry points in llmkit's groups and
records, per distribution, its name, version, summary, its requirement on llmkit (and
whether this llmkit meets it), and why it is broken when its entry_points.txt or METADATA
cannot be read. `cached_scan()` keeps that list in `cache/plugins.json`, keyed by llmkit's
and Python's versions and the mtimes of the sys.path folders, so an install or uninstall
refreshes it and `llmkit --help` reads one small file. A cache file of another shape, or
one that is not JSON, is scanned again. llmkit.plugins builds its table from this list.
"""

from __future__ import annotations

import json
import os
import re
import sys
from typing import Any

__all__ = ["GROUPS", "scan", "cached_scan", "normal", "describe"]

# entry-point group -> kind; "llmkit" is the original group (providers, or a register() hook)
GROUPS = {
    "llmkit.providers": "provider",
    "llmkit.tools": "tool",
    "llmkit.tasks": "task",
    "llmkit.commands": "command",
    "llmkit": "provider",
}


def normal(name: str) -> str:
    """A distribution name as pip compares them (case, "-", "_" and "." alike)."""
    return re.sub(r"[-_.]+", "-", name).lower()


def describe(exc: BaseException) -> str:
    """An exception in one line of at most 300 characters."""
    return f"{type(exc).__name__}: {' '.join(str(exc).split())}"[:300]


def scan() -> list[dict[str, Any]]:
    """Every distribution with llmkit entry points, read from metadata (no plugin import)."""
    from importlib.metadata import distributions

    found: dict[str, dict[str, Any]] = {}
    for dist in distributions():
        try:
            eps = [ep for ep in dist.entry_points if ep.group in GROUPS]
            broken = ""
        except Exception as exc:  # a malformed entry_points.txt: that distribution only, never the scan
            text = _read_text(dist, "entry_points.txt")
            if not re.search(r"^\s*\[\s*llmkit(\.\w+)?\s*\]", text, re.M):
                continue  # not an llmkit plugin: its problem is not llmkit's to report
            eps, broken = [], f"its entry_points.txt cannot be read ({describe(exc)}): reinstall it"
        if not eps and not broken:
            continue
        name, version, summary, requires = "", "", "", ""
        try:
            meta = dist.metadata
            name = meta["Name"] or ""
            version, summary = meta["Version"] or "", meta["Summary"] or ""
            requires = _llmkit_requirement(dist.requires or [])
        except Exception as exc:  # a malformed METADATA (or Requires-Dist)
            broken = broken or f"its metadata cannot be read ({describe(exc)}): reinstall it"
        name = name or _dist_folder_name(dist)
        if normal(name) in found or normal(name) == "llmkit":
            continue  # the first on sys.path wins, as for imports; llmkit's own are built in
        found[normal(name)] = {
            "name": name,
            "version": version,
            "summary": summary,
            "requires": requires,
            "incompatible": _version_ok(requires),  # decided here, cached with the scan (keyed by llmkit's version)
            "broken": broken,
            "entry_points": [[ep.group, ep.name, ep.value] for ep in eps],
        }
    return sorted(found.values(), key=lambda d: normal(d["name"]))


def _read_text(dist: Any, filename: str) -> str:
    try:
        return dist.read_text(filename) or ""
    except Exception:
        return ""


def _dist_folder_name(dist: Any) -> str:
    """A distribution's name from its .dist-info/.egg-info folder, when its metadata has none."""
    path = str(getattr(dist, "_path", "") or "")
    stem = os.path.basename(path.rstrip("/\\"))
    return re.split(r"-\d|\.(?:dist|egg)-info$", stem)[0] or "?"


def _llmkit_requirement(requires: list[str]) -> str:
    """The version specifier of a distribution's (unconditional) requirement on llmkit."""
    try:
        from packaging.requirements import InvalidRequirement, Requirement
    except ImportError:  # packaging is nearly always there (pip, pytest); without it, no check
        return ""
    for line in requires:
        try:
            req = Requirement(line)
        except InvalidRequirement:
            continue
        if normal(req.name) == "llmkit" and (req.marker is None or req.marker.evaluate({"extra": ""})):
            if req.url:  # "llmkit @ git+https://...": a source, not a version range
                return ""
            as_written = re.sub(r"^\s*[A-Za-z0-9._-]+\s*(\[[^\]]*\])?", "", line.split(";")[0])
            return as_written.strip().strip("()").replace(" ", "") or str(req.specifier)
    return ""


_CACHE_FORMAT = 2  # bumped when a scan entry changes shape: an older llmkit's file is then scanned again
_ENTRY_FIELDS = {"name": str, "version": str, "summary": str, "requires": str, "incompatible": str, "broken": str,
                 "entry_points": list}  # fmt: skip


def _valid_entry(d: Any) -> bool:
    return (isinstance(d, dict) and all(isinstance(d.get(k), t) for k, t in _ENTRY_FIELDS.items())
            and all(isinstance(ep, list) and len(ep) == 3 and ep[0] in GROUPS and all(isinstance(x, str) for x in ep)
                    for ep in d["entry_points"]))  # fmt: skip


def _scan_key() -> list[Any]:
    from ._version import __version__

    key: list[Any] = [_CACHE_FORMAT, sys.version, sys.prefix, __version__]
    for entry in sys.path:
        try:
            key.append([entry, os.stat(entry or ".").st_mtime_ns])
        except OSError:
            key.append([entry, None])
    return key


def cached_scan() -> list[dict[str, Any]]:
    """The scan, from a small JSON file while sys.path's folders are unchanged."""
    from .config import cache_dir

    try:
        path = cache_dir() / "plugins.json"
    except Exception:
        return scan()
    key = _scan_key()
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
        if data.get("key") == key and all(_valid_entry(d) for d in data["plugins"]):
            return list(data["plugins"])
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        pass
    found = scan()
    try:
        from .atomic import write_text_atomic

        path.parent.mkdir(parents=True, exist_ok=True)
        write_text_atomic(path, json.dumps({"key": key, "plugins": found}))
    except Exception:  # a read-only home: scanning each time is only slower
        pass
    return found


def _version_ok(requires: str) -> str:
    """"" when this llmkit meets the plugin's requirement, else why not."""
    if not requires:
        return ""
    from ._version import __version__

    try:
        from packaging.specifiers import InvalidSpecifier, SpecifierSet
    except ImportError:  # packaging is nearly always there (pip, pytest); without it, trust the plugin
        return ""
    try:
        ok = SpecifierSet(requires).contains(__version__, prereleases=True)
    except InvalidSpecifier:
        return f"its llmkit requirement {requires!r} cannot be read"
    return "" if ok else f"it needs llmkit{requires}, and this is llmkit {__version__}"
