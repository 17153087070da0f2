"""The L_mu - L_tau Z': widths, invisible branching ratio and loop-induced kinetic mixing.

Widths at coupling g [lit, physics.md §3; Gninenko, Krasnikov, Matveev arXiv:1412.1400]:
  Gamma(Z' -> nu nu)   = g^2 m / (12 pi)      (nu_mu + nu_tau, one helicity each)
  Gamma(Z' -> mu mu)   = g^2 m / (12 pi) (1 + 2 m_mu^2/m^2) sqrt(1 - 4 m_mu^2/m^2)   above 2 m_mu
  (Z' -> tau tau is closed below 2 m_tau = 3.55 GeV, outside the mass range.)
Loop mixing for electron beams: eps = (e g / 6 pi^2) ln(m_tau/m_mu) ~ g / 69 [lit].
Production off muons: :func:`.brem.dsigma_dx` with m_l = m_mu and alpha_eff = g^2/(4 pi) (WW; agrees
with exact tree level to 1-2% for muons, so no K correction).
"""

from __future__ import annotations

import numpy as np

from .constants import LOOP_MIXING_PER_G, M_MU_GEV


def width_nunu_gev(mass_gev, g=1.0):
    """Gamma(Z' -> nu nu-bar) in GeV, summed over nu_mu and nu_tau."""
    return g * g * np.asarray(mass_gev, dtype=float) / (12.0 * np.pi)


def width_mumu_gev(mass_gev, g=1.0):
    """Gamma(Z' -> mu+ mu-) in GeV; 0 below 2 m_mu."""
    m = np.asarray(mass_gev, dtype=float)
    q = np.clip(1.0 - 4.0 * M_MU_GEV**2 / (m * m), 0.0, None)
    return g * g * m / (12.0 * np.pi) * (1.0 + 2.0 * M_MU_GEV**2 / (m * m)) * np.sqrt(q)


def total_width_gev(mass_gev, g=1.0):
    return width_nunu_gev(mass_gev, g) + width_mumu_gev(mass_gev, g)


def branching_invisible(mass_gev):
    """BR(Z' -> nu nu) = Gamma_nunu / (Gamma_nunu + Gamma_mumu): 1 below 2 m_mu, -> 1/2 far above."""
    return width_nunu_gev(mass_gev) / total_width_gev(mass_gev)


def loop_mixing_eps(g):
    """Kinetic mixing induced by mu and tau loops: eps = e g ln(m_tau/m_mu) / (6 pi^2) ~ g/69 [lit]."""
    return LOOP_MIXING_PER_G * np.asarray(g, dtype=float)


def alpha_eff(g=1.0):
    """The coupling entering dsigma/dx in place of eps^2 alpha: g^2 / (4 pi)."""
    return g * g / (4.0 * np.pi)
