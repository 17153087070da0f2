"""The coffea processor of every analysis: one :class:`~na64flow.selection.Analysis` evaluated per chunk.

:class:`NA64Processor` (subclassed by ``analyses/<name>/processor.py``, which only sets ``analysis``)
turns one chunk of one sample into cut-flow arrays, region counts and histograms, blinding data first;
:func:`finalise` turns the accumulated arrays into the per-sample dict of the histogram file
(``na64flow.histograms``). A chunk that fails raises :class:`ChunkError`, which names the file and the
entry range from the chunk's own metadata (what coffea was given), whatever the executor.
"""

from __future__ import annotations

import gc
import importlib
import os
from types import SimpleNamespace

import awkward as ak
import numpy as np
from coffea import processor

from .. import NA64Error
from .. import histograms as H
from ..samples import is_data
from ..selection import Analysis, Columns, StepMasks, evaluate


def analysis_module(analysis: str, part: str = "processor"):
    """``na64flow_analyses.<analysis>.<part>``; NA64Error if the analysis has no such module."""
    try:
        return importlib.import_module(f"na64flow_analyses.{analysis}.{part}")
    except ModuleNotFoundError as exc:
        raise NA64Error(f"analysis '{analysis}' has no {part} module (analyses/{analysis}/{part}.py): {exc}") from exc


FAILED = "_failed_chunks"   # accumulator key of the chunks that failed (never a sample name)


class ChunkError(NA64Error):
    """A chunk of one file failed: names the file and entry range, and why (our own error as it is)."""

    def __init__(self, path: str, entry_start: int, entry_stop: int, reason: str, ours: bool = False):
        self.path, self.entry_start, self.entry_stop, self.reason, self.ours = path, entry_start, entry_stop, reason, ours
        super().__init__(f"{path}: {reason}" if ours else
                         f"{path}: reading or processing entries {entry_start}-{entry_stop} failed ({reason}); "
                         "the file may be corrupt")


def raise_failures(result: dict) -> None:
    """Raise the ChunkError of the first failed chunk of a Runner result (saying how many failed)."""
    failures = sorted(result.get(FAILED) or [])
    if failures:
        err = ChunkError(*failures[0])
        if len(failures) > 1:
            others = sorted({f[0] for f in failures[1:]} - {err.path})
            err.args = (f"{err.args[0]} ({len(failures) - 1} more chunk(s) failed"
                        + (f", also in {', '.join(others)}" if others else "") + ")",)
        raise err


