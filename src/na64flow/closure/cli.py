"""``na64flow closure``: every run of one analysis, its tables and its plot."""

from __future__ import annotations

import argparse
import logging

from .. import NA64Error, background, config, contracts, normalisation, paths
from .rows import PULL_PASS, closure_rows
from .tables import plot, write_tables

log = logging.getLogger(__name__)

DEFAULT_TOYS = 50


def add_arguments(parser: argparse.ArgumentParser) -> None:
    config.add_config_arguments(parser)
    config.add_analysis_arguments(parser, run=False)


def run(args: argparse.Namespace) -> int:
    cfg = config.config_from_args(args)
    analysis = args.analysis
    ccfg = config.section(cfg, "background").get("closure", {}) or {}
    n_toys = int(ccfg.get("n_toys", DEFAULT_TOYS))
    rows: list[dict] = []
    if cfg.get("input", {}).get("source") == "published":
        raise NA64Error("closure needs histograms; input.source is 'published' (no events)")
    for r in config.runs_of(cfg, analysis):
        h_path, b_path = paths.histograms_path(cfg, analysis, r), paths.background_path(cfg, analysis, r)
        hfile = normalisation.load_histograms(h_path)
        # the background record's toy rows are the verdict the background used; an older record than the
        # histograms (a hand-run step out of order) is not trusted: the toys are run again
        record = (contracts.read_background(b_path)
                  if b_path.exists() and b_path.stat().st_mtime >= h_path.stat().st_mtime else None)
        rows += closure_rows(cfg, analysis, r, hfile, n_toys, seed=background.toy_seed(cfg, analysis, r),
                             background_record=record)
    base = paths.results_dir(cfg) / "closure" / analysis
    write_tables(rows, f"{base}.csv", f"{base}.md", analysis, tex_path=f"{base}.tex",
                 toys_csv_path=f"{base}_toys.csv")
    plot(rows, paths.plots_dir(cfg) / f"closure_{analysis}", analysis)
    n_pass = sum(r["passed"] for r in rows)
    log.info("closure %s: %d/%d rows pass (|pull| < %g) -> %s.{csv,md}", analysis, n_pass, len(rows), PULL_PASS, base)
    for r in rows:
        if not r["passed"]:
            log.warning("  closure FAILED: %s %s %s", r["run"], r.get("test", r.get("central_as_used")), r.get("reason", ""))
    for r in rows:
        if r.get("kind") == "toys":
            log.info("  %-45s toys %d: pull mean %.2f +- %.2f, width %.2f", f"{r['run']} {r['central_as_used']}",
                     r["n_toys"], r["pull_mean"], r["pull_mean_err"], r["pull_width"])
        else:
            log.info("  %-45s est %.4g +- %.2g +- %.2g  truth %.4g +- %.2g  pull %.2f", f"{r['run']} {r['test']}",
                     r["estimate"], r["stat"], r["syst"], r["truth"], r["truth_unc"], r["pull_with_syst"])
    return 0

