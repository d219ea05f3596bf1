"""`llmkit ask [-m MODEL] [-s SYSTEM] [-T TEMPLATE] [-a FILE] [-x] [-u] [--json] [-c | --cid ID] PROMPT`

Every ask is recorded in the history (`llmkit logs`); `-c` continues the last
conversation and `--cid` any earlier one, so an ask can follow up on a chat. Piped
stdin comes first, then the prompt; attachments, templates, -x and -u: llmkit.cli.ask_input.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any

from llmkit.cli import ask_input

__all__ = [
    "add_arguments",
    "run",
    "add_model_options",
    "add_conversation_options",
    "client_kwargs",
    "open_history",
    "resume",
]


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("prompt", nargs="*", help="the question (piped stdin comes before it)")
    p.add_argument("-m", "--model", help="model id, e.g. openai:gpt-4o-mini (default: see `llmkit models`)")
    p.add_argument("-s", "--system", help="system prompt")
    add_model_options(p)
    p.add_argument("--no-stream", action="store_true", help="print the answer when it is complete")
    p.add_argument("--json", action="store_true", help="print the answer and usage as JSON")
    add_conversation_options(p)
    ask_input.add_arguments(p)


def add_model_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--max-tokens", type=int, help="maximum tokens to generate")
    p.add_argument("-t", "--temperature", type=float, help="sampling temperature (0 = greedy)")
    p.add_argument("-o", "--option", nargs=2, action="append", default=[], metavar=("NAME", "VALUE"),
                   help="another option or backend setting, e.g. -o top_p 0.9 (VALUE is read as JSON "
                        "when it parses)")  # fmt: skip


def add_conversation_options(p: argparse.ArgumentParser) -> None:
    g = p.add_mutually_exclusive_group()
    g.add_argument("-c", "--continue", dest="continue_last", action="store_true",
                   help="continue the last conversation")  # fmt: skip
    g.add_argument("--cid", help="continue the conversation with this id (a unique prefix is enough)")
    p.add_argument("-n", "--no-log", action="store_true", help="do not record this in the history")


def client_kwargs(args: argparse.Namespace) -> dict[str, Any]:
    """-o NAME VALUE pairs plus --max-tokens/-t, values parsed as JSON where they parse."""
    out: dict[str, Any] = {}
    for name, value in args.option:
        try:
            out[name] = json.loads(value)
        except json.JSONDecodeError:
            out[name] = value
    if args.max_tokens is not None:
        out["max_tokens"] = args.max_tokens
    if args.temperature is not None:
        out["temperature"] = args.temperature
    return out


def open_history(args: argparse.Namespace) -> Any:
    """The history for reading (-c/--cid) and writing (unless --no-log); a broken history
    file is reported and the command goes on without it, unless it must read from it."""
    from llmkit.errors import LLMKitError
    from llmkit.logs import History

    if args.no_log and not (args.continue_last or args.cid):
        return None
    try:
        return History()
    except LLMKitError as exc:
        if args.continue_last or args.cid:
            raise
        print(f"warning: not recording in the history: {str(exc).splitlines()[0]}", file=sys.stderr)
        return None


def resume(history: Any, args: argparse.Namespace) -> tuple[str | None, list, dict[str, Any]]:
    """(cid, turns, conversation row) to continue, or (None, [], {})."""
    from llmkit.errors import UsageError

    if not (args.continue_last or args.cid):
        return None, [], {}
    cid = history.resolve_id(args.cid) if args.cid else history.last_conversation_id()
    if cid is None:
        raise UsageError("there is no conversation to continue yet", hint="Start one with `llmkit chat`.")
    return cid, history.turns(cid), history.conversation(cid)


def run(args: argparse.Namespace) -> int:
    from llmkit.conversation import Cancelled, Conversation, open_client
    from llmkit.errors import HistoryError, ReplyInterruptedError, UnknownModelError

    if args.model is not None and not args.model.strip():  # -m '' is a mistake, not "the default"
        raise UnknownModelError("-m was given an empty model id", hint="Name a model, or leave -m out for the default.")
    prompt = " ".join(_text(os.fsencode(a), "the arguments") for a in args.prompt)
    if args.save:  # a template, not a question: nothing is asked (stdin is not read)
        return ask_input.save_template(args, prompt, client_kwargs(args))
    if not sys.stdin.isatty():
        data = sys.stdin.buffer.read() if hasattr(sys.stdin, "buffer") else sys.stdin.read().encode("utf-8", "replace")
        if b"\0" in data[:8192]:
            print("error: stdin holds binary data, not text (pipe in a text file)", file=sys.stderr)
            return 2
        prompt = ask_input.join_stdin(prompt, _text(data, "stdin"))
    template = ask_input.load_template(args)
    prompt = template.fill(prompt) if template else prompt
    texts, images = ask_input.attachments(args.attach)
    if texts:  # text files follow the prompt, as /attach does in the chat
        prompt = "\n\n".join([prompt, *texts]).strip("\n")
    if not prompt.strip() and not images:
        print("error: no prompt given (pass it as an argument or pipe it in)", file=sys.stderr)
        return 2
    history = open_history(args)
    cid, turns, conversation = resume(history, args) if history is not None else (None, [], {})
    model, system, kwargs = ask_input.effective(args, template, conversation, client_kwargs(args))
    # the conversation's own model takes what it can of the options; one named here takes them all
    named = args.model or (template and template.model)
    client = _client(model, kwargs) if named or not conversation else open_client(model, kwargs)[0]
    conv = Conversation(client, system=system, cid=cid, turns=turns,
                        history=None if args.no_log else history, source="ask")  # fmt: skip
    streaming = not (args.json or args.no_stream or args.extract)
    try:
        turn = conv.send(ask_input.with_images(client, prompt, images), on_text=_stdout_writer() if streaming else None,
                         stream=streaming, catch_interrupt=True, **_as_completion(conv, prompt, kwargs))  # fmt: skip
    except HistoryError as exc:  # answered, but not recorded: say so, as when the history cannot be opened
        print(f"warning: not recorded in the history: {exc.one_line()}", file=sys.stderr)
        turn = conv.turns[-1]
    except _OutputClosed:  # closed before anything was written: nothing to keep
        raise BrokenPipeError() from None
    except Cancelled:
        print("interrupted", file=sys.stderr)
        return 130
    except ReplyInterruptedError:  # cut off after some output: end that line first
        sys.stdout.write("\n")
        sys.stdout.flush()
        raise
    finally:
        client.close()
    if streaming:
        sys.stdout.write("\n")
        sys.stdout.flush()
        if turn.interrupted:
            print("interrupted (the partial answer is in the history)", file=sys.stderr)
            return 130
    elif args.json:
        u = turn.usage
        out: dict[str, Any] = {"model": turn.model, "text": turn.text, "finish_reason": turn.finish_reason,
                               "conversation_id": conv.cid, "usage": {"input_tokens": u.input_tokens,
                               "output_tokens": u.output_tokens, "cost": u.cost, "estimated": u.estimated}}  # fmt: skip
        if args.extract:
            out["code"] = ask_input.extract_code(turn.text)
        print(json.dumps(out, ensure_ascii=False))
    else:
        text = (ask_input.extract_code(turn.text) or turn.text) if args.extract else turn.text
        print(text, end="" if args.extract and text.endswith("\n") else "\n")
    if args.usage:
        print(ask_input.usage_line(turn), file=sys.stderr)
    return 0


def _as_completion(conv: Any, prompt: str, kwargs: dict[str, Any]) -> dict[str, Any]:
    """A completion model is treated as one: said on stderr (as the chat banner says it),
    its continuation ends with the code block it continues unless --max-tokens asks for a
    length, and a continued conversation too long for it loses its oldest text (as in the
    chat) rather than failing."""
    client = conv.client
    if not client.backend.completion_model:
        return {}
    from llmkit.repl.render import completion_notice
    from llmkit.tasks._code_post import end_of_block

    print(f"note: {completion_notice(client.model)}", file=sys.stderr)
    extra: dict[str, Any] = {} if "max_tokens" in kwargs else {"until": end_of_block(prompt)}
    if conv.turns and "truncate" in client.backend.options:
        info = conv.context(conv.messages(prompt))
        if info is not None and info.over:
            print(f"note: the conversation needs {info.tokens:,} tokens, more than {client.model}'s window of "
                  f"{info.window:,}: its oldest text is left out", file=sys.stderr)  # fmt: skip
            extra["truncate"] = "left"
    return extra


def _text(data: bytes, where: str) -> str:
    """Bytes as text: UTF-8, with undecodable bytes as U+FFFD (said once on stderr), so
    that what is answered can be printed and recorded (a lone surrogate can be neither)."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        print(f"warning: {where} is not valid UTF-8: undecodable bytes are shown as \ufffd", file=sys.stderr)
        return data.decode("utf-8", "replace")


def _client(model: str | None, kwargs: dict[str, Any]) -> Any:
    from llmkit import Client

    return Client(model, **kwargs)  # an option the model does not take is an error here


class _OutputClosed(KeyboardInterrupt):
    """The reader went away (`llmkit ask ... | head`): stop the reply like Ctrl-C would,
    so that what arrived is still saved, marked interrupted."""


def _stdout_writer():
    def write(text: str) -> None:
        try:
            sys.stdout.write(text)
            sys.stdout.flush()
        except BrokenPipeError:
            raise _OutputClosed() from None

    return write