class NA64Processor(processor.ProcessorABC):
    """Generic coffea processor: evaluate an :class:`~na64flow.selection.Analysis` on each chunk.

    Subclasses (``analyses/<name>/processor.py``) only set ``analysis``. Output per dataset (sample):
    cut-flow arrays (remaining raw / weighted / sum of squared weights after each step), region
    counts [raw, weighted, sumw2] and weighted histograms. For ``data`` with ``blind=True`` every event
    of the blinded region (valid values and box observables inside the box, before any cut) is dropped
    first: the cut-flow is that of the events outside the blinded region, *including its first row*,
    and those events fill no region and no histogram bin; the box row is not computed.
    """

    analysis: Analysis

    def __init__(self, cuts: SimpleNamespace, blind: bool = True, branch_map: dict[str, str] | None = None):
        self.cuts = cuts
        self.blind = bool(blind)
        self.branch_map = dict(branch_map or {})
        self.thresholds = self.analysis.box.thresholds(cuts)

    # ---------------------------------------------------------------- layout
    def step_names(self) -> list[str]:
        return ([H.CUTFLOW_READ, H.CUTFLOW_INVALID] + self.analysis.selection.names(self.cuts)
                + [H.CUTFLOW_BOX])

    def n1_hists(self) -> dict[str, str]:
        """{histogram name: cut name} of the N-1 histograms: one ``n1_<cut>`` per cut with an N-1 axis."""
        return {f"n1_{c.name}": c.name for c in self.analysis.selection.for_run(self.cuts) if c.n1 is not None}

    def hist_specs(self) -> dict[str, tuple]:
        """{histogram name: axes}: the analysis histograms and the N-1 histograms (:meth:`n1_hists`)."""
        out = {h.name: h.axes for h in self.analysis.hists}
        n1_axis = {c.name: c.n1 for c in self.analysis.selection.for_run(self.cuts) if c.n1 is not None}
        out.update({name: (n1_axis[cut],) for name, cut in self.n1_hists().items()})
        return out

    def empty(self) -> dict:
        """Zero accumulator of one sample (also used for samples whose files hold no events)."""
        n = len(self.step_names())
        return {"cutflow": {"raw": np.zeros(n, np.int64), "weighted": np.zeros(n), "sumw2": np.zeros(n)},
                # simulated samples: the same rows for their events outside the blinded region, so that a
                # blinded data cut-flow (which counts only those) is compared like with like
                "cutflow_outside": {"raw": np.zeros(n, np.int64), "weighted": np.zeros(n), "sumw2": np.zeros(n)},
                "regions": {r.name: np.zeros(3) for r in self.analysis.regions},
                "hists": {k: H.make_hist(axes, self.thresholds) for k, axes in self.hist_specs().items()}}

    # ---------------------------------------------------------------- per chunk
    def branches(self) -> list[str]:
        """Schema branches this run reads: those the cuts, box, regions, histograms and derivation
        declare (``Analysis.branches``); nothing else is decompressed."""
        return self.analysis.branches(self.cuts)

    def read_branches(self, with_weight: bool = True) -> list[str]:
        """Real (file) names of the branches :meth:`columns` reads."""
        names = self.branches() + (["weight"] if with_weight else [])
        return [self.branch_map.get(n, n) for n in names]

    def columns(self, events, with_weight: bool = True) -> Columns:
        """Schema-named numpy columns of a chunk (real branch names renamed through ``branch_map``):
        only the declared branches (:meth:`branches`).

        The ``weight`` branch is read only when ``with_weight`` (simulated samples; data weigh 1).
        """
        _release_previous_chunk()
        cols = {}
        for name in self.branches():
            cols[name] = ak.to_numpy(events[self.branch_map.get(name, name)])
        wname = self.branch_map.get("weight", "weight")
        if with_weight and wname in events.fields:
            cols["weight"] = ak.to_numpy(events[wname]).astype(np.float64)
        return cols

    def process(self, events):
        """One chunk -> {sample: accumulator}; a failure comes back as ``{FAILED: [ChunkError args]}``.

        Failures are returned, not raised, so the file and entry range (the chunk's metadata, which
        coffea filled from the fileset we passed) reach the caller intact through every executor:
        exceptions crossing a process pool or a Dask worker lose their chain.
        """
        md = events.metadata
        sample = md["dataset"]
        try:
            cols = self.columns(events, with_weight=not is_data(sample))
            weight = cols.get("weight")     # None: unit weights (data)
            steps = evaluate(self.analysis, cols, self.cuts)
            return {sample: self.fill(sample, cols, weight, steps)}
        except Exception as exc:   # noqa: BLE001 - every failure is reported by run_processing, none dropped
            ours = isinstance(exc, NA64Error)
            reason = str(exc) if ours else f"{type(exc).__name__}: {exc}"
            return {FAILED: [(md["filename"], int(md["entrystart"]), int(md["entrystop"]), reason, ours)]}

    def fill(self, sample: str, cols: Columns, weight: np.ndarray | None, steps: StepMasks) -> dict:
        """Cut-flow, regions and histograms of one chunk of one sample (blinding applied first).

        ``weight`` None means unit weights (data): sums of weights and of squared weights are counts.
        """
        out = self.empty()
        n = len(steps.valid)
        blinded = self.blind and is_data(sample)
        # blinding: data events of the blinded region (box observables inside the box) are dropped before
        # the first row, so no row, bin or region holds them and no difference of outputs gives their number
        keep = ~(steps.valid & steps.box) if blinded else np.ones(n, dtype=bool)
        w2 = None if weight is None else weight * weight

        def sums(m):
            k = np.count_nonzero(m)
            if weight is None:
                return k, float(k), float(k)
            return k, np.sum(weight, where=m), np.sum(w2, where=m)

        # rows: read (blinded data: outside the blinded region), valid, each cut, box (never computed for
        # blinded data: None in the file)
        box_row = np.zeros(n, dtype=bool) if blinded else steps.in_box()
        masks = ([keep, steps.valid & keep] + [m & keep for _, m in steps.cumulative()]
                 + [box_row])
        cf = out["cutflow"]
        for i, m in enumerate(masks):
            cf["raw"][i], cf["weighted"][i], cf["sumw2"][i] = sums(m)
        if self.blind and not is_data(sample):
            outside = ~(steps.valid & steps.box)
            cfo = out["cutflow_outside"]
            for i, m in enumerate(masks[:-1]):      # the box row lies inside the region: 0
                cfo["raw"][i], cfo["weighted"][i], cfo["sumw2"][i] = sums(m & outside)

        for r in self.analysis.regions:
            out["regions"][r.name][:] = sums(r(cols, self.cuts, steps) & keep)

        specs = self.hist_specs()
        wheres = {h.name: h for h in self.analysis.hists}
        n1 = self.n1_hists()
        for name, h in out["hists"].items():
            if name in wheres:
                m = wheres[name].mask(cols, self.cuts, steps) & keep
            else:   # the N-1 histogram of one cut: every other cut applied
                m = steps.all_but(n1[name]) & keep
            if not m.any():
                continue
            # np.compress: same as x[m], several times faster for irregular boolean masks
            h.fill(*(self._box_axis_values(a, np.compress(m, cols[a.variable])) for a in specs[name]),
                   weight=None if weight is None else np.compress(m, weight))
        return out

    def _box_axis_values(self, axis, x: np.ndarray) -> np.ndarray:
        """Values of a box variable below its axis's lower edge go into the first bin.

        The box has no lower edge (``E_HCAL < hcal_zero_gev`` holds for every valid E_HCAL, which can be
        below 0 by the noise tolerance, times the modules for a sum), while the axes start at 0: without
        this the histogram's [axis start, threshold) would miss the box events with a negative value and
        the extrapolation target and closure truth would not be the box region (docs/contracts.md).
        """
        if axis.variable in self.thresholds:
            return np.maximum(x, axis.lo)
        return x

    def postprocess(self, accumulator):
        return accumulator


