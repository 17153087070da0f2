"""Nuclear form factors and the effective photon flux chi of the Weizsaecker-Williams approximation.

chi(m, E0) = int_{tmin}^{tmax} dt (t - tmin)/t^2 [G2_el(t) + G2_in(t)]       (Bjorken, Essig, Schuster,
Toro, arXiv:0906.0580, eq. A18-A19 / Kim-Tsai), with tmin = (m^2/2E0)^2 and tmax = m^2 + m_l^2
(m_l the beam lepton mass; Liu & Miller arXiv:1705.01633; for electrons the m_e^2 term matters only
at m ~ 1 MeV, where it brings chi/Z^2 to the physics.md check value 7.2), and

  G2_el = [a^2 t/(1 + a^2 t)]^2 [1/(1 + t/d)]^2 Z^2,      a = 111 Z^(-1/3)/m_e,  d = 0.164 A^(-2/3) GeV^2
  G2_in = [a'^2 t/(1 + a'^2 t)]^2 [(1 + t(mu_p^2 - 1)/(4 m_p^2)) / (1 + t/0.71)^4]^2 Z,  a' = 773 Z^(-2/3)/m_e

(elastic atomic screening x nuclear size; inelastic = quasi-elastic scattering off protons) [lit, physics.md §3].
The integral is done with a fixed Gauss-Legendre rule in ln t, vectorised over masses.
"""

from __future__ import annotations

import numpy as np

from .constants import M_E_GEV, M_P_GEV, MU_P, PB_A, PB_Z

_N_NODES = 256
_GL_X, _GL_W = np.polynomial.legendre.leggauss(_N_NODES)


def g2_elastic(t_gev2, z=PB_Z, a_mass=PB_A):
    """Elastic form factor G2_el(t) (atomic screening x nuclear size), physics.md §3 [lit]."""
    t = np.asarray(t_gev2, dtype=float)
    a = 111.0 * z ** (-1.0 / 3.0) / M_E_GEV
    d = 0.164 * a_mass ** (-2.0 / 3.0)
    return (a * a * t / (1.0 + a * a * t)) ** 2 * (1.0 / (1.0 + t / d)) ** 2 * z * z


def g2_inelastic(t_gev2, z=PB_Z):
    """Inelastic (quasi-elastic on protons) form factor G2_in(t), physics.md §3 [lit]."""
    t = np.asarray(t_gev2, dtype=float)
    ap = 773.0 * z ** (-2.0 / 3.0) / M_E_GEV
    proton = (1.0 + t * (MU_P**2 - 1.0) / (4.0 * M_P_GEV**2)) / (1.0 + t / 0.71) ** 4
    return (ap * ap * t / (1.0 + ap * ap * t)) ** 2 * proton**2 * z


def photon_flux_chi(mass_gev, e0_gev, z=PB_Z, a_mass=PB_A, lepton_mass_gev=M_E_GEV, inelastic=True):
    """Effective photon flux chi (dimensionless) for emitting a vector of mass ``mass_gev`` off a lepton
    of energy ``e0_gev``: chi = int dt (t - tmin)/t^2 G2(t), tmin = (m^2/2E0)^2, tmax = m^2 + m_l^2.

    Vectorised over ``mass_gev`` and ``e0_gev`` (broadcast). Gauss-Legendre in u = ln t.
    """
    m = np.asarray(mass_gev, dtype=float)
    e0 = np.asarray(e0_gev, dtype=float)
    tmin = (m * m / (2.0 * e0)) ** 2
    tmax = m * m + lepton_mass_gev**2
    return photon_flux_between(tmin, tmax, z, a_mass, inelastic)


def photon_flux_between(tmin_gev2, tmax_gev2, z=PB_Z, a_mass=PB_A, inelastic=True, n_nodes=_N_NODES):
    """chi = int_{tmin}^{tmax} dt (t - tmin)/t^2 G2(t) for explicit (broadcast) t limits; 0 where
    tmin >= tmax. Used with the x- and angle-dependent tmin of the full WW muon cross section."""
    tmin, tmax = np.broadcast_arrays(np.asarray(tmin_gev2, dtype=float), np.asarray(tmax_gev2, dtype=float))
    ok = tmax > tmin
    tmin_s = np.where(ok, tmin, 0.5 * tmax)
    if n_nodes == _N_NODES:
        gx, gw = _GL_X, _GL_W
    else:
        gx, gw = np.polynomial.legendre.leggauss(n_nodes)
    lo, hi = np.log(tmin_s)[..., None], np.log(tmax)[..., None]
    u = 0.5 * (hi - lo) * gx + 0.5 * (hi + lo)
    t = np.exp(u)
    g2 = g2_elastic(t, z, a_mass)
    if inelastic:
        g2 = g2 + g2_inelastic(t, z)
    # dt = t du
    integrand = (t - tmin_s[..., None]) / t * g2
    return np.where(ok, 0.5 * (hi - lo)[..., 0] * np.sum(integrand * gw, axis=-1), 0.0)


def elastic_flux_analytic(tmin_gev2, tmax_gev2, z=PB_Z, a_mass=PB_A):
    """The elastic chi in closed form (the same G2_el integrated analytically; the expression DMG4 uses,
    PKMuon/DMG4 src/DarkMatter/DarkPhotons.cc ``fluxAnalytical``) [lit]."""
    tmin = np.asarray(tmin_gev2, dtype=float)
    tmax = np.asarray(tmax_gev2, dtype=float)
    ta = (M_E_GEV / (111.0 * z ** (-1.0 / 3.0))) ** 2
    td = 0.164 * a_mass ** (-2.0 / 3.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        val = -(td * td * (((ta - td) * (ta + td + 2.0 * tmax) * (tmax - tmin)) / ((ta + tmax) * (td + tmax))
                           + (ta + td + 2.0 * tmin) * (np.log(ta + tmax) - np.log(td + tmax) - np.log(ta + tmin)
                                                       + np.log(td + tmin)))) / (ta - td) ** 3
    return np.where(tmax > tmin, z * z * val, 0.0)
