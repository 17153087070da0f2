"""Merge the manifests of a run simulated in pieces (`simulate --piece I --pieces N`) into manifest.json.

`na64flow merge -c C --analysis A --run R` reads ntuples/A/R/manifest.piece-*-of-N.json, checks that all
N pieces of the same seed are present, and writes manifest.json atomically (file lists concatenated
in chunk order, counts and weight sums added).
"""

from __future__ import annotations

import argparse
import json

from .. import NA64Error, config, contracts, paths


def add_arguments(parser: argparse.ArgumentParser) -> None:
    config.add_config_arguments(parser)
    config.add_analysis_arguments(parser)


def merge_manifests(parts: list[dict]) -> dict:
    """One manifest from the pieces' manifests (same run and seed)."""
    if not parts:
        raise NA64Error("merge: no piece manifests given")
    n = parts[0]["piece"]["of"]
    got = sorted(p["piece"]["index"] for p in parts)
    if got != list(range(n)):
        raise NA64Error(f"merge: pieces {got} found, expected 0..{n - 1}")
    for p in parts[1:]:
        for key in ("analysis", "run", "seed", "n_ot"):
            if p[key] != parts[0][key]:
                raise NA64Error(f"merge: pieces differ in '{key}' ({p[key]} vs {parts[0][key]})")
    out = {k: v for k, v in parts[0].items() if k not in ("samples", "piece")}
    out["samples"] = {}
    for p in parts:
        for name, s in p["samples"].items():
            m = out["samples"].get(name)
            if m is None:
                out["samples"][name] = json.loads(json.dumps(s))
                continue
            m["files"] += s["files"]
            m["n_events"] += s["n_events"]
            if "sum_weights" in s:
                m["sum_weights"] += s["sum_weights"]
            if s["kind"] == "data":
                m["n_calibration"] += s["n_calibration"]
                for proc, d in s["processes"].items():
                    m["processes"].setdefault(proc, dict(d, n_events=0))
                    m["processes"][proc]["n_events"] += d["n_events"]
    for s in out["samples"].values():
        s["files"] = sorted(s["files"])
    return out


def run(args: argparse.Namespace) -> int:
    cfg = config.config_from_args(args)
    config.run_config(cfg, args.analysis, args.run)
    folder = paths.ntuple_dir(cfg, args.analysis, args.run)
    files = sorted(folder.glob("manifest.piece-*-of-*.json"))
    if not files:
        raise NA64Error(f"{folder}: no manifest.piece-*.json (run `na64flow simulate ... --piece I --pieces N`)")
    parts = [contracts.read_manifest(f).data for f in files]
    merged = merge_manifests(parts)
    contracts.write_manifest(paths.manifest_path(cfg, args.analysis, args.run), merged)
    print(f"merged {len(parts)} pieces into {paths.manifest_path(cfg, args.analysis, args.run)}")
    return 0
