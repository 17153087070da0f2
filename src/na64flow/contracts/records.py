"""The JSON records: background estimate (background -> limits, publish, plots, freeze), normalisation
(normalisation -> limits, background) and observed box count (unblind -> limits).

>>> rec = BackgroundEstimate("na64e", "2023", 5e10, True, [], {"estimate": 0.5, "stat": 0.3, "syst": 0.4})
>>> rec.estimate, rec.uncertainty
(0.5, 0.5)
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path

from .. import NA64Error
from ..paths import require_file
from ._json import _dump_json, _json


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
