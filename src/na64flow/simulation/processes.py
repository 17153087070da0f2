"""Physics processes of the fast simulation, per setup: what each leaves in the detector, and its rate.

Each generator ``gen(rng, n, ctx) -> detector.Truth`` draws ``n`` events of one process *unconditioned*
(the trigger is applied afterwards). ``ctx`` carries ``e0_gev``, ``beam``, ``setup``, ``vhcal``.

Rates per particle on target (``rate_per_ot``) have two origins:

* a physics estimate, written next to the process with its source tag;
* for the box backgrounds of the published tables (physics.md §1) the rate is *derived*: rate =
  B_published / (N_OT,published x A_box), where A_box is the fraction of the process' events that land in
  the published signal box after the published selection, measured on a fixed-seed pilot sample
  (``generator.box_acceptance``). This makes the expected box background at the published exposure equal
  to the published one; nothing is tuned to a limit.

All numbers are listed with their sources in docs/simulation.md.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from .detector import Truth, blank, hadronic_split

LAMBDA_I_X0 = 17.59 / 0.5612   # Pb nuclear interaction length in X0 (31.3) [lit PDG]
ECAL_DEPTH_X0 = 40.0           # [paper]


def _brem_fraction(rng, n, x_min=0.02, x_max=1.0):
    """Photon energy fraction x from the bremsstrahlung spectrum dN/dx ~ (4/3 (1-x) + x^2)/x [lit, Tsai]."""
    out = np.empty(0)
    while len(out) < n:
        m = max(2 * (n - len(out)), 64)
        x = x_min * (x_max / x_min) ** rng.random(m)          # ~ 1/x
        keep = rng.random(m) * 4.0 / 3.0 < (4.0 / 3.0 * (1 - x) + x * x)
        out = np.concatenate([out, x[keep]])
    return out[:n]


def _em(t: Truth, rng, e_gev, start_x0=None):
    """Ordinary e-m shower of energy e_gev in the ECAL; SR of an electron of that energy."""
    t["ecal_em_gev"] = np.asarray(e_gev, float).copy()
    t["em_start_x0"] = rng.exponential(0.3, len(e_gev)) if start_x0 is None else start_x0


def _electron_beam(t: Truth, rng, ctx, sr=True):
    n = t.n
    p = ctx.e0_gev * (1.0 + 0.005 * rng.standard_normal(n))   # beam spread 0.5% [paper: < 1%]
    t["p_true_gev"] = p
    t["p_meas_true_gev"] = p
    if sr:
        t["sr_scale"] = (p / 100.0) ** 2
    return p


# ----------------------------------------------------------------------------- electron setup


def em_shower(rng, n, ctx) -> Truth:
    """Ordinary e-m shower of the beam e-/e+ (the bulk; E_ECAL ~ E0, nothing downstream)."""
    t = blank(n, ctx.e0_gev)
    p = _electron_beam(t, rng, ctx)
    _em(t, rng, p)
    return t


PS_INTERACTION_PROB = 1.0 - np.exp(-4.0 / LAMBDA_I_X0)   # interaction in the first 4 X0 (0.12)
SRD_ALL_FAKE_PROB = 1e-6   # a non-radiating particle fires all three SRD modules: (1e-2)^3 (detector.SRD_FAKE_PROB)
LEADING_NEUTRAL_PROB = 0.05     # [est] interacting hadron gives a leading n/K0_L with y > 0.5 (leading-particle
#                                 spectrum ~ flat in y [lit], neutral share ~1/3, x 0.3 for y > 0.5 and the
#                                 remaining products staying in the ECAL)
HCAL_PUNCH_PER_MODULE = 1e-3    # pi punch-through per HCAL module [paper]; taken for the leading neutral too [est]
HADRON_BOX_PROB = LEADING_NEUTRAL_PROB * HCAL_PUNCH_PER_MODULE**4   # 5e-14: neutral crosses all 4 modules
HADRON_BOX_ENHANCED = 0.5       # importance-sampling probability of each rare flag in the weighted MC


def hadron_contamination(rng, n, ctx, component=None) -> Truth:
    """Beam hadron (pi, K, p) instead of an electron: no SR; first interaction at depth ~ Exp(lambda_I).

    Interacting in the ECAL (40 X0 = 1.28 lambda_I [lit]): a fraction U(0.1, 0.6) of the energy stays
    in the ECAL (e-m from pi0s 1/3, hadronic 2/3 [est]), the rest goes to the HCAL; charged secondaries
    reach the VETO (Poisson(2) MIPs [est]). Non-interacting: a MIP through ECAL and VETO, showering in the HCAL.

    Box topology (the only way this model reaches E_ECAL < 50, E_HCAL < 1 GeV): the interaction gives a
    leading neutral (n, K0_L) with y ~ U(0.5, 1) of the energy (probability LEADING_NEUTRAL_PROB [est])
    that crosses the four HCAL modules without interacting ((1e-3)^4 [paper punch-through per module]);
    of the rest (1 - y) E, a fraction g ~ U(0.5, 1) stays in the ECAL, the remainder reaches the HCAL [est].
    It is a box event only if the hadron also fakes the SR tag in all three SRD modules (1e-6, detector).

    ``component="ps"``: interaction in the first 4 X0 (the part that can fire the PS trigger).
    ``component="ps_box"`` (weighted MC): as "ps", with the punch-through flag and the all-three-SRD-fake
    flag each drawn with probability 1/2 instead of 5e-14 and 1e-6, and 1 - y, 1 - g of the punch-through
    events drawn as 0.5 u^2 (towards small E_HCAL); ``bias_weight`` = true / sampling density of the flags
    and of y, g (so the sum of weights is unchanged in expectation and the box is populated).
    """
    t = blank(n, ctx.e0_gev)
    p = _electron_beam(t, rng, ctx, sr=False)
    if component in ("ps", "ps_box"):   # only hadrons interacting in the pre-shower can fire the PS trigger
        depth = -LAMBDA_I_X0 * np.log1p(-rng.random(n) * PS_INTERACTION_PROB)
    else:
        depth = rng.exponential(LAMBDA_I_X0, n)
    inter = depth < ECAL_DEPTH_X0
    f = np.where(inter, rng.uniform(0.1, 0.6, n), 0.0)
    e_ecal = f * p
    e_hcal = (1.0 - f) * p * 0.95
    # box topology: leading neutral punching through the HCAL (natural probability 5e-14, or enhanced)
    p_box = HADRON_BOX_ENHANCED if component == "ps_box" else HADRON_BOX_PROB
    lead = inter & (rng.random(n) < p_box)
    if component == "ps_box":
        # proposal 1 - y = 0.5 u^2 (and 1 - g likewise): density 1/sqrt(2 s) on s in (0, 0.5) instead of
        # the true 2, so the E_HCAL = (1 - g)(1 - y) E < 1 GeV corner is populated; weight 2 sqrt(2 s) each
        s_y = 0.5 * rng.random(n) ** 2
        s_g = 0.5 * rng.random(n) ** 2
        y, g = 1.0 - s_y, 1.0 - s_g
        w_yg = 2.0 * np.sqrt(2.0 * s_y) * 2.0 * np.sqrt(2.0 * s_g)
    else:
        y = rng.uniform(0.5, 1.0, n)
        g = rng.uniform(0.5, 1.0, n)
    e_ecal = np.where(lead, g * (1 - y) * p, e_ecal)
    e_hcal = np.where(lead, (1 - g) * (1 - y) * p, e_hcal)
    t["ecal_em_gev"] = e_ecal / 3.0
    t["em_start_x0"] = depth
    t["ecal_had_gev"] = 2.0 * e_ecal / 3.0
    t["had_start_x0"] = np.where(inter, depth, 100.0)
    t["ecal_mip"] = np.where(inter, 0.0, 1.0)
    t["hcal_gev"] = hadronic_split(rng, e_hcal)
    t["veto_mip_true"] = np.where(inter, rng.poisson(2.0, n), 1.0)
    t["chi2_scale"] = np.where(inter, rng.lognormal(np.log(6.0), 0.5, n), 1.0)
    t["true_e_miss_gev"] = np.where(lead, y * p, 0.0)
    if component == "ps_box":
        fake_all = rng.random(n) < HADRON_BOX_ENHANCED
        t["srd_fake_mode"] = np.where(fake_all, 1, 2).astype(np.int8)
        w_lead = np.where(lead, HADRON_BOX_PROB / HADRON_BOX_ENHANCED * w_yg,
                          (1 - HADRON_BOX_PROB) / (1 - HADRON_BOX_ENHANCED))
        w_lead = np.where(inter, w_lead, 1.0)
        w_srd = np.where(fake_all, SRD_ALL_FAKE_PROB / HADRON_BOX_ENHANCED,
                         (1 - SRD_ALL_FAKE_PROB) / (1 - HADRON_BOX_ENHANCED))
        t["bias_weight"] = w_lead * w_srd
    return t


def hadron_electroproduction(rng, n, ctx) -> Truth:
    """Zone II: e A -> e + hadrons in the ECAL; hadrons of energy y E0 (brem-photon spectrum,
    y > 0.1) mostly reach the HCAL so that E_ECAL + E_HCAL ~ E0 [paper]."""
    t = blank(n, ctx.e0_gev)
    p = _electron_beam(t, rng, ctx)
    y = _brem_fraction(rng, n, 0.1, 1.0)
    e_had = y * p
    f_in_ecal = rng.uniform(0.05, 0.3, n)   # [est]
    _em(t, rng, p - e_had)
    t["ecal_had_gev"] = f_in_ecal * e_had
    t["had_start_x0"] = rng.uniform(2.0, 20.0, n)
    t["hcal_gev"] = hadronic_split(rng, (1 - f_in_ecal) * e_had)
    t["veto_mip_true"] = rng.poisson(1.5, n)
    t["chi2_scale"] = rng.lognormal(np.log(1.5), 0.4, n)
    return t


DIMUON_LOSS_ENHANCED = 0.05   # loss-topology fraction in the weighted MC (importance sampling)


def dimuon(rng, n, ctx, component=None) -> Truth:
    """Zone I: e Z -> e Z gamma, gamma Z -> mu+ mu- Z; the pair takes x E0 with x from the brem
    spectrum times the rising pair cross section (1 - E_thr/E_gamma)^2, E_thr = 4 m_mu [est shape].
    Both muons cross ECAL, VETO and the 4 HCAL modules as MIPs (~10 GeV in the HCAL [paper])."""
    t = blank(n, ctx.e0_gev)
    p = _electron_beam(t, rng, ctx)
    x = np.empty(0)
    while len(x) < n:
        xs = _brem_fraction(rng, 2 * n + 64, 0.005, 1.0)
        keep = rng.random(len(xs)) < np.clip(1 - 0.42 / (xs * p[0]), 0, 1) ** 2
        x = np.concatenate([x, xs[keep]])
    x = x[:n]
    e_mumu = x * p
    _em(t, rng, p - e_mumu)
    t["ecal_mip"] = np.full(n, 2.0 * 0.5)   # muons produced on average mid-shower: half the ECAL path
    t["hcal_mip"] = np.full(n, 2.0)
    t["veto_mip_true"] = np.full(n, 2.0)
    t["chi2_scale"] = rng.lognormal(np.log(1.3), 0.3, n)
    # loss topology (both muons lost or decaying in the target -> box): probability derived from the
    # published 0.04 +- 0.01 per 9.37e11 EOT (generator.derive_rates); enhanced in the weighted MC
    p_loss = float(getattr(ctx, "dimuon_loss_prob", 0.0))
    p_gen = DIMUON_LOSS_ENHANCED if component == "enhanced" else p_loss
    lost = rng.random(n) < p_gen
    if component == "enhanced":
        t["bias_weight"] = np.where(lost, p_loss / p_gen, (1 - p_loss) / (1 - p_gen))
    for k in ("ecal_mip", "hcal_mip", "veto_mip_true"):
        t[k] = np.where(lost, 0.0, t[k])
    t["true_e_miss_gev"] = np.where(lost, e_mumu, 0.0)
    return t


def pileup(rng, n, ctx) -> Truth:
    """Zone III: a triggering event (hadron electro-production) plus a second beam particle within the
    +-25 ns readout window whose hadronic shower lands in the HCAL, so that E_ECAL + E_HCAL > E0 [paper]."""
    t = hadron_electroproduction(rng, n, ctx)
    e2 = ctx.e0_gev * rng.uniform(0.2, 1.0, n)
    dt = rng.uniform(-25.0, 25.0, n)
    h1 = t["hcal_gev"].sum(axis=1)
    t["hcal_gev"] = t["hcal_gev"] + hadronic_split(rng, e2)
    t["hcal_dt_ns"] = dt * e2 / (e2 + h1)   # energy-weighted HCAL time
    t["n_tracks"] = np.where(rng.random(n) < 0.5, 2, 1).astype(np.int32)   # second track resolved [est]
    return t


# shapes of the upstream-interaction background (side bands -> box extrapolation) [est]
UPSTREAM_TAU = 0.057       # lost ECAL fraction u ~ exp(-u / tau) on [0, 1]
UPSTREAM_HCAL_K = 5.0      # E_HCAL ~ Gamma(k, theta)
UPSTREAM_HCAL_THETA_GEV = 1.5
UPSTREAM_PROPOSAL_K, UPSTREAM_PROPOSAL_THETA_GEV = 3.0, 2.0   # importance-sampling proposal for E_HCAL
UPSTREAM_U_TRIGGERABLE = 0.15   # u below this never fires the E_ECAL < 0.8 E0 trigger (5 sigma of resolution)
UPSTREAM_TAIL_PROB = (np.exp(-UPSTREAM_U_TRIGGERABLE / UPSTREAM_TAU) - np.exp(-1 / UPSTREAM_TAU)) \
    / (1 - np.exp(-1 / UPSTREAM_TAU))
UPSTREAM_CHARGED_PROB = 0.3   # a charged secondary hits the VETO [est]
UPSTREAM_VHCAL_PROB = 0.93    # VHCAL catches the wide-angle secondaries (upstream bkg cut by > 10x [paper])


def _gamma_pdf_ratio(x, k, theta, k0, theta0):
    """Gamma(k, theta) pdf / Gamma(k0, theta0) pdf at x > 0, in closed form (the scipy.stats.gamma pdfs'
    ratio without importing scipy.stats, ~2 s per process)."""
    log_c = math.lgamma(k0) - math.lgamma(k) + k0 * math.log(theta0) - k * math.log(theta)
    return np.exp(log_c + (k - k0) * np.log(x) - x * (1.0 / theta - 1.0 / theta0))


def upstream_interaction(rng, n, ctx, component=None) -> Truth:
    """Electron interacting upstream of the ECAL (beam-line material); neutrals (gamma, n, K0) lost
    outside the acceptance. E_ECAL = E0 (1 - u), u ~ exp(-u/0.057) truncated to [0, 1]; E_HCAL from the
    neutrals that do reach it ~ Gamma(5, 1.5 GeV), independent of u (the side bands factorise, so a
    side-band fit can extrapolate into the box) [est shapes].

    ``component="tail"``: only u > 0.15 (the part that can fire the trigger), probability UPSTREAM_TAIL_PROB.
    ``component="enhanced"`` (weighted MC and the box-acceptance pilot): u ~ U(0, 1) and
    E_HCAL ~ Exp(theta) instead, with ``bias_weight`` = true pdf / sampling pdf (importance sampling,
    so the box and both side bands are populated)."""
    t = blank(n, ctx.e0_gev)
    p = _electron_beam(t, rng, ctx)
    tau = UPSTREAM_TAU
    if component == "enhanced":
        u = rng.random(n)
        e_h = rng.gamma(UPSTREAM_PROPOSAL_K, UPSTREAM_PROPOSAL_THETA_GEV, n)
        pdf_u = np.exp(-u / tau) / (tau * (1 - np.exp(-1.0 / tau)))
        w_h = _gamma_pdf_ratio(e_h, UPSTREAM_HCAL_K, UPSTREAM_HCAL_THETA_GEV,
                               UPSTREAM_PROPOSAL_K, UPSTREAM_PROPOSAL_THETA_GEV)
        t["bias_weight"] = pdf_u * w_h
    else:
        u_min = UPSTREAM_U_TRIGGERABLE if component == "tail" else 0.0
        lo, hi = np.exp(-u_min / tau), np.exp(-1.0 / tau)
        u = -tau * np.log(lo - rng.random(n) * (lo - hi))   # truncated exponential on [u_min, 1]
        e_h = rng.gamma(UPSTREAM_HCAL_K, UPSTREAM_HCAL_THETA_GEV, n)
    _em(t, rng, p * (1.0 - u))
    e_h = np.minimum(e_h, p * u)
    t["hcal_gev"] = hadronic_split(rng, e_h)
    t["veto_mip_true"] = np.where(rng.random(n) < UPSTREAM_CHARGED_PROB, rng.poisson(1.0, n) + 1.0, 0.0)
    t["chi2_scale"] = rng.lognormal(np.log(1.1), 0.2, n)
    caught = rng.random(n) < UPSTREAM_VHCAL_PROB
    t["vhcal_gev"] = np.where(caught, p * u * rng.uniform(0.1, 0.5, n), 0.0)
    t["n_tracks"] = np.where(rng.random(n) < 0.2, 2, 1).astype(np.int32)
    t["true_e_miss_gev"] = np.clip(p * u - e_h, 0, None)
    return t


def beamline_decay(rng, n, ctx) -> Truth:
    """pi, K, mu -> e nu (X) in flight after the upstream spectrometer: the momentum measured is the
    parent's (E0) but the electron carries y E0, y ~ U(0, 1) (two-body pi/K -> e nu is flat [lit]).
    The decay happens at a fraction z ~ U(0, 1) of the SRD magnet path (SR ~ z y^2) or, with
    probability 0.5, after it (no SR) [est]."""
    t = blank(n, ctx.e0_gev)
    p = _electron_beam(t, rng, ctx, sr=False)
    y = rng.random(n)
    z = np.where(rng.random(n) < 0.5, rng.random(n), 0.0)
    t["sr_scale"] = z * (y * p / 100.0) ** 2
    _em(t, rng, y * p)
    t["true_e_miss_gev"] = (1 - y) * p
    return t


def punch_through(rng, n, ctx) -> Truth:
    """Electro-production with a leading neutral hadron (n, K0_L) taking y E0, y ~ U(0.3, 1) [est],
    that crosses ECAL and HCAL without interacting; the remaining hadrons leave Exp(0.5 GeV) in the HCAL."""
    t = blank(n, ctx.e0_gev)
    p = _electron_beam(t, rng, ctx)
    y = rng.uniform(0.3, 1.0, n)
    _em(t, rng, (1 - y) * p)
    t["hcal_gev"] = hadronic_split(rng, rng.exponential(0.5, n))
    t["chi2_scale"] = rng.lognormal(np.log(1.3), 0.3, n)
    t["true_e_miss_gev"] = y * p
    return t


def annihilation_sm(rng, n, ctx) -> Truth:
    """e+ e- -> mu+ mu- (70%) or pi+ pi- (30%) [est] of the beam positron on an atomic electron at
    sqrt(s) = sqrt(2 m_e E0): muons cross everything as MIPs; pions shower in the HCAL."""
    t = blank(n, ctx.e0_gev)
    p = _electron_beam(t, rng, ctx)
    depth = rng.exponential(1.0, n)
    frac_ecal = 1 - np.exp(-depth)   # shower energy before the annihilation [est]
    rest = p * np.exp(-depth) * 0 + p * (1 - frac_ecal)
    _em(t, rng, p * frac_ecal)
    mumu = rng.random(n) < 0.7
    t["ecal_mip"] = np.where(mumu, 2.0, 0.0)
    t["hcal_mip"] = np.where(mumu, 2.0, 0.0)
    t["hcal_gev"] = hadronic_split(rng, np.where(mumu, 0.0, rest * 0.9))
    t["veto_mip_true"] = np.full(n, 2.0)
    t["chi2_scale"] = rng.lognormal(np.log(1.5), 0.3, n)
    t["true_e_miss_gev"] = np.where(mumu, rest, 0.1 * rest)
    return t


# ----------------------------------------------------------------------------- muon setup


def _muon_beam(t: Truth, rng, ctx):
    n = t.n
    p = ctx.e0_gev * (1.0 + 0.03 * rng.standard_normal(n))   # M2 momentum spread ~3% [est]
    t["p_true_gev"] = p
    t["p_meas_true_gev"] = p
    t["ecal_mip"] = np.ones(n)
    t["hcal_mip"] = np.ones(n)
    t["veto_mip_true"] = np.ones(n)
    t["p_out_true_gev"] = p - 2.0          # ionisation in ECAL + HCAL ~ 2 GeV [est]
    return p


def muon_nominal(rng, n, ctx) -> Truth:
    """Ordinary 160 GeV muon: MIP in ECAL, VETO, 4 HCAL modules; p_out = p_in - 2 GeV."""
    t = blank(n, ctx.e0_gev)
    _muon_beam(t, rng, ctx)
    return t


def muon_brem_hard(rng, n, ctx) -> Truth:
    """Hard muon bremsstrahlung / nuclear interaction with a visible fraction v of the energy
    (brem spectrum, v > 0.05) in the ECAL (70%) or HCAL (30%) [est]."""
    t = blank(n, ctx.e0_gev)
    p = _muon_beam(t, rng, ctx)
    v = _brem_fraction(rng, n, 0.05, 0.98)
    e = v * p
    in_ecal = rng.random(n) < 0.7
    t["ecal_em_gev"] = np.where(in_ecal, e, 0.0)
    t["em_start_x0"] = rng.uniform(0, 40, n)
    t["hcal_gev"] = hadronic_split(rng, np.where(in_ecal, 0.0, e))
    t["p_out_true_gev"] = p * (1 - v) - 2.0
    return t


MS_TAIL_SCALE = 0.02   # Student-t(2) tail of MS2 mis-reconstruction, scale 2% [est]
MS_TAIL_TRIGGERABLE = 10.0   # |T| below this (|delta| < 20%) cannot fire the p_out < 0.625 E0 trigger


def student2_abs_sf(x):
    """P(|T| > x) for Student-t with 2 degrees of freedom: 1 - x / sqrt(2 + x^2) [lit]."""
    x = np.asarray(x, float)
    return 1.0 - x / np.sqrt(2.0 + x * x)


def _student2_abs_above(rng, n, x_min):
    """|T| of Student-t(2) conditioned on |T| > x_min, by inverting the survival function."""
    s = rng.random(n) * student2_abs_sf(x_min)   # S(|T|) ~ U(0, S(x_min))
    c = 1.0 - s                                   # = x / sqrt(2 + x^2)
    return np.sqrt(2.0 * c * c / np.maximum(1.0 - c * c, 1e-300))


MS_TAIL_PROB = float(student2_abs_sf(MS_TAIL_TRIGGERABLE))


def momentum_misreco(rng, n, ctx, component=None) -> Truth:
    """MS1/MS2 mis-reconstruction tail: the outgoing momentum is mis-measured by delta = -|T| 0.02,
    T ~ Student-t(nu = 2) (scattering/pattern-recognition tails [est]); the track fit is worse
    (chi2 scale 1 + 0.1 |T| [est]). MS1 tail: the incoming momentum likewise, with probability 0.3."""
    t = blank(n, ctx.e0_gev)
    p = _muon_beam(t, rng, ctx)
    tt = _student2_abs_above(rng, n, MS_TAIL_TRIGGERABLE) if component == "tail" else np.abs(rng.standard_t(2.0, n))
    t["ms2_tail"] = -np.minimum(tt * MS_TAIL_SCALE, 0.95)
    t["ms2_chi2_scale"] = 1.0 + 0.1 * tt
    ms1 = rng.random(n) < 0.3
    t["p_meas_true_gev"] = np.where(ms1, p * (1 + MS_TAIL_SCALE * rng.standard_t(2.0, n)), p)
    return t


def k_mu_nu(rng, n, ctx) -> Truth:
    """K- -> mu- nu in flight after MS1 (K/pi ~ 0.03, pi/mu ~ 1e-6 [paper]): the muon takes y p,
    y ~ U(m_mu^2/m_K^2, 1) = U(0.046, 1) (two-body [lit]); the neutrino carries the rest."""
    t = blank(n, ctx.e0_gev)
    p = _muon_beam(t, rng, ctx)
    y = rng.uniform(0.0458, 1.0, n)
    t["p_out_true_gev"] = y * p - 2.0
    t["true_e_miss_gev"] = (1 - y) * p
    return t


def non_hermetic(rng, n, ctx) -> Truth:
    """Hard muon interaction whose products (fraction v, brem spectrum v > 0.05) escape through the
    calorimeters' cracks/holes: MIP-like calorimeters, low p_out [est]."""
    t = blank(n, ctx.e0_gev)
    p = _muon_beam(t, rng, ctx)
    v = _brem_fraction(rng, n, 0.05, 0.98)
    t["p_out_true_gev"] = p * (1 - v) - 2.0
    t["true_e_miss_gev"] = v * p
    return t


