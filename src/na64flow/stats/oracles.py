"""Closed-form CLs limits of one Poisson bin without systematics: the oracles the calculators are tested on.

>>> round(zero_observed_limit_events(0.9), 4)       # 0 observed: CLs = e^-s for any background
2.3026
>>> round(counting_limit_events(0, 3.0), 4)
2.3026
>>> round(counting_limit_events(2, 0.5), 3)
4.843
"""

from __future__ import annotations

import math


def zero_observed_limit_events(cl: float = 0.9) -> float:
    """Upper limit on signal events for 0 observed, one bin, no systematics: CLs = e^-s -> s = -ln(1-cl).

    2.303 at 90% CL, 2.996 at 95% CL, for any background (physics.md §4).
    """
    return -math.log(1.0 - cl)


def counting_cls(mu_events: float, n_obs: int, background: float) -> float:
    """Exact CLs of one Poisson bin without systematics: P(n <= n_obs | s+b) / P(n <= n_obs | b)."""
    from scipy.stats import poisson

    return float(poisson.cdf(n_obs, mu_events + background) / poisson.cdf(n_obs, background))


def counting_limit_events(n_obs: int, background: float, cl: float = 0.9) -> float:
    """Exact CLs upper limit on signal events of one Poisson bin without systematics (root of CLs = 1-cl)."""
    from scipy.optimize import brentq

    alpha = 1.0 - cl
    hi = 10.0 + 5 * n_obs + 5 * math.sqrt(background + 1)
    return float(brentq(lambda s: counting_cls(s, n_obs, background) - alpha, 0.0, hi, xtol=1e-10))
