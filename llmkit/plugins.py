"""Plugins: what installed packages add to llmkit, declared in metadata, imported when used.

A plugin is a distribution whose entry points name what it adds, one group per kind
(the entry point's name is the registered name):

    llmkit.providers   anthropic = "llmkit_anthropic:AnthropicBackend"   a Backend subclass
    llmkit.tools       convert_units = "llmkit_tools:convert_units"       a Tool, a tool set, or a factory
    llmkit.tasks       keywords = "my_plugin:keywords"                    a task function
    llmkit.commands    commit = "llmkit_commit.command"                   a module with add_arguments/run
    llmkit             (the first form) a provider, or a register() hook that calls register_provider

Discovery (plugin_discovery) reads package metadata only, once per process, and the answer is cached on disk
(keyed by the mtimes of the sys.path folders, so an install or uninstall refreshes it): listing
commands for `llmkit --help` or providers for an error message imports no plugin. The object
behind a registration is imported the first time it is used. The built-in providers sit in
the same table (owner "llmkit"), so do llmkit's own tools (by import path, like the providers),
and llmkit's commands are added to it by the layer that defines them, so one lookup serves all
and a plugin cannot shadow a built-in.

Isolation: whatever a plugin gets wrong (an import that fails, an entry point naming a
missing object, a hook that raises, a name someone else owns, a `llmkit` requirement this
version does not meet, metadata that cannot be read) becomes a problem recorded and logged once, naming the plugin and its
distribution, and the rest keeps working. Using the broken registration raises a
`PluginError` that says it in one line. `LLMKIT_PLUGINS` (a comma list of distribution names,
empty for none) restricts which plugins load.
"""

from __future__ import annotations

import logging
import os
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .cache import on_clear
from .errors import PluginError
from .plugin_discovery import GROUPS, cached_scan, describe, normal

__all__ = [
    "KINDS",
    "GROUPS",
    "BUILTIN_PROVIDERS",
    "BUILTIN_TOOLS",
    "Registration",
    "Plugin",
    "registrations",
    "get",
    "load",
    "names",
    "plugins",
    "problems",
    "add_builtin",
    "register",
    "unregister",
    "get_tool",
    "get_task",
    "check_all",
    "rescan",
]

log = logging.getLogger("llmkit")

KINDS = ("provider", "tool", "task", "command")
BUILTIN = "llmkit"  # the owner of what ships with llmkit
IN_PROCESS = "in-process"  # the owner of register() calls made by a program

# provider -> (backend class import path, pip extra that provides its dependencies)
BUILTIN_PROVIDERS: dict[str, tuple[str, str | None]] = {
    "openai": ("llmkit.backends.openai:OpenAIBackend", "openai"),
    "hf": ("llmkit.backends.hf:HFBackend", "hf"),
    "mini": ("llmkit.backends.mini:MiniBackend", "mini"),
    "mock": ("llmkit.backends.mock:MockBackend", None),
}

# llmkit's own tools, by import path: they are llmkit's before llmkit.agents is imported too
# (which adds the same objects), so a plugin's tool of one of these names never wins
BUILTIN_TOOLS: dict[str, str] = {
    "calculate": "llmkit.agents.builtin:calculate",
    "now": "llmkit.agents.builtin:now",
    "files": "llmkit.agents.builtin:Files",
}

_UNSET: Any = object()


@dataclass
class Registration:
    """One name a plugin (or llmkit itself) adds. `target` is "module:attr" (or "module")
    until `load()` imports it; `summary` is the help line shown without importing."""

    kind: str
    name: str
    target: Any
    owner: str = BUILTIN  # distribution name, "llmkit" or "in-process"
    version: str = ""
    extra: str | None = None  # for built-ins: the pip extra their dependencies come in
    summary: str = ""
    hook: bool = False  # a register() function of the original "llmkit" group
    _object: Any = field(default=_UNSET, repr=False)
    error: PluginError | None = field(default=None, repr=False)  # why load() failed (it is not retried)

    @property
    def loaded(self) -> bool:
        return self._object is not _UNSET or self.error is not None

    def load(self) -> Any:
        """Import the object (once). A plugin's failure is a PluginError naming it."""
        if self._object is not _UNSET:
            return self._object
        if self.error is not None:
            raise self.error
        if not isinstance(self.target, str):
            self._object = self.target
            return self._object
        try:
            self._object = _import(self.target)
        except Exception as exc:
            if self.owner == BUILTIN:
                raise
            text = describe(exc)
            _manager.note(self.owner, f"{self.kind} {self.name!r} ({self.target}) failed to load: {text}")
            self.error = PluginError(
                f"{self.kind} {self.name!r} of plugin {self.owner} could not be loaded: {text}",
                hint=_fix_hint(exc, self.owner),
            )
            raise self.error from exc
        return self._object