# ----------------------------------------------------------------------------- hadron setup


def _pion_beam(t: Truth, rng, ctx):
    n = t.n
    p = ctx.e0_gev * (1.0 + 0.01 * rng.standard_normal(n))   # H4 hadron beam spread ~1% [est]
    t["p_true_gev"] = p
    t["p_meas_true_gev"] = p
    return p


PION_BIG_LEAK_PROB = 1e-3   # [est]


def pion_shower(rng, n, ctx, component=None) -> Truth:
    """Ordinary hadronic shower of the beam pion: first interaction ~ Exp(lambda_I); ECAL keeps
    U(0.1, 0.4) of the energy if it interacts there (40 X0 = 1.3 lambda_I [lit]); leakage: Exp(3%) of the energy, and with
    probability 1e-3 a large lateral/longitudinal leak U(0.3, 0.8) of the energy [est] (at least 10 GeV
    stays visible: a complete disappearance needs the charge-exchange or punch-through processes)."""
    t = blank(n, ctx.e0_gev)
    p = _pion_beam(t, rng, ctx)
    depth = rng.exponential(LAMBDA_I_X0, n)
    inter = depth < ECAL_DEPTH_X0
    leak = np.minimum(rng.exponential(0.03, n), 0.9)
    big = np.ones(n, bool) if component == "leak" else rng.random(n) < PION_BIG_LEAK_PROB
    leak = np.where(big, rng.uniform(0.3, 0.8, n), leak)
    vis = p * (1 - leak)
    f = np.where(inter, rng.uniform(0.1, 0.4, n), 0.0)   # ECAL share of an interacting pion [est]
    t["ecal_em_gev"] = f * vis / 3.0
    t["em_start_x0"] = depth
    t["ecal_had_gev"] = 2 * f * vis / 3.0
    t["had_start_x0"] = np.where(inter, depth, 100.0)
    t["ecal_mip"] = np.where(inter, 0.0, 1.0)
    t["hcal_gev"] = hadronic_split(rng, (1 - f) * vis)
    t["veto_mip_true"] = np.where(inter, rng.poisson(2.0, n), 1.0)
    t["chi2_scale"] = np.where(inter, rng.lognormal(np.log(6.0), 0.5, n), 1.0)
    t["true_e_miss_gev"] = p * leak
    return t


