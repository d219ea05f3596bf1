"""Tool calls on the local backends: the JSON protocol under constrained decoding lets a
model call only a tool that exists, with arguments that fit, or answer."""

import json

import pytest

import llmkit
from llmkit.backends import tool_protocol
from llmkit.tools import to_tool

pytest.importorskip("llguidance")


@llmkit.tool
def add(a: int, b: int) -> int:
    "Add two integers."
    return a + b


@llmkit.tool
def shout(text: str, loud: bool = False) -> str:
    "Upper-case a text."
    return text.upper() + ("!" if loud else "")


def test_the_reply_schema_allows_known_tools_or_an_answer():
    tools = [to_tool(add), to_tool(shout)]
    schema = tool_protocol.reply_schema(tools)
    assert [o["properties"].get("tool", {}).get("const") for o in schema["anyOf"]] == ["add", "shout", None]
    assert tool_protocol.reply_schema(tools, "required")["anyOf"][1]["properties"]["tool"] == {"const": "shout"}
    only = tool_protocol.reply_schema(tools, "add")
    assert only["properties"]["tool"] == {"const": "add"} and "anyOf" not in only
    assert list(tool_protocol.reply_schema(tools, "none")["properties"]) == ["answer"]
    answer = {"type": "integer"}
    assert tool_protocol.reply_schema(tools, None, answer)["anyOf"][-1]["properties"]["answer"] == answer


def test_tool_choice_names_one_tool_in_any_of_its_spellings():
    tools = [to_tool(add), to_tool(shout)]
    for choice in ("shout", {"type": "function", "name": "shout"}, {"type": "function", "function": {"name": "shout"}}):
        assert tool_protocol.reply_schema(tools, choice)["properties"]["tool"] == {"const": "shout"}
    with pytest.raises(llmkit.InvalidOptionError, match="'delete', which is not one of the tools") as info:
        tool_protocol.reply_schema(tools, "delete")
    assert "add, shout" in info.value.hint
    with pytest.raises(llmkit.InvalidOptionError, match="names no tool"):
        tool_protocol.reply_schema(tools, {"type": "function"})


def test_several_calls_and_results_transcribe_as_alternating_turns():
    calls = [llmkit.ToolCall("c1", "add", '{"a": 1, "b": 2}'), llmkit.ToolCall("c2", "shout", '{"text": "hi"}')]
    messages = [llmkit.user("go"), llmkit.assistant("Two calls:", calls), llmkit.tool_result("3", tool_call_id="c1"),
                llmkit.tool_result("HI", tool_call_id="c2"), llmkit.assistant("3 and HI")]  # fmt: skip
    out = tool_protocol.transcribe(messages)
    assert [m.role for m in out] == ["user", "assistant", "user", "assistant"]
    first, *rest = out[1].text.split("\n")
    assert first == "Two calls:" and [json.loads(line)["tool"] for line in rest] == ["add", "shout"]
    assert out[2].text.startswith("add returned: 3\nshout returned: HI\n")


def test_replies_and_transcripts_in_the_protocol():
    assert tool_protocol.parse_reply('{"tool": "add", "arguments": {"a": 1, "b": 2}}')[1][0].args == {"a": 1, "b": 2}
    assert tool_protocol.parse_reply('{"answer": "3"}') == ("3", [])
    assert tool_protocol.parse_reply('{"answer": {"x": 1}}') == ('{"x": 1}', [])
    assert tool_protocol.parse_reply("plain text") == ("plain text", [])
    messages = [llmkit.user("1+2?"), llmkit.assistant("", [llmkit.ToolCall("c", "add", '{"a": 1, "b": 2}')]),
                llmkit.tool_result("3", tool_call_id="c")]  # fmt: skip
    out = tool_protocol.transcribe(messages)
    assert [m.role for m in out] == ["user", "assistant", "user"]
    assert json.loads(out[1].text) == {"tool": "add", "arguments": {"a": 1, "b": 2}} and "3" in out[2].text


def random_agent(client, **kwargs):
    return llmkit.Agent(client, tools=[add, shout], max_steps=3, tool_retries=10, **kwargs)


def every_call_is_valid(messages):
    calls = [c for m in messages for c in m.tool_calls]
    for call in calls:
        tool = {"add": add, "shout": shout}[call.name]  # a known tool...
        tool.validate(call.arguments)  # ...with arguments that fit its schema
    return calls


