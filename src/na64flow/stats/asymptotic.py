"""Asymptotic CLs limits with pyhf (the cross-check of the toys): q~_mu, pyhf's asymptotic calculator.

pyhf 0.7.6 ``toms748_scan(data, model, lo, hi, level=1-cl, test_stat="qtilde", calctype="asymptotics")``
finds each crossing of CLs = 1 - cl (observed and the five expected bands) with scipy's toms748 root
finder, widening the bracket until it holds; each CLs evaluation is a ``hypotest``, five fits of which
three (the background-only fit that makes the Asimov data and the free fits to data and to Asimov data)
do not depend on the tested mu. :class:`_AsymptoticCLs` is pyhf's ``AsymptoticCalculator`` (its
distributions and p-values) with those three fits done once per workspace, and :func:`_toms748_scan`
is pyhf's scan on it: the limits are the same numbers (tests/test_stats_oracle.py compares them with
pyhf's own scan for equality) at two fits per tested mu instead of five. Blinded (no observation):
background-only Asimov data, obs reported as nan. The asymptotic formulae are unreliable below ~1
expected background event, which is why the toys are the reference.

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


class _AsymptoticCLs:
    """CLs(mu) and the expected CLs band of pyhf's q~_mu ``AsymptoticCalculator`` for one model and data
    (as ``pyhf.infer.hypotest(..., return_expected_set=True)`` returns them), caching per mu."""

    def __init__(self, data, model):
        from pyhf.infer.calculators import generate_asimov_data
        from pyhf.infer.mle import fit

        self.model, self.data = model, data
        cfg = model.config
        self.pars = (cfg.suggested_init(), cfg.suggested_bounds(), cfg.suggested_fixed())
        self.asimov = generate_asimov_data(0.0, data, model, *self.pars)
        self.free_fits = [fit(d, model, *self.pars, return_fitted_val=True) for d in (data, self.asimov)]
        self.cache: dict[float, tuple] = {}

    def _qmu_tilde(self, mu: float, data, free_fit):
        """pyhf's ``qmu_tilde`` (``_qmu_like`` of ``_tmu_like``) with the free fit given."""
        import pyhf
        from pyhf.infer.mle import fixed_poi_fit

        tb = pyhf.tensorlib
        _, fixed_val = fixed_poi_fit(mu, data, self.model, *self.pars, return_fitted_val=True)
        muhat, free_val = free_fit
        tmu = tb.astensor(tb.clip(fixed_val - free_val, 0.0, max_value=None))
        return tb.where(muhat[self.model.config.poi_index] > mu, tb.astensor(0.0), tmu)

    def __call__(self, mu: float) -> tuple:
        if mu in self.cache:
            return self.cache[mu]
        import pyhf
        from pyhf.infer.calculators import AsymptoticCalculator

        tb = pyhf.tensorlib
        calc = AsymptoticCalculator(self.data, self.model, *self.pars, test_stat="qtilde")
        sqrtqmu = tb.sqrt(self._qmu_tilde(mu, self.data, self.free_fits[0]))
        calc.sqrtqmuA_v = tb.sqrt(self._qmu_tilde(mu, self.asimov, self.free_fits[1]))
        if sqrtqmu <= calc.sqrtqmuA_v:    # AsymptoticCalculator.teststatistic, q~ case
            teststat = sqrtqmu - calc.sqrtqmuA_v
        else:
            teststat = (tb.power(sqrtqmu, 2) - tb.power(calc.sqrtqmuA_v, 2)) / (2 * calc.sqrtqmuA_v)
        sb, b = calc.distributions(mu)
        cls_obs = tb.astensor(calc.pvalues(tb.astensor(teststat), sb, b)[2])
        cls_exp = [tb.astensor(p) for p in calc.expected_pvalues(sb, b)[2]]
        self.cache[mu] = (cls_obs, cls_exp)
        return self.cache[mu]


def _toms748_scan(cls: _AsymptoticCLs, lo: float, hi: float, level: float, rtol: float,
                  atol: float = 2e-12) -> tuple[float, list[float]]:
    """pyhf 0.7.6 ``toms748_scan`` on ``cls``: widen [lo, hi] until every band is bracketed, then one
    toms748 root per band (observed in [lo, hi], expected in the tightest cached bracket)."""
    from scipy.optimize import toms748

    def value(poi, band):
        obs, exp = cls(poi)
        return (obs if band == 0 else exp[band - 1]) - level

    def best_bracket(band):
        ks = np.asarray(list(cls.cache))
        vals = np.asarray([value(k, band) for k in ks])
        pos, neg = vals >= 0, vals < 0
        return ks[pos][np.argmin(vals[pos])], ks[neg][np.argmax(vals[neg])]

    while np.any(np.asarray([cls(lo)[0], *cls(lo)[1]]) < level):
        lo /= 2
    while np.any(np.asarray([cls(hi)[0], *cls(hi)[1]]) > level):
        hi *= 2
    obs = toms748(value, lo, hi, args=(0,), k=2, xtol=atol, rtol=rtol)
    exp = [toms748(value, *best_bracket(band), args=(band,), k=2, xtol=atol, rtol=rtol) for band in range(1, 6)]
    return obs, exp


def _workspace(channels: list[Channel], shape: np.ndarray, observed: list[int] | None, cl: float,
               background_floor: float):
    """(model, data, lo, hi): the pyhf model and data of the scan and its first bracket on the total signal
    events (widened by the scan when a band lies outside it)."""
    import pyhf

    btot = sum(max(c.background, background_floor) for c in channels)
    n_obs = sum(o or 0 for o in (observed or []))
    lo, hi = 0.3, max(12.0, 3.0 * (zero_observed_limit_events(cl) + 2.0 * math.sqrt(btot) + n_obs))
    ws = pyhf.Workspace(pyhf_spec(channels, np.asarray(shape, float), background_floor, observed, poi_max=100 * hi))
    model = ws.model()
    return model, ws.data(model), lo, hi


def asymptotic_limit_events(channels: list[Channel], shape: np.ndarray, observed: list[int] | None = None,
                            cl: float = 0.9, background_floor: float = 1e-6, rtol: float = 1e-3) -> dict:
    """Asymptotic (q~_mu) CLs limits on the total signal events for a fixed shape (toms748 scan).

    Returns {"exp_m2", "exp_m1", "exp", "exp_p1", "exp_p2", "obs"} in events (obs nan while blinded).
    """
    import pyhf

    pyhf.set_backend("numpy")
    logging.getLogger("pyhf").setLevel(logging.WARNING)   # pyhf logs every modifier at INFO
    model, data, lo, hi = _workspace(channels, shape, observed, cl, background_floor)
    obs, exp = _toms748_scan(_AsymptoticCLs(data, model), lo, hi, 1.0 - cl, rtol)
    out = {name: float(e) for name, e in zip(BAND_COLUMNS, exp, strict=True)}
    out["obs"] = float(obs) if observed is not None else float("nan")
    return out
