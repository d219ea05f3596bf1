"""`llmkit --help` and `import llmkit` with the three first-party plugins installed, against
the same without them, side by side in one run. Target: <= 1.1x.

    python benchmarks/plugins_startup.py [--runs 20] [--quick]

The two sides must differ only by the plugins, so both run `python -S` with an explicit
path: a folder of links to everything in this interpreter's site-packages except the
plugins (and their editable-install hooks), plus, on the plugged side, a folder the three
plugins are installed into as ordinary wheels (`pip install --target`). Runs interleave
so that machine load hits both alike; each side has its own LLMKIT_HOME, warmed once (the
plugin scan is cached there, as it is for a user after the first run).
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import sysconfig
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PLUGINS = sorted(p for p in (ROOT / "plugins").iterdir() if (p / "pyproject.toml").exists())
MODULES = {"llmkit_anthropic", "llmkit_tools", "llmkit_commit"}


def _is_plugin(entry: str) -> bool:
    name = re.sub(r"[-_.]+", "_", entry.lower())
    return any(name.startswith(m) or name.startswith(f"__editable__{m}") or name.startswith(f"__editable___{m}")
               for m in MODULES)  # fmt: skip


def build(work: Path) -> tuple[Path, Path]:
    site = Path(sysconfig.get_paths()["purelib"])
    base = work / "base"
    base.mkdir()
    for entry in os.listdir(site):
        if not _is_plugin(entry) and not entry.endswith(".pth") and not entry.startswith("llmkit"):
            os.symlink(site / entry, base / entry)
    plugged = work / "plugged"
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation",
                    "--target", str(plugged), *map(str, PLUGINS)], check=True)  # fmt: skip
    return base, plugged


def wall(cmd: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True, env=env)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--quick", action="store_true", help="5 runs each (a smoke test, not a measurement)")
    args = parser.parse_args()
    runs = 5 if args.quick else args.runs
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        base, plugged = build(work)
        env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "LLMKIT_PLUGINS")}
        sides = {
            "without": {**env, "PYTHONPATH": f"{ROOT}{os.pathsep}{base}", "LLMKIT_HOME": str(work / "home-without")},
            "with": {**env, "PYTHONPATH": f"{ROOT}{os.pathsep}{plugged}{os.pathsep}{base}",
                     "LLMKIT_HOME": str(work / "home-with")},
        }  # fmt: skip
        found = subprocess.run([sys.executable, "-S", "-m", "llmkit", "plugins", "--no-check"],
                               env=sides["with"], capture_output=True, text=True, check=True).stdout  # fmt: skip
        names = sorted(set(re.findall(r"^(llmkit-\w+) ", found, re.M)))
        if len(names) != len(PLUGINS):
            sys.exit(f"expected {len(PLUGINS)} plugins on the plugged side, found {names}:\n{found}")
        helped = subprocess.run([sys.executable, "-S", "-m", "llmkit", "--help"], env=sides["with"],
                                capture_output=True, text=True, check=True).stdout  # fmt: skip
        if "commit" not in helped:
            sys.exit("`llmkit --help` on the plugged side does not list the plugin command `commit`")
        commands = {
            "import llmkit": [sys.executable, "-S", "-c", "import llmkit"],
            "llmkit --help": [sys.executable, "-S", "-m", "llmkit", "--help"],
        }
        print(f"plugins on the plugged side: {', '.join(names)}; runs: {runs} each, interleaved")
        for label, cmd in commands.items():
            for side in sides.values():
                wall(cmd, side)  # warm the file cache and the plugin scan cache
            times: dict[str, list[float]] = {name: [] for name in sides}
            for _ in range(runs):
                for name, side in sides.items():
                    times[name].append(wall(cmd, side))
            without, with_ = (statistics.median(times[n]) * 1000 for n in ("without", "with"))
            ratio = with_ / without
            print(f"{label:<14} without plugins {without:6.1f} ms, with {with_:6.1f} ms (medians): "
                  f"ratio {ratio:.3f} (target <= 1.1) {'OK' if ratio <= 1.1 else 'MISSED'}")  # fmt: skip


if __name__ == "__main__":
    main()
