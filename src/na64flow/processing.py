"""Process ntuples of one analysis run into histograms and cut-flows (coffea), with the signal box blinded.

`na64flow process -c C --analysis A --run R --out results/<tag>/histograms/A/R.pkl [--workers N]
[--executor iterative|futures|dask]` reads every sample of the run (the manifest written by `simulate`,
or ``input.ntuples.<A>.<R>`` for real ntuples), checks every file against the event schema first, runs
the analysis processor (``na64flow_analyses.<A>.processor.Processor``) with coffea's ``processor.Runner``
and writes the histogram file atomically (format: ``na64flow.histograms``).

Executors: futures (``--workers`` processes, default), iterative, or Dask when
``execution.dask_scheduler`` is set ("local" starts a dask.distributed LocalCluster; an address
connects a Client). Blinding: always, whatever the configuration says. Data events in the blinded
region (box observables inside the box, before any cut) are dropped before the first cut-flow row, so
they fill no row, histogram bin or region; the data box row is None ("blinded"). Only the `unblind`
step reads the box, through :func:`box_events` and :func:`unblinded_data` (after its freeze check).
"""

from __future__ import annotations

import argparse
import concurrent.futures
import functools
import gc
import glob as globmod
import importlib
import logging
import multiprocessing
import os
import re
from pathlib import Path
from types import SimpleNamespace

import awkward as ak
import numpy as np
from coffea import processor

from . import NA64Error, contracts
from . import histograms as H
from .config import (
    add_analysis_arguments,
    add_config_arguments,
    analysis_config,
    config_from_args,
    cuts_for,
    run_config,
    section,
)
from .events import TRUTH, branch_names, check_tree, open_tree
from .paths import manifest_path
from .samples import is_data
from .selection import Analysis, Columns, StepMasks, evaluate

log = logging.getLogger(__name__)


def analysis_module(analysis: str, part: str = "processor"):
    """``na64flow_analyses.<analysis>.<part>``; NA64Error if the analysis has no such module."""
    try:
        return importlib.import_module(f"na64flow_analyses.{analysis}.{part}")
    except ModuleNotFoundError as exc:
        raise NA64Error(f"analysis '{analysis}' has no {part} module (analyses/{analysis}/{part}.py): {exc}") from exc


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
        sample = events.metadata["dataset"]
        cols = self.columns(events, with_weight=not is_data(sample))
        weight = cols.get("weight")     # None: unit weights (data)
        steps = evaluate(self.analysis, cols, self.cuts)
        return {sample: self.fill(sample, cols, weight, steps)}

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
            h.fill(*(np.compress(m, cols[a.variable]) for a in specs[name]),
                   weight=None if weight is None else np.compress(m, weight))
        return out

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


def fileset_of(cfg: dict, analysis: str, run: str) -> tuple[dict[str, list[str]], float]:
    """{sample: [absolute file paths]} and n_ot of a run, from the manifest or ``input.ntuples``."""
    inp = section(cfg, "input")
    rcfg = run_config(cfg, analysis, run)
    if inp.get("source", "simulation") == "ntuples":
        nt = inp.get("ntuples", {})
        try:
            block = nt[analysis][str(run)]
        except (KeyError, TypeError):
            raise NA64Error(f"{cfg.get('_path', 'config')}: input.source is 'ntuples' but "
                            f"input.ntuples.{analysis}.{run} is not set ({{data: [files], mc: {{process: [files]}}}})") from None
        key = f"input.ntuples.{analysis}.{run}"
        files: dict[str, list[str]] = {}
        if "data" in block:
            files["data"] = expand_file_list(block["data"], f"{key}.data")
        for proc, lst in (block.get("mc") or {}).items():
            files[f"mc_{proc}"] = expand_file_list(lst, f"{key}.mc.{proc}")
        for sample, lst in (block.get("signal") or {}).items():
            files[sample] = expand_file_list(lst, f"{key}.signal.{sample}")
        if not files:
            raise NA64Error(f"{key}: no files listed")
        return files, float(rcfg["n_ot"])
    mpath = manifest_path(cfg, analysis, run)
    manifest = contracts.read_manifest(mpath)
    n_ot = manifest.n_ot if manifest.n_ot is not None else float(rcfg["n_ot"])
    return manifest.files(Path(mpath).parent), n_ot


