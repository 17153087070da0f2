"""Benchmark of the limit scans: our vectorised toy CLs against pyhf's stock ``upper_limit`` point by point.

    python benchmarks/bench_limits.py [--masses 120] [--workers 2] [--stock-points 3]

1. Writes hand-made inputs (tests/test_stats_inputs.py: smooth yield curves [est], background 0.5 +-
   0.13 per run, k = 0.95 +- 0.05) for every analysis and run of configs/default.yaml, with run-dependent
   mass slopes so the combination's channel weights change with mass, into a temporary results folder.
2. Full default scan: every (analysis, model) limit table the workflow makes (Snakemake's LIMIT_TARGETS:
   dark photon, Lmu-Ltau, LDM y for alpha_D = 0.1, 0.5, eta/eta', each analysis and `combined`), all
   masses, expected median and +-1, +-2 sigma bands, toy CLs with the configured stats.n_toys; run
   with ``--workers`` processes (as `snakemake --cores 2` would) and timed.
3. Toy-based limits for 10 masses of the combined dark-photon model, every mass solved (no shape cache).
4. pyhf stock: ``pyhf.infer.intervals.upper_limits.upper_limit(data, model, scan, level=0.1)``
   (asymptotic q~_mu; with scan=None pyhf 0.7.6 would ignore ``level`` and give 95% CL) on the same
   workspace at ``--stock-points`` masses per table, extrapolated to all (table, mass) points.
Prints the times and the ratio stock/ours. Targets (issue 6): whole scan < 60 s on 2 cores; toy limits
for 10 masses < 2 minutes.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

TARGETS = [("na64e", "dark_photon"), ("na64e", "lmu_ltau"), ("na64e", "dark_photon_y_0.1"),
           ("na64e", "dark_photon_y_0.5"), ("na64e_plus", "dark_photon"), ("na64e_plus", "dark_photon_y_0.1"),
           ("na64e_plus", "dark_photon_y_0.5"), ("na64mu", "lmu_ltau"), ("na64mu", "dark_photon"),
           ("na64h", "eta_invisible"), ("na64h", "etaprime_invisible"), ("combined", "dark_photon"),
           ("combined", "lmu_ltau"), ("combined", "dark_photon_y_0.1"), ("combined", "dark_photon_y_0.5")]
SLOPES = {("na64e", "2023"): 1.5, ("na64e_plus", "2023"): 0.5, ("na64mu", "2022"): 0.8}


def _config(root: Path, **over):
    from test_stats_inputs import make_config

    return make_config(root, **{"stats.asymptotic": False, **over})


def _one_table(args):
    """Worker: one limit table (analysis, model) -> (seconds, masses, solves)."""
    root, analysis, model = args
    from na64flow import paths
    from na64flow.contracts import LimitTable, write_limits
    from na64flow.stats import compute_limits

    cfg = _config(Path(root))
    t0 = time.perf_counter()
    _, mu, header, rows = compute_limits(cfg, analysis, model)
    write_limits(paths.limits_path(cfg, analysis, model), LimitTable(header, rows))
    return time.perf_counter() - t0, len(rows), mu["n_solves"]


def stock_seconds_per_point(cfg, analysis: str, model: str, n_points: int) -> tuple[float, int]:
    """Mean wall time of pyhf's upper_limit at n_points masses of one table, and the table's mass count."""
    import logging

    import pyhf

    from na64flow.registry import parse_model
    from na64flow.stats import build_problem, pyhf_spec

    logging.getLogger("pyhf").setLevel(logging.WARNING)
    pyhf.set_backend("numpy")
    problem = build_problem(cfg, analysis, parse_model(model)[0].name)
    idx = np.unique(np.linspace(0, len(problem.mass_gev) - 1, n_points).round().astype(int))
    times = []
    for i in idx:
        s = problem.signal_events[i] / problem.signal_events[i].sum()   # 1 signal event in total at mu = 1
        ws = pyhf.Workspace(pyhf_spec(problem.channels, s, poi_max=60.0))
        model_ = ws.model()
        t0 = time.perf_counter()
        pyhf.infer.intervals.upper_limits.upper_limit(ws.data(model_), model_, scan=np.linspace(0.05, 30, 41),
                                                      level=0.1)
        times.append(time.perf_counter() - t0)
    return float(np.mean(times)), len(problem.mass_gev)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--masses", type=int, default=120)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--stock-points", type=int, default=2)
    args = ap.parse_args(argv)
    from test_stats_inputs import write_inputs

    from na64flow.stats import ToyCLs, build_problem, scan_limits

    with tempfile.TemporaryDirectory(prefix="bench_limits_") as tmp:
        root = Path(tmp)
        cfg = _config(root)
        write_inputs(cfg, n_masses=args.masses, run_slope=SLOPES)
        n_toys = cfg["stats"]["n_toys"]
        # warm the numba cache outside the timing
        ToyCLs(build_problem(cfg, "na64mu", "lmu_ltau").channels, 100, 0).cls(np.array([1.0]), 1.0)

        print(f"full default scan: {len(TARGETS)} tables, {args.masses} masses each, {n_toys} toys, "
              f"{args.workers} worker(s)")
        t0 = time.perf_counter()
        jobs = [(str(root), a, m) for a, m in TARGETS]
        if args.workers > 1:
            with ProcessPoolExecutor(args.workers) as pool:
                results = list(pool.map(_one_table, jobs))
        else:
            results = [_one_table(j) for j in jobs]
        ours = time.perf_counter() - t0
        n_points = sum(r[1] for r in results)
        for (a, m), (sec, n, solves) in zip(TARGETS, results):
            print(f"  {a:>10s} {m:<20s} {n:4d} masses {solves:4d} solves {sec:6.2f} s")
        print(f"  total wall time {ours:.1f} s for {n_points} (table, mass) points "
              f"(target < 60 s on 2 cores: {'met' if ours < 60 else 'NOT met'})")

        problem = build_problem(cfg, "combined", "dark_photon")
        sel = np.unique(np.linspace(0, len(problem.mass_gev) - 1, 10).round().astype(int))
        problem.mass_gev, problem.signal_events = problem.mass_gev[sel], problem.signal_events[sel]
        t0 = time.perf_counter()
        res = scan_limits(problem, "toys", 0.9, n_toys, 1, shape_tolerance=0.0)
        t10 = time.perf_counter() - t0
        print(f"toy CLs, combined dark photon ({len(problem.channels)} channels), 10 masses each solved "
              f"({res['n_solves']} solves, {n_toys} toys): {t10:.1f} s "
              f"(target < 120 s: {'met' if t10 < 120 else 'NOT met'})")

        stock_total, stock_measured = 0.0, 0
        print(f"pyhf stock upper_limit (asymptotic, 41-point scan, level=0.1), {args.stock_points} masses per table:")
        seen = {}
        for a, m in TARGETS:
            base = m.split("_y_")[0]
            if (a, base) not in seen:
                seen[(a, base)] = stock_seconds_per_point(cfg, a, m, args.stock_points)
                stock_measured += args.stock_points
            per_point, n = seen[(a, base)]
            stock_total += per_point * n
            print(f"  {a:>10s} {m:<20s} {per_point:6.2f} s/point x {n} masses")
        print(f"  extrapolated stock time for the full scan: {stock_total:.0f} s "
              f"(one process; {stock_total / args.workers:.0f} s if perfectly split over {args.workers})")
        print(f"RATIO stock/ours (same number of workers): {stock_total / args.workers / ours:.1f}x; "
              f"one-process stock vs ours: {stock_total / ours:.1f}x")
        # the table ratio includes that ours solves once per distinct signal shape (n_solves of n_points);
        # per solve it is the ratio times n_solves / n_points (stock solves every point)
        n_solves = sum(r[2] for r in results)
        print(f"  of which: {n_solves} solves for {n_points} points (stock: one per point); per solve, "
              f"stock/ours (same number of workers) = {stock_total / args.workers / ours * n_solves / n_points:.1f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