def _cex(rng, n, ctx, visible_fraction_em: float) -> Truth:
    """pi- p -> M0 n at depth ~ Exp(lambda_I) in the ECAL; the meson takes ~E0 (slope |t| ~ 0.1 GeV^2 [est])
    and decays visibly: e-m fraction ``visible_fraction_em`` in the ECAL, the rest (charged pions) in the HCAL."""
    t = blank(n, ctx.e0_gev)
    p = _pion_beam(t, rng, ctx)
    depth = rng.exponential(LAMBDA_I_X0, n) % ECAL_DEPTH_X0
    t_n = rng.exponential(0.1, n) / (2 * 0.9396)   # neutron kinetic energy |t|/(2 m_n)
    e_m = p - t_n
    em = e_m * visible_fraction_em
    _em(t, rng, em, start_x0=depth)
    t["ecal_mip"] = depth / ECAL_DEPTH_X0            # pion track before the exchange
    t["hcal_gev"] = hadronic_split(rng, e_m - em)
    t["veto_mip_true"] = np.where(visible_fraction_em < 1, 2.0, 0.0)
    t["chi2_scale"] = rng.lognormal(np.log(1.3), 0.3, n)
    return t


def cex_pi0(rng, n, ctx) -> Truth:
    """pi- p -> pi0 n, pi0 -> gamma gamma: all of E0 as an e-m shower in the ECAL."""
    return _cex(rng, n, ctx, 1.0)


