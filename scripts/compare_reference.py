#!/usr/bin/env python3
"""Record the reference outputs of a results tree and compare a later tree with them, byte for byte.

    python scripts/compare_reference.py record  results/default  REF/default
    python scripts/compare_reference.py compare results/default  REF/default [--ignore GLOB ...]

``record`` copies the files that define the results (cut-flows, signal tables, backgrounds,
normalisations, limits, likelihoods, the HEPData YAML tables, the published comparison and the plot
index; not the tarballs, whose gzip headers carry timestamps) into REF with their relative paths
and writes REF/SHA256SUMS. ``compare`` hashes the same files of a results tree and lists every
file that differs, is missing or was added (with a short unified diff for text files). Exit code 0
when nothing recorded differs or is missing (added files are listed but allowed, e.g. new outputs),
1 otherwise. ``--ignore`` takes glob patterns (relative paths) of files allowed to differ on
purpose; they are reported as such.
"""

from __future__ import annotations

import argparse
import difflib
import fnmatch
import hashlib
import shutil
import sys
from pathlib import Path

PATTERNS = (
    "cutflows/*/*.csv", "cutflows/*/*.md", "cutflows/*/*.tex",
    "signal/*/*.csv",
    "background/*/*.json", "background/*/*.md", "background/*/*.tex",
    "normalisation/*/*.json",
    "closure/*.csv", "closure/*.md",
    "limits/*/*.csv", "limits/*/*.md",
    "likelihoods/*/*.json",
    "hepdata/*.yaml",
    "published_comparison.md",
    "plots/figures/index.json",
)


def collect(root: Path) -> dict[str, Path]:
    """{relative path: path} of every reference file under ``root``."""
    out = {}
    for pattern in PATTERNS:
        for p in sorted(root.glob(pattern)):
            if p.is_file():
                out[p.relative_to(root).as_posix()] = p
    return out


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def record(results: Path, ref: Path) -> int:
    files = collect(results)
    if not files:
        print(f"{results}: no result files found", file=sys.stderr)
        return 1
    if ref.exists():
        shutil.rmtree(ref)
    lines = []
    for rel, p in files.items():
        target = ref / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(p, target)
        lines.append(f"{sha256(p)}  {rel}")
    (ref / "SHA256SUMS").write_text("\n".join(lines) + "\n")
    print(f"{ref}: {len(files)} files recorded")
    return 0


def _diff(a: Path, b: Path, n: int = 12) -> str:
    try:
        ta, tb = a.read_text().splitlines(), b.read_text().splitlines()
    except UnicodeDecodeError:
        return "    (binary)"
    lines = list(difflib.unified_diff(ta, tb, "reference", "now", lineterm="", n=0))
    more = f"\n    ... {len(lines) - n} more diff lines" if len(lines) > n else ""
    return "\n".join("    " + line[:200] for line in lines[:n]) + more


def compare(results: Path, ref: Path, ignore: list[str]) -> int:
    sums = ref / "SHA256SUMS"
    if not sums.exists():
        print(f"{sums}: no reference recorded", file=sys.stderr)
        return 1
    recorded = dict(reversed(line.split("  ", 1)) for line in sums.read_text().splitlines() if line)
    now = collect(results)
    differ, missing, allowed = [], [], []
    for rel, digest in recorded.items():
        if rel not in now:
            missing.append(rel)
        elif sha256(now[rel]) != digest:
            (allowed if any(fnmatch.fnmatch(rel, g) for g in ignore) else differ).append(rel)
    added = sorted(set(now) - set(recorded))
    same = len(recorded) - len(differ) - len(missing) - len(allowed)
    print(f"{results} vs {ref}: {same} identical, {len(differ)} differ, {len(missing)} missing, "
          f"{len(allowed)} differ as allowed (--ignore), {len(added)} added")
    for rel in differ:
        print(f"DIFFERS  {rel}\n{_diff(ref / rel, now[rel])}")
    for rel in missing:
        print(f"MISSING  {rel}")
    for rel in allowed:
        print(f"ALLOWED  {rel}")
    for rel in added:
        print(f"ADDED    {rel}")
    return 1 if differ or missing else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("action", choices=["record", "compare"])
    parser.add_argument("results", type=Path, help="results/<tag> folder")
    parser.add_argument("reference", type=Path, help="reference folder (outside git)")
    parser.add_argument("--ignore", action="append", default=[], metavar="GLOB",
                        help="relative paths allowed to differ (compare only), e.g. 'limits/*/*_asymptotic.csv'")
    args = parser.parse_args(argv)
    if args.action == "record":
        return record(args.results, args.reference)
    return compare(args.results, args.reference, args.ignore)


if __name__ == "__main__":
    sys.exit(main())
