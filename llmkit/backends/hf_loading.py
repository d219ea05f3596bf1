"""Loading Hugging Face models for the `hf` backend: hub ids, local directories, GGUF files.

    hf:org/name            from_pretrained: the local HF cache, then the hub (unless HF_HUB_OFFLINE)
    hf:/path/to/dir        a saved model directory (config.json + weights + tokenizer)
    hf:/path/to/file.gguf  dequantised by transformers (needs gguf, accelerate), then cached

GGUF conversion takes about a minute for a small model, so the converted model is saved
as safetensors under `llmkit.config.home()/cache/hf/<sha256 of the file>/`, written to a
temporary directory and renamed into place (a crash never leaves a half-written cache).
A model loaded from GGUF is marked quantized and refuses `save_pretrained`, so the copy
is made from a fresh model built from its config with the state dict loaded into it.

A model is loaded once per process (per source, device, dtype, revision and
trust_remote_code) and shared by every backend that names it, through the `MODELS`
cache: a backend holds a lease and releases it on close(); the most recently released
model stays loaded for the next client (see llmkit.cache).
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import os
import sys
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from .. import config
from ..atomic import replace_dir, temporary_dir, write_text_atomic
from ..cache import Lease, SharedCache, on_clear
from ..errors import CheckpointError, ConfigurationError, InvalidOptionError, UnknownModelError

__all__ = [
    "MODELS",
    "LoadedModel",
    "acquire",
    "classify",
    "pick_device",
    "pick_dtype",
    "file_hash",
    "cache_root",
    "DTYPES",
]

MODELS: SharedCache[tuple, LoadedModel] = SharedCache("hf models", keep=1, close=lambda lm: lm.close())
_hashes: dict[tuple[str, int, int, int], str] = {}  # (path, size, mtime_ns, inode) -> sha256
on_clear(_hashes.clear)

DTYPES = {
    "float32": torch.float32, "fp32": torch.float32, "float": torch.float32,
    "bfloat16": torch.bfloat16, "bf16": torch.bfloat16,
    "float16": torch.float16, "fp16": torch.float16, "half": torch.float16,
}  # fmt: skip


@dataclass
class LoadedModel:
    """A model with its tokenizer, shared between backends; `lock` serialises generation
    (one model, one global RNG for seeds)."""

    model: Any
    tokenizer: Any
    name: str  # what `served_model` reports: the hub id, directory or file name
    device: torch.device
    source: str  # "hub", "dir" or "gguf"
    path: Path | None = None  # the directory the weights were read from (the converted copy for GGUF)
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    vocabulary: Any = field(default=None, repr=False)  # for constrained decoding, built on first use
    mergeable: bool | None = None  # whether its cache merges row by row (hf_batching); None: not tried yet
    fingerprint: Any = field(default=None, repr=False)  # digests of weights and tokenizer, made on first use
    precision: dict[str, Any] = field(default_factory=dict)  # the dtype it runs in and why (hf_precision)
    packer: Any = field(default=None, repr=False)  # hf_packing.Packer: the linears packed in a thread after load

    def ready(self) -> None:
        """Wait for the packing to end: generating, copying the model and saying how it
        runs need it done (scoring does not: it runs on the plain weights either way)."""
        if self.packer is not None:
            self.packer.wait()

    def close(self) -> None:
        """Leaving the cache: stop packing (the weights may be mapped from a file that is
        about to change; the layers packed so far stay packed)."""
        if self.packer is not None:
            self.packer.stop()


def forward_arguments(model: Any) -> tuple[str, dict[str, Any]]:
    """How to call `model`'s forward with a cache: the cache argument's name (transformers
    5.x renames past_key_values to cache; the old name warns) and, where the model takes
    it, logits_to_keep=1 (only the last position's logits: a prompt's others cost a
    vocabulary-wide matmul each)."""
    import inspect

    accepted = inspect.signature(model.forward).parameters
    key = "cache" if "cache" in accepted else "past_key_values"
    return key, ({"logits_to_keep": 1} if "logits_to_keep" in accepted else {})


def cache_root() -> Path:
    """Where converted GGUF models are kept."""
    return config.cache_dir() / "hf"


def pick_device(setting: str | None) -> torch.device:
    if setting in (None, "", "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(setting)
    except (RuntimeError, TypeError):
        raise InvalidOptionError(
            f"device={setting!r} is not a torch device", hint="Use 'cpu', 'cuda', 'cuda:1', 'mps' or 'auto'."
        ) from None
    checks: dict[str, Callable[[], bool]] = {"cuda": torch.cuda.is_available, "mps": torch.backends.mps.is_available}
    available = checks.get(device.type)
    if available is not None and not available():
        raise ConfigurationError(
            f"device={setting!r} was asked for, but this torch cannot use {device.type} here",
            hint="Use device='cpu' (or 'auto'), or install a torch build for this accelerator.",
        )
    return device


def pick_dtype(setting: str | None, device: torch.device) -> torch.dtype | str:
    """fp32 on CPU (exact there); bf16 (or fp16) on CUDA; "auto": on CPU "measure"
    (hf_precision decides after loading), elsewhere the checkpoint's own dtype."""
    if setting in (None, ""):
        if device.type == "cuda":
            return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        return torch.float32
    if setting == "auto":
        return "measure" if device.type == "cpu" else "auto"
    chosen: torch.dtype
    if isinstance(setting, torch.dtype):
        chosen = setting
    elif setting not in DTYPES:
        raise InvalidOptionError(
            f"dtype={setting!r} is not supported", hint="Use one of: auto, " + ", ".join(sorted(DTYPES)) + "."
        )
    else:
        chosen = DTYPES[setting]
    if device.type == "cpu":
        from .hf_precision import check_cpu_dtype

        check_cpu_dtype(chosen)
    return chosen