def cex_eta_visible(rng, n, ctx) -> Truth:
    """pi- p -> eta n, eta visible: gamma gamma / 3 pi0 (72%) all e-m, pi+ pi- pi0 (28%) partly hadronic
    [lit PDG] -> mean e-m fraction ~0.8 [est]."""
    return _cex(rng, n, ctx, 0.8)


def cex_etaprime_visible(rng, n, ctx) -> Truth:
    """pi- p -> eta' n, eta' -> pi pi eta / rho gamma / ...: e-m fraction ~0.6 [est from PDG modes]."""
    return _cex(rng, n, ctx, 0.6)


def hadron_punch_through(rng, n, ctx) -> Truth:
    """Leading neutral hadron (n, K0_L) from a pion interaction in the ECAL taking y E0, y ~ U(0.9, 1),
    crossing ECAL and the 4 HCAL modules without interacting; the rest stays in the ECAL [est]."""
    t = blank(n, ctx.e0_gev)
    p = _pion_beam(t, rng, ctx)
    y = rng.uniform(0.9, 1.0, n)
    depth = rng.exponential(2.0, n)
    t["ecal_had_gev"] = (1 - y) * p
    t["had_start_x0"] = depth
    t["ecal_mip"] = np.clip(depth / ECAL_DEPTH_X0, 0, 1)
    t["hcal_gev"] = hadronic_split(rng, rng.exponential(0.2, n))
    t["true_e_miss_gev"] = y * p
    return t


