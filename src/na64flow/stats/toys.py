"""Hybrid-toy CLs for single-bin channels (the reference calculator at NA64's low counts).

Read's modified frequentist CLs = CL_s+b / CL_b [lit: A. L. Read, J. Phys. G 28 (2002) 2693; T. Junk,
NIM A 434 (1999) 435] with the LEP test statistic at nominal nuisances ``t(n) = sum_i n_i ln(1 + mu
s_i / b_i)`` (larger t = more signal-like) and nuisance parameters integrated by sampling their
constraints in the toys (Cousins-Highland hybrid [lit: NIM A 320 (1992) 331]). One bin per channel
lets the toys be drawn directly: background counts ~ Poisson(b F_b(theta)); signal counts from the
arrival times of a unit-rate Poisson process (common random numbers: a toy's signal count is
monotone in mu). Expected bands follow pyhf's ToyCalculator: percentiles (2.275, 15.87, 50, 84.13,
97.725) of the CLs values of the background-only toys. The s+b tail probability is a numba kernel.

>>> from na64flow.stats.model import Channel
>>> toys = ToyCLs([Channel("a", "r", background=0.5)], n_toys=20000, seed=1, max_signal_events=20.0)
>>> lim = toy_limit_events(toys, np.array([1.0]), observed=np.array([0.0]))
>>> round(lim["obs"], 1)       # 0 observed, no systematics: ln 10 = 2.303 events for any background
2.3
"""

from __future__ import annotations

import functools
import math
import weakref

import numpy as np

from .. import NA64Error
from .model import Channel
from .settings import BAND_COLUMNS, DEFAULTS, NORMAL_PERCENTILES


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


@functools.cache
def _sb_cdf_compiled():
    """:func:`_sb_cdf` compiled by numba (on first use, from numba's on-disk cache), so that importing
    the stats package (background, plotting, publish do) does not import numba (~0.5 CPU s)."""
    import numba

    return numba.njit(cache=True)(_sb_cdf)


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


def _draw_background_toys(out, rng: np.random.Generator, channels: list[Channel], n: int,
                          background_floor: float) -> None:
    """Set ``out.b`` (backgrounds), ``out.b_rows``/``out.b_counts`` (background-only toys: distinct count
    vectors with multiplicities), ``out.n_bkg_sb`` and ``out.signal_factor`` (background counts and signal
    nuisance factors of the s+b toys), drawn from ``rng`` in this order."""
    c = len(channels)
    out.b = np.array([max(ch.background, background_floor) for ch in channels])
    rel_b = np.array([min(ch.background_unc / max(ch.background, background_floor), 0.999)
                      if ch.background > 0 else 0.0 for ch in channels])
    sig_names = sorted({name for ch in channels for name in ch.signal_syst})
    rel_s = np.zeros((len(sig_names), c))
    for j, name in enumerate(sig_names):
        for i, ch in enumerate(channels):
            rel_s[j, i] = ch.signal_syst.get(name, 0.0)
    rel_bm = np.diag(rel_b)   # one background modifier per channel

    def draw():
        th_s = rng.standard_normal((n, len(sig_names)))
        th_b = rng.standard_normal((n, c))
        fs = np.exp(_normsys_log_factor(th_s, rel_s)) if sig_names else np.ones((n, c))
        fb = np.exp(_normsys_log_factor(th_b, rel_bm))
        return fs, fb

    _, fb0 = draw()
    n_b = rng.poisson(out.b * fb0).astype(np.float64)
    out.b_rows, out.b_counts = np.unique(n_b, axis=0, return_counts=True)
    fs1, fb1 = draw()
    out.n_bkg_sb = rng.poisson(out.b * fb1).astype(np.float64)
    out.signal_factor = fs1                                            # (n, C)


def _sb_tail_quantiles(u, signal_factor, s, n_bkg, w, t_obs, tol):  # pragma: no cover - compiled
    """Number of s+b toys with t <= t_obs, a toy's signal count in channel j being the Poisson(s_j x
    F_s(theta)) quantile of its uniform u_ij (monotone in the signal, like ToyCLs' arrival times)."""
    n_toys, n_ch = u.shape
    below = 0
    for i in range(n_toys):
        t = 0.0
        for j in range(n_ch):
            lam = s[j] * signal_factor[i, j]
            p = math.exp(-lam)
            cdf = p
            k = 0
            k_max = lam + 20.0 * math.sqrt(lam) + 30.0
            while u[i, j] > cdf and k < k_max:
                k += 1
                p *= lam / k
                cdf += p
            t += (n_bkg[i, j] + k) * w[j]
            if t > t_obs + tol:     # w >= 0: t only grows
                break
        if t <= t_obs + tol:
            below += 1
    return below


@functools.cache
def _sb_tail_compiled():
    import numba

    return numba.njit(cache=True)(_sb_tail_quantiles)


