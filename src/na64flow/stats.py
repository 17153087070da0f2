"""Statistical models and 90% CL CLs upper limits for the NA64 single-bin ("multibin") searches.

What is computed (docs/statistics.md has the full description):

* **Model.** One single-bin channel per run (name ``<analysis>_<run>``). Expected events
  ``nu_i = mu * s_i * F_s,i(theta) + b_i * F_b,i(theta)`` with ``s_i = n_ot x yield_per_ot x efficiency
  x k`` at coupling 1 (contracts.md), the POI ``mu = (coupling/coupling_ref)^2`` (for eta/eta' the
  POI is the branching ratio itself), and normsys nuisance parameters (pyhf code 1 interpolation,
  ``F = (1 +- delta)^|theta|``, theta ~ N(0, 1)):
  ``signal_eff_<analysis>`` (efficiency/signal-yield systematic, ~10% [paper], correlated over the
  runs of one beam), ``signal_norm_<channel>`` (dimuon normalisation k_unc/k of the run, from the
  normalisation file), ``exposure_<channel>`` (n_ot uncertainty, stats.exposure_syst_rel) and
  ``bkg_<channel>`` (total background uncertainty of the run, from the background file).
* **Toy CLs (the reference).** Read's modified frequentist CLs = CL_s+b / CL_b [lit: A. L. Read,
  J. Phys. G 28 (2002) 2693; T. Junk, NIM A 434 (1999) 435] with the LEP likelihood-ratio test
  statistic at nominal nuisances ``t(n) = sum_i n_i ln(1 + mu s_i / b_i)`` (the multibin technique;
  larger t = more signal-like) and nuisance parameters integrated by sampling their constraints in
  the toys (Cousins-Highland hybrid [lit: NIM A 320 (1992) 331]). One bin per channel lets the toys be
  drawn directly: background counts ~ Poisson(b F_b(theta)); signal counts with common random numbers
  (arrival times of a unit-rate Poisson process, so a toy's signal count is monotone in mu). Expected
  bands follow pyhf's ToyCalculator: percentiles (2.275, 15.87, 50, 84.13, 97.725) of the CLs values
  of the background-only toys. For one channel without systematics and 0 observed, CLs = e^-s for
  any background, so s_90 = ln 10 = 2.303 events (physics.md §4 oracle).
* **Asymptotic (cross-check).** pyhf 0.7.6 with the q~_mu test statistic on the same model,
  ``toms748_scan(..., level=1-cl)``; expected limits from background-only Asimov data.
* **Mass scans.** The signal enters only through ``s_i(m)``: with the total ``S(m) = sum_i s_i`` and
  the shape ``f_i = s_i/S``, ``mu_up(m) = n_up(f(m)) / S(m)`` where ``n_up(f)`` is the limit on the total
  number of signal events for shape f. For one channel f = (1) and one solve covers every mass
  exactly; for several channels the solve is repeated whenever f differs from every solved shape by
  more than ``stats.shape_tolerance`` (max |delta f_i|), so the combination is solved per mass where the
  channel weights change.
"""

from __future__ import annotations

import csv
import json
import logging
import math
from dataclasses import dataclass, field
from pathlib import Path

import numba
import numpy as np

from . import NA64Error, paths
from .config import runs_of, section

log = logging.getLogger(__name__)

# pyhf ToyCalculator percentiles for -2, -1, 0, +1, +2 sigma [lit: pyhf 0.7.6 calculators.py]
NORMAL_PERCENTILES = np.array([2.27501319, 15.86552539, 50.0, 84.13447461, 97.72498681])
BAND_COLUMNS = ("exp_m2", "exp_m1", "exp", "exp_p1", "exp_p2")
LIMIT_COLUMNS = ("exp", "exp_m2", "exp_m1", "exp_p1", "exp_p2", "obs")
POI = "mu"

# Lmu-Ltau loop-induced kinetic mixing eps = e g ln(m_tau/m_mu)/(6 pi^2) ~ g/69 [lit, physics.md §3]
try:  # the physics package (signal engineer) holds the constant; identical local formula otherwise
    from .physics.constants import LOOP_MIXING_PER_G
except ImportError:  # pragma: no cover - fallback while physics is not installed
    LOOP_MIXING_PER_G = math.sqrt(4 * math.pi / 137.036) * math.log(1.77686 / 0.10566) / (6 * math.pi ** 2)
M_MU_GEV = 0.10566  # [lit, physics.md]

