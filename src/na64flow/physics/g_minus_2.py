"""The muon anomalous magnetic moment and a vector Z' coupled to muons (the (g-2)_mu band of the plots).

The measured discrepancy, one place (the plots' defaults; ``publish.g_minus_2`` overrides it):
Delta a_mu = a_mu(exp) - a_mu(SM) = (251 +- 59) x 10^-11 [lit: Muon g-2 Collaboration, B. Abi et al.,
PRL 126 (2021) 141801 (FNAL + BNL average) against the SM prediction of the 2020 Muon g-2 Theory
Initiative, T. Aoyama et al., Phys. Rept. 887 (2020) 1], shown at +-2 sigma as in the NA64mu 2022
paper. The 2025 Theory Initiative update (lattice HVP) removes most of the discrepancy: configure
another value through ``publish.g_minus_2``.

>>> round(float(g_minus_2_band(1e-7)[1]) * 1e4, 2)   # light Z': g = sqrt(8 pi^2 (Delta a_mu + 2 sigma))
5.4
"""

from __future__ import annotations

import math

import numpy as np

from .constants import M_MU_GEV

DELTA_A_MU = 2.51e-9          # [lit] PRL 126 (2021) 141801 vs Phys. Rept. 887 (2020) 1
DELTA_A_MU_UNC = 5.9e-10      # [lit] same (experiment and theory in quadrature)
N_SIGMA = 2.0                 # band half-width shown [paper: NA64mu 2022]
REFERENCE = "Muon g-2 Collaboration, PRL 126 (2021) 141801, vs. SM of Aoyama et al., Phys. Rept. 887 (2020) 1"


def delta_a_mu_zprime(g: float | np.ndarray, mass_gev: float | np.ndarray) -> np.ndarray:
    """One-loop contribution of a vector Z' with coupling g to the muon to a_mu = (g-2)_mu/2.

    Delta a_mu = g^2/(4 pi^2) * Int_0^1 dz m_mu^2 z (1-z)^2 / (m_mu^2 (1-z)^2 + m_Z'^2 z)
    [lit: Leveille, Nucl. Phys. B137 (1978) 63; Pospelov, PRD 80 (2009) 095002, eq. 4 with
    alpha eps^2 -> g^2/(4 pi)]. Limits: g^2/(8 pi^2) for m_Z' -> 0 (Schwinger term of a light
    vector), g^2 m_mu^2/(12 pi^2 m_Z'^2) for m_Z' >> m_mu. Vectorised over g and mass_gev.
    """
    from scipy.integrate import quad

    g = np.asarray(g, dtype=float)
    masses = np.atleast_1d(np.asarray(mass_gev, dtype=float))
    m2 = M_MU_GEV ** 2
    integral = np.array([quad(lambda z, mz=mz: m2 * z * (1 - z) ** 2 / (m2 * (1 - z) ** 2 + mz ** 2 * z),
                              0.0, 1.0, epsabs=0, epsrel=1e-9)[0] for mz in masses.ravel()])
    integral = integral.reshape(masses.shape)
    if np.ndim(mass_gev) == 0:
        integral = integral[0]
    return g ** 2 / (4 * math.pi ** 2) * integral


def g_minus_2_band(mass_gev: np.ndarray, delta_a_mu: float = DELTA_A_MU, delta_a_mu_unc: float = DELTA_A_MU_UNC,
                   n_sigma: float = N_SIGMA) -> tuple[np.ndarray, np.ndarray]:
    """(g_low, g_high) explaining Delta a_mu within +-n_sigma: g = sqrt(Delta a_mu / Delta a_mu(g=1))."""
    unit = delta_a_mu_zprime(1.0, mass_gev)
    lo = max(delta_a_mu - n_sigma * delta_a_mu_unc, 0.0)
    hi = delta_a_mu + n_sigma * delta_a_mu_unc
    return np.sqrt(lo / unit), np.sqrt(hi / unit)
