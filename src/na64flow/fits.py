"""Side-band likelihood fits: fit a 1D spectrum outside the signal box and extrapolate into it.

The estimator used by ``background`` and ``closure``: a binned spectrum (counts or weighted sums with
their variances) of one variable in a side band is fitted in a range ``[lo, hi]`` with an *extended*
binned Poisson likelihood (iminuit ``cost.ExtendedBinnedNLL``; for weighted histograms iminuit uses
the scaled-Poisson treatment of Bohm & Zech, NIM A 748 (2014) 1) and the fitted shape is integrated
over a target interval (the box) [lit: standard side-band extrapolation]. Empty bins are handled by
the Poisson likelihood itself (no Gaussian approximation, no bin merging needed).

Candidate shapes (unnormalised density g and antiderivative G, both in the fitted variable x in GeV):

* ``exponential``: g = exp(b (x - lo)), G = expm1(b (x - lo)) / b  (b -> 0: x - lo);
* ``power_law``:   g = (x + c)^-p with a fixed offset c (``power_law_offset_gev``) so that x = 0 is
  finite, G = ((x + c)^(1-p) - (lo + c)^(1-p)) / (1 - p)  (p -> 1: ln((x + c)/(lo + c)));
* ``exp_const``:   g = (1 - r) * exponential / I_exp + r / (hi - lo), a falling exponential on a flat
  floor, r in [0, 1] the floor fraction inside the fit range;
* ``gamma``:       g = x^(k-1) exp(-x/theta), G = P(k, x/theta) (regularised lower incomplete gamma):
  the energy of a few particles in a calorimeter, which vanishes at x = 0 and can rise before it
  falls -- shapes an exponential cannot extrapolate (closure toys, docs/background.md).

Parameters: ``n`` = expected events in the fit range, plus the shape parameters. The extrapolated
yield is N(a, b) = n (G(b) - G(a)) / (G(hi) - G(lo)); its statistical uncertainty is propagated from
the fit covariance (HESSE) with a numerical Jacobian, so it contains the side-band Poisson error
through ``n`` and the shape error through the shape parameters.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np
from iminuit import Minuit, cost
from scipy import special, stats

from . import NA64Error

MODELS = ("exponential", "power_law", "exp_const", "gamma")


# ---------------------------------------------------------------------------------------------
# shapes: antiderivative G(x; theta) relative to the fit range [lo, hi]


def _g_exponential(x, lo, hi, b, c=None):
    u = b * (np.asarray(x, float) - lo)
    if abs(b) < 1e-9:
        return np.asarray(x, float) - lo
    return np.expm1(u) / b


def _g_power_law(x, lo, hi, p, c=1.0):
    x = np.asarray(x, float)
    if abs(p - 1.0) < 1e-9:
        return np.log((x + c) / (lo + c))
    return ((x + c) ** (1.0 - p) - (lo + c) ** (1.0 - p)) / (1.0 - p)


def _g_exp_const(x, lo, hi, b, r, c=None):
    x = np.asarray(x, float)
    i_exp = _g_exponential(hi, lo, hi, b)
    return (1.0 - r) * _g_exponential(x, lo, hi, b) / i_exp + r * (x - lo) / (hi - lo)


def _g_gamma(x, lo, hi, k, theta, c=None):
    """Regularised lower incomplete gamma P(k, x/theta): antiderivative of x^(k-1) exp(-x/theta)."""
    return special.gammainc(k, np.clip(np.asarray(x, float), 0, None) / theta)


_SHAPES = {
    # name: (antiderivative, shape parameter names, start values, limits)
    "exponential": (_g_exponential, ("b",), (-0.3,), ((-20.0, 20.0),)),
    "power_law": (_g_power_law, ("p",), (2.0,), ((-5.0, 30.0),)),
    "exp_const": (_g_exp_const, ("b", "r"), (-0.5, 0.1), ((-20.0, 0.0), (0.0, 1.0))),
    "gamma": (_g_gamma, ("k", "theta"), (2.0, 2.0), ((0.3, 30.0), (0.02, 100.0))),
}


@dataclass
class FitResult:
    """One side-band fit: model, fit range, parameter values and covariance, goodness of fit."""

    model: str
    fit_range: tuple[float, float]
    values: dict[str, float]
    covariance: np.ndarray
    valid: bool
    deviance: float          # -2 ln(L / L_saturated), asymptotically chi2(ndof)
    ndof: int
    n_observed: float        # sum of the (weighted) counts in the fit range
    offset_gev: float = 1.0
    names: tuple[str, ...] = field(default=())
    n_effective: float = 0.0  # (sum w)^2 / sum w^2 in the fit range (= n_observed for data)

    @property
    def pvalue(self) -> float:
        """Goodness of fit: chi2 survival function of the deviance with ndof degrees of freedom."""
        if self.ndof <= 0:
            return 1.0
        return float(stats.chi2.sf(self.deviance, self.ndof))

    def _antiderivative(self, x, theta):
        func = _SHAPES[self.model][0]
        lo, hi = self.fit_range
        return func(x, lo, hi, *theta[1:], c=self.offset_gev)

    def _yield(self, theta, a: float, b: float) -> float:
        lo, hi = self.fit_range
        g = lambda x: self._antiderivative(x, theta)  # noqa: E731
        norm = g(hi) - g(lo)
        return float(theta[0] * (g(b) - g(a)) / norm)

    def extrapolate(self, a: float, b: float) -> tuple[float, float]:
        """Expected events in [a, b] from the fitted shape, and its 1-sigma error (covariance x Jacobian)."""
        theta = np.array([self.values[k] for k in self.names], float)
        if not (np.all(np.isfinite(theta)) and np.all(np.isfinite(self.covariance))):
            return float("nan"), float("nan")
        value = self._yield(theta, a, b)
        jac = np.zeros_like(theta)
        for i in range(theta.size):
            h = 1e-5 * max(abs(theta[i]), 1e-3)
            tp, tm = theta.copy(), theta.copy()
            tp[i] += h
            tm[i] -= h
            jac[i] = (self._yield(tp, a, b) - self._yield(tm, a, b)) / (2 * h)
        var = float(jac @ self.covariance @ jac)
        return value, float(np.sqrt(max(var, 0.0)))


def fit_spectrum(edges, values, variances=None, *, model: str, fit_range: tuple[float, float],
                 offset_gev: float = 1.0) -> FitResult:
    """Extended binned Poisson fit of ``model`` to the bins of ``edges`` inside ``fit_range``.

    ``values`` are counts (or weighted sums); with ``variances`` different from ``values`` the
    weighted-histogram likelihood of iminuit is used. Only bins entirely inside ``fit_range`` enter.
    """
    if model not in _SHAPES:
        raise NA64Error(f"background fit model '{model}' unknown; known: {', '.join(MODELS)}")
    edges = np.asarray(edges, float)
    values = np.asarray(values, float)
    lo, hi = map(float, fit_range)
    sel = (edges[:-1] >= lo - 1e-9) & (edges[1:] <= hi + 1e-9)
    if sel.sum() < 2:
        raise NA64Error(f"fit range [{lo}, {hi}] GeV holds fewer than 2 bins of the histogram "
                        f"(edges {edges[0]}..{edges[-1]}); check background.sideband fit ranges")
    idx = np.flatnonzero(sel)
    xe = edges[idx[0]: idx[-1] + 2]
    n = values[idx]
    lo, hi = float(xe[0]), float(xe[-1])
    if variances is not None:
        var = np.asarray(variances, float)[idx]
        weighted = not np.allclose(var, n)
        if weighted:
            n = np.column_stack([n, var])
    func, shape_names, starts, limits = _SHAPES[model]
    names = ("n",) + shape_names
    n_obs = float(np.sum(values[idx]))
    sumw2 = float(np.sum(np.asarray(variances, float)[idx])) if variances is not None else n_obs
    n_eff = n_obs**2 / sumw2 if sumw2 > 0 else 0.0      # Kish effective number of (weighted) events

    def scaled_cdf(x, *theta):
        norm = func(hi, lo, hi, *theta[1:], c=offset_gev) - func(lo, lo, hi, *theta[1:], c=offset_gev)
        return theta[0] * func(x, lo, hi, *theta[1:], c=offset_gev) / norm

    c = cost.ExtendedBinnedNLL(n, xe, scaled_cdf, name=list(names))
    m = Minuit(c, max(n_obs, 1.0), *starts, name=list(names))
    m.limits["n"] = (0.0, None)
    for name, lim in zip(shape_names, limits):
        m.limits[name] = lim
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m.migrad()
        m.hesse()
    cov = np.array(m.covariance, float) if m.covariance is not None else np.full((len(names),) * 2, np.nan)
    ndof = int(len(idx) - m.nfit)
    return FitResult(model=model, fit_range=(lo, hi), values=dict(zip(names, map(float, m.values))),
                     covariance=cov, valid=bool(m.valid and m.accurate), deviance=float(m.fval),
                     ndof=ndof, n_observed=n_obs, offset_gev=offset_gev, names=names, n_effective=n_eff)


@dataclass
class Candidate:
    """One (model, fit range) choice and its extrapolation into the target interval."""

    model: str
    fit_range: tuple[float, float]
    estimate: float
    stat: float
    pvalue: float
    valid: bool
    closure_pull: float = float("nan")   # same choice applied to simulation: (est - truth) / error
    closes: bool = True                  # |closure_pull| <= max_closure_pull (or not checked)

    def as_dict(self) -> dict:
        def num(x):
            return float(x) if np.isfinite(x) else None     # JSON-safe: no NaN

        return {"model": self.model, "fit_range_gev": list(self.fit_range), "estimate": num(self.estimate),
                "stat": num(self.stat), "pvalue": num(self.pvalue), "valid": self.valid,
                "closure_pull": num(self.closure_pull), "closes_on_simulation": self.closes}


@dataclass
class Extrapolation:
    """Side-band estimate: central choice, statistical error, systematic spread over candidates."""

    estimate: float
    stat: float
    syst: float
    central: Candidate
    candidates: list[Candidate]
    target: tuple[float, float]

    def as_dict(self) -> dict:
        return {"estimate": self.estimate, "stat": self.stat, "syst": self.syst,
                "target_gev": list(self.target), "central": self.central.as_dict(),
                "candidates": [c.as_dict() for c in self.candidates]}


def systematic_shift(cand: Candidate, central: Candidate, min_significance: float = 0.0) -> float:
    """Deviation of an alternative choice from the central one, net of statistical fluctuation.

    sqrt(max(0, delta^2 - |sigma_alt^2 - sigma_central^2|)) [lit: R. Barlow, "Systematic errors:
    facts and fictions", hep-ex/0207026, sec. 4]: the two fits share the side-band data, so the
    expected purely statistical spread of their difference is sigma_diff = sqrt(|sigma_alt^2 -
    sigma_central^2|). With ``min_significance`` > 0 the alternative is a consistency *check* (Barlow,
    ibid., sec. 5): a deviation within min_significance x sigma_diff passes and adds nothing (a
    statistically compatible result is no evidence of a systematic effect; counting it anyway
    double-counts the statistical error); a significant one adds its net size.
    """
    delta2 = (cand.estimate - central.estimate) ** 2
    diff2 = abs(cand.stat**2 - central.stat**2)
    if min_significance > 0 and delta2 <= min_significance**2 * diff2:
        return 0.0
    return float(np.sqrt(max(0.0, delta2 - diff2)))


def transfer_candidate(n_sideband: float, mc_target: float, mc_target_var: float, mc_sideband: float,
                       mc_sideband_var: float, fit_range: tuple[float, float],
                       n_sideband_var: float | None = None) -> Candidate:
    """Shape from simulation, normalisation from data: N = n_sb(data) x T_target / T_sb (simulation).

    The classic transfer factor [lit: e.g. ATLAS/CMS "MC transfer factor" estimates]. stat = the error
    of n_sb (Poisson, the 68% upper value 1.14 when n_sb = 0; ``n_sideband_var``, the side band's sum of
    squared weights, when the "data" are a weighted simulated sample, as in the closure on simulation)
    times R, combined in quadrature with n_sb x the simulation error of R (sqrt(sum w^2) of the
    disjoint target and side-band sums).
    """
    if mc_sideband <= 0:
        return Candidate("mc_transfer", tuple(fit_range), float("nan"), float("nan"), float("nan"), False)
    r = mc_target / mc_sideband
    rel_r = np.sqrt((mc_target_var / mc_target**2 if mc_target > 0 else 0.0) + mc_sideband_var / mc_sideband**2)
    if n_sideband <= 0:
        poisson = 1.14
    else:
        poisson = np.sqrt(n_sideband if n_sideband_var is None else n_sideband_var)
    stat = float(np.hypot(poisson * r, n_sideband * r * rel_r))
    if mc_target <= 0:
        # no simulated event in the target: R is only bounded, R < 1.14 x mean weight / T_sb (68% CL
        # [lit: Feldman & Cousins]; mean weight from the side band, sum w^2 / sum w) -- not 0 +- 0
        stat = float(max(n_sideband, 1.14) * 1.14 * (mc_sideband_var / mc_sideband) / mc_sideband)
    return Candidate("mc_transfer", tuple(fit_range), float(n_sideband * r), stat, float("nan"), True)


def summarise(cands: list[Candidate], central: Candidate, target, min_pvalue: float = 0.01,
              syst_from: str = "envelope", min_significance: float = 0.0) -> Extrapolation:
    """Central value and stat from ``central``; syst = the Barlow-net envelope over reasonable candidates
    (valid, finite, closing on simulation when checked, and for fits goodness-of-fit p >= ``min_pvalue``;
    transfer candidates have no p). ``syst_from``: "envelope" (every reasonable candidate, the NA64
    function/range envelope), "transfer_ranges" (only the transfer factors of the other fit ranges)."""
    good = [c for c in cands if c.valid and c.closes and np.isfinite(c.estimate)
            and (not np.isfinite(c.pvalue) or c.pvalue >= min_pvalue)]
    if syst_from == "transfer_ranges":
        good = [c for c in good if c.model == "mc_transfer"]
    elif syst_from != "envelope":
        raise NA64Error(f"background.<setup>.sideband.syst '{syst_from}': use envelope or transfer_ranges")
    # transfer_ranges: the other ranges are consistency checks (min_significance); envelope: the NA64 way
    sig = min_significance if syst_from == "transfer_ranges" else 0.0
    syst = max((systematic_shift(c, central, sig) for c in good), default=0.0)
    return Extrapolation(central.estimate, central.stat, float(syst), central, cands, tuple(target))


def extrapolate(edges, values, variances=None, *, target: tuple[float, float],
                fit_ranges: list[tuple[float, float]], models=MODELS, primary: tuple[str, int] | None = None,
                min_pvalue: float = 0.01, offset_gev: float = 1.0, min_events: float = 0.0,
                transfer: list[Candidate] | None = None, simulation: tuple | None = None,
                max_closure_pull: float = 2.0, central: str = "fit", syst_from: str = "envelope",
                min_significance: float = 0.0) -> Extrapolation:
    """Fit every (model, fit range) candidate and extrapolate each into ``target`` = [a, b].

    ``central`` = "transfer": the central value is the transfer candidate (``transfer_candidate``) of the
    primary range (the coverage-tested method, docs/background.md); the fits are alternatives (and the
    envelope when ``syst_from`` = "envelope"). ``central`` = "fit" (the NA64 side-band extrapolation):
    the ``primary`` (model, index into fit_ranges) fit, replaced by the primary range's transfer candidate
    when that fit is not usable: fewer than ``min_events`` effective events ((sum w)^2 / sum w^2) in the
    range, failed fit, or no closure on simulation. ``simulation`` = (edges, values, variances, truth,
    truth_unc): the simulated spectrum of the process being estimated (side band *and* target,
    simulation is not blinded) and its true target count; every (model, range) choice is also applied
    to it, and a choice whose closure pull exceeds ``max_closure_pull`` does not close on simulation:
    it is reported, kept out of the envelope, and can never be central. With an empty ``models`` list
    no fit is made (transfer candidates only). Systematic: ``summarise``. The choice of candidates uses
    only side-band data and simulation, never the data in the target.
    """
    models = list(models)
    primary = tuple(primary or ((models or ["exponential"])[0], 0))
    if primary[1] >= len(fit_ranges) or (models and primary[0] not in models):
        raise NA64Error(f"background.sideband.primary {list(primary)} is not among the models {models} "
                        f"and {len(fit_ranges)} fit ranges")
    if central not in ("fit", "transfer"):
        raise NA64Error(f"background.<setup>.sideband.central '{central}': use transfer or fit")
    cands: list[Candidate] = []
    chosen = None
    for i, rng in enumerate(fit_ranges):
        for model in models:
            res = fit_spectrum(edges, values, variances, model=model, fit_range=tuple(rng), offset_gev=offset_gev)
            est, err = res.extrapolate(*target)
            cand = Candidate(model, res.fit_range, est, err, res.pvalue,
                             res.valid and res.n_effective >= min_events and res.n_observed > 0)
            if simulation is not None:
                s_edges, s_vals, s_var, truth, truth_unc = simulation
                try:
                    sim = fit_spectrum(s_edges, s_vals, s_var, model=model, fit_range=tuple(rng), offset_gev=offset_gev)
                    s_est, s_err = sim.extrapolate(*target)
                except NA64Error:
                    s_est, s_err = float("nan"), float("nan")
                den = float(np.hypot(s_err, truth_unc))
                cand.closure_pull = (s_est - truth) / den if den > 0 else float("nan")
                cand.closes = bool(np.isfinite(cand.closure_pull) and abs(cand.closure_pull) <= max_closure_pull)
            cands.append(cand)
            if (model, i) == primary:
                chosen = cand
    if transfer:
        cands.extend(transfer)
        if central == "transfer" or chosen is None or not (chosen.valid and chosen.closes):
            if transfer[primary[1]].valid:
                chosen = transfer[primary[1]]
    if chosen is None:
        raise NA64Error("side-band estimate: no fit model and no simulation transfer factor (no simulated "
                        "sample of the replaced process)")
    return summarise(cands, chosen, target, min_pvalue, syst_from, min_significance)
