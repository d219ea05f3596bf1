"""The plugin platform (llmkit.plugins): discovery from metadata, lazy imports, isolation of
broken plugins, conflicts, version checks, LLMKIT_PLUGINS, and the command line.

Plugins here are real distributions: a dist-info folder (METADATA, entry_points.txt) and a
module in a folder put on sys.path, found by importlib.metadata as pip-installed ones are.
"""

import json
import subprocess
import sys
import textwrap

import pytest

import llmkit
from llmkit import plugin_discovery, plugins, registry
from llmkit.cli import main

BACKEND = """
from llmkit.backends.base import Backend
from llmkit.types import Capabilities, Response

class Shout(Backend):
    capabilities = Capabilities(chat=True)
    options = frozenset({"max_tokens"})

    def chat(self, messages, options):
        return Response(text=messages[-1].text.upper(), finish_reason="stop")
"""

TOOLS = """
import llmkit

@llmkit.tool
def double(x: int) -> int:
    "Twice x."
    return 2 * x

class Scaled:
    def __init__(self, factor: str):
        self.factor = int(factor)

    def scale(self, x: int) -> int:
        "x times the factor."
        return x * self.factor

def slugify(text: str) -> str:
    return "-".join(text.lower().split())
"""

COMMAND = """
help = "say hello"

def add_arguments(parser):
    parser.add_argument("who")

def run(args):
    print(f"hello {args.who}")
    return 0
"""


@pytest.fixture
def site(tmp_path, monkeypatch):
    """install(dist, modules, entry_points, requires=..., summary=...) puts a plugin on sys.path."""
    monkeypatch.delenv("LLMKIT_PLUGINS", raising=False)
    root = tmp_path / "site"
    root.mkdir()
    monkeypatch.syspath_prepend(str(root))
    installed = []
    dists = []

    def install(dist, modules, entry_points, requires="llmkit>=0.1", summary=""):
        dists.append(dist)  # only these: the real plugins installed next to llmkit stay out
        monkeypatch.setenv("LLMKIT_PLUGINS", ",".join(dists))
        info = root / f"{dist.replace('-', '_')}-1.0.dist-info"
        info.mkdir()
        meta = f"Metadata-Version: 2.1\nName: {dist}\nVersion: 1.0\nSummary: {summary}\n"
        if requires:
            meta += f"Requires-Dist: {requires}\n"
        (info / "METADATA").write_text(meta)
        lines = []
        for group, entries in entry_points.items():
            lines.append(f"[{group}]")
            lines += [f"{name} = {value}" for name, value in entries.items()]
        (info / "entry_points.txt").write_text("\n".join(lines) + "\n")
        for module, source in modules.items():
            (root / f"{module}.py").write_text(textwrap.dedent(source))
            monkeypatch.delitem(sys.modules, module, raising=False)
            installed.append(module)
        plugins.rescan()

    yield install
    plugins.rescan()
    for module in installed:
        sys.modules.pop(module, None)


def test_provider_tool_task_and_command_are_found_without_importing(site):
    site("llmkit-demo", {"demo_backend": BACKEND, "demo_tools": TOOLS, "demo_cmd": COMMAND},
         {"llmkit.providers": {"shout": "demo_backend:Shout"}, "llmkit.tools": {"double": "demo_tools:double"},
          "llmkit.tasks": {"slugify": "demo_tools:slugify"}, "llmkit.commands": {"hello": "demo_cmd"}},
         summary="a demo plugin")  # fmt: skip
    assert "shout" in plugins.names("provider") and "shout" in registry.providers()
    assert set(plugins.names("tool")) - {"calculate", "now", "files"} == {"double"}  # and llmkit's own, once imported
    assert plugins.names("task") == ["slugify"]
    assert "hello" in plugins.names("command")
    assert not {"demo_backend", "demo_tools", "demo_cmd"} & set(sys.modules)  # metadata only
    assert llmkit.Client("shout:x").chat("hi there").text == "HI THERE"
    assert "demo_backend" in sys.modules and "demo_tools" not in sys.modules
    assert plugins.get_task("slugify")("Hello Big World") == "hello-big-world"
    double = plugins.get_tool("double")
    assert isinstance(double, llmkit.Tool) and double.call({"x": 21}) == 42


