"""Process generators of the electron/positron setup (NA64e, NA64e+): the beam electron and every process
it can undergo, with the rate constants that belong to each (see processes.py for the protocol)."""

from __future__ import annotations

import math

import numpy as np

from .detector import Truth, blank, hadronic_split
from .process_common import ECAL_DEPTH_X0, LAMBDA_I_X0, brem_fraction, em_deposit


def electron_beam(t: Truth, rng, ctx, sr=True):
    n = t.n
    p = ctx.e0_gev * (1.0 + 0.005 * rng.standard_normal(n))   # beam spread 0.5% [paper: < 1%]
    t["p_true_gev"] = p
    t["p_meas_true_gev"] = p
    if sr:
        t["sr_scale"] = (p / 100.0) ** 2
    return p


def em_shower(rng, n, ctx) -> Truth:
    """Ordinary e-m shower of the beam e-/e+ (the bulk; E_ECAL ~ E0, nothing downstream)."""
    t = blank(n, ctx.e0_gev)
    p = electron_beam(t, rng, ctx)
    em_deposit(t, rng, p)
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
    p = electron_beam(t, rng, ctx, sr=False)
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
    p = electron_beam(t, rng, ctx)
    y = brem_fraction(rng, n, 0.1, 1.0)
    e_had = y * p
    f_in_ecal = rng.uniform(0.05, 0.3, n)   # [est]
    em_deposit(t, rng, p - e_had)
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
    p = electron_beam(t, rng, ctx)
    x = np.empty(0)
    while len(x) < n:
        xs = brem_fraction(rng, 2 * n + 64, 0.005, 1.0)
        keep = rng.random(len(xs)) < np.clip(1 - 0.42 / (xs * p[0]), 0, 1) ** 2
        x = np.concatenate([x, xs[keep]])
    x = x[:n]
    e_mumu = x * p
    em_deposit(t, rng, p - e_mumu)
    t["ecal_mip"] = np.full(n, 2.0 * 0.5)   # muons produced on average mid-shower: half the ECAL path
    t["hcal_mip"] = np.full(n, 2.0)
    t["veto_mip_true"] = np.full(n, 2.0)
    t["chi2_scale"] = rng.lognormal(np.log(1.3), 0.3, n)
    # loss topology (both muons lost or decaying in the target -> box): probability derived from the
    # published 0.04 +- 0.01 per 9.37e11 EOT (run_model.build_model); enhanced in the weighted MC
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
    p = electron_beam(t, rng, ctx)
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
    em_deposit(t, rng, p * (1.0 - u))
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
    p = electron_beam(t, rng, ctx, sr=False)
    y = rng.random(n)
    z = np.where(rng.random(n) < 0.5, rng.random(n), 0.0)
    t["sr_scale"] = z * (y * p / 100.0) ** 2
    em_deposit(t, rng, y * p)
    t["true_e_miss_gev"] = (1 - y) * p
    return t


def punch_through(rng, n, ctx) -> Truth:
    """Electro-production with a leading neutral hadron (n, K0_L) taking y E0, y ~ U(0.3, 1) [est],
    that crosses ECAL and HCAL without interacting; the remaining hadrons leave Exp(0.5 GeV) in the HCAL."""
    t = blank(n, ctx.e0_gev)
    p = electron_beam(t, rng, ctx)
    y = rng.uniform(0.3, 1.0, n)
    em_deposit(t, rng, (1 - y) * p)
    t["hcal_gev"] = hadronic_split(rng, rng.exponential(0.5, n))
    t["chi2_scale"] = rng.lognormal(np.log(1.3), 0.3, n)
    t["true_e_miss_gev"] = y * p
    return t


def annihilation_sm(rng, n, ctx) -> Truth:
    """e+ e- -> mu+ mu- (70%) or pi+ pi- (30%) [est] of the beam positron on an atomic electron at
    sqrt(s) = sqrt(2 m_e E0): muons cross everything as MIPs; pions shower in the HCAL."""
    t = blank(n, ctx.e0_gev)
    p = electron_beam(t, rng, ctx)
    depth = rng.exponential(1.0, n)
    frac_ecal = 1 - np.exp(-depth)   # shower energy before the annihilation [est]
    rest = p * np.exp(-depth) * 0 + p * (1 - frac_ecal)
    em_deposit(t, rng, p * frac_ecal)
    mumu = rng.random(n) < 0.7
    t["ecal_mip"] = np.where(mumu, 2.0, 0.0)
    t["hcal_mip"] = np.where(mumu, 2.0, 0.0)
    t["hcal_gev"] = hadronic_split(rng, np.where(mumu, 0.0, rest * 0.9))
    t["veto_mip_true"] = np.full(n, 2.0)
    t["chi2_scale"] = rng.lognormal(np.log(1.5), 0.3, n)
    t["true_e_miss_gev"] = np.where(mumu, rest, 0.1 * rest)
    return t
