"""Process generators of the hadron setup (NA64h): the H4 beam pion and every process it can undergo
(see processes.py for the protocol)."""

from __future__ import annotations

import numpy as np

from .detector import Truth, blank, hadronic_split
from .process_common import ECAL_DEPTH_X0, LAMBDA_I_X0, em_deposit


def pion_beam(t: Truth, rng, ctx):
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
    p = pion_beam(t, rng, ctx)
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
    p = pion_beam(t, rng, ctx)
    depth = rng.exponential(LAMBDA_I_X0, n) % ECAL_DEPTH_X0
    t_n = rng.exponential(0.1, n) / (2 * 0.9396)   # neutron kinetic energy |t|/(2 m_n)
    e_m = p - t_n
    em = e_m * visible_fraction_em
    em_deposit(t, rng, em, start_x0=depth)
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
    p = pion_beam(t, rng, ctx)
    y = rng.uniform(0.9, 1.0, n)
    depth = rng.exponential(2.0, n)
    t["ecal_had_gev"] = (1 - y) * p
    t["had_start_x0"] = depth
    t["ecal_mip"] = np.clip(depth / ECAL_DEPTH_X0, 0, 1)
    t["hcal_gev"] = hadronic_split(rng, rng.exponential(0.2, n))
    t["true_e_miss_gev"] = y * p
    return t