def test_plugin_command_is_listed_without_import_and_runs(site, capsys):
    site("llmkit-demo", {"demo_cmd": COMMAND}, {"llmkit.commands": {"hello": "demo_cmd"}}, summary="greets people")
    with pytest.raises(SystemExit):
        main(["--help"])
    listed = capsys.readouterr().out
    assert "hello" in listed and "greets people [llmkit-demo]" in listed
    assert "demo_cmd" not in sys.modules  # listed from metadata
    assert main(["hello", "world"]) == 0
    assert capsys.readouterr().out == "hello world\n"


def test_tool_factory_takes_its_argument(site):
    site("llmkit-demo", {"demo_tools": TOOLS}, {"llmkit.tools": {"scaled": "demo_tools:Scaled"}})
    scaled = plugins.get_tool("scaled", "3")
    assert scaled.scale(5) == 15
    with pytest.raises(llmkit.PluginError, match="scaled=VALUE"):
        plugins.get_tool("scaled")  # a factory that needs its argument says how to give it


def test_tool_that_takes_no_argument_refuses_one(site):
    site("llmkit-demo", {"demo_tools": TOOLS}, {"llmkit.tools": {"double": "demo_tools:double"}})
    with pytest.raises(llmkit.PluginError, match="takes no argument"):
        plugins.get_tool("double", "x")


def test_missing_optional_dependency_names_plugin_and_package(site):
    site("llmkit-needy", {"needy": "import no_such_sdk_xyz\n" + BACKEND}, {"llmkit.providers": {"needy": "needy:Shout"}})
    assert "needy" in plugins.names("provider")  # listed: metadata does not import
    with pytest.raises(llmkit.PluginError) as err:
        llmkit.Client("needy:m")
    text = err.value.one_line()
    assert "llmkit-needy" in text and "no_such_sdk_xyz" in text and "\n" not in text
    assert llmkit.Client("mock:echo").chat("still fine").text == "still fine"
    assert any("llmkit-needy" in p and "no_such_sdk_xyz" in p for p in plugins.problems())


def test_entry_point_naming_a_missing_object(site):
    site("llmkit-typo", {"typo": BACKEND}, {"llmkit.providers": {"typo": "typo:Shuot"}})
    with pytest.raises(llmkit.PluginError, match="llmkit-typo.*has no attribute 'Shuot'"):
        llmkit.Client("typo:m")


def test_provider_that_is_not_a_backend(site):
    site("llmkit-odd", {"odd": "Thing = 42\n"}, {"llmkit.providers": {"odd": "odd:Thing"}})
    with pytest.raises(llmkit.PluginError, match="not a Backend subclass"):
        llmkit.Client("odd:m")


def test_builtin_provider_wins_a_conflict_and_both_owners_are_named(site):
    site("llmkit-evil", {"evil": BACKEND}, {"llmkit.providers": {"openai": "evil:Shout", "mock": "evil:Shout"}})
    assert llmkit.Client("mock:echo").chat("hi").text == "hi"  # the built-in mock
    assert "evil" not in sys.modules
    found = plugins.problems()
    assert any("llmkit-evil" in p and "'mock'" in p and "llmkit (built-in)" in p for p in found)
    assert len([p for p in found if "'mock'" in p]) == 1  # reported once
    llmkit.Client("mock:echo")
    assert len([p for p in plugins.problems() if "'mock'" in p]) == 1


def test_two_plugins_with_one_tool_name_first_wins(site):
    site("llmkit-aaa", {"aaa": TOOLS}, {"llmkit.tools": {"double": "aaa:double"}})
    site("llmkit-bbb", {"bbb": TOOLS}, {"llmkit.tools": {"double": "bbb:double"}})
    assert plugins.get("tool", "double").owner == "llmkit-aaa"
    assert any(p.startswith("llmkit-bbb:") and "plugin llmkit-aaa keeps it" in p for p in plugins.problems())