def classify(spec: str) -> tuple[str, str]:
    """(kind, location): kind is "gguf", "dir" or "hub". A path that does not exist is an
    error here, not a hub lookup: "/models/x" is never meant as a repository."""
    if not spec:
        raise UnknownModelError(
            "no model after 'hf:'",
            hint='Name one: "hf:org/name" (hub id), "hf:/path/to/dir" or "hf:/path/to/model.gguf".',
        )
    path = Path(spec).expanduser()
    drive = len(spec) > 1 and spec[1] == ":"  # C:\models\...
    looks_local = drive or spec.startswith(("/", "./", "../", "~", "\\")) or spec.endswith(".gguf")
    if path.exists():
        return ("gguf" if path.is_file() and spec.endswith(".gguf") else "dir"), str(path.resolve())
    if looks_local:
        raise CheckpointError(
            f"no such file or directory: {spec}",
            hint="Check the path. hf: takes a model directory, a .gguf file, or a hub id like org/name.",
            model=f"hf:{spec}",
        )
    return "hub", spec


def acquire(
    spec: str,
    *,
    device: str | None = None,
    dtype: str | None = None,
    trust_remote_code: bool = False,
    revision: str | None = None,
) -> Lease[LoadedModel]:
    """A lease on the model named by `spec` (what follows "hf:"), loading it once."""
    kind, location = classify(spec)
    dev = pick_device(device)
    dt = pick_dtype(dtype, dev)
    key = (kind, location, str(dev), str(dt), bool(trust_remote_code), revision)
    return MODELS.acquire(key, lambda: _load(spec, kind, location, dev, dt, bool(trust_remote_code), revision))


