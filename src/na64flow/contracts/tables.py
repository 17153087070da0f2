"""The CSV tables: cut-flows (cutflow -> publish, plots), signal yields (signal -> limits) and limits
(limits -> publish, plots, freeze, unblind; per analysis and per run).

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
>>> format_cell(0.0123456789), format_cell(None), format_cell("eta")
('0.0123457', '', 'eta')
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .. import NA64Error
from ..paths import atomic_output, require_file

SIGNAL_COLUMNS = ("mass_gev", "yield_per_ot", "efficiency")
LIMIT_COLUMNS = ("exp", "exp_m2", "exp_m1", "exp_p1", "exp_p2", "obs")
CUTFLOW_COLUMNS = ("sample", "step", "raw", "removed", "rel_eff", "cum_eff", "weighted", "weighted_err",
                   "rel_eff_weighted", "cum_eff_weighted")



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