# ----------------------------------------------------------------------------- registry


@dataclass(frozen=True)
class Published:
    """A published box background used to derive a rate: B events at N OT in the box E_ECAL < ecal_max."""
    background: float
    n_ot: float
    ecal_max_gev: float | None
    source: str


@dataclass(frozen=True)
class Process:
    name: str
    gen: Callable
    rate: float | None = None          # per particle on target; None: derived from `published`
    source: str = ""
    published: Published | None = None
    bulk: bool = False                 # takes the remainder 1 - sum(others) of the beam
    extra: dict = field(default_factory=dict)


E_PUB = 9.37e11   # NA64e 2016-2022 EOT [paper]

# processes whose modelled final state cannot reach the box (E_ECAL < ecal_max, E_HCAL < 1 GeV): their box
# topology is another simulated process, so an importance-sampled estimate would double count it
BOX_NONE = {
    "em_shower": "none in the model: E_ECAL is E0 with 10%/sqrt(E) (+) 2% resolution (the box edge is > 15 "
                 "sigma below); the physical box topologies of a beam electron are the upstream_interaction, "
                 "punch_through and dimuon-loss samples",
    "hadron_electroproduction": "none in the model: E_ECAL < ecal_max needs E0 - ecal_max (>= 28 GeV) of "
                                "hadronic energy in the HCAL; the escaping-hadron topology is the "
                                "punch_through sample",
    "pileup": "none in the model: the second beam particle leaves >= 0.2 E0 in the HCAL",
    "annihilation_sm": "none in the model: mu+ mu- cross the VETO and the HCAL as two MIPs (~10 GeV), "
                       "pi+ pi- shower in the HCAL",
}
MU_PUB = 1.98e10  # NA64mu 2022 MOT [paper]


