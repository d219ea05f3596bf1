"""`llmkit chat [-m MODEL] [-s SYSTEM] [-T TEMPLATE] [-c | --cid ID]`: the interactive chat (llmkit.repl)."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

from llmkit.cli.ask import add_conversation_options, add_model_options
from llmkit.cli.ask_input import add_template_argument

if TYPE_CHECKING:
    from llmkit.repl.app import ChatApp

__all__ = ["add_arguments", "run"]


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("-m", "--model", help="model id (default: see `llmkit models`); /model switches mid-chat")
    p.add_argument("-s", "--system", help="system prompt (/system changes it mid-chat)")
    add_model_options(p)
    add_conversation_options(p)
    add_template_argument(p)
    t = p.add_argument_group("tools (the model may call them; /tools lists them)")
    t.add_argument("--tools", action="store_true",
                   help="built-in safe tools: calculate, now, and read/list/search files under --root")  # fmt: skip
    t.add_argument("--tool", action="append", default=[], metavar="NAME[=ARG]",
                   help="a tool by name, from llmkit or a plugin (`llmkit plugins` lists them), e.g. "
                        "convert_units or sqlite=data.db (repeatable)")  # fmt: skip
    t.add_argument("--root", default=".", help="the folder the file tools may read (default: the current one)")
    t.add_argument("--mcp", action="append", default=[], metavar="CMD",
                   help="tools of an MCP server: a command line or an http(s) URL (repeatable)")  # fmt: skip
    t.add_argument("--trust-mcp", action="store_true", help="run MCP tools without asking first")


def run(args: argparse.Namespace) -> int:
    if args.model is not None and not args.model.strip():  # -m '' is a mistake, not "the default"
        from llmkit.errors import UnknownModelError

        raise UnknownModelError("-m was given an empty model id", hint="Name a model, or leave -m out for the default.")
    from llmkit.repl.typeahead import TypeaheadHold

    hold = TypeaheadHold().start()  # keys typed while the model loads reach the prompt as typed
    try:
        return _run(args, hold)
    finally:
        hold.release()


def _run(args: argparse.Namespace, hold: Any) -> int:
    from llmkit import registry
    from llmkit.cli.ask import client_kwargs, open_history, resume
    from llmkit.cli.ask_input import load_template
    from llmkit.cli.model_options import defaults_for
    from llmkit.cli.models import model_candidates
    from llmkit.conversation import Conversation
    from llmkit.errors import LLMKitError
    from llmkit.repl.app import describe_resume
    from llmkit.repl.commands import COMMANDS
    from llmkit.repl.input import make_reader
    from llmkit.repl.render import Renderer

    out = Renderer()
    template = load_template(args)
    history = open_history(args)
    cid, turns, conversation = resume(history, args) if history is not None else (None, [], {})
    if args.model:
        model, reason = args.model, "chosen with -m"
    elif template is not None and template.model:
        model, reason = template.model, f"from the template {template.name}"
    elif conversation.get("model"):
        model, reason = conversation["model"], "the model of the conversation you continue"
    else:
        model, reason = registry.default_model(), registry.default_model_reason()
    kwargs = {**(template.options if template else {}), **client_kwargs(args)}  # /model carries these over
    try:
        client, dropped = _load(out, model, {**defaults_for(model), **kwargs})
    except LLMKitError as exc:
        if args.model or not conversation:
            raise
        # the conversation's model is gone (no key now, a removed endpoint): go on with the default
        out.warn(f"cannot use the conversation's model {model}: {str(exc).splitlines()[0]}")
        model, reason = registry.default_model(), registry.default_model_reason()
        client, dropped = _load(out, model, {**defaults_for(model), **kwargs})
    if dropped:
        out.warn(f"{client.model} does not take: {', '.join(dropped)} (left out)")
    system = args.system or (template.system if template else None)
    conv = Conversation(client, system=system or conversation.get("system"), cid=cid, turns=turns,
                        history=None if args.no_log else history, source="chat")  # fmt: skip
    if system and cid and conv.history is not None:
        conv.set_system(system)
    reader = make_reader(COMMANDS, models=model_candidates)
    reader.before_first_read = hold.release
    resumed = describe_resume(cid, turns, conversation) if cid else None
    tools, servers = _tools(args, out)
    try:
        return _app_class()(conv, reader, out, reason, client_kwargs=kwargs, tools=tools).run(resumed=resumed)
    finally:
        for server in servers:
            server.close()


def _app_class() -> type[ChatApp]:
    """The chat app whose /model applies the new model's stored default options
    (`llmkit models options`) under the options given for the chat."""
    from llmkit.cli.model_options import defaults_for
    from llmkit.repl.app import ChatApp

    class App(ChatApp):
        def switch_model(self, model: str) -> None:
            given = self.client_kwargs
            self.client_kwargs = {**defaults_for(model), **given}
            try:
                super().switch_model(model)
            finally:
                self.client_kwargs = given

    return App


def _tools(args, out) -> tuple[list, list]:
    """The tools asked for on the command line, and the MCP servers to close at the end."""
    from llmkit import plugins
    from llmkit.agents import mcp_server
    from llmkit.agents.builtin import default_tools

    tools = default_tools(args.root) if args.tools else []
    for spec in args.tool:
        name, sep, arg = spec.partition("=")
        tools.append(plugins.get_tool(name.strip(), arg if sep else None))
    if args.tool:
        out.info(f"tools by name: {', '.join(args.tool)}; /tools lists them")
    servers = [mcp_server(target, requires_approval=not args.trust_mcp) for target in args.mcp]
    for server in servers:
        tools.append(server)
        out.info(f"MCP tools from {server.url or args.mcp[servers.index(server)]}: "
                 f"{', '.join(t.name for t in server.tools())}" + ("" if args.trust_mcp else " (each call asks first)"))
    if args.tools:
        out.info(f"tools: calculate, now, and read-only file tools under {args.root}; /tools lists them")
    return tools, servers


def _load(out, model: str, kwargs: dict):
    """open_client, with a spinner for local models (loading weights takes seconds)."""
    from llmkit import registry
    from llmkit.conversation import open_client

    if out.rich and registry.resolve(model).provider in ("mini", "hf"):
        with out.console.status(f"loading {model} ..."):
            return open_client(model, kwargs)
    return open_client(model, kwargs)