# Defaults of the `stats` configuration section (also in the schema; every number sourced there).
DEFAULTS = {
    "cl": 0.9,                      # 90% CL [paper]
    "calculator": "toys",           # toy CLs is the reference at these low counts [physics.md §4]
    "n_toys": 10000,                # [est] CLs at 0.1 to ~3% (relative) per band
    "seed": None,                   # None: the configuration's top-level seed
    "signal_eff_syst_rel": 0.10,    # dominant signal-yield systematic ~10% [paper]
    "exposure_syst_rel": 0.01,      # n_ot uncertainty; NA64mu (1.98 +- 0.02)e10 MOT [paper]
    "background_floor": 1.0e-6,     # events; keeps Poisson means positive for background-free runs [est]
    "shape_tolerance": 0.01,        # re-solve when a channel fraction moves by more than this [est]
    "asymptotic": True,             # also write the asymptotic cross-check tables
    "ldm_mass_ratio": 3.0,          # m_A' = 3 m_chi [paper]
}


def settings(cfg: dict) -> dict:
    """The `stats` section with defaults filled in (seed falls back to the top-level seed)."""
    out = dict(DEFAULTS)
    out.update(section(cfg, "stats"))
    if out["seed"] is None:
        out["seed"] = int(cfg.get("seed", 0))
    return out


# ------------------------------------------------------------------------------------------------
# channels and model specification


def channel_name(analysis: str, run: str) -> str:
    """pyhf channel name of one run (same convention as na64flow.publish)."""
    return f"{analysis}_{run}".replace("-", "_").replace(".", "p")


@dataclass
class Channel:
    """One run = one single-bin channel: background, its uncertainty, systematics, observation."""

    analysis: str
    run: str
    background: float
    background_unc: float = 0.0
    signal_syst: dict[str, float] = field(default_factory=dict)   # modifier name -> relative 1 sigma
    observed: int | None = None

    @property
    def name(self) -> str:
        return channel_name(self.analysis, self.run)


def _normsys(rel: float) -> dict:
    """pyhf normsys data for a symmetric relative uncertainty (lo floored at 1% to stay positive)."""
    return {"hi": 1.0 + rel, "lo": max(1.0 - rel, 0.01)}


def pyhf_spec(channels: list[Channel], signal_events: np.ndarray, background_floor: float = 1e-6,
              observed: list[int] | None = None, poi_max: float = 100.0) -> dict:
    """pyhf workspace: one channel per run, ``signal`` (normfactor mu, normsys) and ``background``.

    ``signal_events[i]`` = expected signal events of channel i at mu = 1. Observations are the given
    counts, else the background expectation (background-only Asimov data; never box counts).
    """
    chans, obs = [], []
    for i, ch in enumerate(channels):
        b = max(ch.background, background_floor)
        rel_b = min(ch.background_unc / b, 0.999) if ch.background > 0 else 0.0
        bmods = [{"name": f"bkg_{ch.name}", "type": "normsys", "data": _normsys(rel_b)}] if rel_b > 0 else []
        samples = [{"name": "background", "data": [b], "modifiers": bmods}]
        if signal_events[i] > 0:
            smods = [{"name": POI, "type": "normfactor", "data": None}]
            smods += [{"name": n, "type": "normsys", "data": _normsys(r)} for n, r in ch.signal_syst.items() if r > 0]
            samples.append({"name": "signal", "data": [float(signal_events[i])], "modifiers": smods})
        chans.append({"name": ch.name, "samples": samples})
        n_obs = b if observed is None or observed[i] is None else float(observed[i])
        obs.append({"name": ch.name, "data": [n_obs]})
    return {"channels": chans, "observations": obs, "version": "1.0.0",
            "measurements": [{"name": "NormalMeasurement", "config": {
                "poi": POI, "parameters": [{"name": POI, "bounds": [[0.0, float(poi_max)]]}]}}]}


# ------------------------------------------------------------------------------------------------
# closed forms (oracles)


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


# ------------------------------------------------------------------------------------------------
# vectorised toy CLs


@numba.njit(cache=True)
def _sb_cdf(arrivals, signal_factor, s, n_bkg, w, thresholds, tol):  # pragma: no cover - compiled
    """P(t_sb <= threshold_j) over the s+b toys for sorted thresholds.

    A toy's signal count in channel j is the number of its Poisson-process arrival times below
    s_j * F_s(theta); its test statistic t = sum_j (n_bkg + n_sig)_j w_j.
    """
    k_max, n_toys, n_ch = arrivals.shape
    m = thresholds.shape[0]
    hist = np.zeros(m + 1)
    for i in range(n_toys):
        t = 0.0
        for j in range(n_ch):
            lam = s[j] * signal_factor[i, j]
            k = 0
            while k < k_max and arrivals[k, i, j] < lam:
                k += 1
            t += (n_bkg[i, j] + k) * w[j]
        hist[np.searchsorted(thresholds, t - tol)] += 1.0
    return np.cumsum(hist)[:m] / n_toys


def _weighted_percentiles(values: np.ndarray, counts: np.ndarray, q: np.ndarray) -> np.ndarray:
    """np.percentile(np.repeat(values, counts), q) (linear interpolation) without repeating."""
    order = np.argsort(values, kind="stable")
    v, cum = values[order], np.cumsum(counts[order])
    pos = q / 100.0 * (cum[-1] - 1)
    lo = np.floor(pos).astype(int)
    v_lo = v[np.searchsorted(cum, lo, side="right")]
    v_hi = v[np.searchsorted(cum, np.minimum(lo + 1, cum[-1] - 1), side="right")]
    return v_lo + (pos - lo) * (v_hi - v_lo)


