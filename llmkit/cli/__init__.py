"""The `llmkit` command (internal: the public API is the llmkit package). Each
subcommand lives in its own small module whose arguments are declared cheaply, so
`llmkit --help` stays fast (no torch, transformers or openai). Commands from plugins
(entry-point group "llmkit.commands") are listed from package metadata and imported only
when the one invoked is theirs."""

from __future__ import annotations

import argparse
import importlib
import os
import sys

__all__ = ["main", "build_parser", "COMMANDS"]

# subcommand -> (module, one-line help)
COMMANDS = {
    "ask": ("llmkit.cli.ask", "ask a model one question (the default: llmkit \"question\"; reads piped stdin)"),
    "chat": ("llmkit.cli.chat", "chat with a model in the terminal (Markdown, /commands, history)"),
    "logs": ("llmkit.cli.logs", "show and search the history of asks and chats"),
    "templates": ("llmkit.cli.templates", "saved prompts: a system prompt, options and a model under a name (ask -T)"),
    "keys": ("llmkit.cli.keys", "store API keys in llmkit's home (used when the environment has none)"),
    "config": ("llmkit.cli.config", "show the config file; set the default model and aliases"),
    "models": ("llmkit.cli.models", "list providers, aliases and configured endpoints"),
    "pull": ("llmkit.cli.pull", "fetch a small local model once (smollm2, hf:ORG/NAME, a .gguf file) and name it"),
    "train": ("llmkit.cli.train", "train the bundled GPT architecture on your own text"),
    "attention": ("llmkit.cli.attention", "show a model's attention weights as per-layer, per-head heatmaps"),
    "compress": ("llmkit.cli.compress", "compress a file losslessly with a local model (arithmetic coding)"),
    "decompress": ("llmkit.cli.decompress", "give back the original of a file made by `llmkit compress`"),
    "bpb": ("llmkit.cli.bpb", "bits per byte of files under local models, beside gzip, bz2 and xz"),
    # tasks (llmkit.tasks): files or stdin in, text or --json out
    "complete": ("llmkit.cli.complete", "complete code at a cursor (FILE:LINE[:COL]) or from stdin"),
    "translate": ("llmkit.cli.translate", "translate text, keeping Markdown, code and placeholders"),
    "qa": ("llmkit.cli.qa", "answer a question from documents, with citations (or abstain)"),
    "topics": ("llmkit.cli.topics", "find the topics in a set of documents"),
    "summarize": ("llmkit.cli.summarize", "summarise a document, however long"),
    "sentiment": ("llmkit.cli.sentiment", "label the sentiment of texts (one per line, or files)"),
    "extract": ("llmkit.cli.extract", "pull structured facts out of text, by a JSON schema"),
    "eval": ("llmkit.cli.eval", "measure a task's quality on a model, on real evaluation data"),
    "plugins": ("llmkit.cli.plugins", "installed plugins: what each adds, their versions and problems"),
    # embeddings at the terminal (llmkit.cli.vector_store)
    "embed": ("llmkit.cli.embed", "embed texts or files into a collection (SQLite) for `llmkit similar`"),
    "similar": ("llmkit.cli.similar", "the items of a collection most like a text"),
    "collections": ("llmkit.cli.collections", "list or delete the collections made by `llmkit embed`"),
}


def build_parser(argv: list[str] | None = None) -> argparse.ArgumentParser:
    """The parser. `argv` names the command about to run: a plugin's command is imported
    (to declare its arguments) only then; the others are listed by their help line."""
    from llmkit import __version__, plugins

    parser = argparse.ArgumentParser(
        prog="llmkit", description="One interface over every kind of language model.",
        epilog='llmkit "a question" is short for llmkit ask "a question". --debug may follow any command.',
    )  # fmt: skip
    parser.add_argument("--version", action="version", version=f"llmkit {__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks and debug logs")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (module, help_text) in COMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        p.set_defaults(_module=module)
        importlib.import_module(module).add_arguments(p)
    plugins.add_builtin("command", {name: module for name, (module, _) in COMMANDS.items()})
    invoked = next((a for a in (sys.argv[1:] if argv is None else argv) if not a.startswith("-")), None)
    for reg in plugins.registrations("command"):
        if reg.owner == plugins.BUILTIN:
            continue
        help_text = f"{reg.summary or 'a plugin command'} [{reg.owner}]"
        p = sub.add_parser(reg.name, help=help_text, description=help_text)
        p.set_defaults(_plugin=reg)
        if reg.name == invoked:
            _plugin_arguments(reg, p)
    return parser


