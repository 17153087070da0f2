"""Freeze the blinded analysis: record everything the observed result depends on in results/<tag>/freeze.json.

`na64flow freeze -c C` pins, as content hashes (design.md "Blinding protocol", docs/statistics.md):

* every configuration section (cuts, boxes, runs, exposures, input, simulation with ``inject``, signal,
  background, normalisation, stats, publish, seed, ...) except NOT_PINNED_CONFIG (where results go,
  how the steps run, the unblinding request itself);
* every input ntuple, data and simulation (sha256 of the file bytes; the simulation manifest too), from
  the same file list `process` reads (``processing.fileset_of``);
* the blinded histogram files (their content digest, ``histograms.content_digest``, not the pickled
  bytes, which depend on the number of workers; the observed histograms and cut-flows take their
  simulated samples from them), the signal tables (results/<tag>/signal/*/*.csv), background and normalisation
  files of every run;
* every Python source of the package and of analyses/ (derived from the folders, so a new module is
  pinned automatically) except NOT_PINNED_SOURCES (output-only modules, each with its reason), and the
  packaged configuration schema (it fills defaults);
* the versions of na64flow and of the libraries that compute the selection and the limits;
* the expected limits (every limit table of the registry, per-run tables included, without its `obs` column).

`na64flow unblind` recomputes the same state and refuses, naming every item that differs, e.g.
``input ntuple na64h/2022 data/chunk_0000.root: changed since the freeze``.

Freezing after unblinding (an audit record in unblinded/ or in the tag's audit/ history) is refused unless
nothing changed (then the freeze is kept as it is). Freezing is also refused when a histogram file was
older than one of its input files (an ntuple replaced after `process` ran), and
`unblind` refuses a freeze record whose hash or expected rows were edited after `freeze` wrote them.
"""

from __future__ import annotations

import argparse
import datetime as dt
import getpass
import hashlib
import importlib.metadata
import importlib.util
import json
import logging
from pathlib import Path

from . import NA64Error, __version__, contracts, paths, registry
from .config import add_config_arguments, config_from_args, runs_of, stable_hash
from .stats import settings

log = logging.getLogger(__name__)

FREEZE_SCHEMA_VERSION = 2
# configuration keys that decide where results go or how steps run, not what they compute
NOT_PINNED_CONFIG = {
    "_path": "the file name of the configuration, not its content",
    "_results_dir": "internal (observed view of the results folder)",
    "results_root": "where the results are written",
    "unblind": "the unblinding request itself",
    "execution": "executor, workers, chunk size, Dask scheduler: how `process` runs, not what it counts",
}
# package modules (relative to src/na64flow) whose code reaches no limit and no observed count
_PLOTS = "draws figures from tables already written; computes nothing that reaches a limit"
_PUBLIC = "writes the pyhf/HEPData files from tables already written; reaches no limit"
NOT_PINNED_SOURCES = {
    **{f"plotting/{m}.py": _PLOTS for m in ("__init__", "style", "limits", "selection", "closure")},
    **{f"publish/{m}.py": _PUBLIC for m in ("__init__", "inputs", "likelihoods", "hepdata", "comparison")},
    # the closure study is a validation output; its toy closure, whose verdict decides the background's
    # central method, is background/toys.py and is pinned with the background package
    **{f"closure/{m}.py": "the background closure study (a validation output): closure rows, tables, the toy "
       "histogram file; no pinned module imports it" for m in ("__init__", "cli", "rows", "tables", "toyfile")},
}
# third-party libraries whose version can change a selection, a count or a limit
PINNED_LIBRARIES = ("numpy", "scipy", "numba", "pyhf", "awkward", "uproot", "coffea", "hist", "boost-histogram",
                    "iminuit")
COMPONENT_LABELS = {
    "config": "configuration section",
    "ntuples": "input ntuple",
    "signal_tables": "signal table",
    "histograms": "blinded histogram file",
    "background_tables": "background table",
    "normalisation_tables": "normalisation table",
    "sources": "source",
    "package_version": "package version",
    "libraries": "library",
    "expected_limits": "expected limits",
}


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 22), b""):
            h.update(block)
    return h.hexdigest()


def _file_hash(path: Path) -> str:
    return _sha256(path) if Path(path).is_file() else "missing"


def _histogram_hash(path: Path) -> str:
    """A histogram file's content digest (``histograms.content_digest``: not its pickled bytes, which
    depend on the executor and the number of workers that filled it); "missing", or "unreadable <sha256>"."""
    from . import histograms as H

    if not Path(path).is_file():
        return "missing"
    try:
        return H.content_digest(H.load(path))
    except NA64Error:
        return f"unreadable {_sha256(path)}"


