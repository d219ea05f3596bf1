"""A provider of your own: a Backend subclass, registered in-process.

A plugin package does the same through an entry point (see the README's "Plugins"
section); `register_provider` is the in-process equivalent, handy in scripts and tests.
The backend implements only what it can; the client adds option checks, capability
checks, retries, fallbacks, stream accumulation and context checks.

    python examples/custom_backend.py
"""

from collections.abc import Iterator

import llmkit
from llmkit.backends.base import Backend
from llmkit.types import Capabilities, Message, Response, StreamEvent, TokenCount, Usage


class Shout(Backend):
    """Answers every message in capitals: `shout` or `shout:!!!` (the model name is the suffix)."""

    provider = "shout"
    capabilities = Capabilities(chat=True, streaming=True)
    options = frozenset({"max_tokens"})  # what callers may pass; anything else is refused for you
    settings = {"suffix": "text appended to every answer"}

    def chat(self, messages: list[Message], options: dict) -> Response:
        words = (messages[-1].text.upper() + (self.model or "")).split()[: options.get("max_tokens")]
        text = " ".join(words) + self.settings_values.get("suffix", "")
        return Response(text=text, finish_reason="stop", usage=Usage(len(messages[-1].text.split()), len(words)))

    def stream(self, messages: list[Message], options: dict) -> Iterator[StreamEvent]:
        answer = self.chat(messages, options)
        for word in answer.text.split(" "):
            yield StreamEvent(text=word + " ")
        yield StreamEvent(finish_reason="stop", usage=answer.usage)

    def count_tokens(self, content: str | list[Message]) -> TokenCount:
        text = content if isinstance(content, str) else " ".join(m.text for m in content)
        return TokenCount(len(text.split()), estimate=True, encoding="words")

    def context_window(self) -> int:
        return 50  # the client refuses longer requests before calling chat()


llmkit.register_provider("shout", Shout)

client = llmkit.Client("shout:!!!", suffix=" (shouted)")
print("chat:    ", client.chat("hello there").text)
print("stream:  ", "".join(event.text for event in client.stream("streams work too")).strip())
print("options: ", client.chat("one two three four", max_tokens=2).text)
for bad in (lambda: client.chat("hi", temperature=0.5), lambda: client.complete("hi"),
            lambda: client.chat("word " * 60)):  # fmt: skip
    try:
        bad()
    except llmkit.LLMKitError as exc:
        print("refused: ", type(exc).__name__, "-", str(exc).splitlines()[0][:90])
