"""Set 90% CL CLs upper limits on a model's coupling (or Br) for every mass of one analysis, and per run.

`na64flow limits -c C --analysis A --model M` reads signal/<a>/<M>_<run>.csv, background/<a>/<run>.json
and normalisation/<a>/<run>.json of every run of A (of every analysis with a signal table of M for
A = combined; na64flow.registry) and writes, with columns mass_gev,exp,exp_m2,exp_m1,exp_p1,exp_p2,obs
(docs/contracts.md):

* results/<tag>/limits/A/M.csv, and the LDM tables M_y_<alphaD>.csv of A's beam (limits on y vs
  m_chi_gev at m_A' = 3 m_chi: the same mu limits, same problem and seed, in other units);
* for an analysis (not combined), the per-run tables limits/A/M_<run>.csv (and M_y_<alphaD>_<run>.csv)
  from that run's channel alone (an analysis with one run: its table, without a second solve).

M may also be one LDM table <model>_y_<alphaD> alone. Expected limits use toy-based CLs
(stats.calculator, stats.n_toys, seeded) on background-only hypotheses, never box counts; `obs` is
empty while blinded and filled when the counts are public (input.source: published) or after
`na64flow unblind`. With stats.asymptotic (default) the asymptotic pyhf limits of M are written to
M_asymptotic.csv and compared in M_comparison.md.
"""

from __future__ import annotations

import argparse
import logging
import math
import time

import numpy as np

from . import paths, registry
from .config import add_config_arguments, config_from_args
from .contracts import LimitTable, write_limits
from .stats import build_problem, settings, signal_tables_of, solve, subsample, to_coupling_limits

log = logging.getLogger(__name__)

# masses of the asymptotic cross-check of multi-channel models: lowest, middle and highest (pyhf fits are
# slow: 3 instead of 5 masses since issue 15; the rows at these masses are the same as with 5)
ASYMPTOTIC_MAX_MASSES = 3


def skip_numba_extensions() -> None:
    """Do not load the numba extensions of other installed packages (awkward, vector, which imports sympy).

    numba imports every ``numba_extensions`` entry point at the first call of any jitted function, even
    one loaded from its cache: ~1 CPU s per `limits` process (benchmarks/RESULTS.md), for extensions
    the toy kernel (plain numpy arrays) never uses. Only for the `limits` process, which runs no other
    numba code; numba has no public switch for this, hence its module flag.
    """
    import numba.core.entrypoints as entrypoints

    entrypoints._already_initialized = True


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_config_arguments(parser)
    parser.add_argument("--analysis", required=True, help="a configured analysis, or combined")
    parser.add_argument("--model", required=True,
                        help=f"one of {', '.join(registry.all_models())} (na64flow.registry); a base model "
                             "also writes its LDM tables <model>_y_<alphaD> and the per-run tables")
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


def family(cfg: dict, analysis: str, model: str) -> list[str]:
    """The tables one solve of ``model`` gives: itself and, for a base model, its LDM tables here."""
    spec, alpha = registry.parse_model(model)
    if alpha is not None:
        return [model]
    return [m for m in registry.limit_models(cfg, analysis) if registry.parse_model(m)[0] is spec] or [model]


def solve_groups(cfg: dict, analysis: str, models: list[str]) -> list[list[str]]:
    """``models`` grouped by the signal tables their likelihood reads (``stats.signal_tables_of``): one
    solve per group, the base model's group first (an LDM table at another alpha_D than the signal's
    has its own resonant-annihilation yield, hence its own solve)."""
    groups: dict[tuple, list[str]] = {}
    for m in models:
        groups.setdefault(signal_tables_of(cfg, analysis, m), []).append(m)
    return list(groups.values())


