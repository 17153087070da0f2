"""Selection machinery: named cuts that declare their columns, ordered selections, signal boxes, regions.

An analysis (``analyses/<name>/selection.py``) is written with four pieces:

* :func:`cut` turns a small function ``f(ev, cuts) -> bool array`` into a :class:`Cut` that declares
  the columns it reads (``uses``), the variable of its N-1 histogram (``n1``) and when it applies
  (e.g. the VHCAL cut only in runs with a VHCAL);
* :class:`Selection` is the ordered list of cuts (the cut-flow order);
* :class:`Box` is the signal box: a conjunction of ``variable < cuts.<key>`` conditions;
* :class:`Region` is a named control/validation region, a function of the columns, the cut values and
  the step masks (:class:`StepMasks`);
* :func:`derived` declares the derived columns (e.g. ``hcal_gev``) and the branches they are made from.

Every piece declares the columns it reads (``uses``; histogram axes declare theirs by their variable).
:meth:`Analysis.branches` turns the declarations into the schema branches a run needs, and the
processor reads only those. Each piece is evaluated on a view holding only its declared columns, so a
piece that reads an undeclared column fails with an NA64Error naming it, instead of silently depending
on a branch that is not read.

:func:`evaluate` computes everything once per chunk; the same step masks feed the cut-flow table, the
N-1 histograms, the regions and the blinding mask (nothing re-implements a cut elsewhere).

Cut values always come from ``config.cuts_for(cfg, analysis, run)`` (a namespace); :func:`need` reads
one value with an error naming the missing key.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from types import SimpleNamespace

import numpy as np

from . import NA64Error
from .events import branch_names, branches

Columns = dict[str, np.ndarray]


def need(cuts: SimpleNamespace, key: str):
    """``cuts.<key>``; NA64Error naming the key and analysis when the configuration lacks it."""
    try:
        return getattr(cuts, key)
    except AttributeError:
        raise NA64Error(
            f"cut value '{key}' missing for analysis '{getattr(cuts, 'analysis', '?')}' run "
            f"'{getattr(cuts, 'run', '?')}': add analyses.{getattr(cuts, 'analysis', '<analysis>')}.cuts.{key} "
            "to the configuration") from None


class Ev:
    """Attribute view of a column dict (``ev.ecal_gev``) that names a missing column clearly.

    ``owner`` (e.g. "region 'dimuon'") names the piece whose declared ``uses`` the view holds.
    """

    __slots__ = ("_cols", "_owner")

    def __init__(self, cols: Columns, owner: str | None = None):
        self._cols = cols
        self._owner = owner

    def __getattr__(self, name: str) -> np.ndarray:
        try:
            return self._cols[name]
        except KeyError:
            raise _undeclared(name, self._owner, self._cols) from None


def _undeclared(name: str, owner: str | None, cols) -> NA64Error:
    if owner is None:
        return NA64Error(f"column '{name}' is not available (have: {', '.join(sorted(cols))})")
    return NA64Error(f"{owner} reads column '{name}', which it does not declare in its uses "
                     f"(declared: {', '.join(sorted(cols)) or 'none'}); add it to uses= so the branch is read")


def only(cols: Columns, uses: Sequence[str], owner: str) -> Ev:
    """View of ``cols`` holding only ``uses`` (NA64Error naming ``owner`` if one is not available)."""
    missing = [c for c in uses if c not in cols]
    if missing:
        raise NA64Error(f"{owner} needs columns {', '.join(missing)} that are not available")
    return Ev({c: cols[c] for c in uses}, owner)


class _DeclaredColumns(dict):
    """Column dict of a derivation: reading an undeclared column raises an NA64Error naming it."""

    def __init__(self, cols, owner):
        super().__init__(cols)
        self.owner = owner

    def __missing__(self, name):
        raise _undeclared(name, self.owner, self)


@dataclass(frozen=True)
class Axis:
    """One histogram axis: ``variable`` (a column name), regular binning, label with unit."""

    variable: str
    bins: int
    lo: float
    hi: float
    label: str = ""


@dataclass(frozen=True)
class Cut:
    """A named selection step. ``fn(ev, cuts)`` returns a boolean mask; ``uses`` lists its columns."""

    name: str
    fn: Callable
    uses: tuple[str, ...]
    doc: str = ""
    n1: Axis | None = None
    applies: Callable | None = None   # applies(cuts) -> bool; None = always

    def applies_to(self, cuts: SimpleNamespace) -> bool:
        return True if self.applies is None else bool(self.applies(cuts))

    def __call__(self, cols: Columns, cuts: SimpleNamespace) -> np.ndarray:
        mask = np.asarray(self.fn(only(cols, self.uses, f"cut '{self.name}'"), cuts), dtype=bool)
        n = len(next(iter(cols.values()))) if cols else 0
        if mask.shape != (n,):
            raise NA64Error(f"cut '{self.name}' returned a mask of shape {mask.shape}, expected ({n},)")
        return mask


def cut(uses: Sequence[str], n1: Axis | None = None, applies: Callable | None = None,
        name: str | None = None):
    """Decorator: ``@cut(uses=("veto_mip",), n1=Axis("veto_mip", 50, 0, 5, "VETO [MIP]"))``.

    The wrapped function receives an attribute view holding *only* the declared columns, so a cut
    cannot silently read an undeclared column.
    """

    def wrap(fn: Callable) -> Cut:
        return Cut(name=name or fn.__name__, fn=fn, uses=tuple(uses), doc=(fn.__doc__ or "").strip(),
                   n1=n1, applies=applies)

    return wrap


class Selection:
    """The ordered cuts of one analysis; ``for_run(cuts)`` keeps those that apply to a run."""

    def __init__(self, cuts: Sequence[Cut]):
        names = [c.name for c in cuts]
        dup = {n for n in names if names.count(n) > 1}
        if dup:
            raise NA64Error(f"duplicate cut names: {', '.join(sorted(dup))}")
        self.cuts = list(cuts)

    def for_run(self, cuts: SimpleNamespace) -> list[Cut]:
        return [c for c in self.cuts if c.applies_to(cuts)]

    def names(self, cuts: SimpleNamespace) -> list[str]:
        return [c.name for c in self.for_run(cuts)]

    @property
    def uses(self) -> set[str]:
        return {u for c in self.cuts for u in c.uses}


@dataclass(frozen=True)
class Below:
    """Box condition ``variable < cuts.<key>`` (upper edge from the configuration)."""

    variable: str
    key: str
    label: str = ""


class Box:
    """Signal box: every condition ``variable < cuts.<key>`` holds (applied after all cuts)."""

    def __init__(self, *conditions: Below):
        if not conditions:
            raise NA64Error("a Box needs at least one condition")
        self.conditions = tuple(conditions)

    def mask(self, cols: Columns, cuts: SimpleNamespace) -> np.ndarray:
        out = np.ones(len(cols[self.conditions[0].variable]), dtype=bool)
        for c in self.conditions:
            out &= cols[c.variable] < need(cuts, c.key)
        return out

    def thresholds(self, cuts: SimpleNamespace) -> dict[str, float]:
        """{variable: upper edge} of this run."""
        return {c.variable: float(need(cuts, c.key)) for c in self.conditions}

    def describe(self, cuts: SimpleNamespace) -> dict:
        """The box definition stored in the histogram file (variables, config keys, values)."""
        return {"conditions": [{"variable": c.variable, "op": "<", "key": c.key,
                                "value": float(need(cuts, c.key)), "label": c.label}
                               for c in self.conditions]}

    @property
    def uses(self) -> set[str]:
        return {c.variable for c in self.conditions}


@dataclass
class StepMasks:
    """Masks of one chunk: ``valid`` (no invalid values), each cut on its own, and the box."""

    valid: np.ndarray
    cuts: dict[str, np.ndarray]
    box: np.ndarray
    _all: np.ndarray | None = field(default=None, repr=False)

    def all(self) -> np.ndarray:
        """Valid and passing every cut (the box is not a cut)."""
        if self._all is None:
            m = self.valid.copy()
            for v in self.cuts.values():
                m &= v
            self._all = m
        return self._all

    def all_but(self, *names: str) -> np.ndarray:
        """Valid and passing every cut except ``names`` (N-1 masks, side bands).

        Names of cuts that do not apply to this run (e.g. ``vhcal_empty`` without a VHCAL) are ignored.
        """
        m = self.valid.copy()
        for k, v in self.cuts.items():
            if k not in names:
                m &= v
        return m

    def cumulative(self) -> list[tuple[str, np.ndarray]]:
        """[(cut name, mask after this cut and every earlier one)], in cut-flow order."""
        out, m = [], self.valid.copy()
        for k, v in self.cuts.items():
            m = m & v
            out.append((k, m))
        return out

    def in_box(self) -> np.ndarray:
        """Signal candidates: valid, passing every cut, inside the box."""
        return self.all() & self.box


@dataclass(frozen=True)
class Region:
    """A named region: ``fn(ev, cuts, steps) -> mask`` with ``steps`` the chunk's :class:`StepMasks`."""

    name: str
    fn: Callable
    uses: tuple[str, ...] = ()
    doc: str = ""

    def __call__(self, cols: Columns, cuts: SimpleNamespace, steps: StepMasks) -> np.ndarray:
        """The region mask, ``fn`` seeing only the declared columns."""
        return np.asarray(self.fn(only(cols, self.uses, f"region '{self.name}'"), cuts, steps), dtype=bool)