def analyses_dir() -> Path:
    """The analyses/ folder (installed as the package ``na64flow_analyses``)."""
    spec = importlib.util.find_spec("na64flow_analyses")
    if spec is not None and spec.submodule_search_locations:
        return Path(list(spec.submodule_search_locations)[0])
    return Path(__file__).resolve().parents[2] / "analyses"


def package_dir() -> Path:
    return Path(__file__).resolve().parent


def _python_files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*.py") if "__pycache__" not in p.parts)


def source_files(pkg: Path | None = None, analyses: Path | None = None, pinned_only: bool = True) -> dict[str, Path]:
    """{label: path} of the pinned sources: every .py of the package and of analyses/ except
    NOT_PINNED_SOURCES (all of them with ``pinned_only=False``), plus the packaged configuration schema.
    Derived from the folders."""
    pkg = package_dir() if pkg is None else Path(pkg)
    adir = analyses_dir() if analyses is None else Path(analyses)
    out = {}
    for p in _python_files(adir):
        out[f"analyses/{p.relative_to(adir).as_posix()}"] = p
    for p in _python_files(pkg):
        rel = p.relative_to(pkg).as_posix()
        if not pinned_only or rel not in NOT_PINNED_SOURCES:
            out[f"src/na64flow/{rel}"] = p
    for p in sorted((pkg / "data").glob("*.yaml")):
        out[f"src/na64flow/data/{p.name}"] = p
    return out


def ntuple_files(cfg: dict) -> dict[str, Path]:
    """{"<analysis>/<run> <sample-relative path>": path} of every input ntuple (data and simulation) and
    of each simulation manifest: the file list `process` reads."""
    if cfg["input"]["source"] == "published":
        return {}
    from .processing import fileset_of

    out: dict[str, Path] = {}
    for a in cfg["analyses"]:
        for r in runs_of(cfg, a):
            base = paths.ntuple_dir(cfg, a, r)
            if cfg["input"]["source"] == "simulation":
                out[f"{a}/{r} manifest.json"] = paths.manifest_path(cfg, a, r)
                if not paths.manifest_path(cfg, a, r).exists():
                    continue
            fileset, _ = fileset_of(cfg, a, r)
            for sample, files in fileset.items():
                for f in files:
                    f = Path(f)
                    try:
                        rel = f.resolve().relative_to(base.resolve()).as_posix()
                    except ValueError:
                        rel = f"{sample}:{f}"
                    out[f"{a}/{r} {rel}"] = f
    return out


def stale_histograms(cfg: dict) -> list[str]:
    """Histogram files older than one of their input files (the simulation manifest or an ntuple), one line
    each: the backgrounds, normalisations and expected limits downstream of them would be pinned next to
    ntuples they were not computed from (Snakemake's `process` rule tracks the manifest, not each file).
    Modification or status-change times (``paths.changed_after``: a ``cp -p`` copy counts): the products
    themselves record nothing of the input files (their sizes would depend on the box content). Published summaries have no ntuples: none."""
    out = []
    files = ntuple_files(cfg)
    for a in cfg["analyses"]:
        for r in runs_of(cfg, a):
            hpath = paths.histograms_path(cfg, a, r)
            if not hpath.exists():
                continue
            made = hpath.stat().st_mtime_ns
            newer = sorted(k.split(" ", 1)[1] for k, f in files.items()
                           if k.startswith(f"{a}/{r} ") and Path(f).exists() and paths.changed_after(f, made))
            if newer:
                out.append(f"{hpath}: older than its input(s) {', '.join(newer[:5])}"
                           + (f" and {len(newer) - 5} more" if len(newer) > 5 else ""))
    return out


def signal_files(cfg: dict) -> dict[str, Path]:
    root = paths.results_dir(cfg) / "signal"
    return {p.relative_to(root).as_posix(): p for p in sorted(root.glob("*/*.csv"))} if root.is_dir() else {}