@dataclass
class Plugin:
    """An installed distribution that declares llmkit entry points."""

    name: str
    version: str
    summary: str = ""
    requires: str = ""  # its requirement on llmkit, e.g. ">=0.1,<0.2" ("" when it declares none)
    registrations: list[Registration] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    skipped: str = ""  # why it does not load at all (LLMKIT_PLUGINS, an incompatible llmkit)

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "version": self.version,
            "summary": self.summary,
            "requires_llmkit": self.requires or None,
            "loaded": not self.skipped,
            "skipped": self.skipped or None,
            "registers": [{"kind": r.kind, "name": r.name, "target": r.target if isinstance(r.target, str) else repr(r.target)}
                          for r in self.registrations],  # fmt: skip
            "problems": list(self.problems),
        }


def _import(target: str) -> Any:
    import importlib

    module_name, _, attr = re.sub(r"\s*\[[^\]]*\]\s*$", "", target).partition(":")  # "mod:obj [extra]"
    obj: Any = importlib.import_module(module_name.strip())
    for part in filter(None, attr.strip().split(".")):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise AttributeError(f"{module_name.strip()} has no attribute {part!r}") from None
    return obj


def _fix_hint(exc: BaseException, owner: str) -> str:
    if isinstance(exc, ModuleNotFoundError) and exc.name:
        return (f"It needs the package {exc.name!r}, which is not installed: install it, or reinstall the "
                f"plugin with its dependencies (pip install -U {owner}). `llmkit plugins` shows every plugin's state.")  # fmt: skip
    return f"This is a bug in the plugin {owner}: report it there, or uninstall it. `llmkit plugins` shows every plugin's state."


def _wanted() -> set[str] | None:
    """LLMKIT_PLUGINS: None (unset: all), or the normalised names allowed (empty: none)."""
    raw = os.environ.get("LLMKIT_PLUGINS")
    if raw is None:
        return None
    out = set()
    for item in raw.split(","):
        if item.strip():
            out.add(normal(item.strip()))
            out.add(normal("llmkit-" + item.strip()))  # "anthropic" names llmkit-anthropic
    return out


