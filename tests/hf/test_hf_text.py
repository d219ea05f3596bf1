"""Chat templates, token counting, the context check, logprobs and UTF-8-safe streaming."""

from __future__ import annotations

import math
import warnings

import pytest

pytest.importorskip("transformers")
import torch

import llmkit
from llmkit.backends import hf_chat
from llmkit.backends.hf_engine import _Rows
from llmkit.errors import ContextLengthError
from llmkit.generation import StopMatcher


def test_count_tokens_uses_the_chat_template(tiny):
    text = "What is the capital of France?"
    tok = tiny.backend.engine.tokenizer
    assert tiny.count_tokens(text) == len(tok(text, add_special_tokens=False)["input_ids"])
    rendered = tok.apply_chat_template([{"role": "user", "content": text}], tokenize=False, add_generation_prompt=True)
    assert tiny.count_tokens([llmkit.user(text)]) == len(tok(rendered, add_special_tokens=False)["input_ids"])


def test_context_window_and_refusal_before_generation(tiny):
    assert tiny.context_window() == 128
    with pytest.raises(ContextLengthError, match=r"max_tokens 120 = \d+, but hf:.* 128 tokens"):
        tiny.chat("What is the capital of France?", max_tokens=120)
    with pytest.raises(ContextLengthError):
        tiny.complete("The cat sat on the mat. " * 40, max_tokens=1)
    with pytest.raises(ContextLengthError):
        tiny.backend.chat_batch([[llmkit.user("Hi")], [llmkit.user("cat " * 200)]], {"max_tokens": 1})


def test_context_check_counts_what_complete_sends(fim_dir):
    fim = llmkit.Client(f"hf:{fim_dir}")
    with pytest.raises(ContextLengthError):  # the suffix and FIM tokens are part of the prompt
        fim.complete("def f(", suffix=" " + "x, " * 200 + ")", max_tokens=4)