def library_versions(names: tuple[str, ...] | None = None) -> dict[str, str]:
    """{library: installed version} of ``names`` (default :data:`PINNED_LIBRARIES`)."""
    out = {}
    for name in PINNED_LIBRARIES if names is None else names:
        try:
            out[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out


# libraries of the outputs the freeze does not pin (figures, HEPData): in the digest of the rules making them
OUTPUT_LIBRARIES = ("matplotlib", "mplhep", "hepdata_lib", "hepdata-validator")


def code_digest(scope: str = "all") -> str:
    """Digest of the code a workflow step runs: the rules' ``code`` parameter, so that after a change of the
    code or of a library ``snakemake`` re-runs the steps instead of keeping outputs the old code made
    (Snakemake's own code trigger sees only a rule's command line).

    ``scope="compute"`` (the steps whose results reach a limit: simulate ... limits): the pinned sources
    (:func:`source_files`) and :data:`PINNED_LIBRARIES`, what the freeze pins, so an edit of plotting/ or
    publish/ re-runs only the plots and public files. ``scope="all"`` (plots, public files, closure study):
    every .py of the package and of analyses/, the packaged schema, and :data:`OUTPUT_LIBRARIES` too.
    """
    if scope not in ("compute", "all"):
        raise NA64Error(f"code_digest: scope '{scope}' (compute or all)")
    compute = scope == "compute"
    libraries = library_versions(PINNED_LIBRARIES if compute else PINNED_LIBRARIES + OUTPUT_LIBRARIES)
    h = hashlib.sha256()
    for label, path in sorted(source_files(pinned_only=compute).items()):
        h.update(f"{label}\0{_sha256(path)}\n".encode())
    h.update(json.dumps(libraries, sort_keys=True).encode())
    return h.hexdigest()[:16]


def limit_files(cfg: dict) -> dict[str, Path]:
    """{"<analysis>/<model>.csv": path} of the existing limit tables of na64flow.registry.limit_targets
    (not the asymptotic cross-checks, not the per-run tables)."""
    files = {f"{a}/{m}.csv": paths.limits_path(cfg, a, m) for a, m in registry.limit_targets(cfg)}
    return {name: p for name, p in sorted(files.items()) if p.exists()}


def run_limit_files(cfg: dict) -> dict[str, tuple[Path, str, str, str]]:
    """{"<analysis>/<model>_<run>.csv": (path, analysis, model, run)} of the existing per-run limit tables
    of na64flow.registry.run_limit_targets."""
    files = {f"{a}/{m}_{r}.csv": (paths.run_limits_path(cfg, a, m, r), a, m, r)
             for a, m, r in registry.run_limit_targets(cfg)}
    return {name: v for name, v in sorted(files.items()) if v[0].exists()}


def frozen_limit_files(cfg: dict) -> dict[str, Path]:
    """Every limit table whose expected columns the freeze pins: the analysis and combined tables
    (:func:`limit_files`) and the per-run tables (:func:`run_limit_files`)."""
    files = {**limit_files(cfg), **{name: v[0] for name, v in run_limit_files(cfg).items()}}
    return dict(sorted(files.items()))


def expected_rows(path: Path) -> list[dict]:
    """Rows of a limit table without the `obs` column (the part fixed at freeze time), cells as written."""
    table = contracts.read_limits(path)
    return [{k: contracts.format_cell(v) for k, v in r.items()} for r in table.records(drop=("obs",))]


def _json_file_hash(path: Path) -> str:
    """Hash of a JSON file's content (key order independent); 'missing' if absent."""
    if not path.exists():
        return "missing"
    try:
        return stable_hash(json.loads(path.read_text()))
    except json.JSONDecodeError as exc:
        raise NA64Error(f"{path}: not valid JSON ({exc})") from exc


def analysis_state(cfg: dict) -> dict:
    """Everything the observed result depends on, as {component: {item: hash}} (module docstring)."""
    config_part = {k: v for k, v in cfg.items() if k not in NOT_PINNED_CONFIG}
    config_part["stats"] = settings(cfg)     # with the defaults the limits use
    pairs = [(a, r) for a in cfg["analyses"] for r in runs_of(cfg, a)]
    return {
        "config": {k: stable_hash(v) for k, v in sorted(config_part.items())},
        "ntuples": {k: _file_hash(p) for k, p in ntuple_files(cfg).items()},
        "signal_tables": {k: _sha256(p) for k, p in signal_files(cfg).items()},
        # the simulated samples and side bands the observed histograms and cut-flows are completed from
        "histograms": ({} if cfg["input"]["source"] == "published" else
                       {f"{a}/{r}": _histogram_hash(paths.histograms_path(cfg, a, r)) for a, r in pairs}),
        "background_tables": {f"{a}/{r}": _json_file_hash(paths.background_path(cfg, a, r)) for a, r in pairs},
        "normalisation_tables": {f"{a}/{r}": _json_file_hash(paths.normalisation_path(cfg, a, r)) for a, r in pairs},
        "sources": {label: _sha256(p) for label, p in source_files().items()},
        "package_version": {"na64flow": __version__},
        "libraries": library_versions(),
        "expected_limits": {name: stable_hash(expected_rows(p)) for name, p in frozen_limit_files(cfg).items()},
    }


def state_hash(state: dict) -> str:
    return stable_hash(state)


def differences(frozen: dict, current: dict) -> list[str]:
    """Human-readable list of what differs between two analysis states, one line per item, e.g.
    'input ntuple na64h/2022 data/chunk_0000.root: changed since the freeze'."""
    out = []
    for comp in sorted(set(frozen) | set(current)):
        a, b = frozen.get(comp, {}), current.get(comp, {})
        label = COMPONENT_LABELS.get(comp, comp)
        for item in sorted(set(a) | set(b)):
            if item not in b:
                out.append(f"{label} {item}: removed since the freeze")
            elif item not in a:
                out.append(f"{label} {item}: added since the freeze")
            elif a[item] != b[item]:
                out.append(f"{label} {item}: changed since the freeze")
    return out


def unblinded_dir(cfg: dict) -> Path:
    return paths.results_dir(cfg) / "unblinded"


def read_freeze(cfg: dict) -> dict:
    path = paths.freeze_path(cfg)
    if not path.exists():
        raise NA64Error(f"{path}: no freeze record; run `na64flow freeze -c {cfg.get('_path', 'CONFIG')}` "
                        "on the blinded analysis first")
    data = json.loads(path.read_text())
    if data.get("schema_version") != FREEZE_SCHEMA_VERSION or "state" not in data:
        raise NA64Error(f"{path}: not a freeze record of schema version {FREEZE_SCHEMA_VERSION} (an older freeze "
                        "pinned less than the observed result depends on); run `na64flow freeze` again")
    # the record must be the one `freeze` wrote: its hash that of its state, and the expected rows the
    # observed tables copy those whose hashes the state holds (a hand edit anywhere is refused)
    forged = [] if data.get("hash") == state_hash(data["state"]) else ["hash"]
    pinned = data["state"].get("expected_limits", {})
    rows = data.get("expected_limits", {})
    forged += [f"expected_limits {name}" for name in sorted(set(pinned) | set(rows))
               if name not in rows or name not in pinned or stable_hash(rows[name]) != pinned[name]]
    if forged:
        raise NA64Error(f"{path}: the freeze record was edited after `freeze` wrote it ({', '.join(forged)} "
                        "do not match its pinned state); nothing is unblinded from an edited record")
    return data


def unblinding_history(cfg: dict) -> list[Path]:
    """Records of earlier unblindings of this tag: the current one and the kept history (audit/)."""
    root = paths.results_dir(cfg)
    return [p for p in [unblinded_dir(cfg) / "audit.json"] if p.exists()] + sorted((root / "audit").glob("unblind-*.json"))


def freeze(cfg: dict) -> tuple[Path, dict, bool]:
    """Write freeze.json (hash, per-item hashes, expected limits); returns (path, record, written)."""
    files = limit_files(cfg)
    if not files:
        raise NA64Error(f"{paths.results_dir(cfg) / 'limits'}: no limit tables to freeze "
                        "(run `na64flow limits` for every analysis and model first)")
    stale = stale_histograms(cfg)
    if stale:
        raise NA64Error("freeze refused: the blinded products were not made from the input files it would pin "
                        "(re-run `process` and everything after it, e.g. `snakemake --cores all -R process`):\n  "
                        + "\n  ".join(stale))
    state = analysis_state(cfg)
    digest = state_hash(state)
    path = paths.freeze_path(cfg)
    history = unblinding_history(cfg)
    if history:     # also when unblinded/ was deleted: the audit history of the tag remains
        if path.exists() and read_freeze(cfg)["hash"] == digest:
            return path, read_freeze(cfg), False
        raise NA64Error(f"{history[0]}: the analysis {cfg['tag']} is already unblinded and differs from its freeze; "
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
        "not_pinned": {"config": NOT_PINNED_CONFIG, "sources": NOT_PINNED_SOURCES},
        "expected_limits": {name: expected_rows(p) for name, p in frozen_limit_files(cfg).items()},
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
    st = record["state"]
    print(f"{path}: {what}; analysis hash {record['hash'][:16]}..., {n} limit table(s), "
          f"{len(st['ntuples'])} input file(s), {len(st['signal_tables'])} signal table(s), "
          f"{len(st['sources'])} source file(s)")
    return 0