def test_plugin_command_cannot_shadow_a_builtin_command(site, capsys):
    site("llmkit-evil", {"evilcmd": COMMAND}, {"llmkit.commands": {"ask": "evilcmd"}})
    from llmkit.cli import build_parser

    build_parser(["ask", "hi"])
    assert "evilcmd" not in sys.modules  # the built-in `ask` is the one that runs
    assert any("llmkit-evil" in p and "'ask'" in p for p in plugins.problems())


def test_register_hook_that_raises_is_reported(site):
    hook = BACKEND + "\nimport llmkit\ndef register():\n    llmkit.register_provider('good', Shout)\n    raise ValueError('half done')\n"
    site("llmkit-hooky", {"hooky": hook}, {"llmkit": {"hooky": "hooky:register"}})
    with pytest.raises(llmkit.UnknownModelError):
        llmkit.Client("nothing_like_it:x")
    assert any("llmkit-hooky" in p and "ValueError: half done" in p for p in plugins.problems())
    assert llmkit.Client("good:x").chat("kept").text == "KEPT"  # what it registered before failing stays
    assert plugins.get("provider", "good").owner == "llmkit-hooky"


def test_incompatible_llmkit_requirement_is_skipped(site):
    site("llmkit-old", {"old": BACKEND}, {"llmkit.providers": {"old": "old:Shout"}}, requires="llmkit<0.1")
    (plugin,) = [p for p in plugins.plugins() if p.name == "llmkit-old"]
    assert plugin.skipped.startswith("incompatible: it needs llmkit<0.1, and this is llmkit 0.1.0")
    assert "old" not in plugins.names("provider")
    with pytest.raises(llmkit.UnknownModelError, match="plugin problem"):
        llmkit.Client("old:x")


def test_requirement_only_in_an_extra_does_not_count(site):
    site("llmkit-extra", {"ext": BACKEND}, {"llmkit.providers": {"ext": "ext:Shout"}},
         requires='llmkit<0.1; extra == "dev"')  # fmt: skip
    (plugin,) = [p for p in plugins.plugins() if p.name == "llmkit-extra"]
    assert not plugin.skipped and plugin.requires == ""


def test_llmkit_plugins_restricts_which_load(site, monkeypatch):
    site("llmkit-aaa", {"aaa": BACKEND}, {"llmkit.providers": {"aaa": "aaa:Shout"}})
    site("llmkit-bbb", {"bbb": BACKEND}, {"llmkit.providers": {"bbb": "bbb:Shout"}})
    monkeypatch.setenv("LLMKIT_PLUGINS", "bbb")  # the llmkit- prefix may be left out
    assert "bbb" in plugins.names("provider") and "aaa" not in plugins.names("provider")
    assert {p.name: p.skipped for p in plugins.plugins()}["llmkit-aaa"] == "not in LLMKIT_PLUGINS"
    monkeypatch.setenv("LLMKIT_PLUGINS", "")
    assert plugins.plugins() == [] and "bbb" not in plugins.names("provider")
    monkeypatch.delenv("LLMKIT_PLUGINS")  # unset: all of them
    assert {"aaa", "bbb"} <= set(plugins.names("provider"))


def test_discovery_is_cached_on_disk_and_refreshed_by_an_install(site, isolated_home, monkeypatch):
    site("llmkit-aaa", {"aaa": BACKEND}, {"llmkit.providers": {"aaa": "aaa:Shout"}})
    assert "aaa" in plugins.names("provider")
    cached = json.loads((isolated_home / "cache" / "plugins.json").read_text())
    assert "llmkit-aaa" in [p["name"] for p in cached["plugins"]]
    scans = []
    real = plugin_discovery.scan
    monkeypatch.setattr(plugin_discovery, "scan", lambda: scans.append(1) or real())
    plugins.rescan()
    assert "aaa" in plugins.names("provider") and scans == []  # read from the cache
    site("llmkit-bbb", {"bbb": BACKEND}, {"llmkit.providers": {"bbb": "bbb:Shout"}})  # the folder changes
    assert "bbb" in plugins.names("provider") and scans == [1]