def _normsys_log_factor(theta: np.ndarray, rel: np.ndarray) -> np.ndarray:
    """log of the pyhf code-1 normsys factor: theta ln(1+rel) for theta >= 0, -theta ln(1-rel) below.

    theta: (n_toys, n_mods), rel: (n_mods, n_channels) -> (n_toys, n_channels).
    """
    up = np.log1p(rel)                              # >= 0
    down = np.log(np.clip(1.0 - rel, 0.01, None))   # <= 0: the factor falls below 1 for theta < 0
    pos = np.clip(theta, 0, None)
    neg = np.clip(-theta, 0, None)
    return pos @ up + neg @ down


class ToyCLs:
    """Hybrid-toy CLs for single-bin channels; one ensemble serves every signal shape and mu.

    The toys depend on the channels (backgrounds, systematics) only: background counts and nuisance
    draws are made once (seeded), the signal counts of the s+b toys from pre-drawn Poisson-process
    arrival times, so CLs(mu) for any shape is a cheap vectorised evaluation.
    """

    def __init__(self, channels: list[Channel], n_toys: int = 10000, seed: int = 0,
                 background_floor: float = 1e-6, max_signal_events: float = 60.0):
        self.channels = channels
        self.n_toys = int(n_toys)
        c = len(channels)
        self.b = np.array([max(ch.background, background_floor) for ch in channels])
        rel_b = np.array([min(ch.background_unc / max(ch.background, background_floor), 0.999)
                          if ch.background > 0 else 0.0 for ch in channels])
        sig_names = sorted({n for ch in channels for n in ch.signal_syst})
        rel_s = np.zeros((len(sig_names), c))
        for j, name in enumerate(sig_names):
            for i, ch in enumerate(channels):
                rel_s[j, i] = ch.signal_syst.get(name, 0.0)
        rel_bm = np.diag(rel_b)   # one background modifier per channel
        rng = np.random.default_rng(seed)

        def draw(n):
            th_s = rng.standard_normal((n, len(sig_names)))
            th_b = rng.standard_normal((n, c))
            fs = np.exp(_normsys_log_factor(th_s, rel_s)) if sig_names else np.ones((n, c))
            fb = np.exp(_normsys_log_factor(th_b, rel_bm))
            return fs, fb

        _, fb0 = draw(self.n_toys)
        n_b = rng.poisson(self.b * fb0).astype(np.float64)                 # background-only toys
        # background-only toys take few distinct count vectors: keep them with multiplicities
        self.b_rows, self.b_counts = np.unique(n_b, axis=0, return_counts=True)
        fs1, fb1 = draw(self.n_toys)
        self.n_bkg_sb = rng.poisson(self.b * fb1).astype(np.float64)      # background part of s+b toys
        self.signal_factor = fs1                                           # (n_toys, C)
        # arrivals per toy: enough for max_signal_events x the signal factor (capped at 3: a toy whose
        # signal count saturates is signal-like anyway; saturation can only make CLs conservative)
        lam_max = max_signal_events * min(float(fs1.max(initial=1.0)), 3.0)
        k = int(math.ceil(lam_max + 8 * math.sqrt(lam_max) + 10))
        # arrival times of a unit-rate Poisson process: count(T < lam) ~ Poisson(lam), monotone in lam
        # (stored arrival-index major: the first arrivals of all toys are contiguous in memory)
        self.arrivals = np.cumsum(rng.standard_exponential((k, self.n_toys, c)), axis=0)
        self.max_signal_events = max_signal_events

    def cls(self, shape: np.ndarray, mu_events: float, observed: np.ndarray | None = None):
        """CLs of the observation (or None) and the five expected CLs values at ``mu_events``.

        shape: signal fractions per channel (sum 1); the signal is ``mu_events * shape``.
        CLs(t) = P(t_sb <= t) / P(t_b <= t); expected values are the pyhf percentiles of CLs over the
        background-only toys.
        """
        s = mu_events * np.asarray(shape, dtype=float)
        if mu_events > self.max_signal_events * 1.0001:
            raise NA64Error(f"toy ensemble built for <= {self.max_signal_events:g} signal events, asked {mu_events:g}")
        w = np.log1p(s / self.b)
        t_rows = self.b_rows @ w
        thresholds = t_rows if observed is None else np.append(t_rows, np.asarray(observed, float) @ w)
        order = np.argsort(thresholds)
        thr = thresholds[order]
        tol = 1e-9 * (1.0 + np.abs(thr).max())
        p_sb = np.empty_like(thr)
        p_sb[order] = _sb_cdf(self.arrivals, self.signal_factor, s, self.n_bkg_sb, w, thr, tol)
        p_b = (self.b_counts[None, :] * (t_rows[None, :] <= thresholds[:, None] + tol)).sum(axis=1) / self.n_toys
        cls_all = p_sb / np.maximum(p_b, 1.0 / self.n_toys)
        expected = _weighted_percentiles(cls_all[:len(t_rows)], self.b_counts, NORMAL_PERCENTILES)
        obs = None if observed is None else float(cls_all[-1])
        return obs, expected