def test_fallback_template_warns_once(no_template_dir):
    client = llmkit.Client(f"hf:{no_template_dir}")
    with pytest.warns(UserWarning, match="no chat template"):
        client.chat("Hi", max_tokens=2, temperature=0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        client.chat("Hi", max_tokens=2, temperature=0)  # once only
    prompt = client.backend.formatter.render([llmkit.system("Be brief."), llmkit.user("Hi")])
    assert prompt == "System: Be brief.\n\nUser: Hi\n\nAssistant:"
    assert hf_chat.FALLBACK_STOP in client.backend._stops({}, chat=True).stops


def test_system_merged_into_first_user_turn_when_template_refuses_it(no_system_dir):
    client = llmkit.Client(f"hf:{no_system_dir}")
    messages = [llmkit.system("Be brief."), llmkit.user("Hi"), llmkit.assistant("Hello"), llmkit.user("Bye")]
    prompt = client.backend.formatter.render(messages)
    assert prompt.startswith("<start_of_turn>user\nBe brief.\n\nHi<end_of_turn>\n")
    assert "system" not in prompt
    assert client.chat(messages, max_tokens=3, temperature=0).usage.input_tokens == client.count_tokens(messages)


def test_a_system_message_mid_conversation_does_not_switch_merging_on_for_good():
    from jinja2.exceptions import TemplateError

    class LlamaTwoLike:  # takes a leading system message, refuses one anywhere else
        chat_template = "..."

        def apply_chat_template(self, dicts, **kwargs):
            if any(d["role"] == "system" for d in dicts[1:]):
                raise TemplateError("Conversation roles must alternate")
            return "".join(f"[{d['role']}]{d['content']}" for d in dicts)

    formatter = hf_chat.ChatFormatter(LlamaTwoLike(), "llama2-like")
    mid = [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello"},
           {"role": "system", "content": "Now French"}, {"role": "user", "content": "Bye"}]  # fmt: skip
    assert formatter.render([llmkit.types.Message.from_dict(d) for d in mid]).startswith("[user]Now French")
    assert not formatter.merge_system
    assert formatter.render([llmkit.system("Be brief."), llmkit.user("Hi")]) == "[system]Be brief.[user]Hi"


def test_merge_system_without_user_turn():
    merged = hf_chat.merge_system([{"role": "system", "content": "S"}, {"role": "assistant", "content": "A"}])
    assert merged == [{"role": "user", "content": "S"}, {"role": "assistant", "content": "A"}]


def test_logprobs_match_a_direct_forward_pass(tiny):
    text = "The cat sat on the mat."
    lp = tiny.logprobs(text)
    backend = tiny.backend
    tok, model = backend.engine.tokenizer, backend.engine.lm.model
    ids = [tok.bos_token_id] + tok(text, add_special_tokens=False)["input_ids"]
    with torch.no_grad():
        logits = model(input_ids=torch.tensor([ids])).logits[0]
    expected = torch.log_softmax(logits.float(), -1)[torch.arange(len(ids) - 1), torch.tensor(ids[1:])]
    assert [t.logprob for t in lp.tokens] == pytest.approx(expected.tolist(), abs=1e-4)
    assert "".join(t.token for t in lp.tokens) == text
    assert lp.num_bytes == len(text.encode()) and lp.bits_per_byte > 0
    assert all(t.logprob <= 0 for t in lp.tokens)


def test_logprobs_of_a_continuation(tiny):
    context, text = "The cat sat on the", " mat. The dog sat on the log."
    tok = tiny.backend.engine.tokenizer
    ids = lambda s: tok(s, add_special_tokens=False)["input_ids"]  # noqa: E731
    assert ids(context) + ids(text) == ids(context + text)  # a clean seam, so:
    whole = tiny.logprobs(context + text)
    after = tiny.logprobs(text, context=context)
    assert [t.logprob for t in after.tokens] == pytest.approx([t.logprob for t in whole.tokens[-len(ids(text)) :]],
                                                                abs=1e-4)  # fmt: skip
    assert "".join(t.token for t in after.tokens) == text and after.num_bytes == len(text.encode())
    long_context = "The cat sat on the mat. " * 30  # past the 128-token window: scored in windows
    assert len(tiny.logprobs(text, context=long_context).tokens) == len(ids(text))


def test_logprobs_of_a_text_longer_than_the_window(tiny):
    text = "The cat sat on the mat. The dog sat on the log. " * 20
    lp = tiny.logprobs(text)
    n = len(tiny.backend.engine.tokenizer(text, add_special_tokens=False)["input_ids"])
    assert n > 128 and len(lp.tokens) == n
    assert all(math.isfinite(t.logprob) and t.logprob <= 0 for t in lp.tokens)
    assert tiny.logprobs("").tokens == []


def test_embeddings_are_mean_pooled_hidden_states(tiny):
    texts = ["The cat sat on the mat.", "Hi", "A longer sentence about dogs and logs."]
    e = tiny.embed(texts)
    backend = tiny.backend
    tok, model = backend.engine.tokenizer, backend.engine.lm.model
    assert len(e) == 3 and e.dimensions == model.config.hidden_size and e.served_model == backend.engine.lm.name
    for text, vector in zip(texts, e, strict=True):  # batched (right-padded) == a direct pass on the text alone
        ids = [tok.bos_token_id] + tok(text, add_special_tokens=False)["input_ids"]
        with torch.no_grad():
            hidden = model.model(input_ids=torch.tensor([ids])).last_hidden_state[0, 1:].float()
        assert vector == pytest.approx(torch.nn.functional.normalize(hidden.mean(0), dim=0).tolist(), abs=1e-4)
    assert e.usage.input_tokens == sum(len(tok(t, add_special_tokens=False)["input_ids"]) for t in texts)
    with pytest.raises(ContextLengthError):
        tiny.embed("The cat sat on the mat. " * 40)
    assert len(tiny.embed("The cat sat on the mat. " * 40, truncate="right")[0]) == e.dimensions
    empty = tiny.embed("")[0]  # the state of BOS alone: still a unit vector
    assert sum(x * x for x in empty) == pytest.approx(1.0, abs=1e-5)
    exactly_the_window = " ".join(["cat"] * 300)
    ids = tok(exactly_the_window, add_special_tokens=False)["input_ids"][:128]
    with pytest.raises(ContextLengthError, match="127 tokens") as info:  # + BOS would not fit
        tiny.embed(tok.decode(ids))
    assert info.value.model == tiny.model


class _FakeGen:
    eos_ids = [-1]

    def __init__(self, tokenizer):
        self.tokenizer = tokenizer


def test_streamed_text_never_splits_a_character(tiny):
    tok = tiny.backend.engine.tokenizer
    text = "Héllo 日本語 🙂 café"
    ids = tok(text, add_special_tokens=False)["input_ids"]
    assert any("\ufffd" in tok.decode([i]) for i in ids)  # some tokens are half a character
    rows = _Rows(_FakeGen(tok), count=1, n=1, stops=StopMatcher([]))
    deltas = [e.text for i in ids for e in rows.step([i])] + [e.text for e in rows.flush()]
    assert "".join(deltas) == text
    assert not any("\ufffd" in d for d in deltas)


def test_safe_length_holds_back_partial_stop_and_replacement():
    def safe(text, stops):
        return _Rows(_FakeGen(None), count=1, n=1, stops=StopMatcher(stops))._safe_length(text)

    assert safe("abc\ufffd", []) == 3
    assert safe("hello wor", ["world"]) == 6
    assert safe("hello", ["xyz"]) == 5
    assert safe("a wo\ufffd", ["world"]) == 2  # the half character, then the partial stop string
