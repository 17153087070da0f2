"""Signal event generation for the fast simulation: energies and production depths of the mediator.

:func:`sample_signal` draws, per signal event, the energy of the invisible mediator (A', Z' or the
eta/eta' meson), the depth in the lead ECAL where it was produced, and the energy its recoil leaves
visible. Events are generated *with the signal signature* (mediator energy above ``e_miss_min_gev``),
so the selection efficiency of a sample is passing / generated (docs/contracts.md).

Modes (physics.md §3):
* ``brem``: e+- beams: emitter (E, depth) cell drawn with probability T(E, t) sigma(E_A' > E_thr; E)
  from the track-length table (default: :func:`default_table`, the cascade above 1 GeV), then
  x = E_A'/E from dsigma/dx (IWW / K) on x > E_thr/E. Muon beams: thin target, E = E0, depth uniform.
* ``annihilation``: positron energy E+ from the Breit-Wigner sigma(s), s = 2 m_e E+ + 2 m_e^2
  (Cauchy in s around m^2, half-width m Gamma), accepted with probability proportional to the positron
  track length dT+/dE at E+; depth from the track-length table in that energy bin. E_A' = E+ + m_e.
* ``zprime``: muon beams, WW dsigma/dx with m_l = m_mu at E0 (the muon barely loses energy).
* ``eta`` / ``etaprime``: charge exchange pi- p -> M0 n: the meson takes E0 - T_n, T_n = |t|/(2 m_n)
  the neutron kinetic energy (visible recoil), |t| - |t|_min ~ exponential with slope
  ``ETA_CEX_SLOPE_GEV2`` [est]; depth from the pion's exponential absorption (lambda_I) in 40 X0.
"""

from __future__ import annotations

import functools

import numpy as np

from .. import NA64Error
from .annihilation import total_width_gev
from .brem import dsigma_dx, sigma_above, x_range
from .constants import (
    ECAL_DEPTH_X0,
    M_E_GEV,
    M_ETA_GEV,
    M_ETAPRIME_GEV,
    M_MU_GEV,
    M_N_GEV,
    PB_LAMBDA_I_CM,
    PB_X0_CM,
)
from .muon_ww import dsigma_dx_ww
from .tracklength import TrackLengthTable, tsai_primary_table
from .yields import smooth_symmetric

MODES = ("brem", "annihilation", "zprime", "eta", "etaprime")
BEAMS = ("e-", "e+", "mu-", "mu+", "pi-")
ETA_CEX_SLOPE_GEV2 = 8.0   # d sigma/dt ~ exp(-b|t|) for pi- p -> eta n at ~50 GeV, quasi-free on Pb [est]
_N_X_GRID = 256
POSITRON_SMOOTHING_BINS = 4    # as the default signal.positron_smoothing_bins [est]


def lepton_mass_gev(beam: str) -> float:
    if beam in ("e-", "e+"):
        return M_E_GEV
    if beam in ("mu-", "mu+"):
        return M_MU_GEV
    raise NA64Error(f"signal sampling: beam '{beam}' is not a lepton beam (known: {', '.join(BEAMS)})")


DEFAULT_CASCADE_PRIMARIES = 20000


@functools.lru_cache(maxsize=16)
def default_table(beam: str, e0_gev: float) -> TrackLengthTable:
    """The table used when none is given: the cascade above 1 GeV (primary + shower e+-,
    ``DEFAULT_CASCADE_PRIMARIES`` showers, ~2 s, cached in memory), Tsai primary if numba is missing."""
    try:
        from .cascade import simulate_table
    except ImportError:   # pragma: no cover - numba is a dependency
        return tsai_primary_table(beam, e0_gev)
    return simulate_table(beam, e0_gev, n_full=0, n_high=DEFAULT_CASCADE_PRIMARIES, seed=7)


def _dsigma_dx_shape(x, e, mass_gev, m_l):
    """dsigma/dx up to a factor, rows of ``x`` at the emitter energies ``e``: e+- the IWW shape (chi does
    not depend on x: chi = 1); muons the full WW form (x-dependent tmin, :mod:`.muon_ww`), computed once
    per distinct energy (a muon beam has one)."""
    if m_l < 10 * M_E_GEV:
        return dsigma_dx(x, e[:, None], mass_gev, m_l, chi=1.0, etl_correction=False)
    out = np.empty_like(x)
    uniq, inv = np.unique(e, return_inverse=True)
    for i, ei in enumerate(uniq):
        rows = inv == i
        first = np.flatnonzero(rows)[0]
        out[rows] = dsigma_dx_ww(x[first], ei, mass_gev)[None, :]
    return out


