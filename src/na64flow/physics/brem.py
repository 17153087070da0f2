"""A'-strahlung l Z -> l Z A' off electrons, positrons and muons.

Shape (IWW, Bjorken, Essig, Schuster, Toro arXiv:0906.0580 eq. A14; physics.md §3) [lit]:
  dsigma/dx = 4 alpha^3 eps^2 chi beta (1 - x + x^2/3) / [m^2 (1 - x)/x + m_l^2 x],
x = E_A'/E0, beta = sqrt(1 - m^2/E0^2), chi the photon flux of :mod:`.formfactors`; the coupling enters
through ``alpha_eff = eps^2 alpha`` (dark photon) or ``g^2/(4 pi)`` (Z').

Electrons and positrons: exact tree level (ETL) through the K-factor *as it is defined* [lit: Gninenko,
Kirpichnikov, Kirsanov, Krasnikov arXiv:1712.05706; tabulated in DMG4, PKMuon/DMG4
src/DarkMatter/KFactors.code]: K(m, E) = sigma_IWW^an(m, E) / sigma_ETL(m, E), with sigma_IWW^an DMG4's
analytic total IWW cross section (src/DarkMatter/DarkPhotons.cc, ``TotalCrossSectionCalc``)
  sigma_IWW^an = (4/3) alpha^3 eps^2 chi_el,an beta ln(1/delta^2) / m^2,  delta = max(m_e/m, m/E),
chi_el,an the closed-form elastic flux with tmin = m^4/4E^2, tmax = m^2. So sigma_ETL(m, E) =
sigma_IWW^an / K(m, E) at the *emitting particle's* energy E (K tabulated for 20-160 GeV and 1 MeV-3 GeV,
interpolated bilinearly, clamped at the table edges as DMG4 does), and the fraction above the
missing-energy threshold comes from the IWW shape above: sigma_ETL(E_A' > E_thr) = sigma_ETL x
int_{x_thr} dsigma/dx / int dsigma/dx. Check: sigma_IWW^an/K reproduces DMG4's ETL reference table
(examples/DarkMatterCS/testCS/DarkPhotonsSigmaTotETL.inc) to < 0.05% (tests). DMG4's newest KFactors.code
multiplies K by an unexplained 1.1 (10% lower yields); we use the tabulated K as printed.

Muons: the full Weizsaecker-Williams cross section with x- and angle-dependent tmin, :mod:`.muon_ww`.
All cross sections are GeV^-2 per nucleus.
"""

from __future__ import annotations

import numpy as np

from .constants import ALPHA, M_E_GEV, PB_A, PB_Z
from .formfactors import elastic_flux_analytic, photon_flux_chi

# K(m, E) = sigma_IWW^an / sigma_ETL for e+- [lit: DMG4 src/DarkMatter/KFactors.code (table values; masses
# 0.001-1.0 GeV rows, 20-160 GeV columns), from the ETL calculation of arXiv:1712.05706]
K_TABLE_MASS_GEV = np.array([0.001, 0.002, 0.004, 0.006, 0.008, 0.01, 0.02, 0.03, 0.04, 0.05, 0.06, 0.07,
                             0.08, 0.09, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0])
