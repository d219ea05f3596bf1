"""What every task shares: the model from `model=`, model requests as data, one driver
for one item and one for a batch, and errors that say which item failed.

A task is written once, as a generator of model requests: it yields a `Chat`,
`Complete` or `Score` and gets the answer back (a Response, or a summed log-probability
for `Score`), then returns its result. `run_one` answers one item's requests one at a
time. `run_many` steps every item in lockstep and sends each round's requests together:
`chat_batch` / `complete_batch` where the backend generates in batches (`hf:`), bounded
concurrency over threads elsewhere (HTTP: each request keeps the client's own
rate-limit-aware retries), one after another on other in-process models. An item that
fails becomes its error, in its place in the result list; the other items go on.

Tasks see only the public `Client`, never a backend class.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Generator, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, TypeVar

from ..client import Client
from ..errors import InvalidOptionError, LLMKitError, TaskError
from ..types import Message, Response, assistant, to_messages, user

__all__ = [
    "Chat", "Complete", "Score", "Task", "ask_parsed", "ask_structured", "failed", "model_client", "run_many",
    "run_one", "using",
]  # fmt: skip

R = TypeVar("R")
T = TypeVar("T")


@dataclass(frozen=True)
class Chat:
    """Ask the model (chat template); answered with a Response."""

    messages: str | list[Message]
    options: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Complete:
    """Continue a text (no template; `suffix` for fill-in-the-middle); answered with a Response."""

    prompt: str
    options: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Score:
    """How likely `text` is after `context`: answered with the summed log-probability
    (local backends; the task checks `capabilities.logprobs` before asking)."""

    text: str
    context: str | None = None


Request = Chat | Complete | Score
Task = Generator[Request, Any, R]


def model_client(model: Client | str | None) -> tuple[Client, bool]:
    """The Client for `model=` (a Client, an id, or None for the default model), and
    whether this call made it (and so closes it)."""
    if isinstance(model, Client):
        return model, False
    if model is not None and not isinstance(model, str):
        raise InvalidOptionError(
            f"model= takes a llmkit.Client or a model id, not {type(model).__name__}",
            hint='e.g. model="mini", model="hf:PATH" or model=llmkit.Client("openai:gpt-4o-mini").',
        )
    return Client(model), True


def using(model: Client | str | None, work: Callable[[Client], R]) -> R:
    """`work(client)` with the client for `model=`, closed afterwards if made here."""
    client, owned = model_client(model)
    try:
        return work(client)
    finally:
        if owned:
            client.close()


def run_one(task: Task[R], client: Client) -> R:
    """Drive one task's requests to its result; a failed request is raised into the
    task (which may handle it) and, if it does not, out of here."""
    answer: Any = None
    failure: BaseException | None = None
    while True:
        try:
            request = task.throw(failure) if failure is not None else task.send(answer)
        except StopIteration as done:
            return done.value
        failure = None
        try:
            answer = _answer(client, request)
        except LLMKitError as exc:
            failure = exc


def run_many(
    tasks: Sequence[Task[R]],
    client: Client,
    *,
    concurrency: int = 8,
    progress: bool | None = None,
    label: str = "items",
) -> list[R | LLMKitError]:
    """Drive several tasks together; one result or error per task, in order.

    `progress`: a rich progress bar on stderr (None: when stderr is a terminal and
    there is more than one item)."""
    if concurrency < 1:
        raise InvalidOptionError(f"concurrency must be at least 1, not {concurrency}")
    results: list[Any] = [None] * len(tasks)
    pending: dict[int, Request] = {}
    bar = _progress(len(tasks), label, progress)

    def step(i: int, answer: Any) -> None:
        try:
            if isinstance(answer, BaseException):
                request = tasks[i].throw(answer)
            else:
                request = tasks[i].send(answer)
        except StopIteration as done:
            results[i] = done.value
            bar.advance()
        except LLMKitError as exc:
            exc.item = i  # type: ignore[attr-defined]  # which input failed (any LLMKitError)
            results[i] = exc
            bar.advance()
        else:
            pending[i] = request

    with bar:
        for i in range(len(tasks)):
            step(i, None)
        while pending:
            round_, pending = pending, {}
            for i, answer in _answer_round(client, round_, concurrency).items():
                step(i, answer)
    return results


# --- answering requests -------------------------------------------------------------


def _answer(client: Client, request: Request) -> Any:
    if isinstance(request, Chat):
        return client.chat(request.messages, **request.options)
    if isinstance(request, Complete):
        return client.complete(request.prompt, **request.options)
    return client.logprobs(request.text, context=request.context).total


def _answer_round(client: Client, round_: dict[int, Request], concurrency: int) -> dict[int, Any]:
    """Answers (or errors) for one round of requests, keyed like `round_`."""
    answers: dict[int, Any] = {}
    caps = client.capabilities
    if caps.batching:
        for kind, batch in (("chat", Chat), ("complete", Complete)):
            for group in _groups({i: r for i, r in round_.items() if isinstance(r, batch)}):
                answers.update(_batched(client, kind, group))
    rest = {i: r for i, r in round_.items() if i not in answers}
    workers = 1 if caps.in_process else min(concurrency, len(rest) or 1)
    if workers == 1:
        answers.update({i: _caught(client, r) for i, r in rest.items()})
    else:
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="llmkit-task") as pool:
            futures = {i: pool.submit(_caught, client, r) for i, r in rest.items()}
            answers.update({i: f.result() for i, f in futures.items()})
    return answers


def _caught(client: Client, request: Request) -> Any:
    try:
        return _answer(client, request)
    except LLMKitError as exc:
        return exc


def _groups(requests: dict[int, Chat | Complete]) -> Iterable[dict[int, Chat | Complete]]:
    """Requests with the same options, which one batched call can answer."""
    groups: dict[str, dict[int, Chat | Complete]] = {}
    for i, r in requests.items():
        groups.setdefault(repr(sorted(r.options.items(), key=lambda kv: kv[0])), {})[i] = r
    return groups.values()


def _batched(client: Client, kind: str, group: dict[int, Chat | Complete]) -> dict[int, Any]:
    """One batched call for the group; if it fails, each request alone, so that one bad
    item (too long, say) costs only itself."""
    first = next(iter(group.values()))
    try:
        if kind == "chat":
            responses: list[Response] = client.chat_batch([r.messages for r in group.values()], **first.options)  # type: ignore[union-attr]
        else:
            responses = client.complete_batch([r.prompt for r in group.values()], **first.options)  # type: ignore[union-attr]
    except LLMKitError:
        if len(group) == 1:
            raise_or = _caught(client, first)
            return {next(iter(group)): raise_or}
        return {i: _caught(client, r) for i, r in group.items()}
    return {i: r.error or r for i, r in zip(group, responses, strict=True)}  # an item refused alone: its error


class _NoBar:
    def __enter__(self) -> _NoBar:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def advance(self) -> None:
        return None


class _Bar(_NoBar):
    """A rich progress bar on stderr, imported only when shown."""

    def __init__(self, total: int, label: str) -> None:
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        self._progress = Progress(
            TextColumn(f"[bold]{label}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
            console=Console(stderr=True), transient=True,
        )  # fmt: skip
        self._id = self._progress.add_task(label, total=total)

    def __enter__(self) -> _Bar:
        self._progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._progress.stop()

    def advance(self) -> None:
        self._progress.advance(self._id)


def _progress(total: int, label: str, progress: bool | None) -> _NoBar:
    if progress is None:
        progress = total > 1 and sys.stderr.isatty()
    return _Bar(total, label) if progress else _NoBar()


def ask_parsed(
    messages: str | list[Message], parse: Callable[[str], T], options: dict[str, Any], what: str
) -> Task[T]:
    """Ask, and parse the answer with `parse` (which raises ValueError saying what is
    wrong); an answer that does not parse is re-asked once with that reason, then it is
    a TaskError carrying the model's output. Never a silent wrong result."""
    first = yield Chat(messages, options)
    try:
        return parse(first.text)
    except ValueError as exc:
        reason = str(exc)
    again = [
        *to_messages(messages), assistant(first.text),
        user(f"That answer cannot be used: {reason}. Answer again, exactly in the form asked, with nothing else."),
    ]  # fmt: skip
    second = yield Chat(again, options)
    try:
        return parse(second.text)
    except ValueError as exc:
        raise failed(
            f"{what}: the model's answer did not fit after a re-ask ({exc})",
            hint="Try a larger or instruction-tuned model.", output=second.text,
        ) from None  # fmt: skip


def ask_structured(messages: str | list[Message], schema: Any, options: dict[str, Any], what: str) -> Task[Any]:
    """Ask for `schema` (a pydantic model or JSON-schema dict) with `response_format`:
    native, constrained or prompted, whichever the backend has (the client re-asks);
    the validated value, or a TaskError with the model's last output."""
    from ..errors import MalformedResponseError

    try:
        response = yield Chat(messages, {**options, "response_format": schema})
    except MalformedResponseError as exc:  # structured output that would not validate
        raise failed(f"{what}: the model's output did not fit the schema ({exc.message})",
                     hint="Try a larger model, or a schema with fewer required fields.") from None  # fmt: skip
    return response.parsed


def failed(message: str, *, hint: str = "", output: str | None = None) -> TaskError:
    """A task's clear error: what happened, what to do, and the model's output if any."""
    error = TaskError(message, hint=hint)
    error.output = output
    return error
