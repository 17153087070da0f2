"""Resonant annihilation e+ e- -> A' -> chi chi on atomic electrons, and the A' decay widths.

Widths [lit, physics.md §3; Marsicano et al. arXiv:1802.03794]:
  Gamma(A' -> chi chi), Dirac chi       = (alpha_D m / 3) (1 + 2 r^2) sqrt(1 - 4 r^2),   r = m_chi / m
  Gamma(A' -> chi chi), complex scalar  = (alpha_D m / 12) (1 - 4 r^2)^(3/2)
  Gamma(A' -> e e)                      = (alpha eps^2 m / 3) (1 + 2 m_e^2/m^2) sqrt(1 - 4 m_e^2/m^2)
Cross section per target electron (Breit-Wigner), s = 2 m_e E+ + 2 m_e^2:
  sigma(s) = 4 pi alpha eps^2 alpha_D (q/sqrt(s)) F(s) / [(s - m^2)^2 + m^2 Gamma^2],
  q = (sqrt(s)/2) sqrt(1 - 4 m_chi^2/s),  F = s - 4 q^2/3 (Dirac), 2 q^2/3 (scalar).
Narrow-width limit: int sigma dE+ = (2 pi^2 alpha eps^2 / m_e) BR(A' -> chi chi) [lit].
"""

from __future__ import annotations

import numpy as np

from .. import NA64Error
from .constants import ALPHA, M_E_GEV

CHI_KINDS = ("dirac", "scalar")


def width_chichi_gev(mass_gev, alpha_d, m_chi_gev, chi_kind="dirac"):
    """Gamma(A' -> chi chi) in GeV (formula in the module docstring); 0 below threshold."""
    m = np.asarray(mass_gev, dtype=float)
    r2 = (np.asarray(m_chi_gev, dtype=float) / m) ** 2
    open_ = np.clip(1.0 - 4.0 * r2, 0.0, None)
    if chi_kind == "dirac":
        return alpha_d * m / 3.0 * (1.0 + 2.0 * r2) * np.sqrt(open_)
    if chi_kind == "scalar":
        return alpha_d * m / 12.0 * open_**1.5
    raise NA64Error(f"unknown dark-matter kind '{chi_kind}'; known: {', '.join(CHI_KINDS)}")


def width_ee_gev(mass_gev, eps=1.0):
    """Gamma(A' -> e+ e-) in GeV (module docstring); 0 below 2 m_e."""
    m = np.asarray(mass_gev, dtype=float)
    q = np.clip(1.0 - 4.0 * M_E_GEV**2 / (m * m), 0.0, None)
    return ALPHA * eps * eps * m / 3.0 * (1.0 + 2.0 * M_E_GEV**2 / (m * m)) * np.sqrt(q)


def total_width_gev(mass_gev, alpha_d=0.1, m_chi_gev=None, chi_kind="dirac", eps=0.0):
    """Total A' width: chi chi (+ e e at mixing ``eps``; negligible for eps << sqrt(alpha_D/alpha))."""
    m = np.asarray(mass_gev, dtype=float)
    m_chi = m / 3.0 if m_chi_gev is None else m_chi_gev
    return width_chichi_gev(m, alpha_d, m_chi, chi_kind) + width_ee_gev(m, eps)


def branching_invisible(mass_gev, alpha_d, m_chi_gev, chi_kind="dirac", eps=1e-4):
    """BR(A' -> chi chi) = Gamma_chichi / (Gamma_chichi + Gamma_ee(eps))."""
    g_chi = width_chichi_gev(mass_gev, alpha_d, m_chi_gev, chi_kind)
    return g_chi / (g_chi + width_ee_gev(mass_gev, eps))


def resonance_energy_gev(mass_gev):
    """Positron energy on resonance, s = m^2: E_R = (m^2 - 2 m_e^2)/(2 m_e) ~ m^2/(2 m_e)."""
    m = np.asarray(mass_gev, dtype=float)
    return (m * m - 2.0 * M_E_GEV**2) / (2.0 * M_E_GEV)


def sigma_per_electron(e_positron_gev, mass_gev, eps=1.0, alpha_d=0.1, m_chi_gev=None, chi_kind="dirac",
                       width_eps=0.0):
    """sigma(e+ e- -> A' -> chi chi) in GeV^-2 per target electron at rest (Breit-Wigner, module
    docstring), vectorised over the positron energy. The width in the propagator is Gamma_chichi
    + Gamma_ee(width_eps): the default width_eps = 0 keeps sigma proportional to eps^2 (valid for
    alpha eps^2 << alpha_D, i.e. BR(A' -> chi chi) = 1)."""
    e = np.asarray(e_positron_gev, dtype=float)
    m = float(mass_gev)
    m_chi = m / 3.0 if m_chi_gev is None else float(m_chi_gev)
    s = 2.0 * M_E_GEV * e + 2.0 * M_E_GEV**2
    q2 = np.clip(s / 4.0 * (1.0 - 4.0 * m_chi**2 / s), 0.0, None)
    q = np.sqrt(q2)
    if chi_kind == "dirac":
        f = s - 4.0 * q2 / 3.0
    elif chi_kind == "scalar":
        f = 2.0 * q2 / 3.0
    else:
        raise NA64Error(f"unknown dark-matter kind '{chi_kind}'; known: {', '.join(CHI_KINDS)}")
    gam = float(total_width_gev(m, alpha_d, m_chi, chi_kind, width_eps))
    out = 4.0 * np.pi * ALPHA * eps**2 * alpha_d * (q / np.sqrt(np.maximum(s, 1e-30))) * f
    return np.where(e > 0, out / ((s - m * m) ** 2 + m * m * gam**2), 0.0)


def narrow_width_integral_gev(eps=1.0, br_invisible=1.0):
    """int sigma dE+ over the resonance = 2 pi^2 alpha eps^2 / m_e x BR, in GeV^-2 GeV (per electron)."""
    return 2.0 * np.pi**2 * ALPHA * eps**2 / M_E_GEV * br_invisible