def _sample_x(rng, e_gev, mass_gev, e_thr_gev, m_l):
    """x = E_A'/E for each emitter energy in ``e_gev`` from dsigma/dx restricted to x E > e_thr (inverse
    CDF on a grid in v = ln(1 - x), linear within grid cells)."""
    out = np.empty(len(e_gev))
    u01 = rng.random(len(e_gev))
    for s in range(0, len(e_gev), 4096):
        e = e_gev[s:s + 4096]
        x_lo, x_hi = x_range(e, mass_gev, e_thr_gev, m_l)
        v_hi, v_lo = np.log1p(-x_lo), np.log1p(-x_hi)
        g = np.linspace(0.0, 1.0, _N_X_GRID)
        v = v_lo[:, None] + (v_hi - v_lo)[:, None] * g        # from x_hi (v_lo) down to x_lo (v_hi)
        x = -np.expm1(v)
        # density in v is (1-x) dsigma/dx (shape only)
        x_in = np.clip(x, x_lo[:, None] * (1 + 1e-12), x_hi[:, None] * (1 - 1e-12))
        f = _dsigma_dx_shape(x_in, e, mass_gev, m_l) * (1.0 - x_in)
        f = np.where(np.isfinite(f) & (f > 0), f, 0.0)
        cdf = np.concatenate([np.zeros((len(e), 1)), np.cumsum(0.5 * (f[:, 1:] + f[:, :-1]), axis=1)], axis=1)
        if np.any(cdf[:, -1] <= 0):
            raise NA64Error(f"signal sampling: no phase space for m = {mass_gev:g} GeV above "
                            f"E_miss > {e_thr_gev:g} GeV")
        cdf /= cdf[:, -1:]
        r = u01[s:s + 4096]
        idx = np.clip((cdf < r[:, None]).sum(axis=1) - 1, 0, _N_X_GRID - 2)
        rows = np.arange(len(e))
        c0, c1 = cdf[rows, idx], cdf[rows, idx + 1]
        frac = np.where(c1 > c0, (r - c0) / np.where(c1 > c0, c1 - c0, 1.0), 0.5)
        vv = v[rows, idx] + frac * (v[rows, idx + 1] - v[rows, idx])
        out[s:s + 4096] = -np.expm1(vv)
    return out


def _draw_cells(rng, n, weights, table, e_min_gev=0.0):
    """Draw n (energy, depth) pairs from cells with the given weights; E log-uniform within the part of
    the cell above ``e_min_gev``, depth uniform within the cell."""
    p = weights.ravel() / weights.sum()
    cell = rng.choice(p.size, size=n, p=p)
    k, j = np.unravel_index(cell, weights.shape)
    le = np.log(np.maximum(table.energy_edges_gev, e_min_gev))
    e = np.exp(le[k] + rng.random(n) * (le[k + 1] - le[k]))
    d = table.depth_edges_x0
    t = d[j] + rng.random(n) * (d[j + 1] - d[j])
    return e, t, k


def _brem(rng, n, mass_gev, beam, e0_gev, e_thr_gev, table):
    m_l = lepton_mass_gev(beam)
    if beam in ("mu-", "mu+"):
        e = np.full(n, float(e0_gev))
        depth = rng.random(n) * ECAL_DEPTH_X0
    else:
        table = table or default_table(beam, float(e0_gev))
        tl = table.electron_x0 + table.positron_x0
        ec = table.energy_centers_gev
        sig = sigma_above(ec, mass_gev, e_thr_gev, m_l)
        w = tl * sig[:, None]
        if not np.any(w > 0):
            raise NA64Error(f"signal sampling: brem m = {mass_gev:g} GeV has no yield above {e_thr_gev:g} GeV "
                            f"for a {e0_gev:g} GeV {beam} beam")
        # a cell straddling the threshold: the emitter is drawn in its part above the threshold
        e, depth, _ = _draw_cells(rng, n, w, table, e_min_gev=e_thr_gev * (1 + 1e-9))
    x = _sample_x(rng, e, mass_gev, e_thr_gev, m_l)
    return {"mediator_e_gev": x * e, "emission_depth_x0": depth, "visible_recoil_gev": np.zeros(n)}