def _plugin_arguments(reg, parser: argparse.ArgumentParser) -> None:
    from llmkit.errors import PluginError

    command = reg.load()  # PluginError (one line, naming the plugin) when its import fails
    if not callable(getattr(command, "run", None)):
        raise PluginError(f"command {reg.name!r} of plugin {reg.owner} has no run(args) function ({reg.target})",
                          hint=f"This is a bug in {reg.owner}: report it there, or uninstall it.")  # fmt: skip
    if getattr(command, "help", None):
        parser.description = command.help
    add = getattr(command, "add_arguments", None)
    if add is not None:
        try:
            add(parser)
        except Exception as exc:
            raise PluginError(f"command {reg.name!r} of plugin {reg.owner} failed to declare its arguments: "
                              f"{type(exc).__name__}: {exc}", hint=f"This is a bug in {reg.owner}.") from exc  # fmt: skip


def _debug_flag(argv: list[str]) -> tuple[list[str], bool]:
    """--debug wherever it is (before a `--`): after the command as well as before it."""
    end = argv.index("--") if "--" in argv else len(argv)
    kept = [a for a in argv[:end] if a != "--debug"]
    return kept + argv[end:], len(kept) < end


def _default_command(argv: list[str], commands: set[str]) -> list[str]:
    """`llmkit "question"` is `llmkit ask "question"`: argv with "ask" put first when it
    does not start with a command (plugin commands included), help or --version. A
    lone word that is nearly a command is a typo, not a question."""
    if not argv or argv[0] in commands or argv[0] in ("-h", "--help", "--version"):
        return argv
    if len(argv) == 1 and not argv[0].startswith("-") and " " not in argv[0]:
        import difflib

        close = difflib.get_close_matches(argv[0], sorted(commands), n=1, cutoff=0.75)
        if close:
            print(f"llmkit: error: unknown command {argv[0]!r}: did you mean {close[0]!r}? "
                  f"(to ask it as a question: llmkit ask {argv[0]})", file=sys.stderr)  # fmt: skip
            raise SystemExit(2)
    return ["ask", *argv]


def main(argv: list[str] | None = None) -> int:
    from llmkit import plugins
    from llmkit.errors import LLMKitError

    argv, debug = _debug_flag(list(sys.argv[1:] if argv is None else argv))
    try:
        commands = set(COMMANDS) | {reg.name for reg in plugins.registrations("command")}
        argv = _default_command(argv, commands)
        parser = build_parser(argv)
    except LLMKitError as exc:  # a plugin command that cannot load: one line, naming the plugin
        print(f"error: {exc.one_line()}", file=sys.stderr)
        return 1
    args = parser.parse_args(argv)
    args.debug = args.debug or debug
    if not args.command:
        parser.print_help()
        return 0
    if args.debug:
        import logging

        logging.basicConfig(level=logging.DEBUG)

    try:
        if getattr(args, "_plugin", None) is not None:
            return args._plugin.load().run(args) or 0
        return importlib.import_module(args._module).run(args) or 0
    except LLMKitError as exc:
        if args.debug:
            raise
        print(f"error: {exc.one_line()}", file=sys.stderr)
        return 1
    except BrokenPipeError:  # `llmkit ... | head`: the reader has all it wanted
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())  # no second error when Python flushes stdout at exit
        return 0
    except OSError as exc:  # a file that cannot be read or written: still one line
        if args.debug:
            raise
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # a bug, or a library's error llmkit did not foresee: still one line
        if args.debug:
            raise
        from llmkit.errors import redact

        text = redact(" ".join(str(exc).split()))[:300]
        reg = getattr(args, "_plugin", None)
        where = f"the command of plugin {reg.owner} failed: " if reg is not None else ""
        print(f"error: {where}{type(exc).__name__}: {text} (rerun with --debug for the traceback)", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