K_TABLE_E0_GEV = np.array([20.0, 40.0, 60.0, 80.0, 100.0, 120.0, 140.0, 160.0])
K_TABLE = np.array([
    [0.606286, 0.605283, 0.604929, 0.604740, 0.604626, 0.604549, 0.604485, 0.604527],
    [0.837599, 0.834420, 0.833288, 0.832704, 0.832335, 0.832088, 0.831908, 0.831281],
    [0.969624, 0.960278, 0.956935, 0.955195, 0.954116, 0.953380, 0.952846, 0.952438],
    [1.04025, 1.02264, 1.01628, 1.01296, 1.01090, 1.00949, 1.00846, 1.00767],
    [1.09678, 1.06925, 1.05920, 1.05392, 1.05064, 1.04838, 1.04674, 1.04549],
    [1.14791, 1.10876, 1.09496, 1.08740, 1.08268, 1.07945, 1.07708, 1.07527],
    [1.37278, 1.27614, 1.23623, 1.21422, 1.20018, 1.19038, 1.18313, 1.17754],
    [1.54771, 1.41733, 1.35440, 1.31719, 1.29257, 1.27496, 1.26174, 1.25144],
    [1.67437, 1.53055, 1.45506, 1.40683, 1.37324, 1.34847, 1.32944, 1.31436],
    [1.77288, 1.61665, 1.53582, 1.48201, 1.44284, 1.41290, 1.38925, 1.37014],
    [1.85602, 1.68401, 1.59904, 1.54266, 1.50082, 1.46799, 1.44150, 1.41950],
    [1.92991, 1.74007, 1.64994, 1.59150, 1.54830, 1.51409, 1.48600, 1.46248],
    [1.99782, 1.78938, 1.69307, 1.63207, 1.58764, 1.55260, 1.52374, 1.49944],
    [2.06170, 1.83451, 1.73141, 1.66729, 1.62130, 1.58541, 1.55599, 1.53126],
    [2.12278, 1.87693, 1.76675, 1.69911, 1.65122, 1.61423, 1.58415, 1.55903],
    [2.06543, 1.99617, 1.97534, 1.96104, 1.88813, 1.83371, 1.79096, 1.75693],
    [2.11679, 1.99508, 1.94777, 1.92431, 1.91109, 1.90242, 1.89753, 1.89330],
    [2.20752, 2.03888, 1.96707, 1.92846, 1.90484, 1.88910, 1.87848, 1.86970],
    [2.31917, 2.10361, 2.00917, 1.95564, 1.92204, 1.89876, 1.88227, 1.86935],
    [2.44447, 2.18024, 2.06445, 1.99649, 1.95258, 1.92186, 1.89907, 1.88231],
    [2.57930, 2.26485, 2.12820, 2.04634, 1.99220, 1.95390, 1.92531, 1.90398],
    [2.72069, 2.35541, 2.19782, 2.10255, 2.03836, 1.99240, 1.95799, 1.93186],
    [2.86596, 2.45069, 2.27181, 2.16346, 2.08944, 2.03584, 1.99582, 1.96446],
    [3.01242, 2.54971, 2.34923, 2.22797, 2.14436, 2.08319, 2.03674, 2.00084],
])


def k_factor(mass_gev, e0_gev=100.0):
    """K(m, E) = sigma_IWW^an / sigma_ETL (module docstring), bilinear in (m, E) in the DMG4 table,
    clamped to its edges (1 MeV-1 GeV, 20-160 GeV) [lit]."""
    m, e = np.broadcast_arrays(np.asarray(mass_gev, dtype=float), np.asarray(e0_gev, dtype=float))
    mc = np.clip(m, K_TABLE_MASS_GEV[0], K_TABLE_MASS_GEV[-1])
    ec = np.clip(e, K_TABLE_E0_GEV[0], K_TABLE_E0_GEV[-1])
    i = np.clip(np.searchsorted(K_TABLE_MASS_GEV, mc, side="right") - 1, 0, len(K_TABLE_MASS_GEV) - 2)
    j = np.clip(np.searchsorted(K_TABLE_E0_GEV, ec, side="right") - 1, 0, len(K_TABLE_E0_GEV) - 2)
    fm = (mc - K_TABLE_MASS_GEV[i]) / (K_TABLE_MASS_GEV[i + 1] - K_TABLE_MASS_GEV[i])
    fe = (ec - K_TABLE_E0_GEV[j]) / (K_TABLE_E0_GEV[j + 1] - K_TABLE_E0_GEV[j])
    return ((1 - fm) * (1 - fe) * K_TABLE[i, j] + fm * (1 - fe) * K_TABLE[i + 1, j]
            + (1 - fm) * fe * K_TABLE[i, j + 1] + fm * fe * K_TABLE[i + 1, j + 1])


