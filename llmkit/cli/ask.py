"""`llmkit ask [-m MODEL] [-s SYSTEM] [--no-stream] [--json] [-c | --cid ID] PROMPT`

Every ask is recorded in the history (`llmkit logs`); `-c` continues the last
conversation and `--cid` any earlier one, so an ask can follow up on a chat.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any

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
    p.add_argument("prompt", nargs="*", help="the question (stdin is appended when piped)")
    p.add_argument("-m", "--model", help="model id, e.g. openai:gpt-4o-mini (default: see `llmkit models`)")
    p.add_argument("-s", "--system", help="system prompt")
    add_model_options(p)
    p.add_argument("--no-stream", action="store_true", help="print the answer when it is complete")
    p.add_argument("--json", action="store_true", help="print the answer and usage as JSON")
    add_conversation_options(p)


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
    p.add_argument("--no-log", action="store_true", help="do not record this in the history")


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
    if not sys.stdin.isatty():
        data = sys.stdin.buffer.read() if hasattr(sys.stdin, "buffer") else sys.stdin.read().encode("utf-8", "replace")
        if b"\0" in data[:8192]:
            print("error: stdin holds binary data, not text (pipe in a text file)", file=sys.stderr)
            return 2
        piped = _text(data, "stdin")
        if piped.strip():
            prompt = f"{prompt}\n\n{piped}" if prompt else piped
    if not prompt.strip():
        print("error: no prompt given (pass it as an argument or pipe it in)", file=sys.stderr)
        return 2
    history = open_history(args)
    cid, turns, conversation = resume(history, args) if history is not None else (None, [], {})
    kwargs = client_kwargs(args)
    model = args.model or conversation.get("model")
    # the conversation's own model takes what it can of the options; one named here takes them all
    client = _client(model, kwargs) if args.model or not conversation else open_client(model, kwargs)[0]
    conv = Conversation(client, system=args.system or conversation.get("system"), cid=cid, turns=turns,
                        history=None if args.no_log else history, source="ask")  # fmt: skip
    streaming = not (args.json or args.no_stream)
    try:
        turn = conv.send(prompt, on_text=_stdout_writer() if streaming else None, stream=streaming,
                         catch_interrupt=True)  # fmt: skip
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
        print(json.dumps({"model": turn.model, "text": turn.text, "finish_reason": turn.finish_reason,
                          "conversation_id": conv.cid, "usage": {"input_tokens": u.input_tokens,
                          "output_tokens": u.output_tokens, "cost": u.cost, "estimated": u.estimated}},
                         ensure_ascii=False))  # fmt: skip
    else:
        print(turn.text)
    return 0


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