def _release_extra_bytes(held: list) -> None:
    _EXTRA_BYTES[0] -= held[0]
    held[0] = 0


_EXTRA_BYTES = [0]            # bytes of further ensembles kept by all live ToyCLs of this process


class _TailEnsemble:
    """A further toy ensemble for the observed CLs only (:func:`refine_observed`): background-only toys
    and s+b toys drawn as in :class:`ToyCLs`, the signal counts from one uniform per toy and channel
    (Poisson quantiles) instead of arrival times: 3 numbers per toy and channel, whatever the range."""

    def __init__(self, channels: list[Channel], n_toys: int, seed: np.random.SeedSequence, background_floor: float):
        self.n_toys = n_toys
        rng = np.random.default_rng(seed)
        _draw_background_toys(self, rng, channels, n_toys, background_floor)
        self.u = rng.random((n_toys, len(channels)))
        self.nbytes = self.u.nbytes + self.n_bkg_sb.nbytes + self.signal_factor.nbytes + self.b_rows.nbytes

    def tail_counts(self, shape: np.ndarray, mus: np.ndarray, observed: np.ndarray) -> np.ndarray:
        """(2, len(mus)): numbers of s+b and of background-only toys with t <= t_obs at each mu."""
        out = np.empty((2, len(mus)))
        kernel = _sb_tail_compiled()
        for i, mu in enumerate(mus):
            s = mu * np.asarray(shape, dtype=float)
            w = np.log1p(s / self.b)
            t_obs = float(np.asarray(observed, float) @ w)
            tol = 1e-9 * (1.0 + abs(t_obs))
            out[0, i] = kernel(self.u, self.signal_factor, s, self.n_bkg_sb, w, t_obs, tol)
            out[1, i] = self.b_counts[self.b_rows @ w <= t_obs + tol].sum()
        return out


class ToyCLs:
    """Hybrid-toy CLs for single-bin channels; one ensemble serves every signal shape and mu.

    The toys depend on the channels (backgrounds, systematics) only: background counts and nuisance
    draws are made once (seeded), the signal counts of the s+b toys from pre-drawn Poisson-process
    arrival times, so CLs(mu) for any shape is a cheap vectorised evaluation.
    """

    def __init__(self, channels: list[Channel], n_toys: int = 10000, seed: int | np.random.SeedSequence = 0,
                 background_floor: float = 1e-6, max_signal_events: float = 60.0):
        self.channels = channels
        self.n_toys = int(n_toys)
        self.seed, self.background_floor = seed, background_floor
        self._extra: dict[int, _TailEnsemble] = {}
        self._extra_bytes = [0]
        weakref.finalize(self, _release_extra_bytes, self._extra_bytes)
        rng = np.random.default_rng(seed)
        _draw_background_toys(self, rng, channels, self.n_toys, background_floor)
        # arrivals per toy: enough for max_signal_events x the signal factor (capped at 3: a toy whose
        # signal count saturates is signal-like anyway; saturation can only make CLs conservative)
        lam_max = max_signal_events * min(float(self.signal_factor.max(initial=1.0)), 3.0)
        k = int(math.ceil(lam_max + 8 * math.sqrt(lam_max) + 10))
        # arrival times of a unit-rate Poisson process: count(T < lam) ~ Poisson(lam), monotone in lam
        # (stored arrival-index major: the first arrivals of all toys are contiguous in memory)
        self.arrivals = np.cumsum(rng.standard_exponential((k, self.n_toys, len(channels))), axis=0)
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
        p_sb[order] = _sb_cdf_compiled()(self.arrivals, self.signal_factor, s, self.n_bkg_sb, w, thr, tol)
        p_b = (self.b_counts[None, :] * (t_rows[None, :] <= thresholds[:, None] + tol)).sum(axis=1) / self.n_toys
        cls_all = p_sb / np.maximum(p_b, 1.0 / self.n_toys)
        expected = _weighted_percentiles(cls_all[:len(t_rows)], self.b_counts, NORMAL_PERCENTILES)
        obs = None if observed is None else float(cls_all[-1])
        return obs, expected

    def tail_counts(self, shape: np.ndarray, mus: np.ndarray, observed: np.ndarray) -> np.ndarray:
        """(2, len(mus)): numbers of s+b and of background-only toys with t <= t_obs at each mu."""
        out = np.empty((2, len(mus)))
        for i, mu in enumerate(mus):
            s = mu * np.asarray(shape, dtype=float)
            w = np.log1p(s / self.b)
            t_obs = float(np.asarray(observed, float) @ w)
            tol = 1e-9 * (1.0 + abs(t_obs))
            thr = np.array([t_obs])
            out[0, i] = _sb_cdf_compiled()(self.arrivals, self.signal_factor, s, self.n_bkg_sb, w, thr, tol)[0] \
                * self.n_toys
            out[1, i] = self.b_counts[self.b_rows @ w <= t_obs + tol].sum()
        return out

    def extra_ensemble(self, i: int) -> _TailEnsemble:
        """The i-th (1, 2, ...) further ensemble of the same channels and size, for the observed CLs,
        seeded from this one's seed and i; kept while all further ensembles of the process take at most
        :data:`EXTRA_CACHE_BYTES` (then drawn again when asked again: the same numbers)."""
        if i in self._extra:
            return self._extra[i]
        base = self.seed if isinstance(self.seed, np.random.SeedSequence) else np.random.SeedSequence(self.seed)
        seq = np.random.SeedSequence(base.entropy, spawn_key=(*base.spawn_key, EXTRA_SPAWN, i))
        ens = _TailEnsemble(self.channels, self.n_toys, seq, self.background_floor)
        if _EXTRA_BYTES[0] + ens.nbytes <= EXTRA_CACHE_BYTES:
            self._extra[i] = ens
            self._extra_bytes[0] += ens.nbytes
            _EXTRA_BYTES[0] += ens.nbytes
        return ens