def expand_file_list(spec, key: str) -> list[str]:
    """Absolute file paths from a configuration entry: a list of paths or glob patterns, or one string
    naming a text file list (one path per line, '#' comments, relative to the list's folder) or a glob.

    NA64Error naming the key when a file list is missing or a pattern matches nothing.
    """
    if isinstance(spec, str):
        if any(c in spec for c in "*?["):
            spec = [spec]
        else:
            lst = Path(spec)
            if not lst.is_file():
                raise NA64Error(f"{spec}: file list not found (configuration key {key})")
            lines = [ln.split("#", 1)[0].strip() for ln in lst.read_text().splitlines()]
            spec = [str(lst.parent / ln) if not Path(ln).is_absolute() else ln for ln in lines if ln]
    if not isinstance(spec, list | tuple):
        raise NA64Error(f"{key}: expected a list of files, a glob or a file-list path, got {type(spec).__name__}")
    out: list[str] = []
    for item in spec:
        item = str(item)
        if any(c in item for c in "*?["):
            matches = sorted(globmod.glob(item))
            if not matches:
                raise NA64Error(f"{item}: no file matches this pattern (configuration key {key})")
            out += matches
        else:
            out.append(item)
    return [str(Path(f).resolve()) for f in out]


def check_inputs(fileset: dict[str, list[str]], setup: str, tree_name: str, branch_map: dict[str, str],
                 allow_empty_data: bool = False) -> None:
    """Open every file up front: readable, tree present, schema branches present, not truncated.

    Simulated/MC samples must also carry the ``weight`` branch. A data file without events is an error
    unless ``allow_empty_data`` (``analyses.<a>.runs.<r>.allow_empty_data``). Raises NA64Error naming the
    file (and branch). Truncation is detected by checking every basket of every schema branch lies
    inside the file.
    """
    for sample, files in fileset.items():
        if not files:
            raise NA64Error(f"sample '{sample}': empty file list")
        for path in files:
            if Path(path).exists() and os.path.getsize(path) == 0:
                raise NA64Error(f"{path}: empty file (0 bytes)")
            tree = open_tree(path, tree_name)
            check_tree(tree, setup, path, branch_map, read_probe=False)   # no basket decompressed
            if is_data(sample) and tree.num_entries == 0 and not allow_empty_data:
                raise NA64Error(f"{path}: tree '{tree_name}' holds no events (data sample '{sample}'); "
                                "remove the file from the input list, or set "
                                "analyses.<analysis>.runs.<run>.allow_empty_data: true if that is expected")
            if not is_data(sample):
                wname = branch_map.get("weight", "weight")
                if wname not in tree.keys():
                    raise NA64Error(f"{path}: branch '{wname}' (event weight) missing in simulated sample '{sample}'")
            size = os.path.getsize(path)
            for name in branch_names(setup) + ([b.name for b in TRUTH if b.name == "weight"] if not is_data(sample) else []):
                br = tree[branch_map.get(name, name)]
                if not hasattr(br, "num_baskets"):   # RNTuple field: no TBasket table to check
                    continue
                nb = br.num_baskets
                seeks = np.asarray(br.member("fBasketSeek"))[:nb]
                nbytes = np.asarray(br.member("fBasketBytes"))[:nb]
                if np.any(seeks + nbytes > size):
                    raise NA64Error(f"{path}: branch '{br.name}' points beyond the end of the file "
                                    f"({size} bytes): the file is truncated")


# -------------------------------------------------------------------- execution


