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

Modules: :mod:`.processor` (the coffea processor, blinding, per-chunk errors), :mod:`.inputs` (file
lists and the up-front file checks), :mod:`.executors` (coffea executors); this module runs them.
"""

from __future__ import annotations

import argparse
import logging

import numpy as np

from .. import NA64Error
from .. import histograms as H
from ..config import (
    add_analysis_arguments,
    add_config_arguments,
    analysis_config,
    config_from_args,
    cuts_for,
    run_config,
    section,
)
from ..paths import check_output_path
from ..samples import is_data
from ..selection import Columns, evaluate
from .executors import make_executor, make_runner
from .inputs import check_inputs, declared_events, expand_file_list, fileset_of
from .processor import ChunkError, NA64Processor, analysis_module, finalise, raise_failures

__all__ = ["ChunkError", "NA64Processor", "analysis_module", "box_events", "check_inputs", "expand_file_list",
           "fileset_of", "finalise", "make_executor", "run_processing", "unblinded_data"]


log = logging.getLogger(__name__)


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
    declared, declared_by = declared_events(cfg, analysis, run)
    check_inputs(fileset, acfg["setup"], tree_name, branch_map,
                 allow_empty_data=bool(run_config(cfg, analysis, run).get("allow_empty_data", False)),
                 declared=declared, declared_by=declared_by)

    blind = bool(blind)
    proc_cls = analysis_module(analysis).Processor
    proc = proc_cls(cuts, blind=blind, branch_map=branch_map)
    scheduler = exe.get("dask_scheduler")
    name = executor or ("dask" if scheduler else exe.get("executor", "futures"))
    ex, closers = make_executor(name, workers, scheduler, exe.get("dask_local_processes", True), status)
    runner = make_runner(ex, int(exe.get("chunksize", 200000)), status)
    # preload: the declared branches of a chunk are read in one request (one coalesced read per chunk
    # instead of one per branch as NanoEvents' lazy access does; benchmarks/bench_processing.py)
    coffea_fileset = {s: {"files": {f: tree_name for f in files}, "preload": proc.read_branches(with_weight=not is_data(s))}
                      for s, files in fileset.items()}
    try:
        result = runner(coffea_fileset, processor_instance=proc, treename=tree_name)
    except NA64Error:
        raise
    except Exception as exc:
        # outside the processor (coffea's preprocessing or chunk set-up); coffea's message names the work item
        raise NA64Error(f"processing {analysis} run {run} failed: {type(exc).__name__}: {exc}") from exc
    finally:
        for c in closers:
            c.close()
    raise_failures(result)   # a failed chunk: its file, entry range and reason (processor.ChunkError)

    samples = {}
    for s in fileset:
        acc = result.get(s) if isinstance(result, dict) else None
        samples[s] = finalise(proc, s, acc if acc is not None else proc.empty(), blind)
    return {"schema_version": H.SCHEMA_VERSION, "analysis": analysis, "run": str(run), "blinded": blind,
            "n_ot": n_ot, "box": proc.analysis.box.describe(cuts), "samples": samples}


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
    from ..events import read_events

    acfg = analysis_config(cfg, analysis)
    cuts = cuts_for(cfg, analysis, run)
    inp = section(cfg, "input")
    fileset, _ = fileset_of(cfg, analysis, run)
    if "data" not in fileset:
        raise NA64Error(f"{analysis} run {run}: no data sample in the inputs")
    ana = analysis_module(analysis, "selection").ANALYSIS
    parts: list[Columns] = []
    declared = set(ana.branches(cuts))     # the processor's columns: validity over the same branches
    for path in fileset["data"]:
        cols = read_events(path, acfg["setup"], inp.get("tree", "events"), inp.get("branches") or {}, truth=False)
        view = {k: v for k, v in cols.items() if k in declared}
        steps = evaluate(ana, view, cuts)
        cols.update(view)                  # with the derived columns (hcal_gev, e_miss_gev, ...)
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
    if args.workers < 1:
        raise NA64Error(f"--workers {args.workers}: needs at least 1 worker")
    check_output_path(args.out)                     # before the processing, not after it
    content = run_processing(cfg, args.analysis, args.run, workers=args.workers, executor=args.executor)   # blinded
    H.save(args.out, content)
    # log only quantities that are not box counts (blinding: no data box information in logs)
    n_read = {s: v["cutflow"]["raw"][0] for s, v in content["samples"].items()}
    log.info("%s run %s: %d samples processed (%s), blinded=%s -> %s", args.analysis, args.run,
             len(n_read), ", ".join(f"{s}: {n} read" for s, n in sorted(n_read.items())), content["blinded"], args.out)
    return 0
