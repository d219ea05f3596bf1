"""llmkit-hello: the plugin tutorial (docs/plugins.md). A provider, a tool and a task.

The provider talks to any server speaking OpenAI's chat protocol, with nothing but the
standard library: llmkit adds option checks, retries, fallbacks, streaming of whole
answers, usage sums and the rest around the three methods it implements.
"""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.request
from dataclasses import dataclass

import llmkit
from llmkit import errors
from llmkit.backends.base import Backend
from llmkit.types import Capabilities, Message, Response, Usage

_BY_STATUS = {400: errors.BadRequestError, 401: errors.AuthenticationError, 429: errors.RateLimitError}


class HelloBackend(Backend):
    """`hello:MODEL` at HELLO_BASE_URL (an OpenAI-compatible server), key in HELLO_API_KEY."""

    capabilities = Capabilities(chat=True)
    options = frozenset({"max_tokens", "temperature", "stop"})  # llmkit refuses the others for us
    settings = {"base_url": "the server's URL, ending in /v1 (default: $HELLO_BASE_URL)"}

    def chat(self, messages: list[Message], options: dict) -> Response:
        base = self.settings_values.get("base_url") or os.environ.get("HELLO_BASE_URL", "http://127.0.0.1:8000/v1")
        body = {"model": self.model, "messages": [m.to_dict() for m in messages], **options}
        request = urllib.request.Request(f"{base}/chat/completions", json.dumps(body).encode(),
                                         {"Content-Type": "application/json",
                                          "Authorization": f"Bearer {os.environ.get('HELLO_API_KEY', 'none')}"})
        try:
            with urllib.request.urlopen(request, timeout=60) as reply:
                data = json.load(reply)
        except urllib.error.HTTPError as exc:  # llmkit retries the retryable classes
            raise _BY_STATUS.get(exc.code, errors.ServerError)(f"{base} answered HTTP {exc.code}") from None
        except (urllib.error.URLError, OSError) as exc:
            raise errors.APIConnectionError(f"cannot reach {base}: {exc}", hint="Is the server running?") from None
        except ValueError:
            raise errors.MalformedResponseError(f"{base} did not answer JSON") from None
        try:
            choice, usage = data["choices"][0], data.get("usage") or {}
            return Response(text=choice["message"]["content"] or "", finish_reason=choice.get("finish_reason"),
                            usage=Usage(usage.get("prompt_tokens", 0), usage.get("completion_tokens", 0)))
        except (KeyError, IndexError, TypeError):
            raise errors.MalformedResponseError(f"{base} answered JSON without choices[0].message") from None


@llmkit.tool
def word_count(text: str) -> int:
    """How many words a text has."""
    return len(text.split())


@dataclass
class Greeting:
    text: str
    model: str


def greeting(name: str, *, model: str | llmkit.Client | None = None) -> Greeting:
    """A one-line greeting for `name`, written by any model."""
    client = model if isinstance(model, llmkit.Client) else llmkit.Client(model)
    answer = client.chat([llmkit.system("Write one short, warm greeting line."), llmkit.user(f"Greet {name}.")])
    return Greeting(answer.text.strip().splitlines()[0] if answer.text.strip() else "", answer.model)