def sigma_iww_analytic(e0_gev, mass_gev, eps=1.0, alpha_eff=None, z=PB_Z, a_mass=PB_A):
    """DMG4's analytic total IWW cross section for e+- (module docstring), GeV^-2 per nucleus: the formula
    the K-factor is defined against."""
    e0 = np.asarray(e0_gev, dtype=float)
    m = np.asarray(mass_gev, dtype=float)
    if alpha_eff is None:
        alpha_eff = eps * eps * ALPHA
    tmin = m**4 / (4.0 * e0 * e0)
    chi = elastic_flux_analytic(tmin, m * m, z, a_mass)
    beta = np.sqrt(np.clip(1.0 - m * m / (e0 * e0), 0.0, None))
    delta = np.maximum(M_E_GEV / m, m / e0)
    out = (4.0 / 3.0) * ALPHA**2 * alpha_eff * chi * beta * np.log(1.0 / delta**2) / (m * m)
    return np.where(e0 > m, np.clip(out, 0.0, None), 0.0)


def sigma_total_etl(e0_gev, mass_gev, eps=1.0, alpha_eff=None, z=PB_Z, a_mass=PB_A):
    """Exact-tree-level total cross section for e+-: sigma_IWW^an(m, E) / K(m, E), GeV^-2 per nucleus."""
    return sigma_iww_analytic(e0_gev, mass_gev, eps, alpha_eff, z, a_mass) / k_factor(mass_gev, e0_gev)


_N_X_NODES = 96
_GL_X, _GL_W = np.polynomial.legendre.leggauss(_N_X_NODES)


def _is_electron(lepton_mass_gev: float) -> bool:
    return lepton_mass_gev < 10 * M_E_GEV


def dsigma_dx(x, e0_gev, mass_gev, lepton_mass_gev=M_E_GEV, eps=1.0, alpha_eff=None, z=PB_Z,
              a_mass=PB_A, chi=None, etl_correction=True):
    """dsigma/dx (GeV^-2 per nucleus) for emitting a vector of mass ``mass_gev`` with energy x E0 off a
    lepton of energy ``e0_gev`` and mass ``lepton_mass_gev``.

    ``etl_correction=False``: the IWW formula of the module docstring (``chi`` may be passed
    precomputed; it depends on m and E0 only). ``etl_correction=True`` (default, the best available):
    for e+- the IWW shape normalised to the ETL total sigma_IWW^an/K(m, E0); for muons the full WW form
    of :mod:`.muon_ww` (``chi`` is then ignored). ``alpha_eff`` (default eps^2 alpha) is the vector's
    coupling squared over 4 pi. Zero outside m/E0 < x < 1 - m_l/E0. Broadcasts x, e0_gev, mass_gev.
    """
    if etl_correction and not _is_electron(lepton_mass_gev):
        from .muon_ww import dsigma_dx_ww

        return dsigma_dx_ww(x, e0_gev, mass_gev, alpha_eff=_alpha_eff(eps, alpha_eff), z=z, a_mass=a_mass)
    x = np.asarray(x, dtype=float)
    e0 = np.asarray(e0_gev, dtype=float)
    m = np.asarray(mass_gev, dtype=float)
    alpha_eff = _alpha_eff(eps, alpha_eff)
    if chi is None:
        chi = photon_flux_chi(m, e0, z, a_mass, lepton_mass_gev)
    beta = np.sqrt(np.clip(1.0 - m * m / (e0 * e0), 0.0, None))
    with np.errstate(divide="ignore", invalid="ignore"):
        num = 4.0 * ALPHA**2 * alpha_eff * chi * beta * (1.0 - x + x * x / 3.0)
        den = m * m * (1.0 - x) / x + lepton_mass_gev**2 * x
        out = np.where((x > m / e0) & (x < 1.0 - lepton_mass_gev / e0), num / den, 0.0)
    if etl_correction:
        out = out * etl_normalisation(e0, m, z, a_mass)
    return out


def _alpha_eff(eps, alpha_eff):
    return eps * eps * ALPHA if alpha_eff is None else alpha_eff


