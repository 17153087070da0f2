"""The files passing between the steps (docs/contracts.md): one typed reader and one writer per file kind.

Every step and every test reads and writes these files only through this module. Each file kind is a
small dataclass with ``read_<kind>(path)`` (NA64Error naming the file, the key or the column for bad
input) and ``write_<kind>(path, obj)`` (atomic, byte-stable formatting). :data:`FILES` lists them with
their place in the results layout; ``tests/test_contracts.py`` checks docs/contracts.md against it.

>>> import tempfile, numpy as np
>>> from pathlib import Path
>>> p = Path(tempfile.mkdtemp()) / "dark_photon_2023.csv"
>>> write_signal(p, SignalTable(np.array([0.01, 0.1]), np.array([2e-9, 1e-11]), np.array([0.5, 0.5])))
>>> print(p.read_text(), end="")
mass_gev,yield_per_ot,efficiency
0.01,2e-09,0.5
0.1,1e-11,0.5
>>> read_signal(p).per_ot().tolist()
[1e-09, 5e-12]
"""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np

from . import NA64Error
from .paths import atomic_output, require_file

SIGNAL_COLUMNS = ("mass_gev", "yield_per_ot", "efficiency")
LIMIT_COLUMNS = ("exp", "exp_m2", "exp_m1", "exp_p1", "exp_p2", "obs")
CUTFLOW_COLUMNS = ("sample", "step", "raw", "removed", "rel_eff", "cum_eff", "weighted", "weighted_err",
                   "rel_eff_weighted", "cum_eff_weighted")


def _json(path: Path) -> dict:
    path = Path(path)
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise NA64Error(f"{path}: not valid JSON ({exc})") from exc
    if not isinstance(data, dict):
        raise NA64Error(f"{path}: top level is {type(data).__name__}, expected an object")
    return data


def _dump_json(path: Path, obj: dict, indent: int) -> None:
    with atomic_output(path) as fh:
        json.dump(obj, fh, indent=indent)


# ------------------------------------------------------------------------------------------------
# manifest.json (simulate -> process)


@dataclass
class Manifest:
    """``ntuples/<a>/<r>/manifest.json``: the samples of a simulated run (file paths relative to it)."""

    samples: dict[str, dict]
    n_ot: float | None = None
    extra: dict = field(default_factory=dict)   # schema_version, analysis, run, setup, beam, seed, ...

    def files(self, base: Path) -> dict[str, list[str]]:
        """{sample: [absolute file paths]} (paths in the manifest are relative to ``base``)."""
        return {s: [str((Path(base) / f).resolve()) for f in info["files"]] for s, info in self.samples.items()}


def read_manifest(path: str | Path) -> Manifest:
    path = require_file(path, "manifest.json of the simulated ntuples", "simulate")
    data = _json(path)
    samples = data.get("samples")
    if not isinstance(samples, dict):
        raise NA64Error(f"{path}: not a valid manifest (no 'samples' object)")
    for name, info in samples.items():
        if not isinstance(info, dict) or "files" not in info:
            raise NA64Error(f"{path}: sample '{name}' has no 'files' list")
    extra = {k: v for k, v in data.items() if k not in ("samples", "n_ot")}
    return Manifest(samples, None if data.get("n_ot") is None else float(data["n_ot"]), extra)


def write_manifest(path: str | Path, manifest: Manifest | Mapping) -> None:
    """JSON (indent 1, newline at the end) in the key order of the simulation writer."""
    if isinstance(manifest, Manifest):
        obj = dict(manifest.extra)
        obj["n_ot"] = manifest.n_ot
        obj["samples"] = manifest.samples
    else:
        obj = dict(manifest)
        if not isinstance(obj.get("samples"), dict):
            raise NA64Error(f"{path}: manifest without a 'samples' object")
    with atomic_output(path) as fh:
        json.dump(obj, fh, indent=1, sort_keys=False)
        fh.write("\n")


# ------------------------------------------------------------------------------------------------
# histogram file (process -> cutflow, background, normalisation, signal, plots)


def read_histograms(path: str | Path) -> dict:
    """The pickled histogram dict of docs/contracts.md (validated by ``na64flow.histograms.check``)."""
    from . import histograms

    return histograms.load(require_file(path, "histogram file", "process"))


def write_histograms(path: str | Path, content: dict) -> None:
    from . import histograms

    histograms.save(path, content)


# ------------------------------------------------------------------------------------------------
# cutflows/<a>/<run>.csv (cutflow -> publish, plots)