def write_tables(cfg: dict, analysis: str, models: list[str], calculator: str | None,
                 run: str | None = None, problem=None, mu=None, cache: dict | None = None,
                 write: list[str] | None = None) -> tuple:
    """Solve once (unless ``mu`` is given) the likelihood of ``models`` (one group of :func:`solve_groups`)
    and write their tables (per run if ``run``), only those in ``write`` if given; ``cache``: shared solves
    of problems with the same channels (``stats.scan_limits``)."""
    st = settings(cfg)
    if problem is None:
        problem = build_problem(cfg, analysis, models[0], runs=None if run is None else [run])
        mu = solve(cfg, problem, calculator, show_progress=run is None, cache=cache)
    for m in models if write is None else [m for m in models if m in write]:
        header, rows = to_coupling_limits(problem, mu, m, st)
        out = paths.limits_path(cfg, analysis, m) if run is None else paths.run_limits_path(cfg, analysis, m, run)
        write_limits(out, LimitTable(header, rows))
        if run is None:
            status = "observed + expected" if problem.unblinded else "expected only (blinded)"
            print(f"{out}: {len(rows)} masses, {len(problem.channels)} channel(s), {mu['n_solves']} limit solve(s), "
                  f"{status}")
    return problem, mu


def run(args: argparse.Namespace) -> int:
    skip_numba_extensions()
    cfg = config_from_args(args)
    analysis = registry.check_analysis(cfg, args.analysis)
    registry.members(cfg, analysis, args.model)   # NA64Error naming the choices
    st = settings(cfg)
    wanted = family(cfg, analysis, args.model)
    # the solves of the base model's job, in its order, also when one LDM table is asked for by itself: a
    # table on its own signal reuses the shapes solved before it (the cache), so its numbers do not depend
    # on which was asked for; only the wanted tables are written, no group after the last wanted is solved
    groups = solve_groups(cfg, analysis, family(cfg, analysis, registry.parse_model(args.model)[0].name))
    groups = groups[:max(i for i, g in enumerate(groups) if set(g) & set(wanted)) + 1]
    first = None
    cache: dict = {}   # the groups share channels: their toys and the shapes solved so far
    for group in groups:
        t0 = time.perf_counter()
        problem, mu = write_tables(cfg, analysis, group, args.calculator, cache=cache, write=wanted)
        first = first or (problem, mu)
        print(f"{analysis}/{', '.join(group)}: {time.perf_counter() - t0:.1f} s")
        if analysis != registry.COMBINED:
            runs = registry.runs(cfg, analysis)
            for r in runs:
                t1 = time.perf_counter()
                # one run: the analysis's problem is the run's (same channels, same seed), reuse its solve
                reuse = (problem, mu) if len(runs) == 1 else (None, None)
                write_tables(cfg, analysis, group, args.calculator, run=r, problem=reuse[0], mu=reuse[1],
                             cache=cache, write=wanted)
                print(f"{paths.run_limits_path(cfg, analysis, group[0], r)}: per-run table(s), "
                      f"{time.perf_counter() - t1:.1f} s")
    problem, mu = first
    calc = args.calculator or st["calculator"]
    if st["asymptotic"] and calc == "toys" and registry.parse_model(args.model)[1] is None:
        t1 = time.perf_counter()
        header, rows = to_coupling_limits(problem, mu, args.model, st)
        aproblem = subsample(problem, ASYMPTOTIC_MAX_MASSES)
        aheader, arows = to_coupling_limits(aproblem, solve(cfg, aproblem, "asymptotic"), args.model, st)
        aout = paths.asymptotic_limits_path(cfg, analysis, args.model)
        write_limits(aout, LimitTable(aheader, arows))
        md = comparison_markdown(analysis, args.model, header, rows, aheader, arows, st["n_toys"])
        with paths.atomic_output(paths.limits_comparison_path(cfg, analysis, args.model)) as fh:
            fh.write(md)
        print(f"{aout}: asymptotic cross-check at {len(arows)} masses, {time.perf_counter() - t1:.1f} s")
    return 0