def processes_for(setup: str, beam: str, e0_gev: float) -> list[Process]:
    """The processes simulated for a setup/beam/energy with their rates (see docs/simulation.md)."""
    if setup == "electron":
        positron = beam == "e+"
        if not positron:
            pub_up = Published(0.16, E_PUB, 50.0, "NA64e 2016-2022: upstream interactions 0.16 +- 0.12 [paper]")
            pub_dec = Published(0.30, E_PUB, 50.0, "NA64e 2016-2022: mu, pi, K -> e decays 0.3 +- 0.05 [paper]")
        elif e0_gev > 85:
            pub_up = Published(0.01, 1.01e10, 50.0, "NA64e+ 2022 total ~0.06, decays dominate: upstream share 0.01 [est split]")
            pub_dec = Published(0.05, 1.01e10, 50.0, "NA64e+ 2022: pi+/K+ -> e+ nu decays ~0.05 of 0.06 [paper, est split]")
        else:
            pub_up = Published(0.07, 1.6e10, 42.0, "NA64e+ 2023: ~0.09, upstream interactions dominate: 0.07 [paper, est split]")
            pub_dec = Published(0.02, 1.6e10, 42.0, "NA64e+ 2023: decays 0.02 of 0.09 [est split]")
        hadron_frac = 0.04 if positron else 0.004
        procs = [
            Process("em_shower", em_shower, None, "remainder of the beam", bulk=True,
                    extra={"box_topology": BOX_NONE["em_shower"]}),
            Process("hadron_contamination", hadron_contamination, hadron_frac,
                    "hadron contamination ~4% e+ / 0.3-0.5% e- [paper]",
                    extra={"trigger_component": ("ps", PS_INTERACTION_PROB),
                           "box_topology": "importance-sampled in the MC: leading neutral punching through the "
                                           "HCAL (5e-14 per interacting hadron) x SRD faked in all three modules (1e-6)"}),
            Process("hadron_electroproduction", hadron_electroproduction, 1e-4,
                    "[est] sigma(gamma A)/sigma(pair) ~ 3.5e-4 for Pb [lit PDG] x hard-photon fraction ~0.3",
                    extra={"box_topology": BOX_NONE["hadron_electroproduction"]}),
            Process("dimuon", dimuon, 1e-5, "zone I dimuons ~1e-5 per EOT [paper]",
                    extra={"loss": Published(0.04, E_PUB, 50.0, "dimuon losses/decays in target 0.04 +- 0.01 [paper]")}),
            Process("pileup", pileup, 2.5e-5,
                    "[est] P(second particle in +-25 ns) ~ 0.05 at ~1e6 e-/s [paper intensity] x P(trigger) ~5e-4",
                    extra={"box_topology": BOX_NONE["pileup"]}),
            Process("upstream_interaction", upstream_interaction, None, pub_up.source, published=pub_up,
                    extra={"trigger_component": ("tail", UPSTREAM_TAIL_PROB)}),
            Process("beamline_decay", beamline_decay, None, pub_dec.source, published=pub_dec),
            Process("punch_through", punch_through, None, "punch-through < 0.01 [paper]: 0.005 [est]",
                    published=Published(0.005, E_PUB, 50.0, "punch-through < 0.01 [paper], taken as 0.005 [est]")),
        ]
        if positron:
            procs.append(Process("annihilation_sm", annihilation_sm, 3e-6,
                                 "[lit] sigma(ee->mumu) = 86.8 nb/s[GeV^2] at s = 2 m_e E0, x n_e x 1 X0 (+30% pi pi) [est]",
                                 extra={"box_topology": BOX_NONE["annihilation_sm"]}))
        return procs
    if setup == "muon":
        return [
            Process("muon_nominal", muon_nominal, None, "remainder of the beam", bulk=True),
            Process("muon_brem_hard", muon_brem_hard, 1e-4,
                    "[est] muon brem + photo-nuclear in 40 X0 Pb with v > 0.05: b ~ 4e-6 cm^2/g [lit PDG] x 250 g/cm^2 x 0.1"),
            Process("momentum_misreco", momentum_misreco, None, "momentum mis-reconstruction 0.05 +- 0.03 [paper]",
                    published=Published(0.05, MU_PUB, None, "NA64mu 2022: momentum mis-reconstruction 0.05 [paper]"),
                    extra={"trigger_component": ("tail", MS_TAIL_PROB)}),
            Process("k_mu_nu", k_mu_nu, None, "K -> mu nu 0.010 +- 0.001 [paper]",
                    published=Published(0.010, MU_PUB, None, "NA64mu 2022: K -> mu nu in flight 0.010 [paper]")),
            Process("non_hermetic", non_hermetic, None, "non-hermeticity < 0.01 [paper]: 0.005 [est]",
                    published=Published(0.005, MU_PUB, None, "NA64mu 2022: non-hermeticity < 0.01 [paper], 0.005 [est]")),
        ]
    if setup == "hadron":
        return [
            Process("pion_shower", pion_shower, None, "remainder of the beam", bulk=True,
                    extra={"trigger_component": ("leak", PION_BIG_LEAK_PROB)}),
            Process("cex_pi0", cex_pi0, 1e-4,
                    "[est] sigma(pi- p -> pi0 n) ~ 20 ub at 50 GeV [lit GAMS] x 2.7e24 p/cm^3 x 22 cm, x 0.1 leading-meson/nuclear"),
            Process("cex_eta_visible", cex_eta_visible, 3e-5,
                    "[est] sigma(pi- p -> eta n) ~ 6 ub [lit GAMS/PROZA], same treatment as pi0, x Br(visible)"),
            Process("cex_etaprime_visible", cex_etaprime_visible, 1e-5,
                    "[est] sigma(pi- p -> eta' n) ~ 2 ub [lit GAMS], same treatment"),
            Process("hadron_punch_through", hadron_punch_through, 2.7e-15,
                    "[est] leading neutral (x > 0.9) 1e-2 x no ECAL interaction 0.27 x (1e-3 per HCAL module [paper])^4"),
        ]
    raise ValueError(f"unknown setup {setup}")