def region(name: str, uses: Sequence[str] = ()):
    """Decorator making a :class:`Region` from ``f(ev, cuts, steps)``; ``ev`` holds only ``uses``."""

    def wrap(fn: Callable) -> Region:
        return Region(name=name, fn=fn, uses=tuple(uses), doc=(fn.__doc__ or "").strip())

    return wrap


@dataclass(frozen=True)
class HistSpec:
    """A histogram filled per sample: 1 or 2 axes, filled with the events of ``where(ev, cuts, steps)``.

    ``uses``: the columns ``where`` reads (the axis variables are read for the filling anyway).
    """

    name: str
    axes: tuple[Axis, ...]
    where: Callable   # where(ev, cuts, steps) -> mask
    doc: str = ""
    uses: tuple[str, ...] = ()

    def mask(self, cols: Columns, cuts: SimpleNamespace, steps: StepMasks) -> np.ndarray:
        """The events filled, ``where`` seeing only the declared columns."""
        return np.asarray(self.where(only(cols, self.uses, f"histogram '{self.name}'"), cuts, steps), dtype=bool)


@dataclass(frozen=True)
class Derivation:
    """Derived columns ``makes`` computed by ``fn(cols, cuts)`` from the columns ``uses``."""

    fn: Callable
    uses: tuple[str, ...] = ()
    makes: tuple[str, ...] = ()

    def __call__(self, cols: Columns, cuts: SimpleNamespace) -> Columns:
        """Adds the derived columns to ``cols`` (``fn`` sees only the declared ones); returns ``cols``."""
        owner = f"derivation of {', '.join(self.makes) or 'nothing'}"
        view = _DeclaredColumns(only(cols, self.uses, owner)._cols, owner)
        out = self.fn(view, cuts)
        out = view if out is None else out
        missing = [c for c in self.makes if c not in out]
        if missing:
            raise NA64Error(f"{owner}: {', '.join(missing)} not produced")
        cols.update({c: out[c] for c in self.makes})
        return cols