class _Manager:
    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._plugins: dict[str, Plugin] | None = None
        self._env: str | None = None  # LLMKIT_PLUGINS when discovery ran: a change runs it again
        self._in_process: dict[tuple[str, str], Registration] = {}
        self._builtin: dict[tuple[str, str], Registration] = {}
        self._reported: set[tuple[str, str]] = set()

    # -- discovery ---------------------------------------------------------------------
    def plugins(self) -> dict[str, Plugin]:
        with self._lock:
            env = os.environ.get("LLMKIT_PLUGINS")
            if self._plugins is None or env != self._env:
                self._env = env
                self._plugins = self._discover()
            return self._plugins

    def _discover(self) -> dict[str, Plugin]:
        wanted = _wanted()
        if wanted is not None and not wanted:
            return {}  # LLMKIT_PLUGINS="" : not even a metadata scan
        out: dict[str, Plugin] = {}
        for d in cached_scan():
            plugin = Plugin(d["name"], d["version"], d["summary"], d["requires"])
            out[normal(plugin.name)] = plugin
            if wanted is not None and normal(plugin.name) not in wanted:
                plugin.skipped = "not in LLMKIT_PLUGINS"
                continue
            if d.get("broken"):
                plugin.skipped = d["broken"]
                self.note(plugin.name, plugin.skipped, plugin=plugin)
                continue
            why = d.get("incompatible", "")
            if why:
                plugin.skipped = f"incompatible: {why}; upgrade it (pip install -U {plugin.name}) or pin llmkit"
                self.note(plugin.name, plugin.skipped, plugin=plugin)
                continue
            for group, name, value in d["entry_points"]:
                kind = GROUPS[group]
                if kind == "provider" and not name.isidentifier():
                    self.note(plugin.name, f"provider name {name!r} is not an identifier: ignored", plugin=plugin)
                    continue
                plugin.registrations.append(Registration(
                    kind, name, value, owner=plugin.name, version=plugin.version,
                    summary=plugin.summary, hook=group == "llmkit"))  # fmt: skip
        return out

    def note(self, owner: str, problem: str, plugin: Plugin | None = None) -> None:
        """Record a plugin's problem (on the plugin as discovered now), and log it, once."""
        with self._lock:
            if plugin is None and self._plugins is not None:
                plugin = self._plugins.get(normal(owner))
            if plugin is not None and problem not in plugin.problems:
                plugin.problems.append(problem)  # again after a new discovery (LLMKIT_PLUGINS changed)
            if (owner, problem) in self._reported:
                return
            self._reported.add((owner, problem))
        log.warning("plugin %s: %s", owner, problem)

    # -- lookup ------------------------------------------------------------------------
    def candidates(self, kind: str, name: str) -> list[Registration]:
        """Who registers (kind, name), best first: built-in, in-process, then plugins."""
        out = self._collect(kind, name)
        if self._hooks_pending() and (not out or any(r.hook and r.name == name for r in self._all())):
            self._run_hooks()  # a register() hook may add it: run them (once) before saying no
            out = self._collect(kind, name)
        if len(out) > 1:
            winner = out[0]
            for loser in out[1:]:
                if loser.owner not in (BUILTIN, IN_PROCESS):
                    self.note(loser.owner, f"{kind} {name!r} is already registered by {_owned(winner)}: "
                                           f"{_owned(winner)} keeps it, this one is ignored")  # fmt: skip
        return out

    def _all(self) -> list[Registration]:
        return [r for p in self.plugins().values() for r in p.registrations]

    def _collect(self, kind: str, name: str) -> list[Registration]:
        out = []
        if kind == "provider" and name in BUILTIN_PROVIDERS:
            target, extra = BUILTIN_PROVIDERS[name]
            out.append(Registration("provider", name, target, extra=extra))
        if kind == "tool" and name in BUILTIN_TOOLS and ("tool", name) not in self._builtin:
            out.append(Registration("tool", name, BUILTIN_TOOLS[name]))
        for table in (self._builtin, self._in_process):
            if (kind, name) in table:
                out.append(table[(kind, name)])
        # a hook that failed to load stays, so that using its name says why
        out += [r for r in self._all() if r.kind == kind and r.name == name and (not r.hook or r.error is not None)]
        return out

    def get(self, kind: str, name: str) -> Registration | None:
        found = self.candidates(kind, name)
        return found[0] if found else None

    def names(self, kind: str) -> list[str]:
        seen: dict[str, None] = {}
        if kind == "provider":
            seen.update(dict.fromkeys(n for n in BUILTIN_PROVIDERS if n != "mock"))
        if kind == "tool":
            seen.update(dict.fromkeys(BUILTIN_TOOLS))
        seen.update(dict.fromkeys(n for k, n in self._builtin if k == kind))
        seen.update(dict.fromkeys(n for k, n in self._in_process if k == kind))
        seen.update(dict.fromkeys(r.name for r in self._all() if r.kind == kind))  # a hook is named after its provider
        return list(seen)

    # -- the original group's register() hooks: run on the first lookup that needs them --
    def _hooks_pending(self) -> bool:
        return any(r.hook and not r.loaded for r in self._all())

    def _run_hooks(self) -> None:
        with self._lock:  # each hook runs once, even when threads look a name up together
            self._run_hooks_locked()

    def _run_hooks_locked(self) -> None:
        for plugin in self.plugins().values():
            for r in list(plugin.registrations):
                if not r.hook or r.loaded:
                    continue
                try:
                    obj = r.load()
                except PluginError:
                    continue
                if isinstance(obj, type):
                    r.hook = False  # a Backend class under the old group: a plain provider
                    continue
                try:
                    with _registering(plugin.name):
                        if hasattr(obj, "register"):
                            obj.register()
                        elif callable(obj):
                            obj()
                        else:
                            raise TypeError(f"{r.target} is neither a Backend class nor a register function")
                except Exception as exc:  # a plugin's bug must not break llmkit
                    self.note(plugin.name, f"its register hook {r.target} raised {describe(exc)}")

    def register(self, kind: str, name: str, target: Any, owner: str | None = None) -> None:
        if kind not in KINDS:
            raise PluginError(f"unknown registration kind {kind!r}", hint=f"Use one of: {', '.join(KINDS)}.")
        if kind == "provider" and not name.isidentifier():
            raise PluginError(f"provider name {name!r} is not a valid identifier",
                              hint="Use letters, digits and underscores, e.g. 'my_server'.")  # fmt: skip
        owner = owner or _registering_owner() or IN_PROCESS
        if owner != IN_PROCESS:  # a plugin's register() hook: it joins that plugin's registrations
            plugin = self.plugins().get(normal(owner))
            reg = Registration(kind, name, target, owner=owner, version=plugin.version if plugin else "")
            if plugin is not None:
                plugin.registrations.append(reg)
                return
        self._in_process[(kind, name)] = Registration(kind, name, target, owner=IN_PROCESS)

    def unregister(self, kind: str, name: str) -> None:
        self._in_process.pop((kind, name), None)
        for plugin in (self._plugins or {}).values():
            plugin.registrations = [r for r in plugin.registrations
                                    if not (r.owner == plugin.name and r.kind == kind and r.name == name and not r.hook
                                            and not isinstance(r.target, str))]  # fmt: skip

    def add_builtin(self, kind: str, entries: dict[str, Any]) -> None:
        for name, target in entries.items():
            if (kind, name) not in self._builtin:
                self._builtin[(kind, name)] = Registration(kind, name, target)

    def clear(self) -> None:
        with self._lock:
            self._plugins = None
            self._reported.clear()