@dataclass
class CutFlowTable:
    """Events remaining after each step per sample (long CSV of the cutflow step, weighted column).

    Values are floats, or text where the table says so (the blinded data box row reads "blinded");
    ``errors`` holds sqrt(sum w^2) per value (None where absent).
    """

    steps: list[str]
    values: dict[str, list]
    errors: dict[str, list]


def _number_or_text(v: str | None):
    v = (v or "").strip()
    try:
        return float(v)
    except ValueError:
        return v if v else "-"


def read_cutflow(path: str | Path) -> CutFlowTable:
    path = require_file(path, "cut-flow table", "cutflow")
    with open(path, newline="") as fh:
        reader = csv.DictReader(fh)
        missing = [c for c in ("sample", "step", "weighted", "weighted_err") if c not in (reader.fieldnames or [])]
        if missing:
            raise NA64Error(f"{path}: missing column(s) {', '.join(missing)} (contract: {','.join(CUTFLOW_COLUMNS)})")
        rows = list(reader)
    if not rows:
        raise NA64Error(f"{path}: empty cut-flow table")
    steps = list(dict.fromkeys(r["step"] for r in rows))
    index = {st: i for i, st in enumerate(steps)}
    values: dict[str, list] = {}
    errors: dict[str, list] = {}
    for r in rows:
        values.setdefault(r["sample"], ["-"] * len(steps))[index[r["step"]]] = _number_or_text(r["weighted"])
        errors.setdefault(r["sample"], [None] * len(steps))[index[r["step"]]] = _number_or_text(r["weighted_err"])
    return CutFlowTable(steps, values, errors)


# ------------------------------------------------------------------------------------------------
# signal/<a>/<model>_<run>.csv (signal -> limits, publish)


@dataclass
class SignalTable:
    """Signal events per particle on target at coupling 1 before selection, and the selection efficiency."""

    mass_gev: np.ndarray
    yield_per_ot: np.ndarray
    efficiency: np.ndarray

    def per_ot(self) -> np.ndarray:
        """Selected signal events per OT at coupling 1 (yield_per_ot x efficiency)."""
        return self.yield_per_ot * self.efficiency


def write_signal(path: str | Path, table: SignalTable) -> None:
    with atomic_output(path) as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(SIGNAL_COLUMNS)
        for m, y, e in zip(table.mass_gev, table.yield_per_ot, table.efficiency, strict=True):
            w.writerow([f"{m:.6g}", f"{y:.8g}", f"{e:.6g}"])


def read_signal(path: str | Path) -> SignalTable:
    """The table sorted by mass; NA64Error naming the file for a missing file, column or bad value."""
    path = require_file(path, "signal yield table", "signal")
    with open(path, newline="") as fh:
        reader = csv.DictReader(fh)
        missing = [c for c in SIGNAL_COLUMNS if c not in (reader.fieldnames or [])]
        if missing:
            raise NA64Error(f"{path}: missing column(s) {', '.join(missing)} (expected {','.join(SIGNAL_COLUMNS)})")
        rows = list(reader)
    if not rows:
        raise NA64Error(f"{path}: no rows")
    try:
        cols = [np.array([float(r[c]) for r in rows]) for c in SIGNAL_COLUMNS]
    except (TypeError, ValueError) as exc:
        raise NA64Error(f"{path}: non-numeric value: {exc}") from exc
    order = np.argsort(cols[0], kind="stable")
    return SignalTable(*(c[order] for c in cols))


# ------------------------------------------------------------------------------------------------
# background/<a>/<r>.json (background -> limits, publish, plots, freeze)


@dataclass
class BackgroundEstimate:
    """Expected background in the signal box of one run, per source and in total."""

    analysis: str
    run: str
    n_ot: float
    blinded: bool
    sources: list[dict]   # {"name", "label", "estimate", "stat", "syst", "method", "inputs"}
    total: dict           # {"estimate", "stat", "syst", "uncertainty"[, "not_included"]}
    extra: dict = field(default_factory=dict)   # further keys of the record, kept and written after these

    @property
    def estimate(self) -> float:
        return float(self.total["estimate"])

    @property
    def uncertainty(self) -> float:
        """Total 1 sigma: ``total.uncertainty`` (stat and syst in quadrature if absent)."""
        unc = self.total.get("uncertainty")
        if unc is None:
            unc = math.hypot(self.total.get("stat", 0.0) or 0.0, self.total.get("syst", 0.0) or 0.0)
        return float(unc)

    @classmethod
    def from_dict(cls, data: Mapping, where: str = "background record") -> BackgroundEstimate:
        try:
            total = dict(data["total"])
            float(total["estimate"])
            known = ("analysis", "run", "n_ot", "blinded", "sources", "total")
            return cls(str(data["analysis"]), str(data["run"]), float(data["n_ot"]), bool(data.get("blinded", True)),
                       list(data.get("sources", [])), total, {k: v for k, v in data.items() if k not in known})
        except (KeyError, TypeError, ValueError) as exc:
            raise NA64Error(f"{where}: key {exc} missing or invalid "
                            "(contract: analysis, run, n_ot, blinded, sources, total.estimate, total.uncertainty)") from exc

    def to_dict(self) -> dict:
        out = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "extra"}
        out.update(self.extra)
        return out