@pytest.fixture(scope="module")
def random_mini(tmp_path_factory):
    import torch

    from llmkit.mini.checkpoint import save_checkpoint
    from llmkit.mini.model import GPT, GPTConfig
    from llmkit.mini.tokenizer import train_tokenizer

    corpus = tmp_path_factory.mktemp("corpus") / "c.txt"
    corpus.write_text("def add(a, b):\n    return a + b\n" * 50 + '{"tool": "add", "answer": 3}\n' * 20)
    tok = train_tokenizer([corpus], 400)
    torch.manual_seed(0)
    model = GPT(GPTConfig(vocab_size=tok.vocab_size, n_layer=1, n_head=2, n_embd=32, block_size=1024))
    path = tmp_path_factory.mktemp("tools") / "random"
    save_checkpoint(path, model, tok)
    return llmkit.Client(f"mini:{path}", max_tokens=120, temperature=1.3)


@pytest.mark.parametrize("seed", range(3))
def test_a_random_mini_model_only_makes_valid_calls(random_mini, seed):
    try:
        result = random_agent(random_mini).run("Add 2 and 3.", seed=seed, tool_choice="required")
        messages = result.messages
    except llmkit.agents.MaxStepsError as exc:  # a random model may never answer: that is allowed
        messages = exc.messages
    assert len(every_call_is_valid(messages)) >= 1


def test_a_random_hf_model_only_makes_valid_calls(long_context_hf):
    for seed in range(3):
        try:
            messages = random_agent(long_context_hf).run("Add 2 and 3.", seed=seed, tool_choice="required").messages
        except llmkit.agents.MaxStepsError as exc:
            messages = exc.messages
        assert len(every_call_is_valid(messages)) >= 1
    r = long_context_hf.chat("Say hi.", tools=[add], tool_choice="none", seed=1)
    assert not r.tool_calls and isinstance(r.text, str)
    with long_context_hf.stream("Add.", tools=[add], tool_choice="add", seed=2) as s:
        list(s)
    assert s.response.tool_calls[0].name == "add" and s.response.finish_reason == "tool_calls"


@pytest.fixture(scope="module")
def long_context_hf(tmp_path_factory):
    pytest.importorskip("transformers")
    import importlib.util
    from pathlib import Path

    spec = importlib.util.spec_from_file_location("hf_conftest", Path(__file__).parent / "hf" / "conftest.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    path = module.build_model_dir(tmp_path_factory.mktemp("hf-tools") / "tiny", positions=2048)
    return llmkit.Client(f"hf:{path}", max_tokens=120, temperature=1.3)


TOOL_TEMPLATE = (  # a ChatML template that writes the tools itself, as Qwen's and Hermes' do
    "{% if tools %}<|im_start|>system\nTools:{% for t in tools %} {{ t.function.name }}{% endfor %}\n"
    "Call one as <tool_call>{\"name\": ..., \"arguments\": ...}</tool_call><|im_end|>\n{% endif %}"
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n{{ message['content'] }}<|im_end|>\n"
    "{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


def _hf_conftest():
    import importlib.util
    from pathlib import Path

    spec = importlib.util.spec_from_file_location("hf_conftest", Path(__file__).parent / "hf" / "conftest.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_a_template_that_renders_tools_is_used_and_its_calls_read(tmp_path, monkeypatch):
    pytest.importorskip("transformers")
    from llmkit.generation import Generation

    path = _hf_conftest().build_model_dir(tmp_path / "tools-template", template=TOOL_TEMPLATE, positions=1024)
    client = llmkit.Client(f"hf:{path}", max_tokens=20)
    backend = client.backend
    assert backend.formatter.renders_tools
    prompt = backend.engine.tokenizer.decode(backend._chat_ids([llmkit.user("1+2?")], {"tools": [to_tool(add)]}))
    assert "Tools: add" in prompt and '{"tool": NAME' not in prompt  # the template's format, not the protocol
    written = '<tool_call>{"name": "add", "arguments": {"a": 1, "b": 2}}</tool_call>'
    monkeypatch.setattr(backend.engine, "generate_many",
                        lambda prompts, params, stops, constraint: [[Generation(written, "stop", 5, 9)]])  # fmt: skip
    r = client.chat("1+2?", tools=[add])
    assert r.tool_calls[0].name == "add" and r.tool_calls[0].args == {"a": 1, "b": 2} and r.finish_reason == "tool_calls"
    protocol = llmkit.Client(f"hf:{path}", tool_format="protocol").backend
    text = protocol.engine.tokenizer.decode(protocol._chat_ids([llmkit.user("1+2?")], {"tools": [to_tool(add)]}))
    assert '{"tool": NAME' in text  # asked for: llmkit's protocol, under the constraint