def _annihilation(rng, n, mass_gev, beam, e0_gev, e_thr_gev, table, alpha_d, m_chi_ratio, chi_kind):
    if beam not in ("e-", "e+"):
        raise NA64Error(f"signal sampling: annihilation needs an e- or e+ beam, got '{beam}'")
    table = table or default_table(beam, float(e0_gev))
    tl = table.positron_x0
    if not np.any(tl > 0):
        raise NA64Error(f"signal sampling: the track-length table for a {e0_gev:g} GeV {beam} beam has no "
                        "positrons; run `na64flow tracklengths` (cascade) for electron beams")
    width = float(total_width_gev(mass_gev, alpha_d, m_chi_ratio * mass_gev, chi_kind))
    edges = table.energy_edges_gev
    e_lo = max(e_thr_gev - M_E_GEV, edges[0])
    e_hi = min(float(e0_gev), edges[-1])
    if e_hi <= e_lo:
        raise NA64Error(f"signal sampling: E_miss threshold {e_thr_gev:g} GeV above the beam energy {e0_gev:g}")
    dtde = tl.sum(axis=1) / np.diff(edges)
    if beam == "e-":   # shower positrons: the same smoothing as the yields (signal.positron_smoothing_bins)
        dtde = smooth_symmetric(dtde, POSITRON_SMOOTHING_BINS)
    k_lo, k_hi = np.searchsorted(edges, e_lo, "right") - 1, np.searchsorted(edges, e_hi, "left") - 1
    t_max = dtde[k_lo:k_hi + 1].max()
    if t_max <= 0:
        raise NA64Error(f"signal sampling: no positron track length between {e_lo:g} and {e_hi:g} GeV")
    s_lo, s_hi = 2 * M_E_GEV * e_lo + 2 * M_E_GEV**2, 2 * M_E_GEV * e_hi + 2 * M_E_GEV**2
    m2, hw = mass_gev**2, mass_gev * width
    a_lo, a_hi = np.arctan((s_lo - m2) / hw), np.arctan((s_hi - m2) / hw)
    got_e, got_k = [], []
    n_have, tries = 0, 0
    while n_have < n:
        tries += 1
        if tries > 2000:
            raise NA64Error(f"signal sampling: annihilation m = {mass_gev:g} GeV: acceptance too low")
        m_try = max(4 * (n - n_have), 1024)
        s = m2 + hw * np.tan(a_lo + rng.random(m_try) * (a_hi - a_lo))
        e = (s - 2 * M_E_GEV**2) / (2 * M_E_GEV)
        k = np.clip(np.searchsorted(edges, e, "right") - 1, 0, len(dtde) - 1)
        keep = rng.random(m_try) * t_max < dtde[k]
        got_e.append(e[keep])
        got_k.append(k[keep])
        n_have += int(keep.sum())
    e = np.concatenate(got_e)[:n]
    k = np.concatenate(got_k)[:n]
    # depth: from the depth distribution of the positron track length in that energy bin
    depth = np.empty(n)
    d = table.depth_edges_x0
    h = POSITRON_SMOOTHING_BINS if beam == "e-" else 0
    for kk in np.unique(k):
        sel = k == kk
        w = tl[max(kk - h, 0):kk + h + 1].sum(axis=0)   # depth profile over the smoothing window
        if not w.sum() > 0:
            w = tl.sum(axis=0)                              # (empty window: overall positron profile)
        j = rng.choice(len(w), size=int(sel.sum()), p=w / w.sum())
        depth[sel] = d[j] + rng.random(int(sel.sum())) * (d[j + 1] - d[j])
    return {"mediator_e_gev": e + M_E_GEV, "emission_depth_x0": depth, "visible_recoil_gev": np.zeros(n)}