def _owned(reg: Registration) -> str:
    if reg.owner == BUILTIN:
        return "llmkit (built-in)"
    if reg.owner == IN_PROCESS:
        return "this program (register_provider)"
    return f"plugin {reg.owner}"


_local = threading.local()


class _registering:
    """While a plugin's register() hook runs, what it registers is owned by that plugin."""

    def __init__(self, owner: str) -> None:
        self.owner = owner

    def __enter__(self) -> None:
        _local.owner = self.owner

    def __exit__(self, *exc: object) -> None:
        _local.owner = None


def _registering_owner() -> str | None:
    return getattr(_local, "owner", None)


_manager = _Manager()
on_clear(_manager.clear)


# --- the public functions -------------------------------------------------------------------


def plugins() -> list[Plugin]:
    """The installed plugins (also skipped ones), by name."""
    return list(_manager.plugins().values())


def problems() -> list[str]:
    """Every plugin problem seen so far, one line each ("llmkit-x: ...")."""
    return [f"{p.name}: {problem}" for p in plugins() for problem in p.problems]


def get(kind: str, name: str) -> Registration | None:
    """Who provides (kind, name): built-ins win, then in-process registrations, then plugins
    by name. A conflict is reported once (see `problems()`)."""
    return _manager.get(kind, name)


def load(kind: str, name: str) -> Any:
    """The object registered as (kind, name), imported on first use; PluginError if unknown."""
    reg = get(kind, name)
    if reg is None:
        known = ", ".join(sorted(names(kind))) or "none"
        raise PluginError(f"no {kind} named {name!r}", hint=f"Known {kind}s: {known}. `llmkit plugins` lists what plugins add.")
    return reg.load()


def names(kind: str) -> list[str]:
    """Every registered name of a kind (metadata only: nothing is imported)."""
    return _manager.names(kind)


def registrations(kind: str) -> list[Registration]:
    """The winning registration of each name of a kind."""
    out = []
    for name in names(kind):
        reg = get(kind, name)
        if reg is not None:
            out.append(reg)
    return out


def add_builtin(kind: str, entries: dict[str, Any]) -> None:
    """For llmkit's own layers: names that ship with llmkit (they win over any plugin)."""
    _manager.add_builtin(kind, entries)


def register(kind: str, name: str, target: Any) -> None:
    """Register in-process (scripts, tests), or from a plugin's register() hook."""
    _manager.register(kind, name, target)


def unregister(kind: str, name: str) -> None:
    """Remove an in-process registration."""
    _manager.unregister(kind, name)


def get_tool(name: str, arg: str | None = None) -> Any:
    """A plugin's tool by name, ready for `Agent(tools=[...])`: the registered Tool or tool
    set, or, for a factory (a class or function taking one string), what it makes of `arg`
    (`--tool NAME=ARG` at the terminal; e.g. the database file of a SQL tool)."""
    from .tools import Tool

    obj = load("tool", name)
    factory = isinstance(obj, type) or (callable(obj) and not isinstance(obj, Tool))
    if not factory or (arg is None and not isinstance(obj, type)):  # a Tool, a tool set, a plain function
        if arg is not None:
            raise PluginError(f"tool {name!r} takes no argument (got {arg!r})", hint=f"Use it as {name}, without '='.")
        return obj
    try:
        return obj(arg) if arg is not None else obj()
    except TypeError as exc:
        hint = (f"It takes an argument: --tool {name}=VALUE (Python: get_tool({name!r}, VALUE))." if arg is None
                else f"Check what {name} takes; `llmkit plugins` shows which plugin provides it.")  # fmt: skip
        raise PluginError(f"tool {name!r} could not be made: {exc}", hint=hint) from None


def get_task(name: str) -> Callable[..., Any]:
    """A plugin's task function by name."""
    obj = load("task", name)
    if not callable(obj):
        raise PluginError(f"task {name!r} is not a function", hint="A task entry point names a function.")
    return obj


def check_all() -> list[Plugin]:
    """Import everything every plugin registers (for `llmkit plugins`): problems are recorded."""
    _manager._run_hooks()  # first: what the hooks register is checked with the rest
    for plugin in plugins():
        if plugin.skipped:
            continue
        for reg in list(plugin.registrations):
            get(reg.kind, reg.name)  # records a conflict, if any
            try:
                reg.load()
            except PluginError:
                pass
    return plugins()


def rescan() -> None:
    """Forget the discovery (also done by `llmkit.clear_caches()`): the next lookup scans again."""
    _manager.clear()
