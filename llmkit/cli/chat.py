"""`llmkit chat [-m MODEL] [-s SYSTEM] [-c | --cid ID]`: the interactive chat (llmkit.repl)."""

from __future__ import annotations

import argparse

from llmkit.cli.ask import add_conversation_options, add_model_options

__all__ = ["add_arguments", "run"]


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("-m", "--model", help="model id (default: see `llmkit models`); /model switches mid-chat")
    p.add_argument("-s", "--system", help="system prompt (/system changes it mid-chat)")
    add_model_options(p)
    add_conversation_options(p)


def run(args: argparse.Namespace) -> int:
    from llmkit import registry
    from llmkit.cli.ask import client_kwargs, open_history, resume
    from llmkit.cli.models import model_candidates
    from llmkit.conversation import Conversation
    from llmkit.errors import LLMKitError
    from llmkit.repl.app import ChatApp, describe_resume
    from llmkit.repl.commands import COMMANDS
    from llmkit.repl.input import make_reader
    from llmkit.repl.render import Renderer

    out = Renderer()
    history = open_history(args)
    cid, turns, conversation = resume(history, args) if history is not None else (None, [], {})
    if args.model:
        model, reason = args.model, "chosen with -m"
    elif conversation.get("model"):
        model, reason = conversation["model"], "the model of the conversation you continue"
    else:
        model, reason = registry.default_model(), registry.default_model_reason()
    kwargs = client_kwargs(args)
    try:
        client, dropped = _load(out, model, kwargs)
    except LLMKitError as exc:
        if args.model or not conversation:
            raise
        # the conversation's model is gone (no key now, a removed endpoint): go on with the default
        out.warn(f"cannot use the conversation's model {model}: {str(exc).splitlines()[0]}")
        model, reason = registry.default_model(), registry.default_model_reason()
        client, dropped = _load(out, model, kwargs)
    if dropped:
        out.warn(f"{client.model} does not take: {', '.join(dropped)} (left out)")
    conv = Conversation(client, system=args.system or conversation.get("system"), cid=cid, turns=turns,
                        history=None if args.no_log else history, source="chat")  # fmt: skip
    if args.system and cid and conv.history is not None:
        conv.set_system(args.system)
    reader = make_reader(COMMANDS, models=model_candidates)
    resumed = describe_resume(cid, turns, conversation) if cid else None
    return ChatApp(conv, reader, out, reason, client_kwargs=kwargs).run(resumed=resumed)


def _load(out, model: str, kwargs: dict):
    """open_client, with a spinner for local models (loading weights takes seconds)."""
    from llmkit import registry
    from llmkit.conversation import open_client

    if out.rich and registry.resolve(model).provider in ("mini", "hf"):
        with out.console.status(f"loading {model} ..."):
            return open_client(model, kwargs)
    return open_client(model, kwargs)
