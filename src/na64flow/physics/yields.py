"""Signal yields per particle on target (OT) with the signal signature, at coupling 1, before selection.

* A'/Z' bremsstrahlung off e+- (thick target, physics.md §3):
      N/OT = n_atoms X0 sum_k [T-(E_k) + T+(E_k)] sigma(E_A' > E_thr; E_k)
  with T+-(E_k) the e-/e+ track length (X0) in energy bin k per beam particle (cascade or Tsai table)
  and sigma of :func:`.brem.sigma_above` (IWW / K) at the geometric bin centre.
* Resonant annihilation on atomic electrons (Marsicano et al.), default the physical line shape:
      N/OT = Z n_atoms X0 int dE <dT+/dE>_beam(E) sigma_BW(E) P_pass(E)
  with the Breit-Wigner of the LDM width, the positron spectrum averaged over the beam momentum spread
  and P_pass the ECAL-resolution-smeared missing-energy threshold; or ``width="narrow"``:
      N/OT = Z n_atoms X0 dT+/dE(E_R) (2 pi^2 alpha eps^2 / m_e) BR,   E_R = m^2/(2 m_e) - m_e,
  non-zero only for E_thr < E_R + m_e < E0 (dT+/dE piecewise constant per bin: spikes and steps).
* Muon beams (thin target): N/OT = n_atoms L sigma(E_A' > E_thr; E0) with L the active target length.
* Mesons: :func:`.mesons.production_probability`.
Units: n_atoms in cm^-3, X0 and L in cm, sigma converted from GeV^-2 with 3.894e-28 cm^2 GeV^2.
"""

from __future__ import annotations

import numpy as np
from scipy import special

from .. import NA64Error
from . import annihilation, zprime
from .brem import sigma_above
from .constants import (
    ALPHA,
    ECAL_DEPTH_X0,
    GEV2_TO_CM2,
    M_E_GEV,
    M_MU_GEV,
    PB_N_ATOMS_CM3,
    PB_N_ATOMS_PER_X0_CM2,
    PB_X0_CM,
    PB_Z,
)
from .tracklength import TrackLengthTable


def brem_yield_electron_beam(mass_gev, table: TrackLengthTable, e_thr_gev: float, alpha_eff: float = ALPHA):
    """A'-strahlung yield per e+- on target (all shower e+ and e- radiate), vectorised over mass."""
    m = np.atleast_1d(np.asarray(mass_gev, dtype=float))
    tl = table.per_energy("e-") + table.per_energy("e+")
    ec = table.energy_centers_gev
    use = (table.energy_edges_gev[1:] > e_thr_gev) & (tl > 0)
    if not np.any(use):
        return np.zeros_like(m)
    sig = sigma_above(ec[use][None, :], m[:, None], e_thr_gev, M_E_GEV, alpha_eff=alpha_eff)   # (n_m, n_e)
    return PB_N_ATOMS_PER_X0_CM2 * GEV2_TO_CM2 * (sig * tl[use][None, :]).sum(axis=1)


def smooth_symmetric(values, half_width_bins: int):
    """Moving average over 2h+1 bins with h shrunk near the ends so the window stays symmetric (a linear
    trend is kept exactly and the first/last bins are left as they are; bins next to a spike do average
    it, so it is not used for positron beams, whose primary is a spike at E0). Used on the shower-positron
    spectrum of electron beams, which is smooth, to reduce the Monte Carlo bin-to-bin noise [est]."""
    v = np.asarray(values, dtype=float)
    h = int(half_width_bins)
    if h <= 0:
        return v.copy()
    csum = np.concatenate([[0.0], np.cumsum(v)])
    idx = np.arange(len(v))
    hh = np.minimum(h, np.minimum(idx, len(v) - 1 - idx))
    return (csum[idx + hh + 1] - csum[idx - hh]) / (2 * hh + 1)