def _load(spec: str, kind: str, location: str, dev: torch.device, dt: torch.dtype | str, trust_remote_code: bool,
          revision: str | None) -> LoadedModel:  # fmt: skip
    kwargs = {"dtype": torch.float32 if dt == "measure" else dt, "trust_remote_code": trust_remote_code}
    with _quiet_transformers():
        if kind == "gguf":
            lm = _load_gguf(Path(location), kwargs, spec)
        else:
            with _progress(f"Loading hf:{spec}"):
                if kind == "dir":
                    lm = _load_dir(Path(location), kwargs, name=Path(location).name)
                else:
                    lm = _load_hub(location, {**kwargs, "revision": revision})
    try:
        lm.model.to(dev).eval()
    except (RuntimeError, torch.cuda.OutOfMemoryError) as exc:  # no such device, out of memory
        raise ConfigurationError(
            f"could not put hf:{spec} on {dev}: {type(exc).__name__}: {_first_line(exc)}",
            hint="Choose another device (device='cpu'), a smaller dtype (dtype='bfloat16'), or a smaller model.",
        ) from exc
    lm.device = dev
    if dt == "measure":
        from .hf_precision import choose_cpu_dtype

        lm.model, lm.precision = choose_cpu_dtype(lm.model, lm.name)
    else:
        why = "dtype=auto: the checkpoint's" if dt == "auto" else "the default" if dt == pick_dtype(None, dev) else "asked for"
        lm.precision = {"dtype": str(next(lm.model.parameters()).dtype).removeprefix("torch."), "why": why}
    if dev.type == "cpu":
        from .hf_packing import Packer

        # bfloat16: the same bits; float32: for generation (hf_packing)
        lm.packer = Packer(lm.model, lambda packed: lm.precision.update(packed=packed) if packed else None)
    return lm


# --- the three sources -------------------------------------------------------------


def _auto_classes() -> tuple[Any, Any]:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    return AutoModelForCausalLM, AutoTokenizer


def _load_dir(path: Path, kwargs: dict[str, Any], name: str, source: str = "dir") -> LoadedModel:
    if not (path / "config.json").is_file():
        what = "a GGUF file without the .gguf suffix?" if path.is_file() else "no config.json in it"
        raise CheckpointError(
            f"{path} is not a Hugging Face model directory ({what})",
            hint="Point hf: at a directory saved with save_pretrained (config.json, *.safetensors, "
            "tokenizer files), or at a .gguf file.",
            model=f"hf:{path}",
        )
    model_cls, tok_cls = _auto_classes()
    try:
        tokenizer = tok_cls.from_pretrained(path, trust_remote_code=kwargs["trust_remote_code"])
        model = model_cls.from_pretrained(path, **kwargs)
    except Exception as exc:  # corrupt weights, missing tokenizer, unknown architecture...
        raise CheckpointError(
            f"could not load the model in {path}: {type(exc).__name__}: {_first_line(exc)}",
            hint="The files may be incomplete or corrupt (copy or convert them again), or need a newer "
            "transformers (pip install -U transformers) or trust_remote_code=True.",
            model=f"hf:{path}",
        ) from exc
    return LoadedModel(model, tokenizer, name, torch.device("cpu"), source, path)


def _offline() -> bool:
    from huggingface_hub import constants

    flag = os.environ.get("HF_HUB_OFFLINE") or os.environ.get("TRANSFORMERS_OFFLINE") or ""
    return constants.HF_HUB_OFFLINE or flag.strip().lower() in ("1", "true", "yes", "on")


def _is_cached(repo: str, revision: str | None) -> bool:
    from huggingface_hub import try_to_load_from_cache

    try:
        found = try_to_load_from_cache(repo, "config.json", revision=revision)
    except Exception:  # a malformed repo id
        return False
    return isinstance(found, str)


def _load_hub(repo: str, kwargs: dict[str, Any]) -> LoadedModel:
    model_cls, tok_cls = _auto_classes()
    offline = _offline()
    revision = kwargs.get("revision")
    common = {"trust_remote_code": kwargs["trust_remote_code"], "revision": revision, "local_files_only": offline}
    try:
        tokenizer = tok_cls.from_pretrained(repo, **common)
        model = model_cls.from_pretrained(repo, **{**kwargs, **common})
    except Exception as exc:
        raise _hub_error(repo, revision, offline, exc) from exc
    return LoadedModel(model, tokenizer, repo, torch.device("cpu"), "hub")


