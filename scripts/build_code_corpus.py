"""Build the code corpus of the bundled model v2 (issue 16) as one .tar.xz.

    python scripts/build_code_corpus.py -o .cache/code-corpus.tar.xz [--packages FILE] [--target-mb 350]

Design note. The recipe is `llmkit.mini.code_corpus` (licences, filters, de-duplication,
held-out split by package, the archive format); this script only fetches its inputs: each
package of the list (`scripts/code_corpus_packages.txt`, most valuable first) as a wheel,
`pip download --no-deps --only-binary=:all:` into a cache (`~/.cache/llmkit-corpus/wheels`,
reused on a re-run, so a second build needs no network), plus the CPython standard library
as the package "cpython-stdlib" (PSF, always in train). `--target-mb` keeps packages from
the top of the list until that many MB of source are kept; the rest are listed as skipped.
It prints a summary (packages kept and skipped with reasons, bytes after each stage, the
splits, the archive size, seconds) and `--json` writes the manifest with those figures.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from packaging.utils import InvalidWheelFilename, parse_wheel_filename
from packaging.version import Version

from llmkit.mini import code_corpus

__all__ = ["main", "read_package_list", "find_cached_wheel", "fetch_wheels"]

HERE = Path(__file__).resolve().parent
DEFAULT_LIST = HERE / "code_corpus_packages.txt"
DEFAULT_CACHE = Path.home() / ".cache" / "llmkit-corpus" / "wheels"


def read_package_list(path: Path) -> list[tuple[str, str | None]]:
    """(name, pinned version or None) for each line of a package list, in order, without repeats."""
    out: list[tuple[str, str | None]] = []
    seen: set[str] = set()
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        name, _, version = line.partition("==")
        key = code_corpus.normalise_name(name.strip())
        if key not in seen:
            seen.add(key)
            out.append((key, version.strip() or None))
    return out


def find_cached_wheel(cache: Path, name: str, version: str | None = None) -> Path | None:
    """The newest cached wheel of `name` (of `version` when pinned), or None."""
    best: tuple[Version, Path] | None = None
    for path in cache.glob("*.whl"):
        try:
            wheel_name, wheel_version, _, _ = parse_wheel_filename(path.name)
        except InvalidWheelFilename:
            continue
        if code_corpus.normalise_name(str(wheel_name)) != name:
            continue
        if version is not None and wheel_version != Version(version):
            continue
        if best is None or wheel_version > best[0]:
            best = (wheel_version, path)
    return best[1] if best else None


def _download(cache: Path, name: str, version: str | None) -> tuple[Path | None, str]:
    spec = f"{name}=={version}" if version else name
    command = [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--only-binary=:all:",
               "--disable-pip-version-check", "-d", str(cache), spec]
    done = subprocess.run(command, capture_output=True, text=True, timeout=900)
    if done.returncode != 0:
        lines = [line.strip() for line in (done.stderr or done.stdout).splitlines() if line.strip()]
        why = next((line for line in lines if line.startswith("ERROR")), lines[-1] if lines else "pip failed")
        return None, f"no wheel downloaded ({why[:160]})"
    wheel = find_cached_wheel(cache, name, version)
    return wheel, "" if wheel else "pip downloaded no wheel (an sdist only?)"


def fetch_wheels(packages: list[tuple[str, str | None]], cache: Path, *, offline: bool = False,
                 jobs: int = 4) -> tuple[list[Path], list[dict[str, str]]]:
    """The wheels of `packages` in list order (cached, else downloaded), and the packages with none."""
    cache.mkdir(parents=True, exist_ok=True)
    found: dict[str, Path] = {}
    reasons: dict[str, str] = {}
    missing = []
    for name, version in packages:
        cached = find_cached_wheel(cache, name, version)
        if cached:
            found[name] = cached
        elif offline:
            reasons[name] = "not in the wheel cache (--offline)"
        else:
            missing.append((name, version))
    if missing:
        print(f"downloading {len(missing)} wheels into {cache} ...", flush=True)
        with ThreadPoolExecutor(jobs) as pool:
            for (name, _), (wheel, why) in zip(missing, pool.map(lambda p: _download(cache, *p), missing), strict=True):
                if wheel:
                    found[name] = wheel
                else:
                    reasons[name] = why
    wheels = [found[name] for name, _ in packages if name in found]
    skipped = [{"name": name, "reason": reasons[name]} for name, _ in packages if name in reasons]
    return wheels, skipped


def _mb(n: float) -> str:
    return f"{n / 1e6:.1f} MB"


def print_summary(manifest: dict, out=sys.stdout) -> None:
    totals = manifest["totals"]
    packages = manifest["packages"]
    print(f"packages kept: {len(packages)}; skipped: {len(manifest['skipped'])}", file=out)
    reasons: dict[str, list[str]] = {}
    for entry in manifest["skipped"]:
        reason = entry["reason"]
        key = ("size target" if "size target" in reason else "no wheel downloaded" if reason.startswith("no wheel")
               else re.sub(r"\s*\([^()]*\)$", "", reason))
        reasons.setdefault(key, []).append(entry["name"])
    for key, names in sorted(reasons.items(), key=lambda kv: -len(kv[1])):
        print(f"  skipped, {key}: {len(names)}: {', '.join(names[:12])}{' ...' if len(names) > 12 else ''}", file=out)
    for entry in manifest["skipped"]:
        if "size target" not in entry["reason"]:
            print(f"    {entry['name']}: {entry['reason']}", file=out)
    print("source bytes by stage:", file=out)
    for stage, n in totals["stages_bytes"].items():
        print(f"  {stage:24s} {_mb(n)}", file=out)
    print("dropped by reason:", file=out)
    for reason, counts in manifest["filters"].items():
        print(f"  {reason:18s} {counts['files']:7d} files  {_mb(counts['bytes'])}", file=out)
    for split in code_corpus.SPLITS:
        t = totals[split]
        print(f"{split}: {t['packages']} packages, {t['files']} files, {_mb(t['bytes'])}", file=out)
    held = [p for p in packages if p["split"] == "heldout"]
    print("held-out packages: " + ", ".join(f"{p['name']} ({_mb(p['bytes'])})" for p in held), file=out)
    if "archive_bytes" in totals:
        print(f"archive: {totals['archive_bytes'] / 2**20:.1f} MiB ({_mb(totals['archive_bytes'])}), "
              f"xz ratio {(totals['train']['bytes'] + totals['heldout']['bytes']) / totals['archive_bytes']:.2f}x, "
              f"packed in {totals['archive_seconds']} s", file=out)
    print(f"seconds: {totals['seconds']}", file=out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-o", "--output", type=Path, required=True, help="the .tar.xz to write")
    parser.add_argument("--packages", type=Path, default=DEFAULT_LIST, help="the package list (default: %(default)s)")
    parser.add_argument("--target-mb", type=float, default=330.0,
                        help="MB of source to keep, packages taken from the top of the list (default: %(default)s)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the held-out split (default: %(default)s)")
    parser.add_argument("--heldout", type=float, default=0.05, help="share of bytes held out (default: %(default)s)")
    parser.add_argument("--cache", type=Path, default=DEFAULT_CACHE, help="the wheel cache (default: %(default)s)")
    parser.add_argument("--offline", action="store_true", help="use only wheels already in the cache")
    parser.add_argument("--dict-mb", type=int, default=None,
                        help="LZMA2 dictionary in MiB (default: the preset's 64); larger finds repeats further apart")
    parser.add_argument("--json", type=Path, default=None, help="also write the manifest with the build figures here")
    args = parser.parse_args(argv)
    if args.output.suffixes[-2:] != [".tar", ".xz"]:
        parser.error(f"the output must end in .tar.xz, not {args.output.name!r}")
    if not args.packages.is_file():
        parser.error(f"no package list at {args.packages}")
    start = time.monotonic()
    packages = read_package_list(args.packages)
    wheels, skipped = fetch_wheels(packages, args.cache, offline=args.offline)
    print(f"{len(wheels)} wheels of {len(packages)} packages; building ...", flush=True)
    manifest = code_corpus.build_from_wheels(
        wheels, args.output, stdlib=True, seed=args.seed, heldout_fraction=args.heldout,
        target_bytes=int(args.target_mb * 1e6), skipped=skipped, dict_mb=args.dict_mb)
    manifest["totals"]["seconds"] = round(time.monotonic() - start, 1)
    print_summary(manifest)
    print(f"wrote {args.output}")
    if args.json:
        args.json.write_text(json.dumps(manifest, indent=1), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
