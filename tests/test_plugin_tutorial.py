"""docs/plugins.md is true: its files are examples/plugin_hello's files, and that plugin,
installed from its own pyproject.toml's entry points, works through discovery (provider,
tool, task, command) and shows in `llmkit plugins` as the page says."""

import re
import sys
from pathlib import Path

import pytest

import llmkit

try:
    import tomllib
except ImportError:  # Python 3.10
    import tomli as tomllib
from llmkit import plugins
from llmkit.cli import main
from llmkit.testing.openai_server import OpenAICompatibleServer, Reply

ROOT = Path(__file__).resolve().parent.parent
DOC = (ROOT / "docs" / "plugins.md").read_text()
TUTORIAL = ROOT / "examples" / "plugin_hello"


def test_every_included_file_is_the_real_file():
    blocks = re.findall(r"<!-- include: (\S+) -->\n```\w*\n(.*?)```\n", DOC, re.S)
    assert len(blocks) == 4
    for path, text in blocks:
        assert (ROOT / path).read_text() == text, f"docs/plugins.md shows an old {path}"


@pytest.fixture
def installed(tmp_path, monkeypatch):
    """The tutorial as pip would install it: a dist-info with its metadata and entry points."""
    monkeypatch.setenv("LLMKIT_PLUGINS", "llmkit-hello")  # the first-party plugins installed beside it stay out
    project = tomllib.loads((TUTORIAL / "pyproject.toml").read_text())["project"]
    info = tmp_path / "site" / "llmkit_hello-0.1.0.dist-info"
    info.mkdir(parents=True)
    requires = "".join(f"Requires-Dist: {r}\n" for r in project["dependencies"])
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {project['name']}\nVersion: {project['version']}\n"
                                   f"Summary: {project['description']}\n{requires}")  # fmt: skip
    eps = "".join(f"[{group}]\n" + "".join(f"{k} = {v}\n" for k, v in entries.items())
                  for group, entries in project["entry-points"].items())  # fmt: skip
    (info / "entry_points.txt").write_text(eps)
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    monkeypatch.syspath_prepend(str(TUTORIAL))
    plugins.rescan()
    yield
    plugins.rescan()
    for name in [m for m in sys.modules if m.startswith("llmkit_hello")]:
        del sys.modules[name]


def test_llmkit_plugins_output_is_the_one_shown(installed, capsys):
    shown = re.search(r"```\n\$ llmkit plugins\n(.*?)```", DOC, re.S).group(1)
    assert main(["plugins"]) == 0
    out = capsys.readouterr().out
    section = out[out.index("llmkit-hello ") :].split("\nllmkit-")[0].rstrip("\n") + "\n"
    assert section == shown


def test_the_tutorial_plugin_through_its_entry_points(installed, capsys):
    with OpenAICompatibleServer() as server:
        server.script(Reply(text="Hi"))
        assert llmkit.Client("hello:m", base_url=server.base_url).chat("Hello").text == "Hi"
    assert plugins.get_tool("word_count").call({"text": "a b"}) == 2
    assert plugins.get_task("greeting")("Ada", model="mock:echo").text == "Greet Ada."
    assert main(["hello", "Ada", "-m", "mock:echo"]) == 0
    assert capsys.readouterr().out == "Greet Ada.\n"
