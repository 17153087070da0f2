"""The JSON records: background estimate (background -> limits, publish, plots, freeze), normalisation
(normalisation -> limits, background) and observed box count (unblind -> limits).

Each is a :class:`JsonRecord`: a dataclass whose fields are the record's keys in file order, each with
its conversion and, if optional, its default (:func:`key`); further keys are kept in ``extra`` and
written after them. ``from_dict``/``to_dict``/``read``/``write`` are shared; errors name the file,
the key and the contract.

>>> rec = BackgroundEstimate("na64e", "2023", 5e10, True, [], {"estimate": 0.5, "stat": 0.3, "syst": 0.4})
>>> rec.estimate, rec.uncertainty
(0.5, 0.5)
>>> ObservedCount.from_dict({"analysis": "na64h", "run": "2022", "observed": "3"}).observed
3
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, ClassVar

from .. import NA64Error
from ..paths import require_file
from ._json import _dump_json, _json

_REQUIRED = object()


def key(convert: Callable[[Any], Any] | None = None, default: Any = _REQUIRED, *, omit_none: bool = False):
    """A record field: ``convert`` applied on reading (None: kept as is), ``default`` if the key is absent
    from the file (none: the key is required). ``omit_none``: not written when None, and None by default
    in the constructor too (such fields come last)."""
    meta = {"convert": convert, "default": default, "omit_none": omit_none}
    return field(default=None, metadata=meta) if omit_none else field(metadata=meta)


def _total(value: Mapping) -> dict:
    total = dict(value)
    float(total["estimate"])
    return total


@dataclass
class JsonRecord:
    """Shared reading and writing of the JSON records (the subclasses declare fields with :func:`key`)."""

    WHAT: ClassVar[str] = "record"           # what the file is, in messages
    MADE_BY: ClassVar[str] = ""              # the step that writes it
    CONTRACT: ClassVar[str] = ""             # the keys, in messages
    INDENT: ClassVar[int] = 2

    @classmethod
    def _keys(cls):
        return [f for f in fields(cls) if f.name != "extra"]

    @classmethod
    def from_dict(cls, data: Mapping, where: str | None = None):
        """The record of ``data``; NA64Error naming ``where``, the key and the contract if a key is bad."""
        where = where or f"{cls.WHAT} record"
        values = {}
        try:
            for f in cls._keys():
                default = f.metadata["default"]
                if f.name not in data and default is _REQUIRED:
                    raise KeyError(f.name)
                value = data[f.name] if f.name in data else copy.copy(default)
                convert = f.metadata["convert"]
                values[f.name] = value if convert is None else convert(value)
        except (KeyError, TypeError, ValueError) as exc:
            raise NA64Error(f"{where}: key {exc} missing or invalid (contract: {cls.CONTRACT})") from exc
        return cls(**values, extra={k: v for k, v in data.items() if k not in values})

    def to_dict(self) -> dict:
        out = {f.name: getattr(self, f.name) for f in self._keys()
               if not (f.metadata["omit_none"] and getattr(self, f.name) is None)}
        out.update(self.extra)
        return out

    @classmethod
    def read(cls, path: str | Path):
        path = require_file(path, cls.WHAT, cls.MADE_BY)
        return cls.from_dict(_json(path), str(path))

    @classmethod
    def write(cls, path: str | Path, record) -> None:
        rec = record if isinstance(record, cls) else cls.from_dict(record, str(path))
        _dump_json(path, rec.to_dict(), indent=cls.INDENT)


# ------------------------------------------------------------------------------------------------
# background/<a>/<r>.json (background -> limits, publish, plots, freeze)


@dataclass
class BackgroundEstimate(JsonRecord):
    """Expected background in the signal box of one run, per source and in total."""

    WHAT: ClassVar[str] = "background estimate"
    MADE_BY: ClassVar[str] = "background"
    CONTRACT: ClassVar[str] = "analysis, run, n_ot, blinded, sources, total.estimate, total.uncertainty"

    analysis: str = key(str)
    run: str = key(str)
    n_ot: float = key(float)
    blinded: bool = key(bool, default=True)
    sources: list[dict] = key(list, default=[])   # {"name", "label", "estimate", "stat", "syst", "method", "inputs"}
    total: dict = key(_total)                      # {"estimate", "stat", "syst", "uncertainty"[, "not_included"]}
    extra: dict = field(default_factory=dict)      # further keys of the record, kept and written after these

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


read_background = BackgroundEstimate.read
write_background = BackgroundEstimate.write


# ------------------------------------------------------------------------------------------------
# normalisation/<a>/<r>.json (normalisation -> limits, background)


@dataclass
class Normalisation(JsonRecord):
    """Data / expected in the control region: k scales the signal yield, k_unc its nuisance parameter."""

    WHAT: ClassVar[str] = "dimuon normalisation"
    MADE_BY: ClassVar[str] = "normalisation"
    CONTRACT: ClassVar[str] = "analysis, run, k, k_unc, n_data, n_expected, method, region"

    analysis: str = key(str)
    run: str = key(str)
    k: float = key(float)
    k_unc: float = key(float)               # required: a missing uncertainty is an error, never 0
    n_data: float | None = key(default=None)
    n_expected: float | None = key(default=None)
    method: str = key(str, default="")
    region: str = key(str, default="")
    components: dict | None = key(default=None, omit_none=True)
    extra: dict = field(default_factory=dict)   # further keys of the record, kept and written after these


read_normalisation = Normalisation.read
write_normalisation = Normalisation.write


# ------------------------------------------------------------------------------------------------
# unblinded/counts/<a>/<r>.json (unblind -> observed products, report)


@dataclass
class ObservedCount(JsonRecord):
    """Events observed in the signal box of one run, written only by `unblind` after the freeze check."""

    WHAT: ClassVar[str] = "observed box count"
    MADE_BY: ClassVar[str] = "unblind"
    CONTRACT: ClassVar[str] = "analysis, run, observed"
    INDENT: ClassVar[int] = 1

    analysis: str = key(str, default="")
    run: str = key(str, default="")
    observed: int = key(int)
    extra: dict = field(default_factory=dict)   # n_ot, source, freeze_hash, unblinded_utc


read_observed = ObservedCount.read
write_observed = ObservedCount.write
