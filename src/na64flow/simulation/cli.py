"""Simulate one run of one analysis: ROOT ntuples (data, weighted MC, signal) and manifest.json last.

`na64flow simulate -c C --analysis A --run R [--workers N] [--piece I --pieces N]` writes
results/<tag>/ntuples/A/R/{data,mc,signal}/**.root in the event schema of na64flow.events, in chunks of
at most simulation.chunk_events events, then manifest.json (docs/contracts.md) atomically. With
--pieces N only the chunks of piece I are made and manifest.piece-I-of-N.json is written; `na64flow
merge` combines the pieces. Same seed -> identical files. See docs/simulation.md.
"""

from __future__ import annotations

import argparse
import logging
from concurrent.futures import ProcessPoolExecutor

from .. import NA64Error, config, contracts, paths
from . import generator, run_model, writer

log = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    config.add_config_arguments(parser)
    config.add_analysis_arguments(parser)
    parser.add_argument("--workers", type=int, default=1, help="parallel processes (default 1)")
    parser.add_argument("--piece", type=int, default=None, help="index of this piece (0-based)")
    parser.add_argument("--pieces", type=int, default=None, help="number of pieces the run is split into")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def _worker(args):
    cfg, analysis, run, task, outdir = args
    model = _model_cache(cfg, analysis, run)
    return writer.run_task(model, _COUNTS[(analysis, run)], task, outdir)


_MODELS: dict = {}
_COUNTS: dict = {}


def _model_cache(cfg, analysis, run):
    key = (analysis, run)
    if key not in _MODELS:
        _MODELS[key] = run_model.build_model(cfg, analysis, run)
        _COUNTS[key] = generator.data_counts(_MODELS[key])
    return _MODELS[key]


def simulate(cfg: dict, analysis: str, run: str, workers: int = 1, piece: int | None = None,
             pieces: int | None = None, progress: bool = True) -> dict:
    """Simulate (analysis, run) and write the ntuples and the manifest; returns the manifest dict."""
    config.run_config(cfg, analysis, run)   # clear error for an unknown analysis/run
    outdir = paths.ensure_writable(paths.ntuple_dir(cfg, analysis, run))
    if (piece is None) != (pieces is None):
        raise NA64Error("--piece and --pieces go together")
    if pieces is not None and not (pieces >= 1 and 0 <= piece < pieces):
        raise NA64Error(f"--piece {piece} --pieces {pieces}: need 0 <= piece < pieces")
    model = _model_cache(cfg, analysis, run)
    tasks, counts = writer.plan(model)
    mine = tasks if pieces is None else [t for i, t in enumerate(tasks) if i % pieces == piece]
    if model.setup == "electron" and (any(getattr(t, "mode", None) in ("brem", "annihilation") for t in mine)
                                      or run_model.sim_settings(cfg)["inject"]):
        # the signal step's cascade table, made (once, here) before any worker needs it
        run_model.track_length_table(model)
    results = []
    from rich.progress import Progress

    with Progress(disable=not progress, transient=False) as bar:
        job = bar.add_task(f"simulate {analysis} {run}", total=len(mine))
        if workers > 1 and len(mine) > 1:
            with ProcessPoolExecutor(max_workers=workers) as pool:
                for r in pool.map(_worker, [(cfg, analysis, run, t, outdir) for t in mine]):
                    results.append(r)
                    bar.advance(job)
        else:
            for t in mine:
                results.append(writer.run_task(model, counts, t, outdir))
                bar.advance(job)
    man = writer.manifest(model, tasks, results, counts, None if pieces is None else (piece, pieces))
    target = paths.manifest_path(cfg, analysis, run)
    if pieces is not None:
        target = target.with_name(f"manifest.piece-{piece}-of-{pieces}.json")
    contracts.write_manifest(target, man)
    log.info("wrote %s (%d files)", target, len(results))
    return man


def run(args: argparse.Namespace) -> int:
    cfg = config.config_from_args(args)
    man = simulate(cfg, args.analysis, args.run, args.workers, args.piece, args.pieces, not args.no_progress)
    d = man["samples"].get("data", {})
    piece = "" if args.pieces is None else f" (piece {args.piece} of {args.pieces})"
    print(f"simulated {args.analysis} {args.run}{piece}: {d.get('n_events', 0)} data events "
          f"({len(man['samples'])} samples)")
    return 0
