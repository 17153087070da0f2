"""Set 90% CL CLs upper limits on a model's coupling (or Br) for every mass of one analysis.

`na64flow limits -c C --analysis A --model M` reads signal/<a>/<model>_<run>.csv, background/<a>/<run>.json
and normalisation/<a>/<run>.json of every run of A (of every beam for A = combined) and writes
results/<tag>/limits/A/M.csv with columns mass_gev,exp,exp_m2,exp_m1,exp_p1,exp_p2,obs
(docs/contracts.md). M is a signal model (dark_photon, lmu_ltau, eta_invisible, ...) or an LDM model
<model>_y_<alphaD> (e.g. dark_photon_y_0.1: limits on y vs m_chi_gev at m_A' = 3 m_chi).

Expected limits use toy-based CLs (stats.calculator, stats.n_toys, seeded) on background-only
hypotheses, never box counts; `obs` is empty while blinded. It is filled when the counts are public
(input.source: published) or after `na64flow unblind`. With stats.asymptotic (default) the asymptotic
pyhf limits are written to M_asymptotic.csv and compared in M_comparison.md.
"""

from __future__ import annotations

import argparse
import logging
import math
import time

import numpy as np

from . import paths
from .config import add_config_arguments, config_from_args
from .stats import compute_limits, parse_model, settings, write_limit_csv

log = logging.getLogger(__name__)

ASYMPTOTIC_MAX_MASSES = 5    # masses of the asymptotic cross-check of multi-channel models (pyhf fits are slow)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_config_arguments(parser)
    parser.add_argument("--analysis", required=True,
                        choices=["na64e", "na64e_plus", "na64mu", "na64h", "combined"])
    parser.add_argument("--model", required=True,
                        help="dark_photon, dark_photon_brem, dark_photon_annihilation, lmu_ltau, eta_invisible, "
                             "etaprime_invisible, or an LDM model <model>_y_<alphaD> (e.g. dark_photon_y_0.1)")
    parser.add_argument("--calculator", choices=["toys", "asymptotic"], default=None,
                        help="override stats.calculator for the main table")


def comparison_markdown(analysis: str, model: str, header: list[str], rows: list[list],
                        asym_header: list[str], asym_rows: list[list], n_toys: int) -> str:
    """Markdown table: toy vs asymptotic expected limits (median and +-1 sigma) at the common masses."""
    key = header.index("exp") - 1
    xcol = header[key]
    toys = {round(float(r[key]), 9): r for r in rows}
    lines = [f"# {analysis} / {model}: toy-based vs asymptotic CLs limits",
             "",
             f"Toys: hybrid CLs with {n_toys} toys per hypothesis (reference at these low counts). "
             "Asymptotic: pyhf q~_mu formulae (unreliable with < 1 expected background event).",
             "",
             f"| {xcol} | exp (toys) | exp (asymptotic) | asym/toys | exp_m1 toys / asym | exp_p1 toys / asym |",
             "|---|---|---|---|---|---|"]
    i_exp, i_m1, i_p1 = (header.index(c) for c in ("exp", "exp_m1", "exp_p1"))
    ratios = []
    for a in asym_rows:
        t = toys.get(round(float(a[key]), 9))
        if t is None:
            continue
        ratio = a[i_exp] / t[i_exp] if t[i_exp] else math.nan
        ratios.append(ratio)
        lines.append(f"| {a[key]:.5g} | {t[i_exp]:.4g} | {a[i_exp]:.4g} | {ratio:.3f} | "
                     f"{t[i_m1]:.4g} / {a[i_m1]:.4g} | {t[i_p1]:.4g} / {a[i_p1]:.4g} |")
    if ratios:
        lines += ["", f"Median ratio asymptotic/toys of the expected limit: {np.nanmedian(ratios):.3f} "
                      f"(range {np.nanmin(ratios):.3f} to {np.nanmax(ratios):.3f})."]
    return "\n".join(lines) + "\n"


def run(args: argparse.Namespace) -> int:
    cfg = config_from_args(args)
    st = settings(cfg)
    t0 = time.perf_counter()
    problem, mu, header, rows = compute_limits(cfg, args.analysis, args.model, args.calculator, show_progress=True)
    out = paths.limits_path(cfg, args.analysis, args.model)
    write_limit_csv(out, header, rows)
    status = "observed + expected" if problem.unblinded else "expected only (blinded)"
    print(f"{out}: {len(rows)} masses, {len(problem.channels)} channel(s), {mu['n_solves']} limit solve(s), "
          f"{status}, {time.perf_counter() - t0:.1f} s")
    calc = args.calculator or st["calculator"]
    if st["asymptotic"] and calc == "toys" and parse_model(args.model)[1] is None:
        t1 = time.perf_counter()
        _, amu, aheader, arows = compute_limits(cfg, args.analysis, args.model, "asymptotic",
                                                max_masses=ASYMPTOTIC_MAX_MASSES)
        aout = out.with_name(f"{args.model}_asymptotic.csv")
        write_limit_csv(aout, aheader, arows)
        md = comparison_markdown(args.analysis, args.model, header, rows, aheader, arows, st["n_toys"])
        with paths.atomic_output(out.with_name(f"{args.model}_comparison.md")) as fh:
            fh.write(md)
        print(f"{aout}: asymptotic cross-check at {len(arows)} masses, {time.perf_counter() - t1:.1f} s")
    return 0
