"""Mass scans: upper limits on mu for every mass of a problem, and their conversion to the model's units.

The signal enters only through ``s_i(m)``: with the total ``S(m) = sum_i s_i`` and the shape
``f_i = s_i/S``, ``mu_up(m) = n_up(f(m)) / S(m)`` where ``n_up(f)`` is the limit on the total number of
signal events for shape f. For one channel f = (1) and one solve covers every mass exactly; for
several channels the solve is repeated whenever f differs from every solved shape by more than
``stats.shape_tolerance`` (max |delta f_i|). The LDM y tables of a model reuse its mu limits (same
problem, same seed): only :func:`to_coupling_limits` differs.

>>> from na64flow.stats.model import Channel, LimitProblem
>>> p = LimitProblem("a", "dark_photon", [Channel("a", "r", 0.0)], np.array([0.01, 0.1]),
...                  np.array([[100.0], [10.0]]), [0])
>>> mu = scan_limits(p, n_toys=4000, seed=3)
>>> mu["n_solves"], [abs(float(x * s) - 2.303) < 0.1 for x, s in zip(mu["obs"], (100, 10))]   # ln 10 events
(1, [True, True])
>>> to_coupling_limits(p, mu, "dark_photon", {"ldm_mass_ratio": 3.0})[0]
['mass_gev', 'exp', 'exp_m2', 'exp_m1', 'exp_p1', 'exp_p2', 'obs']
"""

from __future__ import annotations

import contextlib
import math

import numpy as np

from .. import NA64Error, registry
from .asymptotic import asymptotic_limit_events
from .inputs import build_problem
from .model import LimitProblem
from .settings import DEFAULTS, LIMIT_COLUMNS, settings
from .toys import ToyCLs, ToyRangeError, toy_limit_events


def _progress(total: int, description: str):
    from rich.progress import Progress

    prog = Progress(transient=True)
    return prog, prog.add_task(description, total=total)


def initial_signal_range(b_total: float, n_obs_total: float) -> float:
    """Signal events covered by the first toy ensemble (widened by scan_limits when the bands need more)."""
    return 15.0 + 8.0 * math.sqrt(b_total) + 2.0 * n_obs_total + b_total * 0.5


def scan_limits(problem: LimitProblem, calculator: str = "toys", cl: float = 0.9, n_toys: int = 10000,
                seed: int = 0, shape_tolerance: float = 0.01, background_floor: float = 1e-6,
                show_progress: bool = False, cache: dict | None = None,
                obs_precision: float = DEFAULTS["obs_precision_rel"],
                max_toys: int = DEFAULTS["obs_max_toys"]) -> dict[str, np.ndarray]:
    """90% CL (cl) upper limits on mu = coupling^2 (or Br) for every mass of ``problem``.

    Per mass: shape f = s/S, limit on total events n_up(f) (solved once per distinct shape, see the
    module docstring), mu_up = n_up / S. Returns arrays keyed by exp, exp_m2, exp_m1, exp_p1, exp_p2,
    obs (nan while blinded), plus "n_solves" (solves made by this call).

    ``cache`` (a dict kept by the caller): the toys and solved shapes of problems with the same channels,
    observations and settings are shared, e.g. an LDM table at another alpha_D and its base model (their
    signals differ only where the resonant annihilation matters; a single-channel problem has one shape).
    """
    if calculator not in ("toys", "asymptotic"):
        raise NA64Error(f"stats.calculator '{calculator}': use toys or asymptotic")
    sig = problem.signal_events
    total = sig.sum(axis=1)
    shapes = sig / total[:, None]
    obs = np.array([o for o in problem.observed], dtype=float) if problem.unblinded else None
    key = (calculator, cl, n_toys, seed, shape_tolerance, background_floor, obs_precision, max_toys,
           repr(problem.channels), None if obs is None else tuple(obs))
    state = (cache or {}).get(key)
    if state is None:
        toys = max_ev = None
        if calculator == "toys":
            btot = sum(max(c.background, background_floor) for c in problem.channels)
            n_obs_tot = 0 if obs is None else obs.sum()
            max_ev = initial_signal_range(btot, n_obs_tot)
            toys = ToyCLs(problem.channels, n_toys, seed, background_floor, max_signal_events=max_ev)
        state = {"toys": toys, "max_ev": max_ev, "shapes": [], "solved": []}
        if cache is not None:
            cache[key] = state
    toys, max_ev = state["toys"], state["max_ev"]
    solved_shapes: list[np.ndarray] = state["shapes"]
    solved: list[dict] = state["solved"]
    n_before = len(solved)
    results = {k: np.full(len(total), np.nan) for k in LIMIT_COLUMNS}
    prog, task = _progress(len(total), f"limits {problem.analysis}/{problem.model} ({calculator})")
    with prog if show_progress else contextlib.nullcontext():
        for i, f in enumerate(shapes):
            j = next((j for j, g in enumerate(solved_shapes) if np.max(np.abs(g - f)) <= shape_tolerance), None)
            if j is None:
                if calculator == "toys":
                    for _ in range(4):   # large background uncertainties push the +2 sigma band up
                        try:
                            lim = toy_limit_events(toys, f, obs, cl, obs_precision=obs_precision,
                                                   max_toys=max_toys)
                            break
                        except ToyRangeError:
                            max_ev *= 2.0
                            toys = ToyCLs(problem.channels, n_toys, seed, background_floor, max_signal_events=max_ev)
                            state["toys"], state["max_ev"] = toys, max_ev
                    else:
                        lim = toy_limit_events(toys, f, obs, cl, obs_precision=obs_precision,
                                               max_toys=max_toys)   # raises with the final range
                else:
                    lim = asymptotic_limit_events(problem.channels, f, None if obs is None else list(obs.astype(int)),
                                                  cl, background_floor)
                solved_shapes.append(f)
                solved.append(lim)
                j = len(solved) - 1
            for k in LIMIT_COLUMNS:
                results[k][i] = solved[j][k] / total[i]
            if show_progress:
                prog.advance(task)
    results["n_solves"] = len(solved) - n_before
    return results