class ToyRangeError(NA64Error):
    """CLs did not cross 1 - CL inside the toy ensemble's signal range (the caller widens it)."""


def _crossings(mus: np.ndarray, cls_curves: np.ndarray, alpha: float) -> np.ndarray:
    """First crossing of CLs = alpha per curve (rows), interpolated linearly in ln CLs vs mu."""
    out = np.full(cls_curves.shape[0], np.nan)
    lc = np.log(np.clip(cls_curves, 1e-300, None))
    la = math.log(alpha)
    for r in range(cls_curves.shape[0]):
        below = np.nonzero(cls_curves[r] < alpha)[0]
        if len(below) == 0:
            continue
        i = below[0]
        if i == 0:
            out[r] = mus[0]
            continue
        y0, y1 = lc[r, i - 1], lc[r, i]
        out[r] = mus[i - 1] + (la - y0) * (mus[i] - mus[i - 1]) / (y1 - y0) if y1 != y0 else mus[i]
    return out


def toy_limit_events(toys: ToyCLs, shape: np.ndarray, observed: np.ndarray | None = None,
                     cl: float = 0.9, n_coarse: int = 28, n_fine: int = 24) -> dict:
    """Upper limits on the total signal events (shape fixed): expected bands and observed (or nan).

    Scans CLs on a log grid of mu (coarse, then fine inside the brackets) and interpolates the first
    crossing of CLs = 1 - cl in ln CLs. Returns {"exp_m2", ..., "exp_p2", "obs"} in events.
    """
    alpha = 1.0 - cl
    hi = toys.max_signal_events
    lo = max(0.05, hi / 2000)

    def scan(mus):
        rows = []
        for mu in mus:
            o, e = toys.cls(shape, mu, observed)
            rows.append(np.append(e, np.nan if o is None else o))
        return np.array(rows).T   # (6, len(mus))

    mus = np.geomspace(lo, hi, n_coarse)
    curves = scan(mus)
    first = _crossings(mus, curves, alpha)
    want = np.arange(6) if observed is not None else np.arange(5)
    lims = first[want]
    if np.any(np.isnan(lims)):
        raise ToyRangeError(f"CLs stays above {alpha:g} up to {hi:g} signal events (backgrounds "
                        f"{', '.join(f'{b:.3g}' for b in toys.b)}); raise the toy range")
    step = mus[1] / mus[0]
    f_lo, f_hi = np.nanmin(lims) / step, min(np.nanmax(lims) * step, hi)
    fine = np.geomspace(max(f_lo, lo), f_hi, n_fine)
    result = _crossings(fine, scan(fine), alpha)
    out = {name: float(result[i]) for i, name in enumerate(BAND_COLUMNS)}
    out["obs"] = float(result[5]) if observed is not None else float("nan")
    return out


# ------------------------------------------------------------------------------------------------
# asymptotic limits with pyhf


def asymptotic_limit_events(channels: list[Channel], shape: np.ndarray, observed: list[int] | None = None,
                            cl: float = 0.9, background_floor: float = 1e-6, n_grid: int = 16) -> dict:
    """Asymptotic (q~_mu) CLs limits on total signal events with pyhf 0.7.6.

    pyhf.infer.hypotest(..., return_expected_set=True) on a log grid of mu (each call gives the
    observed and the five expected CLs values at once; pyhf's upper_limit would use 95% CL whatever
    the level), first crossing of CLs = 1 - cl interpolated in ln CLs; the grid is extended until every
    band is bracketed. Blinded (observed None): background-only Asimov data, obs reported as nan.
    """
    import pyhf

    pyhf.set_backend("numpy")
    logging.getLogger("pyhf").setLevel(logging.WARNING)   # pyhf logs every modifier at INFO
    alpha = 1.0 - cl
    btot = sum(max(c.background, background_floor) for c in channels)
    n_obs = sum(o or 0 for o in (observed or []))
    lo, hi = 0.3, max(12.0, 3.0 * (zero_observed_limit_events(cl) + 2.0 * math.sqrt(btot) + n_obs))
    spec = pyhf_spec(channels, np.asarray(shape, float), background_floor, observed, poi_max=100 * hi)
    ws = pyhf.Workspace(spec)
    model = ws.model()
    data = ws.data(model)
    cache: dict[float, list[float]] = {}

    def curve(mus):
        for mu in mus:
            if mu not in cache:
                obs, exp = pyhf.infer.hypotest(float(mu), data, model, test_stat="qtilde",
                                               calctype="asymptotics", return_expected_set=True)
                cache[mu] = [float(e) for e in exp] + [float(obs)]
        grid = np.array(sorted(cache))
        return grid, np.array([cache[m] for m in grid]).T

    mus = np.geomspace(lo, hi, n_grid)
    for _ in range(4):
        grid, values = curve(mus)
        res = _crossings(grid, values, alpha)
        need = res[:6] if observed is not None else res[:5]
        if np.all(np.isfinite(need)) and np.all(need > grid[0]):
            break
        if np.any(~np.isfinite(need)):
            mus = np.geomspace(grid[-1], grid[-1] * 8, 6)[1:]
        else:
            mus = np.geomspace(grid[0] / 8, grid[0], 6)[:-1]
    else:
        raise NA64Error(f"asymptotic CLs: no crossing of {alpha:g} in mu = {min(cache):g}..{max(cache):g} events")
    out = {name: float(res[i]) for i, name in enumerate(BAND_COLUMNS)}
    out["obs"] = float(res[5]) if observed is not None else float("nan")
    return out


