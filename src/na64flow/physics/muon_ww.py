"""Vector (A', Z') bremsstrahlung off muons, mu N -> mu N V, in the full Weizsaecker-Williams (WW)
approximation with x- and angle-dependent tmin.

Double-differential WW cross section [lit: Liu & Miller arXiv:1705.01633 eq. (30); Kirpichnikov, Sieber,
Molina Bueno, Crivelli, Kirsanov arXiv:2107.13297 (the WW form used for NA64mu); implemented in DMG4 as
``DarkZ::CrossSectionDSDXDTheta``, PKMuon/DMG4 src/DarkMatter/DarkZ.cc, the default for muons there]:

  dsigma/(dx dcos theta) = 2 alpha^2 alpha_V E0^2 sqrt(x^2 - m^2/E0^2) (1 - x) / u^2
                           x [ 2 (2 - 2x + x^2)/(1 - x) + 4 (m^2 + 2 m_mu^2)(u x + m^2 (1 - x) + m_mu^2 x^2)/u^2 ]
                           x chi(tmin(x, theta), tmax),
  u = -(x E0^2 theta^2 + m^2 (1 - x)/x + m_mu^2 x),  tmin = u^2 / (4 E0^2 (1 - x)^2),  tmax = m^2 + m_mu^2,

theta the V emission angle (integrated to 0.3 rad as in DMG4), chi the photon flux of :mod:`.formfactors`
(elastic + inelastic; DMG4 uses the elastic part only, 1.5-2% lower for lead), alpha_V = eps^2 alpha or
g^2/(4 pi). With tmin = (m^2/2E0)^2 fixed and chi taken out of the angular integral this reduces exactly to
the IWW formula of :mod:`.brem` (tested), the form our earlier muon yields used. The x-dependent tmin
lowers the cross section most at high mass (where tmin/tmax is large). WW vs exact tree level for muons:
O(1-10)% (Voronchikhin, Kirpichnikov arXiv:2409.12748 abstract; Kirpichnikov et al. arXiv:2107.13297).

Integration: Gauss-Legendre in v = ln(1 - x) and in w = ln(-u) (the angle), up to where tmin reaches
tmax (chi = 0 beyond). All cross sections in GeV^-2 per nucleus.
"""

from __future__ import annotations

import numpy as np

from .constants import ALPHA, M_MU_GEV, PB_A, PB_Z
from .formfactors import photon_flux_between

THETA_MAX_RAD = 0.3          # upper limit of the V angle (DMG4 DarkZ ThetaMax) [lit]
_N_W, _N_X, _N_T = 48, 64, 96
_GW_X, _GW_W = np.polynomial.legendre.leggauss(_N_W)
_GX_X, _GX_W = np.polynomial.legendre.leggauss(_N_X)


def dsigma_dx_dcos_ww(x, theta_rad, e0_gev, mass_gev, alpha_eff=ALPHA, z=PB_Z, a_mass=PB_A, inelastic=True,
                      lepton_mass_gev=M_MU_GEV):
    """dsigma/(dx dcos theta) of the module docstring (GeV^-2 per nucleus); 0 where negative or outside
    m/E0 < x < 1 - m_mu/E0. Broadcasts its array arguments."""
    x, th, e0, m = np.broadcast_arrays(*(np.asarray(a, dtype=float) for a in (x, theta_rad, e0_gev, mass_gev)))
    ml2 = lepton_mass_gev**2
    with np.errstate(divide="ignore", invalid="ignore"):
        u = -(x * e0 * e0 * th * th + m * m * (1.0 - x) / x + ml2 * x)
        tmin = u * u / (4.0 * e0 * e0 * (1.0 - x) ** 2)
        chi = photon_flux_between(tmin, m * m + ml2, z, a_mass, inelastic, _N_T)
        amp = (2.0 * (2.0 - 2.0 * x + x * x) / (1.0 - x)
               + 4.0 * (m * m + 2.0 * ml2) * (u * x + m * m * (1.0 - x) + ml2 * x * x) / (u * u))
        out = (2.0 * ALPHA**2 * alpha_eff * e0 * e0 * np.sqrt(np.clip(x * x - m * m / (e0 * e0), 0.0, None))
               * (1.0 - x) / (u * u) * amp * chi)
        ok = (x > m / e0) & (x < 1.0 - lepton_mass_gev / e0) & np.isfinite(out)
    return np.where(ok, np.clip(out, 0.0, None), 0.0)


