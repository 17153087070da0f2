"""Freeze the blinded analysis: record its hash and the expected limits in results/<tag>/freeze.json.

`na64flow freeze -c C` hashes everything that defines the analysis (design.md "Blinding protocol"):
the configuration's analyses (cuts, boxes, runs, exposures), input, background, normalisation and
stats settings and seed; the background and normalisation files of every run; the sources of
analyses/ and of the selection, background, normalisation and statistics modules; the package
version; and the expected limits (every results/<tag>/limits/*/*.csv without its `obs` column).
`na64flow unblind` recomputes the same hash and refuses to run if anything differs.

Freezing after unblinding is refused unless nothing changed (then the freeze is kept as it is).
"""

from __future__ import annotations

import argparse
import datetime as dt
import getpass
import hashlib
import importlib.util
import json
import logging
from pathlib import Path

from . import NA64Error, __version__, contracts, paths, registry
from .config import add_config_arguments, config_from_args, runs_of, stable_hash
from .stats import settings

log = logging.getLogger(__name__)

FREEZE_SCHEMA_VERSION = 1
# package modules (and packages) whose source defines the analysis (selection, background, statistics,
# the file contracts and the list of analyses and models)
FROZEN_MODULES = ("selection.py", "background.py", "normalisation.py", "stats", "stats_cli.py", "contracts.py",
                  "registry.py")


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def analyses_dir() -> Path:
    """The analyses/ folder (installed as the package ``na64flow_analyses``)."""
    spec = importlib.util.find_spec("na64flow_analyses")
    if spec is not None and spec.submodule_search_locations:
        return Path(list(spec.submodule_search_locations)[0])
    return Path(__file__).resolve().parents[2] / "analyses"


def source_files() -> dict[str, Path]:
    """{label: path} of the frozen sources: analyses/**/*.py and the FROZEN_MODULES of the package."""
    out = {}
    adir = analyses_dir()
    for p in sorted(adir.rglob("*.py")):
        if "__pycache__" not in p.parts:
            out[f"analyses/{p.relative_to(adir).as_posix()}"] = p
    pkg = Path(__file__).resolve().parent
    for name in FROZEN_MODULES:
        p = pkg / name
        for f in sorted(p.rglob("*.py")) if p.is_dir() else [p] if p.exists() else []:
            if "__pycache__" not in f.parts:
                out[f"src/na64flow/{f.relative_to(pkg).as_posix()}"] = f
    return out


def limit_files(cfg: dict) -> dict[str, Path]:
    """{"<analysis>/<model>.csv": path} of the existing limit tables of na64flow.registry.limit_targets
    (not the asymptotic cross-checks, not the per-run tables)."""
    files = {f"{a}/{m}.csv": paths.limits_path(cfg, a, m) for a, m in registry.limit_targets(cfg)}
    return {name: p for name, p in sorted(files.items()) if p.exists()}


def expected_rows(path: Path) -> list[dict]:
    """Rows of a limit table without the `obs` column (the part fixed at freeze time), cells as written."""
    return [{k: contracts.format_cell(v) for k, v in r.items()} for r in contracts.read_limits(path).records(drop=("obs",))]


def _json_file_hash(path: Path) -> str:
    """Hash of a JSON file's content (key order independent); 'missing' if absent."""
    if not path.exists():
        return "missing"
    try:
        return stable_hash(json.loads(path.read_text()))
    except json.JSONDecodeError as exc:
        raise NA64Error(f"{path}: not valid JSON ({exc})") from exc


def analysis_state(cfg: dict) -> dict:
    """Everything that defines the analysis, as {component: {item: hash}} (see the module docstring)."""
    config_part = {
        "analyses": cfg["analyses"],
        "input": cfg.get("input", {}),
        "background": cfg.get("background", {}),
        "normalisation": cfg.get("normalisation", {}),
        "stats": settings(cfg),
        "seed": cfg.get("seed"),
    }
    pairs = [(a, r) for a in cfg["analyses"] for r in runs_of(cfg, a)]
    return {
        "config": {k: stable_hash(v) for k, v in config_part.items()},
        "background_files": {f"{a}/{r}": _json_file_hash(paths.background_path(cfg, a, r)) for a, r in pairs},
        "normalisation_files": {f"{a}/{r}": _json_file_hash(paths.normalisation_path(cfg, a, r)) for a, r in pairs},
        "sources": {label: _sha256(p) for label, p in source_files().items()},
        "package_version": {"na64flow": __version__},
        "expected_limits": {name: stable_hash(expected_rows(p)) for name, p in limit_files(cfg).items()},
    }


def state_hash(state: dict) -> str:
    return stable_hash(state)


def differences(frozen: dict, current: dict) -> list[str]:
    """Human-readable list of what differs between two analysis states ('component item: changed')."""
    out = []
    for comp in sorted(set(frozen) | set(current)):
        a, b = frozen.get(comp, {}), current.get(comp, {})
        for item in sorted(set(a) | set(b)):
            if item not in b:
                out.append(f"{comp} {item}: removed since the freeze")
            elif item not in a:
                out.append(f"{comp} {item}: added since the freeze")
            elif a[item] != b[item]:
                out.append(f"{comp} {item}: changed since the freeze")
    return out


def unblinded_dir(cfg: dict) -> Path:
    return paths.unblinded_dir(cfg)


def read_freeze(cfg: dict) -> dict:
    path = paths.freeze_path(cfg)
    if not path.exists():
        raise NA64Error(f"{path}: no freeze record; run `na64flow freeze -c {cfg.get('_path', 'CONFIG')}` "
                        "on the blinded analysis first")
    data = json.loads(path.read_text())
    if data.get("schema_version") != FREEZE_SCHEMA_VERSION or "state" not in data:
        raise NA64Error(f"{path}: not a freeze record of schema version {FREEZE_SCHEMA_VERSION}")
    return data


def freeze(cfg: dict) -> tuple[Path, dict, bool]:
    """Write freeze.json (hash, per-item hashes, expected limits); returns (path, record, written)."""
    files = limit_files(cfg)
    if not files:
        raise NA64Error(f"{paths.results_dir(cfg) / 'limits'}: no limit tables to freeze "
                        "(run `na64flow limits` for every analysis and model first)")
    state = analysis_state(cfg)
    digest = state_hash(state)
    path = paths.freeze_path(cfg)
    if any(unblinded_dir(cfg).glob("*/*.json")):
        if path.exists() and read_freeze(cfg)["hash"] == digest:
            return path, read_freeze(cfg), False
        raise NA64Error(f"{unblinded_dir(cfg)}: the analysis is already unblinded and differs from its freeze; "
                        "a new freeze is refused (a changed analysis needs a new tag)")
    record = {
        "schema_version": FREEZE_SCHEMA_VERSION,
        "tag": cfg["tag"],
        "created_utc": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "user": getpass.getuser(),
        "config": cfg.get("_path"),
        "package_version": __version__,
        "hash": digest,
        "state": state,
        "expected_limits": {name: expected_rows(p) for name, p in files.items()},
    }
    with paths.atomic_output(path) as fh:
        json.dump(record, fh, indent=1)
    return path, record, True


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_config_arguments(parser)


def run(args: argparse.Namespace) -> int:
    cfg = config_from_args(args)
    path, record, written = freeze(cfg)
    n = len(record["expected_limits"])
    what = "written" if written else "unchanged (already unblinded with this hash)"
    print(f"{path}: {what}; analysis hash {record['hash'][:16]}..., {n} limit table(s), "
          f"{len(record['state']['sources'])} source file(s)")
    return 0
