"""Model ids, aliases, the config file and plugin discovery through entry points."""

import sys
import textwrap

import pytest

import llmkit
from llmkit import registry


@pytest.fixture
def write_config(isolated_home):
    def write(text):
        isolated_home.mkdir(parents=True, exist_ok=True)
        (isolated_home / "config.toml").write_text(textwrap.dedent(text))

    return write


@pytest.fixture
def fresh_plugins(monkeypatch):
    monkeypatch.delenv("LLMKIT_PLUGINS", raising=False)  # conftest turns plugins off for the other tests
    llmkit.clear_caches()  # the public reset: entry points are scanned again on next use
    yield
    llmkit.clear_caches()


def test_unknown_provider_lists_known_and_closest():
    with pytest.raises(llmkit.UnknownModelError) as err:
        llmkit.Client("opneai:gpt-4o-mini")
    text = str(err.value)
    assert "'openai'" in text  # closest provider
    assert "Known providers: hf, mini, openai" in text


def test_bare_model_name_suggests_provider():
    with pytest.raises(llmkit.UnknownModelError) as err:
        llmkit.Client("gpt-4o-mini")
    assert "openai:gpt-4o-mini" in str(err.value)


def test_empty_id():
    with pytest.raises(llmkit.UnknownModelError):
        llmkit.Client("  ")


def test_alias_and_default_model(write_config):
    write_config('default_model = "fast"\n[aliases]\nfast = "mock:echo"\n')
    client = llmkit.Client()
    assert client.model == "mock:echo"
    assert client.chat("hi").text == "hi"
    assert "config.toml" in registry.default_model_reason()


def test_default_model_without_config(monkeypatch):
    assert registry.default_model() == "mini"
    monkeypatch.setenv("OPENAI_API_KEY", "sk-xxxxxxxxxxxxxxxx")
    assert registry.default_model().startswith("openai:")
    monkeypatch.setenv("LLMKIT_MODEL", "mock:echo")
    assert registry.default_model() == "mock:echo"


def test_alias_loop_is_reported(write_config):
    write_config('[aliases]\na = "b"\nb = "a"\n')
    with pytest.raises(llmkit.ConfigurationError, match="alias loop"):
        llmkit.Client("a")


def test_bad_toml_names_the_file(write_config, isolated_home):
    write_config("default_model = \n")
    with pytest.raises(llmkit.ConfigurationError) as err:
        llmkit.Client("mock:echo")
    assert str(isolated_home / "config.toml") in str(err.value)


@pytest.mark.parametrize(
    "provider, message",
    [
        ('kind = "vllm"\nbase_url = "http://x/v1"', "kind="),
        ('kind = "openai"', "needs a base_url"),
        ('kind = "openai"\nbase_url = "http://x/v1"\napi_key = "sk-abcdefabcdef1234"', "api_key_env"),
        ('kind = "openai"\nbase_url = "http://x/v1"\nbase_ur = "y"', "unknown key"),
    ],
)
def test_invalid_provider_config(write_config, provider, message):
    write_config(f"[providers.local]\n{provider}\n")
    with pytest.raises(llmkit.ConfigurationError) as err:
        llmkit.Client("local:m")
    assert message in str(err.value)
    assert "sk-abcdefabcdef1234" not in str(err.value)


def test_configured_provider_uses_env_var_key(write_config, monkeypatch):
    write_config('[providers.vllm]\nkind = "openai"\nbase_url = "http://127.0.0.1:9/v1"\napi_key_env = "VLLM_KEY"\n'
                 'context_window = 4096\n')
    monkeypatch.setenv("VLLM_KEY", "sk-vllm-key-abcdef123456")
    client = llmkit.Client("vllm:qwen2.5")
    assert client.model == "vllm:qwen2.5"
    assert client.context_window() == 4096
    assert client.backend._key == "sk-vllm-key-abcdef123456"
    assert "vllm" in registry.providers()


def _install_plugin(tmp_path, monkeypatch, name, module_source, entry_point):
    site = tmp_path / "site"
    (site / f"{name}-0.1.dist-info").mkdir(parents=True)
    (site / f"{name}-0.1.dist-info" / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 0.1\n")
    (site / f"{name}-0.1.dist-info" / "entry_points.txt").write_text(f"[llmkit]\n{entry_point}\n")
    (site / f"{name}.py").write_text(textwrap.dedent(module_source))
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.delitem(sys.modules, name, raising=False)


PLUGIN = """
from llmkit.backends.base import Backend
from llmkit.types import Capabilities, Response

class Shout(Backend):
    provider = "shout"
    capabilities = Capabilities(chat=True)
    options = frozenset({"max_tokens"})

    def chat(self, messages, options):
        return Response(text=messages[-1].text.upper(), finish_reason="stop")
"""


def test_plugin_provider_through_entry_point(tmp_path, monkeypatch, fresh_plugins):
    _install_plugin(tmp_path, monkeypatch, "llmkit_shout", PLUGIN, "shout = llmkit_shout:Shout")
    assert "llmkit_shout" not in sys.modules  # nothing imported before it is needed
    client = llmkit.Client("shout:any")
    assert client.chat("hello").text == "HELLO"
    assert registry.providers()["shout"] == "plugin"
    with pytest.raises(llmkit.MissingCapabilityError):
        client.stream("no streaming here").response


def test_broken_plugin_is_reported_not_fatal(tmp_path, monkeypatch, fresh_plugins):
    _install_plugin(tmp_path, monkeypatch, "llmkit_broken", "raise RuntimeError('boom')\n",
                    "broken = llmkit_broken:Thing")
    with pytest.raises(llmkit.PluginError) as err:
        llmkit.Client("broken:x")
    assert "plugin llmkit_broken" in str(err.value) and "RuntimeError: boom" in str(err.value)
    assert llmkit.Client("mock:echo").chat("still fine").text == "still fine"


def test_register_function_plugin(tmp_path, monkeypatch, fresh_plugins):
    source = PLUGIN + "\nimport llmkit\ndef register():\n    llmkit.register_provider('loud', Shout)\n"
    _install_plugin(tmp_path, monkeypatch, "llmkit_loud", source, "loud = llmkit_loud:register")
    assert llmkit.Client("loud:x").chat("hey").text == "HEY"


def test_missing_backend_dependency_says_which_extra(monkeypatch):
    monkeypatch.setitem(registry.BUILTIN, "hf", ("llmkit_no_such_module:X", "hf"))
    with pytest.raises(llmkit.ConfigurationError) as err:
        llmkit.Client("hf:some/model")
    assert "pip install 'llmkit[hf]'" in str(err.value)