# ------------------------------------------------------------------------------------------------
# inputs: signal tables, backgrounds, normalisations, observations


def read_signal_table(cfg: dict, analysis: str, model: str, run: str) -> dict[str, np.ndarray] | None:
    """signal/<a>/<model>_<run>.csv as arrays (mass_gev, yield_per_ot, efficiency); None if absent."""
    path = paths.signal_path(cfg, analysis, model, run)
    if not path.exists():
        return None
    with open(path, newline="") as fh:
        rows = list(csv.DictReader(fh))
    try:
        table = {k: np.array([float(r[k]) for r in rows]) for k in ("mass_gev", "yield_per_ot", "efficiency")}
    except (KeyError, ValueError) as exc:
        raise NA64Error(f"{path}: bad or missing column {exc} (contract: mass_gev,yield_per_ot,efficiency)") from exc
    if not len(table["mass_gev"]):
        raise NA64Error(f"{path}: no rows")
    order = np.argsort(table["mass_gev"])
    return {k: v[order] for k, v in table.items()}


def _published(cfg: dict, analysis: str, run: str) -> dict | None:
    return cfg["analyses"][analysis]["runs"][run].get("published")


def background_of(cfg: dict, analysis: str, run: str) -> tuple[float, float]:
    """(estimate, 1-sigma uncertainty) of the box background: background/<a>/<r>.json "total".

    Published mode without a background file: the config's runs.<run>.published numbers.
    """
    path = paths.background_path(cfg, analysis, run)
    pub = _published(cfg, analysis, run)
    if not path.exists() and cfg["input"]["source"] == "published" and pub is not None:
        return float(pub["background"]), float(pub.get("background_unc", 0.0))
    paths.require_file(path, "background estimate", "background")
    data = json.loads(path.read_text())
    try:
        total = data["total"]
        unc = total.get("uncertainty")
        if unc is None:
            unc = math.hypot(total.get("stat", 0.0) or 0.0, total.get("syst", 0.0) or 0.0)
        return float(total["estimate"]), float(unc)
    except (KeyError, TypeError) as exc:
        raise NA64Error(f"{path}: key {exc} missing (contract: total.estimate, total.uncertainty)") from exc


def normalisation_of(cfg: dict, analysis: str, run: str) -> tuple[float, float]:
    """(k, k_unc) from normalisation/<a>/<r>.json; published mode without the file: (1, 0)."""
    path = paths.normalisation_path(cfg, analysis, run)
    if not path.exists() and cfg["input"]["source"] == "published":
        return 1.0, 0.0
    paths.require_file(path, "dimuon normalisation", "normalisation")
    data = json.loads(path.read_text())
    try:
        return float(data["k"]), float(data.get("k_unc", 0.0))
    except (KeyError, TypeError, ValueError) as exc:
        raise NA64Error(f"{path}: key 'k' missing or not a number (contract: normalisation file)") from exc


def observed_of(cfg: dict, analysis: str, run: str) -> int | None:
    """Observed box count if it is public: the published count (input.source: published), else None.

    Blinded products never hold a data box count: the `limits` step (and publish/plot) always get None
    here for data; only `na64flow unblind` passes observed counts, explicitly (``build_problem(observed=...)``).
    """
    if cfg["input"]["source"] == "published":
        pub = _published(cfg, analysis, run) or {}
        return None if pub.get("observed") is None else int(pub["observed"])
    return None


# ------------------------------------------------------------------------------------------------
# models: which channels and signal tables make a (analysis, model) limit


COUPLING_MODELS = {"dark_photon", "dark_photon_brem", "dark_photon_annihilation", "lmu_ltau"}
BR_MODELS = {"eta_invisible", "etaprime_invisible"}
COMBINED_MEMBERS = {"dark_photon": ("na64e", "na64e_plus", "na64mu"), "lmu_ltau": ("na64e", "na64mu")}


