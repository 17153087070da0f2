"""A'-strahlung l Z -> l Z A' off electrons, positrons and muons: IWW dsigma/dx, the exact-tree-level
correction K(m, E0), and cross sections integrated above a missing-energy threshold.

dsigma/dx = 4 alpha^3 eps^2 chi beta (1 - x + x^2/3) / [m^2 (1 - x)/x + m_l^2 x]      [lit]
(improved Weizsaecker-Williams, Bjorken, Essig, Schuster, Toro arXiv:0906.0580 eq. A14; physics.md §3),
x = E_A'/E0, beta = sqrt(1 - m^2/E0^2), chi the photon flux of :mod:`.formfactors`. For muon beams
m_l = m_mu and eps^2 alpha -> g^2/(4 pi) for an L_mu-L_tau Z' (Kirpichnikov et al., physics.md §3);
the coupling enters through ``alpha_eff = eps^2 alpha`` (dark photon) or ``g^2/(4 pi)`` (Z').

For electrons sigma_ETL = sigma_IWW / K(m, E0) with the K table of physics.md (DMG4; at E0 = 100 GeV,
used at every beam energy [est]); interpolated linearly in ln m, flat beyond the table ends.
Kinematic range: m/E0 < x < 1 - m_l/E0. All cross sections are GeV^-2 per nucleus.
"""

from __future__ import annotations

import numpy as np

from .constants import ALPHA, M_E_GEV, PB_A, PB_Z
from .formfactors import photon_flux_chi

# exact-tree-level / IWW correction factors K at E0 = 100 GeV [lit, physics.md §3, DMG4 table]
K_TABLE_MASS_GEV = np.array([0.001, 0.002, 0.004, 0.010, 0.020, 0.030, 0.050, 0.100, 0.200, 0.300, 0.500, 1.000])
K_TABLE_VALUE = np.array([0.61, 0.83, 0.95, 1.08, 1.20, 1.29, 1.44, 1.65, 1.89, 1.91, 1.92, 2.14])

_N_X_NODES = 96
_GL_X, _GL_W = np.polynomial.legendre.leggauss(_N_X_NODES)


def k_factor(mass_gev):
    """K(m) = sigma_IWW / sigma_ETL for electrons, interpolated in ln m in the physics.md table
    (flat beyond 1 MeV and 1 GeV) [lit]."""
    m = np.asarray(mass_gev, dtype=float)
    return np.interp(np.log(m), np.log(K_TABLE_MASS_GEV), K_TABLE_VALUE)


def _is_electron(lepton_mass_gev: float) -> bool:
    return lepton_mass_gev < 10 * M_E_GEV


def dsigma_dx(x, e0_gev, mass_gev, lepton_mass_gev=M_E_GEV, eps=1.0, alpha_eff=None, z=PB_Z,
              a_mass=PB_A, chi=None, etl_correction=True):
    """dsigma/dx (GeV^-2 per nucleus) for emitting a vector of mass ``mass_gev`` with energy x E0 off a
    lepton of energy ``e0_gev`` and mass ``lepton_mass_gev`` (IWW formula in the module docstring).

    ``alpha_eff`` (default eps^2 alpha) is the vector's coupling squared over 4 pi. ``chi`` may be
    passed precomputed (it depends on m and E0 only). For electrons/positrons the result is divided by
    K(m) when ``etl_correction``. Zero outside m/E0 < x < 1 - m_l/E0. Broadcasts x, e0_gev, mass_gev.
    """
    x = np.asarray(x, dtype=float)
    e0 = np.asarray(e0_gev, dtype=float)
    m = np.asarray(mass_gev, dtype=float)
    if alpha_eff is None:
        alpha_eff = eps * eps * ALPHA
    if chi is None:
        chi = photon_flux_chi(m, e0, z, a_mass, lepton_mass_gev)
    beta = np.sqrt(np.clip(1.0 - m * m / (e0 * e0), 0.0, None))
    with np.errstate(divide="ignore", invalid="ignore"):
        num = 4.0 * ALPHA**2 * alpha_eff * chi * beta * (1.0 - x + x * x / 3.0)
        den = m * m * (1.0 - x) / x + lepton_mass_gev**2 * x
        out = np.where((x > m / e0) & (x < 1.0 - lepton_mass_gev / e0), num / den, 0.0)
    if etl_correction and _is_electron(lepton_mass_gev):
        out = out / k_factor(m)
    return out


def x_range(e0_gev, mass_gev, e_thr_gev, lepton_mass_gev=M_E_GEV):
    """(x_lo, x_hi): the x interval with E_A' = x E0 above ``e_thr_gev`` and kinematically allowed."""
    e0 = np.asarray(e0_gev, dtype=float)
    m = np.asarray(mass_gev, dtype=float)
    x_lo = np.maximum(np.asarray(e_thr_gev, dtype=float) / e0, m / e0)
    x_hi = 1.0 - lepton_mass_gev / e0
    return np.broadcast_arrays(x_lo, x_hi)


def sigma_above(e0_gev, mass_gev, e_thr_gev=0.0, lepton_mass_gev=M_E_GEV, eps=1.0, alpha_eff=None,
                z=PB_Z, a_mass=PB_A, etl_correction=True):
    """sigma(E_A' > e_thr) = int_{x_lo}^{x_hi} dx dsigma/dx, GeV^-2 per nucleus.

    Gauss-Legendre in v = ln(1 - x) (the integrand (1-x) dsigma/dx is smooth there; the 1/(1-x) rise
    towards x -> 1 is what makes plain grids in x inaccurate). Broadcasts e0_gev, mass_gev, e_thr_gev.
    """
    e0 = np.asarray(e0_gev, dtype=float)
    m = np.asarray(mass_gev, dtype=float)
    x_lo, x_hi = x_range(e0, m, e_thr_gev, lepton_mass_gev)
    e0b, mb = np.broadcast_arrays(e0, m)
    e0b, mb = np.broadcast_to(e0b, x_lo.shape), np.broadcast_to(mb, x_lo.shape)
    ok = x_hi > x_lo
    v_hi = np.log(np.where(ok, 1.0 - x_lo, 1.0))[..., None]   # v = ln(1 - x): x_lo -> v_hi
    v_lo = np.log(1.0 - x_hi)[..., None]
    v = 0.5 * (v_hi - v_lo) * _GL_X + 0.5 * (v_hi + v_lo)
    x = 1.0 - np.exp(v)
    chi = photon_flux_chi(mb, e0b, z, a_mass, lepton_mass_gev)[..., None]
    f = dsigma_dx(x, e0b[..., None], mb[..., None], lepton_mass_gev, eps, alpha_eff, z, a_mass, chi,
                  etl_correction) * (1.0 - x)
    total = 0.5 * (v_hi - v_lo)[..., 0] * np.sum(f * _GL_W, axis=-1)
    return np.where(ok, total, 0.0)