def derived(uses: Sequence[str], makes: Sequence[str]):
    """Decorator: ``@derived(uses=HCAL_MODULES, makes=("hcal_gev",))`` on ``f(cols, cuts)`` that adds
    the columns ``makes`` to ``cols`` (which holds only ``uses``)."""

    def wrap(fn: Callable) -> Derivation:
        return Derivation(fn=fn, uses=tuple(uses), makes=tuple(makes))

    return wrap


@dataclass(frozen=True)
class Analysis:
    """Everything that defines one search: setup, derived columns, cuts, box, regions, histograms."""

    name: str
    setup: str
    selection: Selection
    box: Box
    regions: tuple[Region, ...]
    hists: tuple[HistSpec, ...]
    derive: Derivation = Derivation(lambda cols, cuts: cols)   # adds derived columns (e.g. hcal_gev)

    def __post_init__(self):
        if not isinstance(self.derive, Derivation):
            raise NA64Error(f"analysis '{self.name}': derive must declare its columns "
                            "(@derived(uses=..., makes=...)), got a plain function")
        schema = set(branch_names(self.setup))
        clash = sorted(set(self.derive.makes) & schema)
        if clash:
            raise NA64Error(f"analysis '{self.name}': derived column(s) {', '.join(clash)} shadow schema branches")
        unknown = sorted(c for c in set(self.derive.uses) if c not in schema)
        if unknown:
            raise NA64Error(f"analysis '{self.name}': the derivation uses {', '.join(unknown)}, "
                            f"not branches of the '{self.setup}' schema")
        known = schema | set(self.derive.makes)
        for owner, uses in self._declarations(None):
            bad = sorted(set(uses) - known)
            if bad:
                raise NA64Error(f"analysis '{self.name}': {owner} declares column(s) {', '.join(bad)}, neither "
                                f"branches of the '{self.setup}' schema nor derived ({', '.join(self.derive.makes)})")

    def _declarations(self, cuts: SimpleNamespace | None) -> list[tuple[str, tuple[str, ...]]]:
        """[(piece, declared columns)] of the cuts (of the run, or all), box, regions and histograms."""
        cut_list = self.selection.cuts if cuts is None else self.selection.for_run(cuts)
        out = [(f"cut '{c.name}'", c.uses + ((c.n1.variable,) if c.n1 else ())) for c in cut_list]
        out.append(("the box", tuple(sorted(self.box.uses))))
        out += [(f"region '{r.name}'", r.uses) for r in self.regions]
        out += [(f"histogram '{h.name}'", h.uses + tuple(a.variable for a in h.axes)) for h in self.hists]
        return out

    def branches(self, cuts: SimpleNamespace) -> list[str]:
        """Schema branches (in schema order) that the cuts of this run, the box, the regions, the
        histograms and the derivation declare: the only branches the processor reads."""
        wanted = {u for _, uses in self._declarations(cuts) for u in uses}
        wanted = (wanted - set(self.derive.makes)) | set(self.derive.uses)
        return [b for b in branch_names(self.setup) if b in wanted]