def positron_dtde(table: TrackLengthTable, e_gev, smooth_bins: int = 0):
    """dT+/dE (X0/GeV) at ``e_gev``: piecewise constant per energy bin, 0 outside the table;
    ``smooth_bins`` > 0 averages dT+/dE over +-smooth_bins bins (:func:`smooth_symmetric`)."""
    e = np.asarray(e_gev, dtype=float)
    dt = smooth_symmetric(table.differential("e+"), smooth_bins)
    idx = np.searchsorted(table.energy_edges_gev, e, side="right") - 1
    inside = (idx >= 0) & (idx < len(dt))
    return np.where(inside, dt[np.clip(idx, 0, len(dt) - 1)], 0.0)


def annihilation_yield(mass_gev, table: TrackLengthTable, e_thr_gev: float, e0_gev: float, width: str = "breit_wigner",
                       alpha_d: float = 0.1, m_chi_ratio: float = 1.0 / 3.0, chi_kind: str = "dirac",
                       br_invisible=1.0, smooth_bins: int = 0, beam_spread_rel: float = 0.0,
                       ecal_resolution=None):
    """Resonant-annihilation yield per particle on target at eps = 1 (module docstring).

    ``width="breit_wigner"`` (default): the full line shape with the LDM width Gamma(alpha_D, m_chi),
    the positron spectrum averaged over the beam momentum spread (``beam_spread_rel`` = sigma_p/p; the
    table is rescaled, dT/dE(E; E0') = dT/dE(E E0/E0'; E0) E0/E0', Gauss-Hermite in E0'), and, with
    ``ecal_resolution`` = (stochastic, constant) of sigma_E/E, the ECAL resolution folded into the
    missing-energy threshold: an A' of energy E+ + m_e passes with probability
    Phi((E0 - E_thr - E_dep)/sigma(E_dep)), E_dep = E0 - E+ - m_e (a sharp step without it).
    ``width="narrow"``: the delta-function limit (:func:`narrow_annihilation_yield`, the same smearing)."""
    m = np.atleast_1d(np.asarray(mass_gev, dtype=float))
    n_e_per_cm2 = PB_Z * PB_N_ATOMS_PER_X0_CM2
    if width == "narrow":
        return narrow_annihilation_yield(m, table, e_thr_gev, e0_gev, br_invisible=br_invisible,
                                         smooth_bins=smooth_bins, beam_spread_rel=beam_spread_rel,
                                         ecal_resolution=ecal_resolution)
    if width != "breit_wigner":
        raise NA64Error(f"signal.annihilation_width: unknown value '{width}' (narrow or breit_wigner)")
    e_max_dep = e0_gev - e_thr_gev                   # E_ECAL cut
    sig_thr = 0.0
    if ecal_resolution is not None:
        stoch, const = ecal_resolution
        sig_thr = e_max_dep * np.hypot(stoch / np.sqrt(max(e_max_dep, 1e-9)), const)
    e_lo = max(e_thr_gev - M_E_GEV - 6.0 * sig_thr, 1e-3)
    e_hi = e0_gev * (1.0 + 5.0 * beam_spread_rel)
    gh_z, gh_w = np.polynomial.hermite_e.hermegauss(15 if beam_spread_rel > 0 else 1)
    gh_w = gh_w / gh_w.sum()
    out = np.zeros_like(m)
    for i, mi in enumerate(m):
        # grid around the resonance, dense within +-20 widths, covering [e_lo, e_hi]
        gam = float(annihilation.total_width_gev(mi, alpha_d, m_chi_ratio * mi, chi_kind))
        e_r = float(annihilation.resonance_energy_gev(mi))
        de = max(mi * gam / M_E_GEV, 1e-9)      # half width in E+: m Gamma / m_e
        core = np.clip(e_r + de * np.tan(np.linspace(-1.55, 1.55, 2001)), e_lo, e_hi)
        grid = np.unique(np.concatenate([core, np.linspace(e_lo, e_hi, 1501)]))
        dtde = np.zeros_like(grid)
        for z, w in zip(gh_z, gh_w):
            scale = 1.0 + beam_spread_rel * z           # E0'/E0
            dtde += w * positron_dtde(table, grid / scale, smooth_bins) / scale
        if ecal_resolution is not None:
            e_dep = np.clip(e0_gev - grid - M_E_GEV, 1e-6, None)
            sig = e_dep * np.hypot(stoch / np.sqrt(e_dep), const)
            p_pass = special.ndtr((e_max_dep - e_dep) / sig)
        else:
            p_pass = (grid + M_E_GEV > e_thr_gev).astype(float)
        f = annihilation.sigma_per_electron(grid, mi, 1.0, alpha_d, m_chi_ratio * mi, chi_kind) * dtde * p_pass
        out[i] = n_e_per_cm2 * GEV2_TO_CM2 * np.trapezoid(f, grid)
    return out * br_invisible