def dsigma_dx_ww(x, e0_gev, mass_gev, alpha_eff=ALPHA, z=PB_Z, a_mass=PB_A, inelastic=True,
                 theta_max_rad=THETA_MAX_RAD, lepton_mass_gev=M_MU_GEV):
    """dsigma/dx = int_0^theta_max dtheta sin(theta) dsigma/(dx dcos theta), GeV^-2 per nucleus.

    Substitution w = ln(-u): d cos(theta) = sin(theta) dtheta = (sin(theta)/theta) d(-u) / (2 x E0^2),
    Gauss-Legendre in w from -u(theta=0) to min(-u(theta_max), 2 E0 (1-x) sqrt(tmax)). Broadcasts.
    """
    x, e0, m = np.broadcast_arrays(*(np.asarray(a, dtype=float) for a in (x, e0_gev, mass_gev)))
    ml2 = lepton_mass_gev**2
    tmax = m * m + ml2
    with np.errstate(divide="ignore", invalid="ignore"):
        u0 = m * m * (1.0 - x) / x + ml2 * x                       # -u at theta = 0
        w_lo = np.log(u0)
        w_hi = np.minimum(np.log(u0 + x * e0 * e0 * theta_max_rad**2), np.log(2.0 * e0 * (1.0 - x) * np.sqrt(tmax)))
        ok = (x > m / e0) & (x < 1.0 - lepton_mass_gev / e0) & (w_hi > w_lo)
        w_lo_s, w_hi_s = np.where(ok, w_lo, 0.0), np.where(ok, w_hi, 1.0)
        w = 0.5 * (w_hi_s - w_lo_s)[..., None] * _GW_X + 0.5 * (w_hi_s + w_lo_s)[..., None]
        negu = np.exp(w)                                            # -u at the nodes
        xb, e0b, mb = x[..., None], e0[..., None], m[..., None]
        theta2 = np.clip((negu - u0[..., None]) / (xb * e0b * e0b), 0.0, None)
        theta = np.sqrt(theta2)
        sin_over_theta = np.where(theta > 1e-8, np.sin(theta) / np.where(theta > 1e-8, theta, 1.0), 1.0)
        u = -negu
        tmin = u * u / (4.0 * e0b * e0b * (1.0 - xb) ** 2)
        chi = photon_flux_between(tmin, (mb * mb + ml2), z, a_mass, inelastic, _N_T)
        amp = (2.0 * (2.0 - 2.0 * xb + xb * xb) / (1.0 - xb)
               + 4.0 * (mb * mb + 2.0 * ml2) * (u * xb + mb * mb * (1.0 - xb) + ml2 * xb * xb) / (u * u))
        # 2 alpha^2 alpha_V E0^2 x beta' (1-x)/u^2 amp chi x (sin/theta) (-u) dw / (2 x E0^2)
        beta_p = np.sqrt(np.clip(1.0 - mb * mb / (xb * xb * e0b * e0b), 0.0, None))
        f = ALPHA**2 * alpha_eff * beta_p * (1.0 - xb) / negu * amp * chi * sin_over_theta
        f = np.where(np.isfinite(f), np.clip(f, 0.0, None), 0.0)
        total = 0.5 * (w_hi_s - w_lo_s) * np.sum(f * _GW_W, axis=-1)
    return np.where(ok, total, 0.0)


def sigma_above_ww(e0_gev, mass_gev, e_thr_gev=0.0, alpha_eff=ALPHA, z=PB_Z, a_mass=PB_A, inelastic=True,
                   lepton_mass_gev=M_MU_GEV):
    """sigma(E_V > e_thr) = int dx dsigma_WW/dx over max(e_thr/E0, m/E0) < x < 1 - m_mu/E0, GeV^-2 per
    nucleus; Gauss-Legendre in v = ln(1 - x). Broadcasts e0_gev, mass_gev, e_thr_gev (loops over them)."""
    e0, m, thr = np.broadcast_arrays(*(np.asarray(a, dtype=float) for a in (e0_gev, mass_gev, e_thr_gev)))
    out = np.zeros(e0.shape)
    for idx in np.ndindex(e0.shape):
        ei, mi, ti = float(e0[idx]), float(m[idx]), float(thr[idx])
        x_lo, x_hi = max(ti / ei, mi / ei), 1.0 - lepton_mass_gev / ei
        if x_hi <= x_lo:
            continue
        v_hi, v_lo = np.log1p(-x_lo), np.log1p(-x_hi)
        v = 0.5 * (v_hi - v_lo) * _GX_X + 0.5 * (v_hi + v_lo)
        x = -np.expm1(v)
        f = dsigma_dx_ww(x, ei, mi, alpha_eff, z, a_mass, inelastic, lepton_mass_gev=lepton_mass_gev) * (1.0 - x)
        out[idx] = 0.5 * (v_hi - v_lo) * np.sum(f * _GX_W)
    return out