def test_corrupt_cache_file_is_rebuilt(site, isolated_home):
    (isolated_home / "cache").mkdir(parents=True)
    (isolated_home / "cache" / "plugins.json").write_text("{not json")
    site("llmkit-aaa", {"aaa": BACKEND}, {"llmkit.providers": {"aaa": "aaa:Shout"}})
    assert "aaa" in plugins.names("provider")


def test_llmkit_plugins_command_shows_state_and_problems(site, capsys):
    site("llmkit-demo", {"demo_backend": BACKEND, "demo_tools": TOOLS}, summary="a demo",
         entry_points={"llmkit.providers": {"shout": "demo_backend:Shout"}, "llmkit.tools": {"double": "demo_tools:double"}})  # fmt: skip
    site("llmkit-needy", {"needy": "import no_such_sdk_xyz\n"}, {"llmkit.providers": {"needy": "needy:Thing"}})
    assert main(["plugins"]) == 1  # a problem: non-zero, for scripts
    out = capsys.readouterr().out
    assert "llmkit-demo 1.0, needs llmkit>=0.1: a demo" in out
    assert "provider shout" in " ".join(out.split()) and "ok" in out
    assert "FAILED" in out and "no_such_sdk_xyz" in out
    assert main(["plugins", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    by_name = {p["name"]: p for p in data["plugins"]}
    assert by_name["llmkit-demo"]["registers"][0] == {"kind": "provider", "name": "shout", "target": "demo_backend:Shout"}
    assert by_name["llmkit-needy"]["problems"] and by_name["llmkit-demo"]["problems"] == []


def test_broken_plugin_command_is_one_line_naming_the_plugin(site, capsys):
    site("llmkit-bad", {"badcmd": "import no_such_sdk_xyz\n"}, {"llmkit.commands": {"bad": "badcmd"}})
    assert main(["models"]) == 0  # other commands are untouched
    capsys.readouterr()
    assert main(["bad"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: command 'bad' of plugin llmkit-bad could not be loaded") and err.count("\n") == 1


def test_plugin_command_raising_names_the_plugin(site, capsys):
    site("llmkit-crash", {"crash": "def add_arguments(p):\n    pass\ndef run(args):\n    raise KeyError('x')\n"},
         {"llmkit.commands": {"crash": "crash"}})  # fmt: skip
    assert main(["crash"]) == 1
    assert "the command of plugin llmkit-crash failed: KeyError" in capsys.readouterr().err


def test_chat_tool_flag_resolves_builtin_and_plugin_tools(site, tmp_path):
    site("llmkit-demo", {"demo_tools": TOOLS}, {"llmkit.tools": {"scaled": "demo_tools:Scaled"}})
    from llmkit.agents.toolbox import tools_of

    assert [t.name for t in tools_of(plugins.get_tool("files", str(tmp_path)))] == ["list_files", "read_file", "search_files"]
    assert [t.name for t in tools_of(plugins.get_tool("calculate"))] == ["calculate"]
    assert [t.name for t in tools_of(plugins.get_tool("scaled", "2"))] == ["scale"]
    with pytest.raises(llmkit.PluginError, match="(?s)no tool named 'nope'.*Known tools: calculate, files, now, scaled"):
        plugins.get_tool("nope")


def test_in_process_registration_cannot_replace_a_builtin():
    with pytest.raises(llmkit.PluginError, match="built into llmkit"):
        llmkit.register_provider("openai", object)
    with pytest.raises(llmkit.PluginError, match="valid identifier"):
        llmkit.register_provider("my-server", object)


def test_help_with_a_plugin_installed_imports_no_plugin(site, tmp_path):
    site("llmkit-demo", {"demo_backend": "raise SystemExit('imported!')\n", "demo_cmd": "raise SystemExit('imported!')\n"},
         {"llmkit.providers": {"shout": "demo_backend:Shout"}, "llmkit.commands": {"hello": "demo_cmd"}})  # fmt: skip
    root = str(tmp_path / "site")
    code = f"import sys; sys.path.insert(0, {root!r}); from llmkit.cli import main; main(['--help'])"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "hello" in done.stdout and "imported!" not in done.stdout + done.stderr


def test_help_after_the_first_run_reads_no_package_metadata(site, tmp_path):
    """The scan (importlib.metadata, packaging for the version check) runs once; later
    starts read its cached answer, so installed plugins cost `llmkit --help` nothing."""
    site("llmkit-demo", {"demo_cmd": COMMAND}, {"llmkit.commands": {"hello": "demo_cmd"}}, summary="greets")
    root = str(tmp_path / "site")
    code = (f"import sys; sys.path.insert(0, {root!r}); from llmkit.cli import main\n"
            "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
            "print(sorted(m for m in sys.modules if m.startswith(('packaging', 'importlib.metadata'))))")  # fmt: skip
    first = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    second = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert "hello" in first.stdout and "hello" in second.stdout
    assert "importlib.metadata" in first.stdout  # the scan
    assert second.stdout.rstrip().endswith("[]"), second.stdout[-300:]  # the cache


# --- review fixes --------------------------------------------------------------------------------


def test_a_distribution_with_a_malformed_entry_points_file_breaks_nothing(site, tmp_path, capsys):
    """One bad entry_points.txt (a hand-edited or half-written install) made importlib.metadata
    raise inside the scan, and with it `llmkit --help`, `llmkit models` and every lookup."""
    site("llmkit-aaa", {"aaa": BACKEND}, {"llmkit.providers": {"aaa": "aaa:Shout"}})
    site("llmkit-mangled", {}, {"llmkit.providers": {"mangled": "mangled:Shout"}})
    info = tmp_path / "site" / "llmkit_mangled-1.0.dist-info"
    (info / "entry_points.txt").write_text("[llmkit.providers]\nthis line has no equals sign\n")
    other = tmp_path / "site" / "unrelated-2.0.dist-info"  # not a plugin: skipped without a word
    other.mkdir()
    (other / "METADATA").write_text("Metadata-Version: 2.1\nName: unrelated\nVersion: 2.0\n")
    (other / "entry_points.txt").write_text("[console_scripts]\nbroken\n")
    plugins.rescan()
    with pytest.raises(SystemExit):
        main(["--help"])
    assert "COMMAND" in capsys.readouterr().out
    assert llmkit.Client("aaa:x").chat("still here").text == "STILL HERE"
    (mangled,) = [p for p in plugins.plugins() if p.name == "llmkit-mangled"]
    assert mangled.skipped.startswith("its entry_points.txt cannot be read")
    assert [p for p in plugins.problems() if p.startswith("llmkit-mangled:")] == [f"llmkit-mangled: {mangled.skipped}"]
    assert "unrelated" not in [p.name for p in plugins.plugins()]


def test_a_requirement_on_llmkit_by_url_is_not_an_incompatible_version(site):
    site("llmkit-dev", {"dev": BACKEND}, {"llmkit.providers": {"dev": "dev:Shout"}},
         requires="llmkit @ git+https://example.com/llmkit.git")  # fmt: skip
    (plugin,) = [p for p in plugins.plugins() if p.name == "llmkit-dev"]
    assert plugin.skipped == "" and plugin.requires == ""
    assert llmkit.Client("dev:x").chat("ok").text == "OK"


def test_an_entry_point_with_extras_loads_its_object(site):
    site("llmkit-ext", {"extmod": BACKEND}, {"llmkit.providers": {"withextra": "extmod:Shout [fast]"}})
    assert llmkit.Client("withextra:x").chat("hey").text == "HEY"


def test_problems_are_shown_again_after_llmkit_plugins_changes(site, monkeypatch):
    """A new discovery (LLMKIT_PLUGINS changed) has new Plugin objects: a problem logged once
    must still be on them, or `llmkit plugins` shows FAILED with no reason."""
    site("llmkit-needy", {"needy": "import no_such_sdk_xyz\n"}, {"llmkit.providers": {"needy": "needy:Thing"}})
    site("llmkit-old", {"old": BACKEND}, {"llmkit.providers": {"old": "old:Shout"}}, requires="llmkit<0.1")
    with pytest.raises(llmkit.PluginError):
        llmkit.Client("needy:m")
    assert len(plugins.problems()) == 2
    monkeypatch.setenv("LLMKIT_PLUGINS", "llmkit-needy,llmkit-old,llmkit-other")  # a change: discovery runs again
    with pytest.raises(llmkit.PluginError):
        llmkit.Client("needy:m")
    found = plugins.problems()
    assert any(p.startswith("llmkit-needy:") and "no_such_sdk_xyz" in p for p in found)
    assert any(p.startswith("llmkit-old:") and "incompatible" in p for p in found)


def test_what_a_register_hook_registers_is_checked_by_llmkit_plugins(site, capsys):
    hook = "import llmkit\ndef register():\n    llmkit.register_provider('late', 'hooked_backend:Nope')\n"
    site("llmkit-hooked", {"hooked": hook, "hooked_backend": BACKEND}, {"llmkit": {"hooked": "hooked:register"}})
    assert main(["plugins"]) == 1
    out = capsys.readouterr().out
    assert "late" in out and "FAILED" in out and "has no attribute 'Nope'" in out


def test_register_hooks_run_once_when_threads_look_up_together(site):
    import threading

    hook = ("import time, llmkit\nCALLS = []\ntime.sleep(0.3)  # a slow import: the others wait for it, then run the hook\n"
            "def register():\n    CALLS.append(1)\n    llmkit.register_provider('racy', 'racy_backend:Shout')\n")  # fmt: skip
    site("llmkit-racy", {"racy": hook, "racy_backend": BACKEND}, {"llmkit": {"racy": "racy:register"}})
    threads = [threading.Thread(target=plugins.get, args=("provider", "nothing_here")) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sys.modules["racy"].CALLS == [1]
    assert plugins.get("provider", "racy").owner == "llmkit-racy"
    assert not plugins.problems()  # no conflict of the plugin with itself


def test_a_cache_file_from_an_older_format_is_scanned_again(site, isolated_home):
    site("llmkit-old", {"old": BACKEND}, {"llmkit.providers": {"old": "old:Shout"}}, requires="llmkit<0.1")
    plugins.names("provider")
    path = isolated_home / "cache" / "plugins.json"
    data = json.loads(path.read_text())
    for entry in data["plugins"]:
        del entry["incompatible"]  # what the previous llmkit 0.1.0 wrote: no version verdict
    data["key"][0] = 1
    path.write_text(json.dumps(data))
    plugins.rescan()
    assert "old" not in plugins.names("provider")  # still skipped as incompatible
    data["key"] = json.loads(path.read_text())["key"]
    data["plugins"] = [{"name": "llmkit-old"}]  # the right key, a damaged entry
    path.write_text(json.dumps(data))
    plugins.rescan()
    assert {p.name: p.skipped for p in plugins.plugins()}["llmkit-old"].startswith("incompatible")  # rescanned


def test_llmkit_plugins_names_what_llmkit_plugins_asks_for_that_is_not_installed(site, monkeypatch, capsys):
    site("llmkit-aaa", {"aaa": BACKEND}, {"llmkit.providers": {"aaa": "aaa:Shout"}})
    monkeypatch.setenv("LLMKIT_PLUGINS", "aaa,anthropc")  # a typo: that plugin silently stayed out
    assert main(["plugins"]) == 1
    out = capsys.readouterr().out
    assert "LLMKIT_PLUGINS names 'anthropc', which no installed plugin is" in out
    assert main(["plugins", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["LLMKIT_PLUGINS_unmatched"] == ["anthropc"]
    monkeypatch.setenv("LLMKIT_PLUGINS", "llmkit_aaa")
    assert main(["plugins"]) == 0 and "LLMKIT_PLUGINS names" not in capsys.readouterr().out


def test_first_party_plugins_build_with_the_setuptools_they_ask_for():
    """`license = "MIT"` (a string, PEP 639) is an error before setuptools 77: a build with
    an older one (pip --no-build-isolation, a pinned build env) fails on it."""
    import re
    from pathlib import Path

    try:
        import tomllib
    except ImportError:  # Python 3.10
        import tomli as tomllib

    root = Path(__file__).resolve().parent.parent
    files = [*sorted((root / "plugins").glob("*/pyproject.toml")), root / "examples" / "plugin_hello" / "pyproject.toml"]
    assert len(files) == 4
    for path in files:
        data = tomllib.loads(path.read_text())
        if isinstance(data["project"].get("license"), str):
            (setuptools,) = [r for r in data["build-system"]["requires"] if r.startswith("setuptools")]
            low = re.search(r">=\s*(\d+)", setuptools)
            assert low and int(low.group(1)) >= 77, f"{path.parent.name}: {setuptools}"


def test_builtin_tools_win_before_llmkit_agents_is_imported(site, tmp_path):
    """llmkit's tools joined the table only when llmkit.agents.builtin was imported: in a
    fresh process a plugin's `calculate` won, so which one ran depended on import order."""
    site("llmkit-calc", {"calc": "import llmkit\n@llmkit.tool\ndef calculate(expression: str) -> str:\n"
                                 "    'Impostor.'\n    return 'from the plugin'\n"},
         {"llmkit.tools": {"calculate": "calc:calculate"}})  # fmt: skip
    root = str(tmp_path / "site")
    code = (f"import sys; sys.path.insert(0, {root!r})\nfrom llmkit import plugins\n"
            "assert 'llmkit.agents.builtin' not in sys.modules\n"
            "print(plugins.get('tool', 'calculate').owner, plugins.get_tool('calculate').call({'expression': '6*7'}))\n"
            "print('calc' in sys.modules, plugins.problems())")  # fmt: skip
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    first, second = done.stdout.splitlines()
    assert first == "llmkit 42"
    assert second.startswith("False [") and "llmkit-calc: tool 'calculate' is already registered by llmkit (built-in)" in second


def test_a_tool_set_instance_refuses_an_argument_instead_of_asking_for_one(site):
    """`--tool date_calc=x` (an instance, a tool set) was "could not be made: object is not
    callable -> It takes an argument: --tool date_calc=VALUE", which is the opposite."""
    tools = "class Set:\n    def one(self) -> int:\n        'One.'\n        return 1\n\ntool_set = Set()\n"
    site("llmkit-set", {"toolset": tools}, {"llmkit.tools": {"toolset": "toolset:tool_set"}})
    assert plugins.get_tool("toolset") is sys.modules["toolset"].tool_set
    with pytest.raises(llmkit.PluginError, match="tool 'toolset' takes no argument") as err:
        plugins.get_tool("toolset", "x")
    assert "It takes an argument" not in err.value.one_line()


def test_llmkit_plugins_shows_each_problem_once(site, capsys, caplog):
    """The reason a plugin is skipped was printed twice (as `skipped:` and as `problem:`),
    and each import failure found by the command was also logged beside its own report."""
    site("llmkit-old", {"old": BACKEND}, {"llmkit.providers": {"old": "old:Shout"}}, requires="llmkit<0.1")
    site("llmkit-needy", {"needy": "import no_such_sdk_xyz\n"}, {"llmkit.providers": {"needy": "needy:Thing"}})
    plugins.plugins()  # discovered before the command runs, as `llmkit` does
    caplog.clear()
    assert main(["plugins"]) == 1
    out = capsys.readouterr().out
    assert out.count("it needs llmkit<0.1") == 1 and out.count("no_such_sdk_xyz") == 1
    assert not [r for r in caplog.records if "no_such_sdk_xyz" in r.getMessage()]
    assert any("no_such_sdk_xyz" in p for p in plugins.problems())  # still recorded


def test_a_broken_plugin_provider_does_not_break_llmkit_models(site, capsys):
    site("llmkit-needy", {"needy": "import no_such_sdk_xyz\n"}, {"llmkit.providers": {"needy": "needy:Thing"}})
    assert main(["models"]) == 0
    out = capsys.readouterr().out
    row = next(line for line in out.splitlines() if line.strip().startswith("needy"))
    assert "llmkit-needy" in row and "no_such_sdk_xyz" in row
    assert "mock" in out and "openai" in out  # the rest is listed