def read_background(path: str | Path) -> BackgroundEstimate:
    path = require_file(path, "background estimate", "background")
    return BackgroundEstimate.from_dict(_json(path), str(path))


def write_background(path: str | Path, record: BackgroundEstimate | Mapping) -> None:
    rec = record if isinstance(record, BackgroundEstimate) else BackgroundEstimate.from_dict(record, str(path))
    _dump_json(path, rec.to_dict(), indent=2)


# ------------------------------------------------------------------------------------------------
# normalisation/<a>/<r>.json (normalisation -> limits, background)


@dataclass
class Normalisation:
    """Data / expected in the control region: k scales the signal yield, k_unc its nuisance parameter."""

    analysis: str
    run: str
    k: float
    k_unc: float
    n_data: float | None
    n_expected: float | None
    method: str
    region: str
    components: dict | None = None
    extra: dict = field(default_factory=dict)   # further keys of the record, kept and written after these

    @classmethod
    def from_dict(cls, data: Mapping, where: str = "normalisation record") -> Normalisation:
        known = ("analysis", "run", "k", "k_unc", "n_data", "n_expected", "method", "region", "components")
        try:
            return cls(str(data["analysis"]), str(data["run"]), float(data["k"]), float(data.get("k_unc", 0.0)),
                       data.get("n_data"), data.get("n_expected"), str(data.get("method", "")),
                       str(data.get("region", "")), data.get("components"),
                       {k: v for k, v in data.items() if k not in known})
        except (KeyError, TypeError, ValueError) as exc:
            raise NA64Error(f"{where}: key {exc} missing or not a number (contract: analysis, run, k, k_unc, "
                            "n_data, n_expected, method, region)") from exc

    def to_dict(self) -> dict:
        out = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "extra"}
        if out["components"] is None:
            del out["components"]
        out.update(self.extra)
        return out


def read_normalisation(path: str | Path) -> Normalisation:
    path = require_file(path, "dimuon normalisation", "normalisation")
    return Normalisation.from_dict(_json(path), str(path))


def write_normalisation(path: str | Path, record: Normalisation | Mapping) -> None:
    rec = record if isinstance(record, Normalisation) else Normalisation.from_dict(record, str(path))
    _dump_json(path, rec.to_dict(), indent=2)


# ------------------------------------------------------------------------------------------------
# limits/<a>/<model>.csv and limits/<a>/<model>_<run>.csv (limits -> publish, plots, freeze, unblind)


@dataclass
class LimitTable:
    """90% CL upper limits: the x column(s) (``mass_gev``; ``m_chi_gev`` for LDM y; ``meson,mass_gev``
    for Br models) then :data:`LIMIT_COLUMNS`. Cells are floats, text (meson names) or None (an empty
    ``obs`` while blinded)."""

    header: list[str]
    rows: list[list]

    def __post_init__(self):
        missing = [c for c in LIMIT_COLUMNS if c not in self.header]
        if missing:
            raise NA64Error(f"limit table without column(s) {', '.join(missing)} "
                            "(contract: mass_gev,exp,exp_m2,exp_m1,exp_p1,exp_p2,obs)")

    @property
    def x_column(self) -> str:
        """The independent variable: the last column before the limits (mass_gev or m_chi_gev)."""
        return self.header[self.header.index("exp") - 1]

    def records(self, drop: tuple[str, ...] = ()) -> list[dict]:
        """One dict per row, {column: cell}, without the columns in ``drop``."""
        return [{h: v for h, v in zip(self.header, row, strict=True) if h not in drop} for row in self.rows]

    def column(self, name: str) -> list:
        i = self.header.index(name)
        return [row[i] for row in self.rows]

    @property
    def observed(self) -> bool:
        """True when every row has an observed limit."""
        return bool(self.rows) and all(v is not None for v in self.column("obs"))


