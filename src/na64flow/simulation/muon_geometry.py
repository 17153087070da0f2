"""NA64mu downstream acceptance: the scattered muon's angle after a Z' emission, multiple scattering,
the MS2 dipole deflection, the HCAL aperture and range, the trigger counter, and the tracker stations.

Kinematics of the emission mu N -> mu N Z' (Weizsaecker-Williams, Bjorken, Essig, Schuster, Toro,
PRD 80 (2009) 075018, eq. 9 [lit], with the lepton mass m_l = m_mu):

    dsigma / (dx dcos theta) ~ E0^2 x / U^2 [ (1 - x + x^2/2) - x (1 - x) m^2 E0^2 x theta^2 / U^2 ],
    U = E0^2 x theta^2 + m^2 (1 - x)/x + m_l^2 x,

theta the Z' angle. Integrated over theta it gives the IWW dsigma/dx numerator (1 - x + x^2/3) used by
``physics.brem`` (checked in the tests), so the angle is drawn consistently with the energy: w = theta^2
from the leading 1/U^2 term (inverse CDF w = (b/a) u/(1 - u), a = E0^2 x, b = U(0)), accepted with
probability 1 - x (1 - x) m^2 a w / ((1 - x + x^2/2) U^2) (>= 1/2). The muon takes the opposite
transverse momentum (nuclear recoil neglected [est]: the elastic form factor limits it to
sqrt(t) < ~0.07 GeV for Pb), so theta_mu = x theta_Z' / (1 - x) and p_T ~ sqrt(m^2 (1 - x) + m_mu^2 x^2).

Multiple scattering: Highland, theta0 = 13.6 MeV / p sqrt(L/X0) (1 + 0.038 ln(L/X0)) per projection
[lit PDG]: in the ECAL after the emission point ((40 - depth) X0 of Pb at p_out) and in the HCAL iron
(25 mm Fe per 29 mm layer, X0(Fe) = 1.757 cm [lit PDG]) for the position at each module.

Geometry [est: our assumption of the 2022 NA64mu layout, not a survey; positions along the beam from the
ECAL centre; lateral positions relative to the trajectory of an undisturbed beam muon]:
  * MS2 dipole (thin-lens kick) at z = 3 m, bending power 1.4 T m (kick 0.3 x 1.4 / p GeV rad) [est,
    brief: "1.4 T m-ish"]; aperture |x| < 0.5 m, |y| < 0.1 m [est];
  * MS2 tracker stations: 4 (2 before, 2 after the magnet); a track needs hits in >= 3 of them, each
    station efficient with 0.95 [est: typical Micromegas/GEM plane efficiency 0.95-0.98]; MS1 likewise;
    every station sees a second (delta-ray/secondary) hit with probability 0.01 [est], which fails the
    "single hit per tracker" cut;
  * HCAL: 4 modules of 48 x (25 mm Fe + 4 mm Sc) = 1.39 m each [paper], front face at z = 15 m [est],
    transverse half size 0.3 m (3 x 3 cells of ~0.2 m [est]), centred on the undisturbed beam muon;
    a muon is seen as a MIP in module k only if it is inside the module's aperture there and still has
    momentum (range: 1.7 GeV of ionisation loss per module, 1.2 m Fe x 1.45 GeV/m [lit PDG dE/dx]);
  * trigger counter (S_mu) behind the HCAL (z = 21.1 m), half size 0.3 m, i.e. the muon must leave the
    last HCAL module inside the aperture; the counter's inner edge (deflection beyond the undisturbed beam)
    is represented by the measured p_MS2 < 0.625 E0 condition of ``trigger.physics_trigger``.
"""

from __future__ import annotations

import numpy as np

# --- geometry and detector constants (module docstring for the sources)
Z_MAGNET_M = 3.0
BEND_POWER_TM = 1.4
KICK_GEV_RAD = 0.2998 * BEND_POWER_TM        # p x theta_bend [GeV rad] = 0.3 B L [lit]
MAGNET_HALF_X_M, MAGNET_HALF_Y_M = 0.5, 0.1
Z_HCAL_FRONT_M = 15.0
HCAL_MODULE_LENGTH_M = 48 * 0.029
HCAL_HALF_SIZE_M = 0.3
HCAL_FE_X0_PER_MODULE = 48 * 2.5 / 1.757     # 68.3 X0 of iron per module
HCAL_LOSS_GEV_PER_MODULE = 1.7
Z_COUNTER_M = Z_HCAL_FRONT_M + 4 * HCAL_MODULE_LENGTH_M + 0.5
COUNTER_HALF_SIZE_M = 0.3
N_STATIONS = 4
STATIONS_NEEDED = 3
STATION_EFF = 0.95
EXTRA_HIT_PROB = 0.01
ECAL_X0 = 40.0


def highland_rad(p_gev, l_x0):
    """Highland multiple-scattering angle per projection [lit PDG], rad; 0 for no material."""
    p = np.maximum(np.asarray(p_gev, float), 1e-3)
    l = np.maximum(np.asarray(l_x0, float), 0.0)
    safe = np.where(l > 0, l, 1.0)
    return np.where(l > 0, 0.0136 / p * np.sqrt(safe) * (1.0 + 0.038 * np.log(safe)), 0.0)


