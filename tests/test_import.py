"""`import llmkit` stays light: none of the heavy libraries are imported."""

import subprocess
import sys


def _run(code: str) -> str:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout


def test_import_pulls_in_nothing_heavy():
    out = _run(
        "import sys, llmkit\n"
        "llmkit.Client, llmkit.user, llmkit.ContextLengthError\n"
        "print(sorted(m for m in ('torch','transformers','openai','rich','tiktoken','pydantic','httpx2')"
        " if m in sys.modules))"
    )
    assert out.strip() == "[]"


def test_mock_client_needs_no_heavy_imports():
    out = _run(
        "import sys, llmkit\n"
        "llmkit.Client('mock:echo').chat('hi')\n"
        "print(sorted(m for m in ('torch','openai','rich','pydantic') if m in sys.modules))"
    )
    assert out.strip() == "[]"


def test_public_names():
    import llmkit

    for name in ("Client", "Message", "ToolCall", "Response", "Usage", "StreamEvent", "Capabilities",
                 "system", "user", "assistant", "tool", "tool_result", "Tool", "LLMKitError", "RateLimitError"):
        assert hasattr(llmkit, name), name
    assert set(llmkit.__all__) <= set(dir(llmkit))


def test_every_module_declares_its_public_names():
    """An explicit surface: each module and package says what it exports (`__all__`),
    and every name it lists exists."""
    import importlib
    import pkgutil

    import llmkit

    for info in pkgutil.walk_packages(llmkit.__path__, "llmkit."):
        if info.name.endswith("__main__"):
            continue
        module = importlib.import_module(info.name)
        assert hasattr(module, "__all__"), f"{info.name} has no __all__"
        missing = [name for name in module.__all__ if not hasattr(module, name)]
        assert not missing, f"{info.name}.__all__ names {missing}, which it does not define"
