"""Process generators of the muon setup (NA64mu): the M2 beam muon and every process it can undergo,
with the Student-t(2) momentum mis-reconstruction tail they need (see processes.py for the protocol)."""

from __future__ import annotations

import numpy as np

from .detector import Truth, blank, hadronic_split
from .process_common import brem_fraction


def muon_beam(t: Truth, rng, ctx):
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
    muon_beam(t, rng, ctx)
    return t


def muon_brem_hard(rng, n, ctx) -> Truth:
    """Hard muon bremsstrahlung / nuclear interaction with a visible fraction v of the energy
    (brem spectrum, v > 0.05) in the ECAL (70%) or HCAL (30%) [est]."""
    t = blank(n, ctx.e0_gev)
    p = muon_beam(t, rng, ctx)
    v = brem_fraction(rng, n, 0.05, 0.98)
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
    p = muon_beam(t, rng, ctx)
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
    p = muon_beam(t, rng, ctx)
    y = rng.uniform(0.0458, 1.0, n)
    t["p_out_true_gev"] = y * p - 2.0
    t["true_e_miss_gev"] = (1 - y) * p
    return t


def non_hermetic(rng, n, ctx) -> Truth:
    """Hard muon interaction whose products (fraction v, brem spectrum v > 0.05) escape through the
    calorimeters' cracks/holes: MIP-like calorimeters, low p_out [est]."""
    t = blank(n, ctx.e0_gev)
    p = muon_beam(t, rng, ctx)
    v = brem_fraction(rng, n, 0.05, 0.98)
    t["p_out_true_gev"] = p * (1 - v) - 2.0
    t["true_e_miss_gev"] = v * p
    return t