def make_executor(name: str, workers: int, scheduler: str | None, local_processes: bool = True,
                  status: bool = True):
    """coffea executor by name; for Dask also returns the Client/cluster to close afterwards."""
    if name == "iterative":
        return processor.IterativeExecutor(status=status), []
    if name == "futures" and int(workers) <= 1:
        # one worker: no parallelism to gain, so run in process (saves the pool start-up and the
        # pickling of every chunk's histograms; measured in benchmarks/bench_processing.py)
        return processor.IterativeExecutor(status=status), []
    if name == "futures":
        # forked workers inherit the imported modules: ~5 s less start-up than loky's fresh interpreters,
        # which is what makes 2 workers ~2x faster than 1 on a few-million-event run (benchmarks/)
        pool = None
        if "fork" in multiprocessing.get_all_start_methods():
            pool = functools.partial(concurrent.futures.ProcessPoolExecutor,
                                     mp_context=multiprocessing.get_context("fork"))
        kwargs = {"pool": pool} if pool is not None else {}
        # no lz4 round trip of every chunk's histograms through the local pipe (CPU the main process
        # would spend while merging)
        return processor.FuturesExecutor(workers=max(1, int(workers)), status=status, compression=None,
                                         **kwargs), []
    if name == "dask":
        from dask.distributed import Client, LocalCluster

        if scheduler in (None, "local"):
            cluster = LocalCluster(n_workers=max(1, int(workers)), threads_per_worker=1,
                                   processes=local_processes, dashboard_address=None)
            client = Client(cluster)
            closers = [client, cluster]
        else:
            client = Client(scheduler)
            closers = [client]
        return processor.DaskExecutor(client=client, status=status), closers
    raise NA64Error(f"unknown executor '{name}'; use iterative, futures or dask")


def run_processing(cfg: dict, analysis: str, run: str, workers: int = 1, executor: str | None = None,
                   status: bool = True, blind: bool = True, samples: tuple[str, ...] | None = None) -> dict:
    """Process every sample of one analysis run; returns the histogram-file content (not yet saved).

    Always blinded for the `process` step (no configuration key changes that). ``blind=False`` is for
    :func:`unblinded_data` (the `unblind` step, after its freeze check) and for tests; ``samples``
    restricts the fileset (e.g. ``("data",)``).
    """
    acfg = analysis_config(cfg, analysis)
    cuts = cuts_for(cfg, analysis, run)
    inp = section(cfg, "input")
    exe = section(cfg, "execution")
    tree_name = inp.get("tree", "events")
    branch_map = inp.get("branches", {}) or {}
    fileset, n_ot = fileset_of(cfg, analysis, run)
    if samples is not None:
        missing = [s for s in samples if s not in fileset]
        if missing:
            raise NA64Error(f"{analysis} run {run}: no sample {', '.join(missing)} in the inputs")
        fileset = {s: fileset[s] for s in samples}
    check_inputs(fileset, acfg["setup"], tree_name, branch_map,
                 allow_empty_data=bool(run_config(cfg, analysis, run).get("allow_empty_data", False)))

    blind = bool(blind)
    proc_cls = analysis_module(analysis).Processor
    proc = proc_cls(cuts, blind=blind, branch_map=branch_map)
    scheduler = exe.get("dask_scheduler")
    name = executor or ("dask" if scheduler else exe.get("executor", "futures"))
    ex, closers = make_executor(name, workers, scheduler, exe.get("dask_local_processes", True), status)
    # align_clusters: chunks end on cluster boundaries, so no basket is decompressed twice
    # preprocessing (file metadata only) runs in process: no second worker pool to start
    runner = processor.Runner(executor=ex, pre_executor=processor.IterativeExecutor(status=status),
                              chunksize=int(exe.get("chunksize", 200000)), schema=_base_schema(),
                              savemetrics=False, align_clusters=True)
    # preload: the declared branches of a chunk are read in one request (one coalesced read per chunk
    # instead of one per branch as NanoEvents' lazy access does; benchmarks/bench_processing.py)
    coffea_fileset = {s: {"files": {f: tree_name for f in files}, "preload": proc.read_branches(with_weight=not is_data(s))}
                      for s, files in fileset.items()}
    try:
        result = runner(coffea_fileset, processor_instance=proc, treename=tree_name)
    except NA64Error:
        raise
    except Exception as exc:
        # coffea reports "Failed processing file: WorkItem(... filename='<path>' ...). The error was: <e>"
        text = str(exc)
        m = re.search(r"filename='([^']+)'.*?The error was: (.*)", text, re.S)
        cause = exc
        while cause is not None and not isinstance(cause, NA64Error):
            cause = cause.__cause__
        if cause is not None:   # our own error inside a chunk (e.g. an undeclared column): say it as it is
            raise NA64Error(f"{m[1] + ': ' if m else ''}{cause}") from exc
        if m:
            raise NA64Error(f"{m[1]}: reading or processing failed ({m[2].strip()}); the file may be "
                            "corrupt") from exc
        raise NA64Error(f"processing {analysis} run {run} failed: {type(exc).__name__}: {text}") from exc
    finally:
        for c in closers:
            c.close()

    samples = {}
    for s in fileset:
        acc = result.get(s) if isinstance(result, dict) else None
        samples[s] = _finalise(proc, s, acc if acc is not None else proc.empty(), blind)
    return {"schema_version": H.SCHEMA_VERSION, "analysis": analysis, "run": str(run), "blinded": blind,
            "n_ot": n_ot, "box": proc.analysis.box.describe(cuts), "samples": samples}