def _meson(rng, n, mode, e0_gev, e_thr_gev):
    m_meson = M_ETA_GEV if mode == "eta" else M_ETAPRIME_GEV
    # |t|_min of the 2 -> 2 charge exchange at high energy: ((m_M^2 - m_pi^2)/(2 p))^2 (~3.5e-5 GeV^2 for eta)
    t_min = ((m_meson**2 - 0.13957**2 + M_N_GEV**2 - 0.938**2) / (2 * e0_gev)) ** 2
    out_e, out_t = [], []
    n_have = 0
    for _ in range(1000):
        m_try = max(2 * (n - n_have), 256)
        t = t_min + rng.exponential(1.0 / ETA_CEX_SLOPE_GEV2, m_try)
        t_n = t / (2 * M_N_GEV)                       # recoil-neutron kinetic energy
        e = e0_gev - t_n
        keep = e > e_thr_gev
        out_e.append(e[keep])
        out_t.append(t_n[keep])
        n_have += int(keep.sum())
        if n_have >= n:
            break
    else:
        raise NA64Error(f"signal sampling: {mode}: no meson above E_miss > {e_thr_gev:g} GeV at E0 = {e0_gev:g}")
    lam_x0 = PB_LAMBDA_I_CM / PB_X0_CM
    u = rng.random(n)
    depth = -lam_x0 * np.log1p(-u * (1 - np.exp(-ECAL_DEPTH_X0 / lam_x0)))   # truncated exponential
    return {"mediator_e_gev": np.concatenate(out_e)[:n], "emission_depth_x0": depth,
            "visible_recoil_gev": np.concatenate(out_t)[:n]}


def sample_signal(rng: np.random.Generator, n: int, mode: str, mass_gev: float, beam: str, e0_gev: float,
                  e_miss_min_gev: float, *, table: TrackLengthTable | None = None, alpha_d: float = 0.1,
                  m_chi_ratio: float = 1.0 / 3.0, chi_kind: str = "dirac") -> dict:
    """Draw ``n`` signal events; returns {"mediator_e_gev", "emission_depth_x0", "visible_recoil_gev"}
    (numpy arrays of length n; mediator_e_gev > e_miss_min_gev always). See the module docstring for
    the physics of each mode. ``table``: a track-length table for e+- beams (default
    :func:`default_table`: cascade primary + secondaries above 1 GeV, computed once per process). ``alpha_d``, ``m_chi_ratio``, ``chi_kind`` set
    the A' width of the annihilation Breit-Wigner (LDM benchmark alpha_D = 0.1, m_chi = m/3 [lit]).
    For ``eta``/``etaprime`` ``mass_gev`` is ignored (the meson mass is used).
    """
    if mode not in MODES:
        raise NA64Error(f"signal sampling: unknown mode '{mode}'; known: {', '.join(MODES)}")
    if beam not in BEAMS:
        raise NA64Error(f"signal sampling: unknown beam '{beam}'; known: {', '.join(BEAMS)}")
    n = int(n)
    if n <= 0:
        return {"mediator_e_gev": np.zeros(0), "emission_depth_x0": np.zeros(0), "visible_recoil_gev": np.zeros(0)}
    if mode in ("eta", "etaprime"):
        out = _meson(rng, n, mode, float(e0_gev), float(e_miss_min_gev))
    elif mode == "annihilation":
        out = _annihilation(rng, n, float(mass_gev), beam, float(e0_gev), float(e_miss_min_gev), table,
                            alpha_d, m_chi_ratio, chi_kind)
    else:
        if mode == "zprime" and beam not in ("mu-", "mu+"):
            raise NA64Error(f"signal sampling: zprime mode is for muon beams, got '{beam}'")
        out = _brem(rng, n, float(mass_gev), beam, float(e0_gev), float(e_miss_min_gev), table)
    # strict E_mediator > threshold by construction: an event drawn at the lower edge x = E_thr/E can
    # round (x E in floating point) to E_thr or one ulp below; it is moved to the next representable
    # energy above the threshold (a shift of ~1e-14 relative, far below any resolution)
    above = np.nextafter(float(e_miss_min_gev), np.inf)
    out["mediator_e_gev"] = np.maximum(out["mediator_e_gev"], above)
    bad = ~(out["mediator_e_gev"] > e_miss_min_gev)
    if np.any(bad):   # guard of the contract (cannot trigger after the clamp above unless NaN)
        raise NA64Error(f"signal sampling: {int(bad.sum())} {mode} events below E_miss > {e_miss_min_gev:g} GeV")
    return out