EXTRA_SPAWN = 0x0B5          # spawn-key tag of the observed-precision ensembles (never a chunk index)
EXTRA_CACHE_BYTES = 256e6    # further ensembles kept, over all live ToyCLs of the process


def cls_rel_error(k_sb: np.ndarray, k_b: np.ndarray, n_toys: int) -> np.ndarray:
    """Relative standard error of CLs = (k_sb/n) / (k_b/n) from two independent binomial counts."""
    k_sb, k_b = np.maximum(k_sb, 1.0), np.maximum(k_b, 1.0)
    return np.sqrt((1.0 - k_sb / n_toys) / k_sb + (1.0 - k_b / n_toys) / k_b)


def refine_observed(toys: ToyCLs, shape: np.ndarray, observed: np.ndarray, cl: float, mu_obs: float,
                    precision: float, max_toys: int, grid: np.ndarray) -> float:
    """The observed limit in events with as many toys as its stated precision needs.

    CLs = CL_s+b / CL_b is estimated from the ~n_toys x (1 - cl) x CL_b s+b toys beyond the observation:
    for a deficit (CL_b small) 10000 toys leave a few tens and the limit scatters by ~10%. Where the
    relative standard error of CLs at ``mu_obs`` (the limit from ``toys`` alone) exceeds ``precision``,
    further ensembles of the same size (:meth:`ToyCLs.extra_ensemble`) are added, up to ``max_toys``
    toys in all, and the first crossing of the pooled CLs = 1 - cl is found on a dense grid from
    ``mu_obs`` / 2 to 2 ``mu_obs`` (on it plus ``grid`` if it does not cross there). Otherwise ``mu_obs``
    is returned as it is.
    """
    n = toys.n_toys
    k = toys.tail_counts(shape, np.array([mu_obs]), observed)
    rel = float(cls_rel_error(k[0], k[1], n)[0])
    n_ensembles = min(int(math.ceil((rel / precision) ** 2)), max(int(max_toys) // n, 1))
    if rel <= precision or n_ensembles <= 1:
        return mu_obs
    dense = np.geomspace(mu_obs / 2.0, min(mu_obs * 2.0, toys.max_signal_events), 41)
    for mus in (dense, np.unique(np.concatenate([grid, dense]))):   # the whole grid only if needed
        counts = toys.tail_counts(shape, mus, observed)
        for i in range(1, n_ensembles):
            counts += toys.extra_ensemble(i).tail_counts(shape, mus, observed)
        cls_pooled = counts[0] / np.maximum(counts[1], 1.0)
        if cls_pooled[0] >= 1.0 - cl > cls_pooled[-1]:
            break
    return float(_crossings(mus, cls_pooled[None, :], 1.0 - cl)[0])


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
                     cl: float = 0.9, n_coarse: int = 28, n_fine: int = 24,
                     obs_precision: float = DEFAULTS["obs_precision_rel"],
                     max_toys: int = DEFAULTS["obs_max_toys"]) -> dict:
    """Upper limits on the total signal events (shape fixed): expected bands and observed (or nan).

    Scans CLs on a log grid of mu (coarse, then fine inside the brackets) and interpolates the first
    crossing of CLs = 1 - cl in ln CLs. The observed limit gets more toys where its CLs is less precise
    than ``obs_precision`` (:func:`refine_observed`). Returns {"exp_m2", ..., "exp_p2", "obs"} in events.
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
    out["obs"] = float("nan")
    if observed is not None:
        out["obs"] = refine_observed(toys, shape, observed, cl, float(result[5]), obs_precision, max_toys,
                                     np.concatenate([mus, fine]))
    return out