def _hub_error(repo: str, revision: str | None, offline: bool, exc: Exception) -> CheckpointError:
    from huggingface_hub import errors as hub_errors

    model = f"hf:{repo}"
    cause = _hub_cause(exc, hub_errors)
    if isinstance(cause, hub_errors.RevisionNotFoundError):
        return CheckpointError(
            f"{repo} has no revision {revision!r} on the Hugging Face hub",
            hint="Check the branch, tag or commit (revision=...), or leave it out for the default branch.",
            model=model,
        )
    if isinstance(cause, hub_errors.GatedRepoError):
        return CheckpointError(
            f"{repo} is a gated repository on the Hugging Face hub",
            hint="Accept its licence on huggingface.co and log in (hf auth login), or use a local copy.",
            model=model,
        )
    if isinstance(cause, hub_errors.RepositoryNotFoundError):
        return CheckpointError(
            f"no model {repo!r} on the Hugging Face hub",
            hint="Check the id (org/name), or pass a local directory or .gguf file: hf:/path/to/model.",
            model=model,
        )
    if not _is_cached(repo, revision):
        why = "HF_HUB_OFFLINE is set" if offline else "the hub could not be reached"
        return CheckpointError(
            f"{repo} is not in the local Hugging Face cache and {why}",
            hint=f"Download it where the hub is reachable (hf download {repo}) and copy the cache "
            "(HF_HOME) here, or use a local directory or .gguf file (hf:/path/to/model)"
            + ("; unset HF_HUB_OFFLINE if the hub is reachable." if offline else "."),
            model=model,
        )
    return CheckpointError(
        f"could not load {repo} from the local cache: {type(cause).__name__}: {_first_line(cause)}",
        hint="The cached files may be incomplete: download them again, or use a local directory.",
        model=model,
    )


def _hub_cause(exc: BaseException, hub_errors: Any) -> BaseException:
    """The hub's own error behind transformers' OSError (it re-raises them `from`)."""
    wanted = (hub_errors.RepositoryNotFoundError, hub_errors.GatedRepoError, hub_errors.RevisionNotFoundError)
    seen: BaseException | None = exc
    for _ in range(8):
        if seen is None:
            break
        if isinstance(seen, wanted):
            return seen
        seen = seen.__cause__ or seen.__context__
    return exc


def _load_gguf(file: Path, kwargs: dict[str, Any], spec: str) -> LoadedModel:
    target = cache_root() / file_hash(file)
    if not (target / "config.json").is_file():
        _convert_gguf(file, target)
    try:
        with _progress(f"Loading hf:{spec} (converted copy in {target})"):
            return _load_dir(target, kwargs, name=file.name, source="gguf")
    except CheckpointError as exc:
        exc.hint = f"The converted copy in {target} may be damaged: delete it and load again to re-convert."
        raise


