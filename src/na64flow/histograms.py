"""Histogram files of the `process` step: format, save/load, and a JSON dump for regression tests.

Format (docs/contracts.md "Histogram file"), a pickled dict::

    {"schema_version": 1, "analysis": str, "run": str, "blinded": bool, "n_ot": float,
     "box": {"conditions": [{"variable", "op", "key", "value", "label"}]},
     "samples": {sample: {
         "cutflow": {"names": [...], "raw": [...], "weighted": [...], "sumw2": [...]},
         "cutflow_outside_blinded_region": {...},   # simulated samples of a blinded file only (below)
         "regions": {region: {"raw": int, "weighted": float, "sumw2": float}},
         "hists": {name: hist.Hist (Weight storage)}}}}

Cut-flow rows hold the number of events *remaining* after each step: row 0 ``read`` = events read,
row 1 ``invalid values`` = events left after removing those with invalid values (NaN/inf, energies
below minus the noise tolerance; their number is row 0 - row 1), one row per cut, and the last row
``box`` = signal candidates. Data are always blinded by `process`: every data event of the *blinded
region* (valid values and box observables inside the box: E_ECAL and E_HCAL; p_out for muons; ...,
before any cut) is dropped before row 0, so the data cut-flow is the cut-flow of the events outside
the blinded region, its first row included; the box row's values are None ("blinded"), the ``box``
region is absent, and no histogram bin or region holds a blinded-region event. Nothing in the file
depends on the events of the blinded region (the tests plant some and compare). Dropping the whole
region of the observables (not only the final candidates) is what keeps the box count underivable:
with the candidates alone removed, (events after the last cut) - (integral of ``ecal_hcal``) or
(events in the files) - (row 0) would equal it. The one number that remains derivable, from the
input files rather than from this file, is (entries of the data ntuples) - (row 0) = events of the
blinded region before any cut (README "Blinding protocol").

On an axis of a box variable, values below the axis's lower edge are counted in its first bin
(``Processor._box_axis_values``): the box has no lower edge, so the bins from the axis start to a box
threshold hold every box event (a simulated sample's ``box`` region count, the extrapolation target).

In a blinded file every simulated sample also carries ``cutflow_outside_blinded_region``: the same rows
for its own events outside the blinded region (box row 0). Blinded data are compared with it (the run
table's data-vs-simulation section, the cut-flow plot), like with like; it holds no data information.

``python -m na64flow.histograms FILE.pkl [--dump-json OUT.json] [--full]`` prints/writes the JSON dump
(cut-flows, regions and per-histogram sums and a digest of the bin contents; ``--full`` adds all bins).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import pickle
import sys
from pathlib import Path

import boost_histogram as bh
import hist
import numpy as np

from . import NA64Error
from .paths import atomic_output
from .selection import Axis

SCHEMA_VERSION = 1
CUTFLOW_READ = "read"
CUTFLOW_INVALID = "invalid values"
CUTFLOW_BOX = "box"
BLINDED = "blinded"


def make_axis(axis: Axis, thresholds: dict[str, float] | None = None) -> hist.axis.AxisProtocol:
    """A hist axis for ``axis``; box thresholds inside its range become bin edges.

    Regular binning is kept when every threshold of this variable already lies on a regular edge;
    otherwise the thresholds are inserted (Variable axis) so that no bin straddles a box edge.
    """
    extra = []
    if thresholds and axis.variable in thresholds:
        t = thresholds[axis.variable]
        if axis.lo < t < axis.hi:
            extra.append(t)
    edges = np.linspace(axis.lo, axis.hi, axis.bins + 1)
    off_edge = [t for t in extra if not np.any(np.isclose(edges, t, rtol=0, atol=1e-9 * (axis.hi - axis.lo)))]
    if not off_edge:
        return hist.axis.Regular(axis.bins, axis.lo, axis.hi, name=axis.variable, label=axis.label)
    return hist.axis.Variable(np.union1d(edges, off_edge), name=axis.variable, label=axis.label)


def make_hist(axes: tuple[Axis, ...], thresholds: dict[str, float] | None = None) -> hist.Hist:
    """An empty weighted histogram (sum of weights and of squared weights per bin)."""
    return hist.Hist(*(make_axis(a, thresholds) for a in axes), storage=hist.storage.Weight())


def save(path: str | Path, content: dict) -> None:
    """Write a histogram file atomically (pickle) after checking its top-level keys."""
    check(content, str(path))
    with atomic_output(path, mode="wb") as fh:
        pickle.dump(content, fh, protocol=pickle.HIGHEST_PROTOCOL)


REQUIRED = ("schema_version", "analysis", "run", "blinded", "n_ot", "box", "samples")


def check(content: dict, where: str) -> None:
    missing = [k for k in REQUIRED if k not in content]
    if missing:
        raise NA64Error(f"{where}: histogram file lacks keys {', '.join(missing)}")
    if content["schema_version"] != SCHEMA_VERSION:
        raise NA64Error(f"{where}: histogram schema_version {content['schema_version']} "
                        f"(this na64flow reads {SCHEMA_VERSION}); rerun `na64flow process`")
    for sample, s in content["samples"].items():
        for key in ("cutflow", "regions", "hists"):
            if key not in s:
                raise NA64Error(f"{where}: sample '{sample}' lacks '{key}'")


def load(path: str | Path) -> dict:
    """Read a histogram file written by :func:`save`; NA64Error naming the file if absent or unreadable."""
    path = Path(path)
    if not path.is_file():
        raise NA64Error(f"{path}: histogram file not found (made by `na64flow process`)")
    try:
        with open(path, "rb") as fh:
            content = pickle.load(fh)
    except Exception as exc:
        raise NA64Error(f"{path}: not a readable histogram file ({type(exc).__name__}: {exc})") from exc
    if not isinstance(content, dict):
        raise NA64Error(f"{path}: not a histogram file (top level is {type(content).__name__})")
    check(content, str(path))
    return content


def content_digest(content: dict) -> str:
    """sha256 of everything a histogram file holds (keys, cut-flows, regions, every histogram's axes, bin
    values and variances with flow), independent of how the pickle happens to share objects: the same
    histograms give the same digest whatever executor or number of workers filled them (the pickled
    bytes differ between them). The freeze pins histogram files by this digest."""
    h = hashlib.sha256()

    def walk(x):
        if isinstance(x, bh.Histogram):    # hist.Hist and plain boost-histogram objects alike
            h.update(b"H")
            for a in x.axes:
                h.update(f"{type(a).__name__}|{getattr(a, 'name', '')}|{getattr(a, 'label', '')}|".encode())
                h.update(np.asarray(a.edges, dtype=np.float64).tobytes())
            h.update(np.ascontiguousarray(x.values(flow=True), dtype=np.float64).tobytes())
            var = x.variances(flow=True)
            h.update(b"-" if var is None else np.ascontiguousarray(var, dtype=np.float64).tobytes())
        elif isinstance(x, dict):
            h.update(b"{")
            for k in sorted(x, key=repr):
                h.update(repr(k).encode() + b":")
                walk(x[k])
            h.update(b"}")
        elif isinstance(x, (list, tuple)):
            h.update(b"[")
            for y in x:
                walk(y)
            h.update(b"]")
        elif isinstance(x, np.ndarray):
            h.update(x.dtype.str.encode() + str(x.shape).encode())
            h.update(np.ascontiguousarray(x).tobytes())
        else:
            h.update(repr(x).encode() + b";")

    walk(content)
    return h.hexdigest()


def _digest(values: np.ndarray) -> str:
    return hashlib.sha256(np.round(np.asarray(values, dtype=np.float64), 6).tobytes()).hexdigest()[:16]


def hist_summary(h: hist.Hist, full: bool = False) -> dict:
    """JSON-able summary: axes, sum of weights (flow included), sum of squared weights, bin digest."""
    view = h.view(flow=True)
    out = {"axes": [{"name": a.name, "edges": [float(e) for e in (a.edges[[0, -1]] if not full else a.edges)],
                     "bins": int(a.size)} for a in h.axes],
           "sum": float(np.sum(view.value)), "sumw2": float(np.sum(view.variance)),
           "digest": _digest(view.value)}
    if full:
        out["values"] = np.asarray(h.values(flow=True)).tolist()
        out["variances"] = np.asarray(h.variances(flow=True)).tolist()
    return out


def to_json(content: dict, full: bool = False) -> dict:
    """The regression dump of a histogram file (AGC ``--dump-json`` style)."""
    samples = {}
    for name, s in sorted(content["samples"].items()):
        samples[name] = {
            "cutflow": s["cutflow"],
            "regions": {r: v for r, v in sorted(s["regions"].items())},
            "hists": {h: hist_summary(obj, full) for h, obj in sorted(s["hists"].items())},
        }
    return {k: content[k] for k in ("schema_version", "analysis", "run", "blinded", "n_ot", "box")} | {
        "samples": samples}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m na64flow.histograms", description=__doc__.split("\n\n")[0])
    p.add_argument("file", help="histogram file (results/<tag>/histograms/<analysis>/<run>.pkl)")
    p.add_argument("--dump-json", metavar="OUT", help="write the JSON dump here instead of stdout")
    p.add_argument("--full", action="store_true", help="include every bin value and variance")
    args = p.parse_args(argv)
    try:
        dump = to_json(load(args.file), full=args.full)
    except NA64Error as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    text = json.dumps(dump, indent=1, sort_keys=True)
    if args.dump_json:
        with atomic_output(args.dump_json) as fh:
            fh.write(text + "\n")
    else:
        print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
