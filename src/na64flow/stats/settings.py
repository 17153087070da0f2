"""Settings of the `limits` step: the ``stats`` configuration section with its defaults.

>>> st = settings({"seed": 7, "stats": {"n_toys": 2000}})
>>> st["n_toys"], st["seed"], st["cl"]
(2000, 7, 0.9)
"""

from __future__ import annotations

import numpy as np

from ..config import section
from ..contracts import LIMIT_COLUMNS  # noqa: F401 - the limit table's columns, re-exported

# pyhf ToyCalculator percentiles for -2, -1, 0, +1, +2 sigma [lit: pyhf 0.7.6 calculators.py]
NORMAL_PERCENTILES = np.array([2.27501319, 15.86552539, 50.0, 84.13447461, 97.72498681])
BAND_COLUMNS = ("exp_m2", "exp_m1", "exp", "exp_p1", "exp_p2")
POI = "mu"

# Defaults of the `stats` configuration section (also in the schema; every number sourced there).
DEFAULTS = {
    "cl": 0.9,                      # 90% CL [paper]
    "calculator": "toys",           # toy CLs is the reference at these low counts [physics.md §4]
    "n_toys": 10000,                # CLs at 0.1 to ~3% (relative) when CL_b ~ 1 [measured]
    "obs_precision_rel": 0.03,      # observed limits: more toys until CLs at the limit is this precise [docs]
    "obs_max_toys": 1000000,        # ... up to this many toys in all (CL_b ~ 3e-3 at 10000 toys) [est]
    "seed": None,                   # None: the configuration's top-level seed
    "signal_eff_syst_rel": 0.10,    # dominant signal-yield systematic ~10% [paper]
    "exposure_syst_rel": 0.01,      # n_ot uncertainty; NA64mu (1.98 +- 0.02)e10 MOT [paper]
    "background_floor": 1.0e-6,     # events; keeps Poisson means positive for background-free runs [est]
    "shape_tolerance": 0.01,        # re-solve when a channel fraction moves by more than this [est]
    "asymptotic": True,             # also write the asymptotic cross-check tables
    "ldm_mass_ratio": 3.0,          # m_A' = 3 m_chi [paper]
}


def cl_text(cfg: dict | None) -> str:
    """The configured confidence level as every output prints it: "90%" for ``stats.cl: 0.9``."""
    cl = DEFAULTS["cl"] if cfg is None else settings(cfg)["cl"]
    return f"{100 * float(cl):g}%"


def method_text(cfg: dict | None, observed: bool = True) -> str:
    """How the limit tables were computed, for the public files (HEPData limit tables, pyhf patchsets),
    where a referee without our code must learn which calculator reproduces them (docs/statistics.md).
    ``observed=False`` (blinded files): the observed-limit refinement is not stated."""
    st = settings(cfg or {})
    cl = cl_text(cfg)
    if st["calculator"] == "asymptotic":
        return (f"Quoted limits: {cl} CL CLs from pyhf's asymptotic formulae (q~_mu, AsymptoticCalculator, toms748 scan; "
                "stats.calculator: asymptotic), not the toy calculator of NA64's published low-count limits.")
    return (f"Quoted limits: {cl} CL modified frequentist CLs = CL_s+b/CL_b from hybrid toys (pseudo-experiments; "
            f"stats.calculator: toys, n_toys = {int(st['n_toys'])} per ensemble"
            + (f", observed limits with further ensembles until CLs is {100 * float(st['obs_precision_rel']):g}% "
               f"precise, at most {int(st['obs_max_toys'])} toys" if observed else "")
            + "). Test statistic: the LEP likelihood ratio at nominal nuisances, "
            "t(n) = sum_i n_i ln(1 + mu s_i/b_i); nuisance parameters drawn from their constraints in every toy "
            "(Cousins-Highland); expected bands = percentiles of the background-only toys' CLs (as pyhf's "
            "ToyCalculator). Stock pyhf does not reproduce them: its asymptotic calculator (q~_mu, the default "
            "of upper_limits.toms748_scan) differs at these low counts, and its "
            "ToyCalculator uses the profiled q~_mu. The asymptotic numbers are a separate cross-check (the "
            "workflow's limits/<analysis>/<model>_asymptotic.csv), not these limits.")


def settings(cfg: dict) -> dict:
    """The `stats` section with defaults filled in (seed falls back to the top-level seed)."""
    out = dict(DEFAULTS)
    out.update(section(cfg, "stats"))
    if out["seed"] is None:
        out["seed"] = int(cfg.get("seed", 0))
    return out