def file_hash(file: Path) -> str:
    """sha256 of a file, remembered per (path, size, mtime, inode): in this process, and
    across processes in the cache's hashes.json, so a second run does not re-read the file."""
    st = file.stat()
    key = (str(file), st.st_size, st.st_mtime_ns, st.st_ino)
    if key in _hashes:
        return _hashes[key]
    index_file = cache_root() / "hashes.json"
    index = _read_json(index_file)
    known = index.get(key[0])
    if isinstance(known, list) and len(known) == 4 and tuple(known[:3]) == key[1:] and isinstance(known[3], str):
        _hashes[key] = known[3]
        return known[3]
    h = hashlib.sha256()
    with open(file, "rb") as f:
        while chunk := f.read(1 << 22):
            h.update(chunk)
    _hashes[key] = digest = h.hexdigest()
    index = {path: entry for path, entry in index.items() if os.path.exists(path)}  # forget deleted files
    index[key[0]] = [*key[1:], digest]
    with contextlib.suppress(OSError):  # a read-only cache only costs the next run a re-hash
        write_text_atomic(index_file, json.dumps(index))
    return digest


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _convert_gguf(file: Path, target: Path) -> None:
    """Dequantise a GGUF file with transformers and save a safetensors copy at `target`."""
    for module in ("gguf", "accelerate"):
        try:
            __import__(module)
        except ImportError:
            raise ConfigurationError(
                f"loading a .gguf file needs the {module!r} package",
                hint="pip install 'llmkit[hf]' (or: pip install gguf accelerate).",
            ) from None
    model_cls, tok_cls = _auto_classes()
    if sys.stderr.isatty():  # transformers shows its own bar while dequantising: no spinner over it
        print(f"Converting {file.name} from GGUF (first load only; later loads use a cached copy)", file=sys.stderr)
    try:
        with _gguf_bar(sys.stderr.isatty()):
            tokenizer = tok_cls.from_pretrained(file.parent, gguf_file=file.name)
            quantized = model_cls.from_pretrained(file.parent, gguf_file=file.name, dtype=torch.float32)
    except Exception as exc:
        raise CheckpointError(
            f"could not read {file} as a GGUF model: {type(exc).__name__}: {_first_line(exc)}",
            hint="The file may be truncated, or its architecture unsupported by transformers' GGUF "
            "loader; try a newer transformers, or convert it to a model directory.",
            model=f"hf:{file}",
        ) from exc
    # A GGUF-loaded model refuses save_pretrained (it is marked quantized): copy the weights
    # into a plain model built from the same config, without the quantization marker.
    cfg = quantized.config
    if hasattr(cfg, "quantization_config"):
        delattr(cfg, "quantization_config")
    fresh = model_cls.from_config(cfg, dtype=torch.float32)
    fresh.load_state_dict(quantized.state_dict())
    fresh.generation_config = quantized.generation_config
    source = {"gguf_file": str(file), "sha256": target.name, "size": file.stat().st_size}
    try:
        _save_atomically(target, fresh, tokenizer, source)
    except OSError as exc:  # disk full, read-only cache
        raise CheckpointError(
            f"could not write the converted copy of {file.name} to {target.parent}: {exc.strerror or exc}",
            hint="Free some disk space, or point LLMKIT_HOME at a writable place with room "
            "(the copy is about 4 bytes per parameter).",
            model=f"hf:{file}",
        ) from exc


def _save_atomically(target: Path, model: Any, tokenizer: Any, source: dict[str, Any]) -> None:
    """Write into a temporary sibling directory, then rename: readers see all or nothing."""
    with temporary_dir(target) as tmp:
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        _write_source_note(tmp, source)
        if not (target / "config.json").is_file():  # else another process finished the same copy first
            replace_dir(tmp, target)  # an incomplete entry left from elsewhere is replaced


def _write_source_note(directory: Path, source: dict[str, Any]) -> None:
    """Which GGUF file a cached copy was made from (for people looking in the cache)."""
    (directory / "llmkit-source.json").write_text(json.dumps(source, indent=1))


# --- presentation ------------------------------------------------------------------


@contextlib.contextmanager
def _progress(message: str) -> Iterator[None]:
    """A spinner on stderr while loading, only on a terminal (rich, imported only then)."""
    if not sys.stderr.isatty():
        yield
        return
    try:
        from rich.console import Console
    except ImportError:
        print(message + " ...", file=sys.stderr)
        yield
        return
    with Console(stderr=True).status(message):
        yield


@contextlib.contextmanager
def _quiet_transformers() -> Iterator[None]:
    """transformers' own tqdm bars would fill logs (and fight rich's spinner on a TTY)."""
    from transformers.utils import logging as hf_logging

    was_enabled = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        if was_enabled:
            hf_logging.enable_progress_bar()


@contextlib.contextmanager
def _gguf_bar(show: bool) -> Iterator[None]:
    """transformers dequantises under a plain tqdm bar that its progress-bar switch does not
    reach; off a terminal it would only fill logs, so it is silenced there."""
    module: Any
    try:
        from transformers import modeling_gguf_pytorch_utils as module
    except ImportError:  # moved in some transformers version: its bar just shows
        module = None
    original = getattr(module, "tqdm", None)
    if show or original is None:
        yield
        return
    module.tqdm = functools.partial(original, disable=True)
    try:
        yield
    finally:
        module.tqdm = original


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0][:300] if text else ""