def _base_schema():
    from coffea.nanoevents import BaseSchema

    return BaseSchema


def _finalise(proc: NA64Processor, sample: str, acc: dict, blind: bool) -> dict:
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
    return {"kind": _sample_kind(sample),
            "cutflow": {"names": names, "raw": raw, "weighted": weighted, "sumw2": sumw2},
            "regions": regions, "hists": acc["hists"]}


def unblinded_data(cfg: dict, analysis: str, run: str, workers: int = 1, executor: str | None = "iterative") -> dict:
    """The *unblinded* data sample of one run (same processor, ``blind=False``), as in a histogram file.

    For the ``unblind`` step only, after its freeze check: the observed cut-flow, regions (with the box)
    and histograms (with the box bins filled).
    """
    content = run_processing(cfg, analysis, run, workers=workers, executor=executor, status=False,
                             blind=False, samples=("data",))
    return content["samples"]["data"]


def box_events(cfg: dict, analysis: str, run: str) -> dict[str, np.ndarray]:
    """Observables of the *data* events in the signal box (every cut passed, inside the box).

    For the ``unblind`` step only, which must check the freeze hash before calling this. Uses the same
    selection as the processor (``selection.evaluate``); returns {column: array} including derived
    columns (e.g. ``hcal_gev``, ``e_miss_gev``).
    """
    from .events import read_events

    acfg = analysis_config(cfg, analysis)
    cuts = cuts_for(cfg, analysis, run)
    inp = section(cfg, "input")
    fileset, _ = fileset_of(cfg, analysis, run)
    if "data" not in fileset:
        raise NA64Error(f"{analysis} run {run}: no data sample in the inputs")
    ana = analysis_module(analysis, "selection").ANALYSIS
    parts: list[Columns] = []
    for path in fileset["data"]:
        cols = read_events(path, acfg["setup"], inp.get("tree", "events"), inp.get("branches") or {}, truth=False)
        steps = evaluate(ana, cols, cuts)
        m = steps.in_box()
        parts.append({k: v[m] for k, v in cols.items()})
    if not parts:
        return {}
    return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}


# -------------------------------------------------------------------- the `process` step


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_config_arguments(parser)
    add_analysis_arguments(parser)
    parser.add_argument("--out", required=True, help="histogram file to write (results/<tag>/histograms/A/R.pkl)")
    parser.add_argument("--workers", type=int, default=1, help="worker processes (futures/dask executors)")
    parser.add_argument("--executor", choices=("iterative", "futures", "dask"),
                        help="override execution.executor (dask also when execution.dask_scheduler is set)")


def run(args: argparse.Namespace) -> int:
    cfg = config_from_args(args)
    content = run_processing(cfg, args.analysis, args.run, workers=args.workers, executor=args.executor)   # blinded
    H.save(args.out, content)
    # log only quantities that are not box counts (blinding: no data box information in logs)
    n_read = {s: v["cutflow"]["raw"][0] for s, v in content["samples"].items()}
    log.info("%s run %s: %d samples processed (%s), blinded=%s -> %s", args.analysis, args.run,
             len(n_read), ", ".join(f"{s}: {n} read" for s, n in sorted(n_read.items())), content["blinded"], args.out)
    return 0