def to_coupling_limits(problem: LimitProblem, mu_limits: dict, model: str, st: dict) -> tuple[list[str], list[list]]:
    """Limit table (header, rows) in the contract's units for ``model`` (docs/contracts.md).

    couplings (eps, g): sqrt(mu) (signal ~ coupling^2); Br models (eta, eta'): Br = mu; LDM
    y = eps^2 alpha_D (m_chi/m_A')^4 at m_chi = m_A'/ratio (Br(A' -> chi chi) ~ 1 since
    alpha_D >> alpha eps^2 [lit]).
    """
    spec, alpha_d = registry.parse_model(model)
    m = problem.mass_gev
    cols = list(LIMIT_COLUMNS)
    if alpha_d is not None:
        ratio = float(st["ldm_mass_ratio"])
        conv = alpha_d / ratio ** 4
        header = ["m_chi_gev", *cols]
        rows = [[m[i] / ratio] + [mu_limits[c][i] * conv for c in cols] for i in range(len(m))]
    elif spec.poi == "br":
        header = ["meson", "mass_gev", *cols]
        rows = [[spec.meson, m[i]] + [mu_limits[c][i] for c in cols] for i in range(len(m))]
    else:
        header = ["mass_gev", *cols]
        rows = [[m[i]] + [math.sqrt(mu_limits[c][i]) if np.isfinite(mu_limits[c][i]) else math.nan
                          for c in cols] for i in range(len(m))]
    return header, rows


def seed_of(st: dict, analysis: str, model: str) -> int:
    """Toy seed of (analysis, base model): stats.seed mixed with the names (LDM variants share it)."""
    base = registry.parse_model(model)[0].name
    return int(np.random.SeedSequence([st["seed"], *map(ord, f"{analysis}/{base}")]).generate_state(1)[0])


def subsample(problem: LimitProblem, max_masses: int | None) -> LimitProblem:
    """At most ``max_masses`` evenly spaced masses of a multi-channel problem (asymptotic cross-check)."""
    if max_masses is None or len(problem.mass_gev) <= max_masses or len(problem.channels) <= 1:
        return problem
    return problem.select(np.unique(np.linspace(0, len(problem.mass_gev) - 1, max_masses).round().astype(int)))


def solve(cfg: dict, problem: LimitProblem, calculator: str | None = None, show_progress: bool = False,
          cache: dict | None = None) -> dict:
    """The mu limits of a built problem with the configured settings (seeded by analysis and model);
    ``cache``: see :func:`scan_limits`."""
    st = settings(cfg)
    return scan_limits(problem, calculator or st["calculator"], st["cl"], st["n_toys"],
                       seed_of(st, problem.analysis, problem.model), st["shape_tolerance"],
                       st["background_floor"], show_progress, cache, st["obs_precision_rel"], st["obs_max_toys"])


def compute_limits(cfg: dict, analysis: str, model: str, calculator: str | None = None,
                   show_progress: bool = False, observed: dict | None = None,
                   max_masses: int | None = None, runs: list[str] | None = None
                   ) -> tuple[LimitProblem, dict, list[str], list[list]]:
    """Build the problem, scan masses with the configured calculator, convert to the model's units.

    ``max_masses``: evaluate at most this many masses (evenly spaced; used for the asymptotic
    cross-check of multi-channel models). ``runs``: only these runs of the analysis (per-run tables).
    """
    problem = subsample(build_problem(cfg, analysis, model, observed, runs), max_masses)
    mu = solve(cfg, problem, calculator, show_progress)
    header, rows = to_coupling_limits(problem, mu, model, settings(cfg))
    return problem, mu, header, rows