def narrow_annihilation_yield(mass_gev, table: TrackLengthTable, e_thr_gev: float, e0_gev: float,
                              br_invisible=1.0, smooth_bins: int = 0, beam_spread_rel: float = 0.0,
                              ecal_resolution=None):
    """Resonant-annihilation yield per particle on target at eps = 1 for a mediator of negligible width:
    N/OT = Z n_atoms X0 dT+/dE(E_R) x 2 pi^2 alpha / m_e x BR x P(pass) [Marsicano et al., arXiv:1802.03794;
    physics.md section 3], E_R = m^2/2m_e - m_e.

    For the L_mu-L_tau Z' on electron beams (Gamma/m = g^2/12 pi ~ 1e-8 at g = 1e-3: far below every
    resolution) and the ``signal.annihilation_width: narrow`` option. The positron spectrum is averaged
    over the beam momentum spread as in :func:`annihilation_yield`; with ``ecal_resolution`` the A' of
    energy E_R + m_e passes the E_ECAL cut with probability Phi((E0 - E_thr - E_dep)/sigma(E_dep)),
    E_dep = E0 - E_R - m_e (without it: a sharp step, E_R + m_e > E_thr and E_R <= E0)."""
    m = np.atleast_1d(np.asarray(mass_gev, dtype=float))
    e_r = annihilation.resonance_energy_gev(m)
    gh_z, gh_w = np.polynomial.hermite_e.hermegauss(15 if beam_spread_rel > 0 else 1)
    gh_w = gh_w / gh_w.sum()
    dtde = np.zeros_like(m)
    for z, w in zip(gh_z, gh_w):
        scale = 1.0 + beam_spread_rel * z               # E0'/E0
        dtde += w * positron_dtde(table, e_r / scale, smooth_bins) / scale
    if ecal_resolution is None:
        p_pass = ((e_r + M_E_GEV > e_thr_gev) & (e_r <= e0_gev)).astype(float)
    else:
        stoch, const = ecal_resolution
        e_dep = np.clip(e0_gev - e_r - M_E_GEV, 1e-6, None)
        sig = e_dep * np.hypot(stoch / np.sqrt(e_dep), const)
        p_pass = special.ndtr(((e0_gev - e_thr_gev) - e_dep) / sig)   # above the (spread) beam: dT+/dE = 0
    integral = annihilation.narrow_width_integral_gev(1.0, br_invisible)
    return PB_Z * PB_N_ATOMS_PER_X0_CM2 * GEV2_TO_CM2 * dtde * integral * p_pass


def muon_brem_yield(mass_gev, e0_gev: float, e_thr_gev: float, alpha_eff: float = ALPHA,
                    length_cm: float = ECAL_DEPTH_X0 * PB_X0_CM):
    """Thin-target yield per muon on target: n_atoms L sigma(E_A' > E_thr; E0) (WW, m_l = m_mu, no K)."""
    m = np.atleast_1d(np.asarray(mass_gev, dtype=float))
    sig = sigma_above(e0_gev, m, e_thr_gev, M_MU_GEV, alpha_eff=alpha_eff)
    return PB_N_ATOMS_CM3 * length_cm * GEV2_TO_CM2 * sig


def lmu_ltau_muon_yield(mass_gev, e0_gev, e_thr_gev, **kw):
    """Z' (L_mu - L_tau) yield per muon at g = 1, times BR(Z' -> nu nu)."""
    m = np.atleast_1d(np.asarray(mass_gev, dtype=float))
    return muon_brem_yield(m, e0_gev, e_thr_gev, alpha_eff=zprime.alpha_eff(1.0), **kw) * zprime.branching_invisible(m)
