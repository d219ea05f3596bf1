"""Turning llmkit messages into a prompt with the model's own chat template.

Two cases need help:

- A model without a chat template (a base model) gets FALLBACK_TEMPLATE, a plain
  transcript ("User: ...", blank line, "Assistant:"), with a one-time warning; the stop
  string "\\n\\nUser:" is added so the model does not write the user's next turn.
- A template that has no system role (it raises on one, e.g. Gemma's) gets the system
  text merged into the first user turn, separated by a blank line.
"""

from __future__ import annotations

import warnings
from typing import Any

from ..errors import InvalidOptionError
from ..types import Message

__all__ = ["ChatFormatter", "FALLBACK_TEMPLATE", "FALLBACK_STOP", "merge_system"]

# Documented fallback for models without a chat template (see README, "Local Hugging Face models").
FALLBACK_TEMPLATE = (
    "{% for message in messages %}"
    "{{ message['role'] | capitalize }}: {{ message['content'] }}\n\n"
    "{% endfor %}"
    "{% if add_generation_prompt %}Assistant:{% endif %}"
)
FALLBACK_STOP = "\n\nUser:"


class ChatFormatter:
    """Renders conversations for one tokenizer, remembering what its template needs."""

    def __init__(self, tokenizer: Any, name: str) -> None:
        self.tokenizer = tokenizer
        self.name = name
        self.fallback = not getattr(tokenizer, "chat_template", None)
        self.merge_system = False  # set once the template is seen to refuse a system role at all
        self._warned = False  # the fallback template is announced once per client
        self._renders_tools: bool | None = None

    @property
    def extra_stops(self) -> list[str]:
        return [FALLBACK_STOP] if self.fallback else []

    def render(self, messages: list[Message], tools: list[dict[str, Any]] | None = None) -> str:
        """The prompt text, ending with the assistant's turn opened; `tools` (OpenAI tool
        dicts) are handed to templates that describe tools themselves."""
        if self.fallback and not self._warned:
            self._warned = True
            warnings.warn(
                f"hf:{self.name} has no chat template; using llmkit's plain 'User: / Assistant:' "
                "transcript. Base models may answer poorly: prefer an instruction-tuned model, or "
                "use complete() for raw continuation.",
                stacklevel=4,
            )
        dicts = [_as_dict(m) for m in messages]
        if self.merge_system:
            return self._apply(merge_system(dicts), tools)
        try:
            return self._apply(dicts, tools)
        except Exception as exc:
            if not any(d["role"] == "system" for d in dicts) or not _is_template_error(exc):
                raise _template_failure(self.name, exc) from exc
        try:
            text = self._apply(merge_system(dicts), tools)
        except Exception as exc:
            raise _template_failure(self.name, exc) from exc
        # Merge from now on only when the template refuses a system role outright; if it
        # takes [system, user], it was this conversation (a system message mid-way) it refused.
        probe = [{"role": "system", "content": "s"}, {"role": "user", "content": "u"}]
        try:
            self._apply(probe)
        except Exception:
            self.merge_system = True
        return text

    def _apply(self, dicts: list[dict[str, Any]], tools: list[dict[str, Any]] | None = None) -> str:
        template = FALLBACK_TEMPLATE if self.fallback else None
        extra = {"tools": tools} if tools else {}
        return self.tokenizer.apply_chat_template(
            dicts, chat_template=template, tokenize=False, add_generation_prompt=True, **extra
        )

    @property
    def renders_tools(self) -> bool:
        """Whether the template writes tool descriptions itself (many instruction-tuned
        templates do; SmolLM2's does not): probed once, by rendering a probe tool."""
        if self._renders_tools is None:
            probe = [{"type": "function", "function": {"name": "llmkit_probe_tool", "parameters": {"type": "object"}}}]
            try:
                self._renders_tools = not self.fallback and "llmkit_probe_tool" in self.render(
                    [Message("user", "hi")], tools=probe)  # fmt: skip
            except Exception:  # a template that fails on tools does not take them
                self._renders_tools = False
        return self._renders_tools


def merge_system(dicts: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Put the system texts at the top of the first user turn (or make one)."""
    system = "\n\n".join(d["content"] for d in dicts if d["role"] == "system" and d["content"])
    rest = [d for d in dicts if d["role"] != "system"]
    if not system:
        return rest
    for i, d in enumerate(rest):
        if d["role"] == "user":
            rest[i] = {**d, "content": f"{system}\n\n{d['content']}"}
            return rest
    return [{"role": "user", "content": system}, *rest]


def _as_dict(message: Message) -> dict[str, Any]:
    out: dict[str, Any] = {"role": message.role, "content": message.text}
    if message.tool_calls:
        out["tool_calls"] = [tc.to_dict() for tc in message.tool_calls]
    if message.tool_call_id is not None:
        out["tool_call_id"] = message.tool_call_id
    if message.name:
        out["name"] = message.name
    return out


def _is_template_error(exc: Exception) -> bool:
    # Templates refuse a role with raise_exception(), which raises jinja2's TemplateError.
    try:
        from jinja2.exceptions import TemplateError
    except ImportError:
        return False
    return isinstance(exc, TemplateError)


def _template_failure(name: str, exc: Exception) -> InvalidOptionError:
    return InvalidOptionError(
        f"the chat template of hf:{name} rejected this conversation: {type(exc).__name__}: {exc}",
        hint="Many templates require alternating user/assistant turns starting with a user turn; "
        "reorder the messages, or use complete() with your own prompt.",
        model=f"hf:{name}",
    )