_FROZEN_IN: set[int] = set()   # pids whose long-lived objects are frozen out of the cyclic GC


def _release_previous_chunk() -> None:
    """Free the previous chunk's buffers now, so memory does not grow with the number of chunks.

    coffea's NanoEvents and uproot keep each chunk's decompressed arrays in reference cycles (factory,
    file, virtual-array generators): refcounting never frees them, and Python's cyclic GC reaches them
    only in its rare full collections, so the resident memory of one worker grew by ~5 MB per chunk
    (benchmarks/RESULTS.md). A full collection of the ~1.5e5 long-lived objects of a worker costs tens
    of ms, so they are frozen once per process (``gc.freeze``: never scanned again) and each chunk
    starts with a collection that only scans what the previous chunk left, well under a millisecond.
    """
    pid = os.getpid()
    if pid not in _FROZEN_IN:
        gc.freeze()   # no full collection first: it would cost what the freeze saves
        _FROZEN_IN.add(pid)
    gc.collect()


# -------------------------------------------------------------------- inputs


def _sample_kind(sample: str) -> str:
    if is_data(sample):
        return "data"
    return "signal" if sample.startswith("signal_") else "mc"


def finalise(proc: NA64Processor, sample: str, acc: dict, blind: bool) -> dict:
    """Accumulator arrays -> the documented per-sample dict (blinded data: box row None, no box region)."""
    cf = acc["cutflow"]
    names = proc.step_names()
    raw = [int(x) for x in cf["raw"]]
    weighted = [float(x) for x in cf["weighted"]]
    sumw2 = [float(x) for x in cf["sumw2"]]
    regions = {r: {"raw": int(v[0]), "weighted": float(v[1]), "sumw2": float(v[2])} for r, v in acc["regions"].items()}
    if blind and is_data(sample):
        raw[-1] = weighted[-1] = sumw2[-1] = None
        regions.pop("box", None)
    out = {"kind": _sample_kind(sample),
           "cutflow": {"names": names, "raw": raw, "weighted": weighted, "sumw2": sumw2},
           "regions": regions, "hists": acc["hists"]}
    if blind and not is_data(sample) and "cutflow_outside" in acc:
        # MC only (no data information): the cut-flow of the simulated events outside the blinded region
        cfo = acc["cutflow_outside"]
        out["cutflow_outside_blinded_region"] = {"names": names, "raw": [int(x) for x in cfo["raw"]],
                                                 "weighted": [float(x) for x in cfo["weighted"]],
                                                 "sumw2": [float(x) for x in cfo["sumw2"]]}
    return out