def _cell(v: str):
    v = (v or "").strip()
    if v == "":
        return None
    try:
        return float(v)
    except ValueError:
        return v


def format_cell(v) -> str:
    """A limit-table cell as written: floats with 6 significant digits, None/nan empty, text as is."""
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return ""
    if isinstance(v, (float, np.floating)):
        return f"{float(v):.6g}"
    return str(v)


def read_limits(path: str | Path) -> LimitTable:
    path = require_file(path, "limit table", "limits")
    with open(path, newline="") as fh:
        reader = csv.reader(fh)
        try:
            header = next(reader)
        except StopIteration:
            raise NA64Error(f"{path}: empty limit table (no header)") from None
        rows = [[_cell(v) for v in row] for row in reader if row]
    try:
        table = LimitTable(header, rows)
    except NA64Error as exc:
        raise NA64Error(f"{path}: {exc}") from None
    bad = [i for i, row in enumerate(rows) if len(row) != len(header)]
    if bad:
        raise NA64Error(f"{path}: row {bad[0] + 1} has {len(rows[bad[0]])} cells, header has {len(header)}")
    return table


def write_limits(path: str | Path, table: LimitTable) -> None:
    """CSV per the contract: floats with 6 significant digits, nan/None (blinded ``obs``) empty."""
    with atomic_output(path) as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(table.header)
        for row in table.rows:
            w.writerow([format_cell(v) for v in row])


# ------------------------------------------------------------------------------------------------
# unblinded/<a>/<r>.json (unblind -> limits)


@dataclass
class ObservedCount:
    """Events observed in the signal box of one run, written only by `unblind` after the freeze check."""

    analysis: str
    run: str
    observed: int
    extra: dict = field(default_factory=dict)   # n_ot, source, freeze_hash, unblinded_utc


def read_observed(path: str | Path) -> ObservedCount:
    path = require_file(path, "observed box count", "unblind")
    data = _json(path)
    if "observed" not in data:
        raise NA64Error(f"{path}: no 'observed' count")
    extra = {k: v for k, v in data.items() if k not in ("analysis", "run", "observed")}
    return ObservedCount(str(data.get("analysis", "")), str(data.get("run", "")), int(data["observed"]), extra)


def write_observed(path: str | Path, count: ObservedCount) -> None:
    _dump_json(path, {"analysis": count.analysis, "run": count.run, "observed": int(count.observed),
                      **count.extra}, indent=1)


# ------------------------------------------------------------------------------------------------
# the list docs/contracts.md is checked against


@dataclass(frozen=True)
class FileKind:
    name: str
    path: str                  # under results/<tag>/
    record: type | None        # the dataclass (None: a plain dict, see its reader)
    reader: Any
    writer: Any
    columns: tuple[str, ...] = ()


FILES: tuple[FileKind, ...] = (
    FileKind("manifest", "ntuples/<analysis>/<run>/manifest.json", Manifest, read_manifest, write_manifest),
    FileKind("histograms", "histograms/<analysis>/<run>.pkl", None, read_histograms, write_histograms),
    FileKind("cutflow", "cutflows/<analysis>/<run>.csv", CutFlowTable, read_cutflow, None, CUTFLOW_COLUMNS),
    FileKind("signal", "signal/<analysis>/<model>_<run>.csv", SignalTable, read_signal, write_signal, SIGNAL_COLUMNS),
    FileKind("background", "background/<analysis>/<run>.json", BackgroundEstimate, read_background,
             write_background),
    FileKind("normalisation", "normalisation/<analysis>/<run>.json", Normalisation, read_normalisation,
             write_normalisation),
    FileKind("limits", "limits/<analysis>/<model>.csv", LimitTable, read_limits, write_limits,
             ("mass_gev", *LIMIT_COLUMNS)),
    FileKind("limits per run", "limits/<analysis>/<model>_<run>.csv", LimitTable, read_limits, write_limits,
             ("mass_gev", *LIMIT_COLUMNS)),
    FileKind("observed", "unblinded/<analysis>/<run>.json", ObservedCount, read_observed, write_observed),
)


def record_fields(kind: FileKind) -> list[str]:
    """Field names of a file kind's dataclass (what docs/contracts.md must describe)."""
    return [] if kind.record is None else [f.name for f in fields(kind.record) if f.name != "extra"]
