"""Asymptotic CLs limits with pyhf (the cross-check of the toys): q~_mu and pyhf's toms748_scan.

pyhf 0.7.6 ``pyhf.infer.intervals.upper_limits.toms748_scan(data, model, lo, hi, level=1-cl,
test_stat="qtilde", calctype="asymptotics")`` finds each crossing of CLs = 1 - cl (observed and the
five expected bands) with scipy's toms748 root finder, widening the bracket until it holds. Blinded
(no observation): background-only Asimov data, obs reported as nan. The asymptotic formulae are
unreliable below ~1 expected background event, which is why the toys are the reference.

>>> from na64flow.stats.model import Channel
>>> lim = asymptotic_limit_events([Channel("a", "r", background=5.0)], np.array([1.0]))
>>> 2.0 < lim["exp"] < 8.0, math.isnan(lim["obs"])
(True, True)
"""

from __future__ import annotations

import logging
import math

import numpy as np

from .model import Channel, pyhf_spec
from .oracles import zero_observed_limit_events
from .settings import BAND_COLUMNS


def asymptotic_limit_events(channels: list[Channel], shape: np.ndarray, observed: list[int] | None = None,
                            cl: float = 0.9, background_floor: float = 1e-6, rtol: float = 1e-3) -> dict:
    """Asymptotic (q~_mu) CLs limits on the total signal events for a fixed shape (toms748_scan).

    Returns {"exp_m2", "exp_m1", "exp", "exp_p1", "exp_p2", "obs"} in events (obs nan while blinded).
    """
    import pyhf
    from pyhf.infer.intervals.upper_limits import toms748_scan

    pyhf.set_backend("numpy")
    logging.getLogger("pyhf").setLevel(logging.WARNING)   # pyhf logs every modifier at INFO
    btot = sum(max(c.background, background_floor) for c in channels)
    n_obs = sum(o or 0 for o in (observed or []))
    lo, hi = 0.3, max(12.0, 3.0 * (zero_observed_limit_events(cl) + 2.0 * math.sqrt(btot) + n_obs))
    spec = pyhf_spec(channels, np.asarray(shape, float), background_floor, observed, poi_max=100 * hi)
    ws = pyhf.Workspace(spec)
    model = ws.model()
    obs, exp = toms748_scan(ws.data(model), model, lo, hi, level=1.0 - cl, rtol=rtol,
                            test_stat="qtilde", calctype="asymptotics")
    out = {name: float(e) for name, e in zip(BAND_COLUMNS, exp, strict=True)}
    out["obs"] = float(obs) if observed is not None else float("nan")
    return out
