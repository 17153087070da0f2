"""Benchmark of the signal yields: 200 masses x every analysis/run/model of a configuration.

Cold: empty cache, so the shower track-length tables are simulated (cascade) and written; warm: the
same computation with the tables read back from results/<tag>/cache. Then a plain per-mass
scipy.integrate.quad evaluation (chi by quad, sigma by quad over x, one quad per emitter-energy bin)
of the NA64e brem yield on a few masses, timed and compared with the vectorised result, and the
speed ratio extrapolated to the same 200 masses.

    python benchmarks/bench_signal.py [-c configs/default.yaml] [--n-masses 200] [--n-quad 4]
"""

from __future__ import annotations

import argparse
import copy
import tempfile
import time

import numpy as np
from scipy import integrate

from na64flow import config
from na64flow import signal as sig
from na64flow.physics import brem
from na64flow.physics.constants import GEV2_TO_CM2, M_E_GEV, PB_N_ATOMS_PER_X0_CM2
from na64flow.physics.formfactors import g2_elastic, g2_inelastic


def all_yields(cfg: dict, masses: np.ndarray) -> int:
    """Yields of every model of every analysis/run on ``masses``; returns the number of (model, run) tables."""
    n = 0
    for analysis in cfg["analyses"]:
        for run in config.runs_of(cfg, analysis):
            cache: dict = {}
            for model in sig.models_for(cfg, analysis):
                sig.model_yields(cfg, analysis, run, model, masses, cache=cache)
                n += 1
    return n


def quad_brem_yield(mass_gev: float, table, e_thr_gev: float) -> float:
    """The NA64e brem yield with nested scipy quad: chi(m, E) and sigma(E_A' > E_thr) per energy bin."""
    tl = table.per_energy("e-") + table.per_energy("e+")
    total = 0.0
    for t_k, e_k, e_hi in zip(tl, table.energy_centers_gev, table.energy_edges_gev[1:]):
        if e_hi <= e_thr_gev or t_k == 0:
            continue
        tmin, tmax = (mass_gev**2 / (2 * e_k)) ** 2, mass_gev**2 + M_E_GEV**2

        def f(lt, tmin=tmin):
            t = np.exp(lt)
            return (t - tmin) / t * (g2_elastic(t) + g2_inelastic(t))

        chi = integrate.quad(f, np.log(tmin), np.log(tmax), limit=200)[0]
        x_lo, x_hi = max(e_thr_gev / e_k, mass_gev / e_k), 1 - M_E_GEV / e_k
        if x_hi <= x_lo:
            continue
        sig_k = integrate.quad(lambda x, e_k=e_k, chi=chi: brem.dsigma_dx(x, e_k, mass_gev, chi=chi,
                                                                        etl_correction=False),
                               x_lo, x_hi, limit=200, points=[1 - 1e-3, 1 - 1e-4])[0]
        # ETL: the IWW shape scaled to sigma_IWW^an / K(m, E_k) (brem module docstring)
        total += t_k * sig_k * float(brem.etl_normalisation(e_k, mass_gev))
    return PB_N_ATOMS_PER_X0_CM2 * GEV2_TO_CM2 * total


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-c", "--config", default="configs/default.yaml")
    ap.add_argument("--n-masses", type=int, default=200)
    ap.add_argument("--n-quad", type=int, default=4, help="masses for the scipy.quad comparison")
    args = ap.parse_args(argv)
    base = config.load_config(args.config)
    masses = np.geomspace(0.001, 1.0, args.n_masses)
    with tempfile.TemporaryDirectory(prefix="bench_signal_") as tmp:
        cfg = copy.deepcopy(base)
        cfg["results_root"] = tmp
        t0 = time.perf_counter()
        n_tables = all_yields(cfg, masses)
        cold = time.perf_counter() - t0
        t0 = time.perf_counter()
        all_yields(cfg, masses)
        warm = time.perf_counter() - t0
        print(f"yields: {args.n_masses} masses x {n_tables} (analysis, run, model) tables")
        print(f"  cold (cascade tables simulated and cached): {cold:8.2f} s")
        print(f"  warm (tables read from the cache):          {warm:8.2f} s   target < 30 s")

        table = sig.get_table(cfg, "e-", 100.0)
        thr = sig.threshold_gev(cfg, "na64e", "2016-2022")
        sub = np.geomspace(0.002, 0.5, args.n_quad)
        t0 = time.perf_counter()
        fast = sig.yields.brem_yield_electron_beam(sub, table, thr)
        t_vec = time.perf_counter() - t0
        t0 = time.perf_counter()
        slow = np.array([quad_brem_yield(m, table, thr) for m in sub])
        t_quad = time.perf_counter() - t0
        per_mass_quad = t_quad / len(sub)
        per_mass_warm = warm / (args.n_masses * max(n_tables, 1))
        print(f"scipy.quad loop on {len(sub)} masses (na64e brem only): {t_quad:.2f} s "
              f"({per_mass_quad:.3f} s/mass); vectorised: {t_vec * 1e3:.1f} ms")
        print(f"  max relative difference vectorised vs quad: {np.max(np.abs(fast / slow - 1)):.2e}")
        print(f"  same subset, same quantity: quad / vectorised = {t_quad / t_vec:.0f}x")
        print(f"  extrapolated quad time for {args.n_masses} masses x {n_tables} tables: "
              f"{per_mass_quad * args.n_masses * n_tables:.0f} s -> ratio quad/warm = "
              f"{per_mass_quad / per_mass_warm:.0f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