def etl_normalisation(e0_gev, mass_gev, z=PB_Z, a_mass=PB_A):
    """sigma_ETL / int dx dsigma_IWW/dx (no threshold) for e+-: the factor that turns our IWW dsigma/dx
    into the ETL one (shape kept), at the emitter energy ``e0_gev``."""
    e0 = np.asarray(e0_gev, dtype=float)
    m = np.asarray(mass_gev, dtype=float)
    iww = _iww_above(e0, m, 0.0, M_E_GEV, ALPHA, z, a_mass)
    etl = sigma_total_etl(e0, m, alpha_eff=ALPHA, z=z, a_mass=a_mass)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(iww > 0, etl / np.where(iww > 0, iww, 1.0), 0.0)


def x_range(e0_gev, mass_gev, e_thr_gev, lepton_mass_gev=M_E_GEV):
    """(x_lo, x_hi): the x interval with E_A' = x E0 above ``e_thr_gev`` and kinematically allowed."""
    e0 = np.asarray(e0_gev, dtype=float)
    m = np.asarray(mass_gev, dtype=float)
    x_lo = np.maximum(np.asarray(e_thr_gev, dtype=float) / e0, m / e0)
    x_hi = 1.0 - lepton_mass_gev / e0
    return np.broadcast_arrays(x_lo, x_hi)


def _iww_above(e0, m, e_thr_gev, lepton_mass_gev, alpha_eff, z, a_mass):
    """int_{x_lo}^{x_hi} dx dsigma_IWW/dx: Gauss-Legendre in v = ln(1 - x) (the integrand (1-x) dsigma/dx
    is smooth there; the 1/(1-x) rise towards x -> 1 is what makes plain grids in x inaccurate)."""
    x_lo, x_hi = x_range(e0, m, e_thr_gev, lepton_mass_gev)
    e0b, mb = np.broadcast_arrays(e0, m)
    e0b, mb = np.broadcast_to(e0b, x_lo.shape), np.broadcast_to(mb, x_lo.shape)
    ok = x_hi > x_lo
    v_hi = np.log(np.where(ok, 1.0 - x_lo, 1.0))[..., None]   # v = ln(1 - x): x_lo -> v_hi
    v_lo = np.log(1.0 - x_hi)[..., None]
    v = 0.5 * (v_hi - v_lo) * _GL_X + 0.5 * (v_hi + v_lo)
    x = 1.0 - np.exp(v)
    chi = photon_flux_chi(mb, e0b, z, a_mass, lepton_mass_gev)[..., None]
    f = dsigma_dx(x, e0b[..., None], mb[..., None], lepton_mass_gev, 1.0, alpha_eff, z, a_mass, chi,
                  False) * (1.0 - x)
    total = 0.5 * (v_hi - v_lo)[..., 0] * np.sum(f * _GL_W, axis=-1)
    return np.where(ok, total, 0.0)


def sigma_above(e0_gev, mass_gev, e_thr_gev=0.0, lepton_mass_gev=M_E_GEV, eps=1.0, alpha_eff=None,
                z=PB_Z, a_mass=PB_A, etl_correction=True):
    """sigma(E_A' > e_thr) = int_{x_lo}^{x_hi} dx dsigma/dx, GeV^-2 per nucleus (``etl_correction`` as in
    :func:`dsigma_dx`: e+- IWW shape x ETL normalisation at E0; muons full WW). Broadcasts e0_gev,
    mass_gev, e_thr_gev."""
    e0 = np.asarray(e0_gev, dtype=float)
    m = np.asarray(mass_gev, dtype=float)
    alpha_eff = _alpha_eff(eps, alpha_eff)
    if etl_correction and not _is_electron(lepton_mass_gev):
        from .muon_ww import sigma_above_ww

        return sigma_above_ww(e0, m, e_thr_gev, alpha_eff=alpha_eff, z=z, a_mass=a_mass)
    out = _iww_above(e0, m, e_thr_gev, lepton_mass_gev, alpha_eff, z, a_mass)
    if etl_correction:
        out = out * etl_normalisation(e0, m, z, a_mass)
    return out