def invalid_mask(cols: Columns, setup: str, cuts: SimpleNamespace) -> np.ndarray:
    """Events with a non-finite value in any float branch, or an energy below minus the noise tolerance.

    Energies: branches in GeV (except momenta) and MeV compared with ``-noise_tolerance_gev`` (x1000 for
    MeV), branches in MIP with ``-noise_tolerance_mip``; both tolerances from the configuration.
    """
    n = len(cols["event_number"]) if "event_number" in cols else len(next(iter(cols.values())))
    bad = np.zeros(n, dtype=bool)
    tol_gev = float(need(cuts, "noise_tolerance_gev"))
    tol_mip = float(need(cuts, "noise_tolerance_mip"))
    for b in branches(setup):
        if b.name not in cols:
            continue
        x = cols[b.name]
        if np.dtype(b.dtype).kind == "f":
            bad |= ~np.isfinite(x)
        if "momentum" in b.name or b.name.endswith("_ns") or "chi2" in b.name or b.name.endswith("_s"):
            continue
        if b.unit == "GeV":
            bad |= x < -tol_gev
        elif b.unit == "MeV":
            bad |= x < -1000.0 * tol_gev
        elif b.unit == "MIP":
            bad |= x < -tol_mip
    return bad


def evaluate(analysis: Analysis, cols: Columns, cuts: SimpleNamespace) -> StepMasks:
    """Derive columns, then compute validity, every cut of the run and the box for one chunk.

    Invalid events (see :func:`invalid_mask`, on the branches present in ``cols``: the processor reads
    the declared ones, :meth:`Analysis.branches`) fail ``valid``; cut masks are evaluated on all events
    (NaN comparisons are False) and always combined with ``valid``.
    """
    bad = invalid_mask(cols, analysis.setup, cuts)
    with np.errstate(invalid="ignore"):
        analysis.derive(cols, cuts)
        masks = {c.name: c(cols, cuts) for c in analysis.selection.for_run(cuts)}
        box = analysis.box.mask(cols, cuts)
    return StepMasks(valid=~bad, cuts=masks, box=box)