def zprime_invisible_br(mass_gev: np.ndarray) -> np.ndarray:
    """Br(Z' -> nu nu) of the Lmu-Ltau Z' = G_nunu / (G_nunu + G_mumu) [lit, physics.md §3].

    From na64flow.physics.zprime when installed; the same formula locally otherwise:
    G_nunu = g^2 m/(12 pi) (nu_mu + nu_tau), G_mumu = g^2 m/(12 pi) (1 + 2r) sqrt(1 - 4r), r = m_mu^2/m^2.
    """
    try:
        from .physics.zprime import branching_invisible
    except ImportError:  # pragma: no cover - physics package absent
        m = np.asarray(mass_gev, dtype=float)
        r = M_MU_GEV ** 2 / m ** 2
        mumu = np.where(m > 2 * M_MU_GEV, (1 + 2 * r) * np.sqrt(np.clip(1 - 4 * r, 0, None)), 0.0)
        return 1.0 / (1.0 + mumu)
    return np.asarray(branching_invisible(np.asarray(mass_gev, dtype=float)), dtype=float)


def parse_model(model: str) -> tuple[str, float | None]:
    """'dark_photon_y_0.1' -> ('dark_photon', 0.1); other names -> (name, None)."""
    if "_y_" in model:
        base, alpha = model.rsplit("_y_", 1)
        try:
            return base, float(alpha)
        except ValueError as exc:
            raise NA64Error(f"model '{model}': LDM models are <model>_y_<alphaD>, e.g. dark_photon_y_0.1") from exc
    return model, None


def members_of(cfg: dict, analysis: str, model: str) -> list[str]:
    """Analyses whose runs enter the likelihood: the analysis itself, or every beam for `combined`."""
    if analysis != "combined":
        if analysis not in cfg["analyses"]:
            raise NA64Error(f"unknown analysis '{analysis}'; configured: {', '.join(cfg['analyses'])}, combined")
        return [analysis]
    wanted = COMBINED_MEMBERS.get(model)
    if wanted is None:
        raise NA64Error(f"no combination defined for model '{model}'; combined models: {', '.join(COMBINED_MEMBERS)}")
    return [a for a in wanted if a in cfg["analyses"]]


def _signal_per_ot(cfg: dict, analysis: str, model: str, run: str) -> tuple[np.ndarray, np.ndarray] | None:
    """(mass_gev, signal events per OT at coupling 1 after efficiency) or None if there is no table.

    The tables of `na64flow signal` are used as they are: the lmu_ltau tables already include
    BR(Z' -> nu nu) and, for electron beams, the loop mixing eps = g/69 (na64flow.signal.model_yields).
    Only if an electron analysis has no lmu_ltau table is it derived here from its dark_photon table:
    x (g/69)^2 x BR(Z' -> nu nu) [lit, physics.md §3].
    """
    table = read_signal_table(cfg, analysis, model, run)
    scale = None
    if table is None and model == "lmu_ltau" and cfg["analyses"][analysis]["setup"] == "electron":
        table = read_signal_table(cfg, analysis, "dark_photon", run)
        if table is not None:
            scale = LOOP_MIXING_PER_G ** 2 * zprime_invisible_br(table["mass_gev"])
            log.info("%s/%s: no lmu_ltau table; derived from dark_photon x (g/69)^2 x BR(Z' -> inv)", analysis, run)
    if table is None:
        return None
    per_ot = table["yield_per_ot"] * table["efficiency"]
    return table["mass_gev"], per_ot if scale is None else per_ot * scale


