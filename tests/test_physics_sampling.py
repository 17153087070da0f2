"""Signal sampling for the simulation: sampled spectra against dsigma/dx, resonance energy, mesons."""

import numpy as np
import pytest
from scipy import stats

from na64flow import NA64Error
from na64flow.physics import brem, tracklength
from na64flow.physics.constants import M_E_GEV, M_MU_GEV
from na64flow.physics.sampling import sample_signal

KEYS = {"mediator_e_gev", "emission_depth_x0", "visible_recoil_gev"}


def test_sampled_zprime_energy_follows_ww_dsigma_dx_ks_test():
    rng = np.random.default_rng(11)
    m, e0, thr = 0.05, 160.0, 80.0
    out = sample_signal(rng, 4000, "zprime", m, "mu-", e0, thr)
    assert set(out) == KEYS and all(len(v) == 4000 for v in out.values())
    x_lo, x_hi = thr / e0, 1 - M_MU_GEV / e0
    # CDF of the full-WW dsigma/dx (the muon cross section of brem) by cumulative trapezoid on a fine
    # grid in ln(1 - x), independent of the sampler's inverse-CDF grid
    v = np.linspace(np.log1p(-x_hi), np.log1p(-x_lo), 4001)
    x = -np.expm1(v)
    dens = brem.dsigma_dx(x, e0, m, M_MU_GEV) * (1 - x)
    cum = np.concatenate([[0.0], np.cumsum(0.5 * (dens[1:] + dens[:-1]) * np.diff(v))])
    grid, table = (e0 * x)[::-1], (1.0 - cum / cum[-1])[::-1]
    res = stats.kstest(out["mediator_e_gev"], lambda e: np.interp(e, grid, table))
    assert res.pvalue > 1e-3
    # a wrong spectrum (flat in x) is rejected by the same test: the test can fail
    flat = rng.uniform(thr, e0 * x_hi, 4000)
    assert stats.kstest(flat, lambda e: np.interp(e, grid, table)).pvalue < 1e-6


def test_sampled_brem_energy_of_electron_beam_matches_tracklength_times_dsigma_dx_chi2():
    rng = np.random.default_rng(5)
    m, e0, thr = 0.1, 100.0, 50.0
    table = tracklength.tsai_primary_table("e-", e0)
    out = sample_signal(rng, 20000, "brem", m, "e-", e0, thr, table=table)
    edges = np.linspace(thr, e0, 11)
    counts, _ = np.histogram(out["mediator_e_gev"], edges)
    # prediction with the sampler's discretisation: cell weight T_k sigma(E_k > thr; bin centre), E
    # log-uniform in the cell (above thr), x from dsigma/dx (integrated on a grid dense at x -> 1)
    tl = table.per_energy("e-")
    ec = table.energy_centers_gev
    sig = brem.sigma_above(ec, m, thr)
    lo_edges, hi_edges = table.energy_edges_gev[:-1], table.energy_edges_gev[1:]
    pred = np.zeros(len(edges) - 1)
    for t_k, s_k, e_lo, e_hi in zip(tl, sig, lo_edges, hi_edges):
        if s_k == 0 or t_k == 0:
            continue
        for e_k in np.geomspace(max(e_lo, thr * 1.000001), e_hi, 9):
            x = 1 - np.geomspace(1 - thr / e_k, M_E_GEV / e_k, 4001)
            f = brem.dsigma_dx(x, e_k, m)
            cum = np.concatenate([[0], np.cumsum(0.5 * (f[1:] + f[:-1]) * np.diff(x))])
            pred += t_k * s_k / 9 * np.diff(np.interp(edges / e_k, x, cum)) / cum[-1]
    expected = pred / pred.sum() * counts.sum()
    chi2 = np.sum((counts - expected) ** 2 / expected)
    assert stats.chi2.sf(chi2, len(counts) - 1) > 1e-3
    assert np.all(out["emission_depth_x0"] >= 0) and np.all(out["emission_depth_x0"] <= 40)


def test_sampled_annihilation_energy_sits_at_resonance():
    rng = np.random.default_rng(2)
    m = 0.25
    table = tracklength.tsai_primary_table("e+", 100.0)
    out = sample_signal(rng, 3000, "annihilation", m, "e+", 100.0, 50.0, table=table, alpha_d=1e-3)
    e_r = m * m / (2 * M_E_GEV)
    assert np.median(out["mediator_e_gev"]) == pytest.approx(e_r, rel=0.005)
    assert np.all(out["mediator_e_gev"] > 50.0)


def test_meson_takes_beam_energy_minus_visible_neutron_recoil():
    rng = np.random.default_rng(3)
    out = sample_signal(rng, 2000, "eta", 0.0, "pi-", 50.0, 45.0)
    assert np.allclose(out["mediator_e_gev"] + out["visible_recoil_gev"], 50.0)
    assert np.all(out["visible_recoil_gev"] >= 0) and np.median(out["visible_recoil_gev"]) < 0.2
    d = out["emission_depth_x0"]
    assert d.min() >= 0 and d.max() <= 40 and np.mean(d < 20) > 0.5   # pion attenuation


def test_samples_respect_missing_energy_threshold_for_every_mode():
    rng = np.random.default_rng(4)
    t_pos = tracklength.tsai_primary_table("e+", 70.0)
    for mode, beam, e0, thr, m, kw in [("brem", "e+", 70.0, 28.0, 0.01, {"table": t_pos}),
                                       ("annihilation", "e+", 70.0, 28.0, 0.2, {"table": t_pos}),
                                       ("brem", "mu-", 160.0, 80.0, 0.3, {}),
                                       ("etaprime", "pi-", 50.0, 49.0, 0.0, {})]:
        out = sample_signal(rng, 500, mode, m, beam, e0, thr, **kw)
        assert np.all(out["mediator_e_gev"] > thr), mode


def test_unknown_mode_or_beam_raises_na64error():
    rng = np.random.default_rng(0)
    with pytest.raises(NA64Error, match="unknown mode"):
        sample_signal(rng, 10, "axion", 0.1, "e-", 100.0, 50.0)
    with pytest.raises(NA64Error, match="zprime mode is for muon beams"):
        sample_signal(rng, 10, "zprime", 0.1, "e-", 100.0, 50.0)
    with pytest.raises(NA64Error, match="annihilation needs"):
        sample_signal(rng, 10, "annihilation", 0.1, "mu-", 160.0, 80.0)


def test_electron_beam_annihilation_near_the_window_edge_with_sparse_positron_table():
    from na64flow.physics.cascade import simulate_table

    table = simulate_table("e-", 100.0, n_full=0, n_high=1500, seed=4)   # few positrons near 95 GeV
    rng = np.random.default_rng(8)
    out = sample_signal(rng, 1000, "annihilation", 0.31, "e-", 100.0, 50.0, table=table)
    assert np.all(np.isfinite(out["emission_depth_x0"])) and np.all(out["mediator_e_gev"] > 50.0)
    assert 0 <= out["emission_depth_x0"].min() and out["emission_depth_x0"].max() <= 40