def sample_zprime_angle_rad(rng: np.random.Generator, x: np.ndarray, e0_gev: float, mass_gev: float,
                            m_l_gev: float) -> np.ndarray:
    """Z' polar angle theta for emitted fractions ``x`` at beam energy ``e0_gev`` from the WW
    dsigma/(dx dcos theta) of the module docstring (rejection on the sub-leading term)."""
    x = np.asarray(x, float)
    n = len(x)
    a = e0_gev**2 * x
    b = mass_gev**2 * (1 - x) / x + m_l_gev**2 * x
    lead = 1 - x + 0.5 * x * x
    out = np.empty(n)
    todo = np.arange(n)
    for _ in range(200):
        if len(todo) == 0:
            break
        u = rng.random(len(todo))
        w = b[todo] / a[todo] * u / (1 - u)
        big_u = a[todo] * w + b[todo]
        g = 1 - x[todo] * (1 - x[todo]) * mass_gev**2 * a[todo] * w / (lead[todo] * big_u**2)
        ok = rng.random(len(todo)) < g
        out[todo[ok]] = np.sqrt(w[ok])
        todo = todo[~ok]
    if len(todo):   # acceptance >= 1/2 per try: unreachable in practice
        out[todo] = np.sqrt(b[todo] / a[todo])
    return out


def muon_after_emission(rng, x, e0_gev, mass_gev, m_l_gev):
    """Projected muon angles (theta_x, theta_y) [mrad] after emitting a Z' with fraction x: transverse
    momentum balance theta_mu = x theta_Z' / (1 - x), azimuth uniform."""
    th_z = sample_zprime_angle_rad(rng, x, e0_gev, mass_gev, m_l_gev)
    th_mu = x * th_z / np.maximum(1 - x, 1e-9)
    phi = rng.uniform(0, 2 * np.pi, len(x))
    return 1e3 * th_mu * np.cos(phi), 1e3 * th_mu * np.sin(phi)


def downstream(rng, p_out_gev, theta_x_mrad, theta_y_mrad, scatter_x0, p_beam_gev):
    """Acceptance flags of the outgoing muon (module docstring for the geometry):

    returns dict with ``in_magnet`` (bool), ``hcal_module`` (n x 4 bool: seen as a MIP in module k),
    ``counter`` (bool: trigger counter hit), ``ms1_ok``/``ms2_ok`` (enough tracker stations) and
    ``extra_hits`` (number of trackers with a second hit)."""
    p = np.maximum(np.asarray(p_out_gev, float), 1e-3)
    n = len(p)
    th0 = highland_rad(p, scatter_x0)
    tx = 1e-3 * theta_x_mrad + th0 * rng.standard_normal(n)
    ty = 1e-3 * theta_y_mrad + th0 * rng.standard_normal(n)
    # bend relative to the undisturbed beam muon (p_beam - 2 GeV ionisation, as processes_muon.muon_beam)
    p_ref = np.maximum(np.asarray(p_beam_gev, float) - 2.0, 1.0)
    dbend = KICK_GEV_RAD * (1.0 / p - 1.0 / p_ref)

    def pos(z):
        return tx * z + dbend * max(z - Z_MAGNET_M, 0.0), ty * z

    xm, ym = pos(Z_MAGNET_M)
    in_magnet = (np.abs(xm) < MAGNET_HALF_X_M) & (np.abs(ym) < MAGNET_HALF_Y_M)
    hcal = np.zeros((n, 4), bool)
    inside = in_magnet.copy()
    p_left = p.copy()
    ms_x = np.zeros(n)
    ms_y = np.zeros(n)
    for k in range(4):
        z_mid = Z_HCAL_FRONT_M + (k + 0.5) * HCAL_MODULE_LENGTH_M
        x, y = pos(z_mid)
        # scattering in the iron traversed so far (k + 1/2 modules), displacement ~ theta0 L / sqrt(3)
        l_x0 = (k + 0.5) * HCAL_FE_X0_PER_MODULE
        sig = highland_rad(np.maximum(p_left, 0.1), l_x0) * (k + 0.5) * HCAL_MODULE_LENGTH_M / np.sqrt(3)
        ms_x = sig * rng.standard_normal(n)
        ms_y = sig * rng.standard_normal(n)
        inside &= (np.abs(x + ms_x) < HCAL_HALF_SIZE_M) & (np.abs(y + ms_y) < HCAL_HALF_SIZE_M) & (p_left > 0)
        hcal[:, k] = inside
        p_left = p_left - HCAL_LOSS_GEV_PER_MODULE
    xc, yc = pos(Z_COUNTER_M)
    counter = inside & (p_left > 0) & (np.abs(xc + ms_x) < COUNTER_HALF_SIZE_M) \
        & (np.abs(yc + ms_y) < COUNTER_HALF_SIZE_M)
    ms1_ok = rng.binomial(N_STATIONS, STATION_EFF, n) >= STATIONS_NEEDED
    ms2_ok = in_magnet & (rng.binomial(N_STATIONS, STATION_EFF, n) >= STATIONS_NEEDED)
    extra = rng.binomial(2 * N_STATIONS, EXTRA_HIT_PROB, n)
    return {"in_magnet": in_magnet, "hcal_module": hcal, "counter": counter, "ms1_ok": ms1_ok,
            "ms2_ok": ms2_ok, "extra_hits": extra}