def _interp_loglog(m_new: np.ndarray, m: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Log-log interpolation of a positive curve; 0 outside its mass range or where y is 0."""
    if len(m) == 1:
        return np.where(np.isclose(m_new, m[0], rtol=1e-6), y[0], 0.0)
    ly = np.log(np.clip(y, 1e-300, None))
    out = np.exp(np.interp(np.log(m_new), np.log(m), ly))
    out[(m_new < m[0] * (1 - 1e-9)) | (m_new > m[-1] * (1 + 1e-9)) | (out < 1e-290)] = 0.0
    return out


@dataclass
class LimitProblem:
    """Everything a mass scan needs: channels, masses and signal events at coupling 1 (masses x channels)."""

    analysis: str
    model: str
    channels: list[Channel]
    mass_gev: np.ndarray
    signal_events: np.ndarray
    observed: list[int | None]

    @property
    def unblinded(self) -> bool:
        return all(o is not None for o in self.observed)


def build_problem(cfg: dict, analysis: str, model: str,
                  observed: dict[tuple[str, str], int] | None = None) -> LimitProblem:
    """Read the signal, background and normalisation files of every run entering (analysis, model).

    ``observed`` ({(analysis, run): count}) overrides the observations (used by `unblind` before it
    writes the counts); otherwise :func:`observed_of` decides (None while blinded).
    """
    st = settings(cfg)
    base, _ = parse_model(model)
    channels, curves = [], []
    for a in members_of(cfg, analysis, base):
        for r in runs_of(cfg, a):
            table = _signal_per_ot(cfg, a, base, r)
            if table is None:
                if analysis == "combined":
                    continue
                raise NA64Error(f"{paths.signal_path(cfg, a, base, r)}: signal table not found "
                                "(made by `na64flow signal`)")
            k, k_unc = normalisation_of(cfg, a, r)
            bkg, bkg_unc = background_of(cfg, a, r)
            n_ot = float(cfg["analyses"][a]["runs"][r]["n_ot"])
            eff_rel = st["signal_eff_syst_rel"]
            pub = _published(cfg, a, r)
            if cfg["input"]["source"] == "published" and pub and "signal_efficiency_unc" in pub:
                eff_rel = float(pub["signal_efficiency_unc"])   # [paper]/[est] as cited in the config
            syst = {f"signal_eff_{a}": eff_rel,
                    f"signal_norm_{channel_name(a, r)}": k_unc / k if k > 0 else 0.0,
                    f"exposure_{channel_name(a, r)}": st["exposure_syst_rel"]}
            n_obs = observed[(a, r)] if observed is not None else observed_of(cfg, a, r)
            channels.append(Channel(a, r, bkg, bkg_unc, syst, n_obs))
            curves.append((table[0], table[1] * n_ot * k))
    if not channels:
        raise NA64Error(f"no signal tables for model '{base}' in any run of '{analysis}' "
                        f"(expected {paths.results_dir(cfg) / 'signal'}/<analysis>/{base}_<run>.csv)")
    masses = np.unique(np.round(np.concatenate([m for m, _ in curves]), 9))
    sig = np.column_stack([_interp_loglog(masses, m, y) for m, y in curves])
    keep = sig.sum(axis=1) > 0
    if not keep.any():
        raise NA64Error(f"model '{base}' of '{analysis}': zero signal at every mass")
    return LimitProblem(analysis, base, channels, masses[keep], sig[keep], [c.observed for c in channels])


def _progress(total: int, description: str):
    from rich.progress import Progress

    prog = Progress(transient=True)
    return prog, prog.add_task(description, total=total)


def initial_signal_range(b_total: float, n_obs_total: float) -> float:
    """Signal events covered by the first toy ensemble (widened by scan_limits when the bands need more)."""
    return 15.0 + 8.0 * math.sqrt(b_total) + 2.0 * n_obs_total + b_total * 0.5


def scan_limits(problem: LimitProblem, calculator: str = "toys", cl: float = 0.9, n_toys: int = 10000,
                seed: int = 0, shape_tolerance: float = 0.01, background_floor: float = 1e-6,
                show_progress: bool = False) -> dict[str, np.ndarray]:
    """90% CL (cl) upper limits on mu = coupling^2 (or Br) for every mass of ``problem``.

    Per mass: shape f = s/S, limit on total events n_up(f) (solved once per distinct shape, see the
    module docstring), mu_up = n_up / S. Returns arrays keyed by exp, exp_m2, exp_m1, exp_p1, exp_p2,
    obs (nan while blinded), plus "n_solves".
    """
    if calculator not in ("toys", "asymptotic"):
        raise NA64Error(f"stats.calculator '{calculator}': use toys or asymptotic")
    sig = problem.signal_events
    total = sig.sum(axis=1)
    shapes = sig / total[:, None]
    obs = np.array([o for o in problem.observed], dtype=float) if problem.unblinded else None
    toys = None
    if calculator == "toys":
        btot = sum(max(c.background, background_floor) for c in problem.channels)
        n_obs_tot = 0 if obs is None else obs.sum()
        max_ev = initial_signal_range(btot, n_obs_tot)
        toys = ToyCLs(problem.channels, n_toys, seed, background_floor, max_signal_events=max_ev)
    solved_shapes: list[np.ndarray] = []
    solved: list[dict] = []
    results = {k: np.full(len(total), np.nan) for k in LIMIT_COLUMNS}
    prog, task = _progress(len(total), f"limits {problem.analysis}/{problem.model} ({calculator})")
    with prog if show_progress else _nullcontext():
        for i, f in enumerate(shapes):
            j = next((j for j, g in enumerate(solved_shapes) if np.max(np.abs(g - f)) <= shape_tolerance), None)
            if j is None:
                if calculator == "toys":
                    for _ in range(4):   # large background uncertainties push the +2 sigma band up
                        try:
                            lim = toy_limit_events(toys, f, obs, cl)
                            break
                        except ToyRangeError:
                            max_ev *= 2.0
                            toys = ToyCLs(problem.channels, n_toys, seed, background_floor, max_signal_events=max_ev)
                    else:
                        lim = toy_limit_events(toys, f, obs, cl)   # raises with the final range
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
    results["n_solves"] = len(solved)
    return results


class _nullcontext:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


# ------------------------------------------------------------------------------------------------
# from mu to the published quantity


def to_coupling_limits(problem: LimitProblem, mu_limits: dict, model: str, st: dict) -> tuple[list[str], list[list]]:
    """Limit table (header, rows) in the contract's units for ``model`` (docs/contracts.md).

    couplings (eps, g): sqrt(mu) (signal ~ coupling^2); eta/eta': Br = mu; LDM
    y = eps^2 alpha_D (m_chi/m_A')^4 at m_chi = m_A'/ratio (Br(A' -> chi chi) ~ 1 since
    alpha_D >> alpha eps^2 [lit]).
    """
    base, alpha_d = parse_model(model)
    m = problem.mass_gev
    cols = ["exp", "exp_m2", "exp_m1", "exp_p1", "exp_p2", "obs"]
    if alpha_d is not None:
        ratio = float(st["ldm_mass_ratio"])
        conv = alpha_d / ratio ** 4
        header = ["m_chi_gev", *cols]
        rows = [[m[i] / ratio] + [mu_limits[c][i] * conv for c in cols] for i in range(len(m))]
    elif base in BR_MODELS:
        header = ["meson", "mass_gev", *cols]
        meson = {"eta_invisible": "eta", "etaprime_invisible": "etaprime"}[base]
        rows = [[meson, m[i]] + [mu_limits[c][i] for c in cols] for i in range(len(m))]
    else:
        header = ["mass_gev", *cols]
        rows = [[m[i]] + [math.sqrt(mu_limits[c][i]) if np.isfinite(mu_limits[c][i]) else math.nan
                          for c in cols] for i in range(len(m))]
    return header, rows


def write_limit_csv(path: Path, header: list[str], rows: list[list]) -> None:
    """CSV per the contract; nan (e.g. obs while blinded) is written as an empty field."""
    with paths.atomic_output(path) as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(header)
        for row in rows:
            w.writerow(["" if isinstance(v, float) and not math.isfinite(v) else
                        (f"{v:.6g}" if isinstance(v, float) else v) for v in row])


def read_limit_csv(path: Path) -> list[dict]:
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def compute_limits(cfg: dict, analysis: str, model: str, calculator: str | None = None,
                   show_progress: bool = False, observed: dict | None = None,
                   max_masses: int | None = None) -> tuple[LimitProblem, dict, list[str], list[list]]:
    """Build the problem, scan masses with the configured calculator, convert to the model's units.

    ``max_masses``: evaluate at most this many masses (evenly spaced; used for the asymptotic
    cross-check of multi-channel models). Toys are seeded from stats.seed and (analysis, model).
    """
    st = settings(cfg)
    problem = build_problem(cfg, analysis, model, observed)
    if max_masses is not None and len(problem.mass_gev) > max_masses and len(problem.channels) > 1:
        idx = np.unique(np.linspace(0, len(problem.mass_gev) - 1, max_masses).round().astype(int))
        problem.mass_gev = problem.mass_gev[idx]
        problem.signal_events = problem.signal_events[idx]
    seed = int(np.random.SeedSequence([st["seed"], *map(ord, f"{analysis}/{parse_model(model)[0]}")])
               .generate_state(1)[0])
    mu = scan_limits(problem, calculator or st["calculator"], st["cl"], st["n_toys"], seed,
                     st["shape_tolerance"], st["background_floor"], show_progress)
    header, rows = to_coupling_limits(problem, mu, model, st)
    return problem, mu, header, rows


# ------------------------------------------------------------------------------------------------
# public workspace (used by na64flow.publish)

REF_SIGNAL_EVENTS = 10.0


def build_workspace(cfg: dict, analysis: str, model: str, mass_gev: float) -> dict:
    """Full pyhf workspace at one mass (the model of the limits): channels, observations, POI mu.

    The signal is scaled to REF_SIGNAL_EVENTS in total at mu = 1, i.e. coupling_ref^2 =
    REF_SIGNAL_EVENTS / S(m) (stored as ``_coupling_ref``; for Br models the reference Br). Observations
    are published/unblinded counts, else background-only Asimov data.
    """
    problem = build_problem(cfg, analysis, model)
    i = int(np.argmin(np.abs(problem.mass_gev - mass_gev)))
    if not math.isclose(problem.mass_gev[i], mass_gev, rel_tol=1e-5):
        raise NA64Error(f"{analysis}/{model}: no signal at m = {mass_gev:g} GeV "
                        f"(masses {problem.mass_gev[0]:g}..{problem.mass_gev[-1]:g})")
    s = problem.signal_events[i]
    ref2 = REF_SIGNAL_EVENTS / s.sum()
    obs = problem.observed if problem.unblinded else None
    spec = pyhf_spec(problem.channels, s * ref2, settings(cfg)["background_floor"], obs)
    spec["_coupling_ref"] = float(ref2 if problem.model in BR_MODELS else math.sqrt(ref2))
    return spec
