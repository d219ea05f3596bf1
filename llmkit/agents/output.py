"""An agent's final answer as validated data (`Agent(output_type=...)`).

With a pydantic model class and a backend that has structured output, the model is
asked for it through `response_format` (native, constrained, or checked and re-asked by
the client up to its `structured_retries`); the schema is also described in the system
prompt. Either way the answer is parsed (JSON, also inside a code fence) and validated;
one that does not fit goes back to the model with the validation errors, up to
`retries` times, and then the run ends with an OutputValidationError.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from typing import Any

from ..client import Client
from ..errors import LLMKitError
from ..structured import StructuredOutputError, extract_json
from ..types import Message, Response

__all__ = ["OutputSpec", "OutputValidationError"]


class OutputValidationError(LLMKitError):
    """The final answer never matched output_type. `text` is the last answer, `problems`
    the validation errors, `messages` the transcript."""

    def __init__(self, text: str, problems: list[str], messages: list[Message]) -> None:
        self.text, self.problems, self.messages = text, problems, messages
        super().__init__("the answer does not match the output type: " + "; ".join(problems[:5]),
                         hint="Raise output_retries, describe the fields better, or use a model with structured output.")


class OutputSpec:
    RETRY: Any = object()  # check()'s answer when the model was asked again

    def __init__(self, output_type: Any, retries: int) -> None:
        self.type = output_type
        self.retries = retries
        self._adapter: Any = None
        if output_type is not None and output_type is not str:
            import pydantic

            self._adapter = pydantic.TypeAdapter(output_type)
            self.schema = self._adapter.json_schema()

    @property
    def native(self) -> bool:
        return self._adapter is not None and hasattr(self.type, "model_json_schema")

    def instruct(self, messages: list[Message]) -> None:
        """Describe the schema in the system prompt (all backends understand that)."""
        if self._adapter is None:
            return
        note = ("Your final answer must be only a JSON value that matches this JSON schema, with no other text:\n"
                + json.dumps(self.schema))
        if messages and messages[0].role == "system":
            messages[0] = Message("system", f"{messages[0].text}\n\n{note}")
        else:
            messages.insert(0, Message("system", note))

    def options(self, client: Client, opts: dict[str, Any]) -> None:
        if self.native and client.capabilities.structured_output:
            opts.setdefault("response_format", self.type)

    @contextlib.contextmanager
    def checked_by_client(self, messages: list[Message]) -> Iterator[None]:
        """A chat with response_format is validated (and re-asked) by the client itself,
        up to its structured_retries; an answer that never fits ends the run the same way."""
        try:
            yield
        except StructuredOutputError as exc:
            raise OutputValidationError(exc.text, exc.problems, messages) from None

    def check(self, response: Response, messages: list[Message], retries_used: int) -> Any:
        """The validated output, RETRY (the model was asked again), or an error."""
        if self._adapter is None:
            return response.text
        problems = self._problems(response.text)
        if isinstance(problems, list):
            if retries_used >= self.retries:
                raise OutputValidationError(response.text, problems, messages)
            messages.append(Message("user", "That answer does not match the required JSON schema: "
                                    + "; ".join(problems[:10]) + ". Reply with only the corrected JSON."))
            return self.RETRY
        return problems.value

    def _problems(self, text: str) -> list[str] | _Valid:
        import pydantic

        raw = extract_json(text)
        if raw is None:
            return ["the answer is not JSON"]
        try:
            return _Valid(self._adapter.validate_json(raw))
        except pydantic.ValidationError as exc:
            return [f"{'.'.join(map(str, e['loc'])) or 'value'}: {e['msg']}" for e in exc.errors()]


class _Valid:
    __slots__ = ("value",)

    def __init__(self, value: Any) -> None:
        self.value = value
