"""Simulation realism follow-ups: signal threshold by construction, the signal step's cascade table in
the simulated e- signal, the NA64mu deflected-muon acceptance, and importance-sampled box tails."""

from __future__ import annotations

import numpy as np
import pytest
from test_simulation import small_cfg

from na64flow.physics import brem, sampling, tracklength
from na64flow.simulation import generator, run_model


def test_event_exactly_at_the_threshold_is_returned_strictly_above_it(monkeypatch):
    # force every emitted fraction to the lower edge x = E_thr/E: x E0 = 80.0 exactly at E0 = 160
    def edge(rng, e_gev, mass_gev, e_thr_gev, m_l):
        return brem.x_range(e_gev, mass_gev, e_thr_gev, m_l)[0]

    monkeypatch.setattr(sampling, "_sample_x", edge)
    out = sampling.sample_signal(np.random.default_rng(1), 50, "zprime", 0.05, "mu-", 160.0, 80.0)
    assert np.all(out["mediator_e_gev"] > 80.0)
    assert np.allclose(out["mediator_e_gev"], 80.0, rtol=1e-12)


def test_simulated_electron_signal_uses_the_signal_step_table_loaded_once(tmp_path, monkeypatch):
    from na64flow import signal as signal_step

    table = tracklength.tsai_primary_table("e-", 100.0)
    calls = []

    def fake_get_table(cfg, beam, e0_gev):
        calls.append((beam, e0_gev))
        return table

    seen = []
    real = sampling.sample_signal

    def spy(*args, **kw):
        seen.append(kw.get("table"))
        return real(*args, **kw)

    monkeypatch.setattr(signal_step, "get_table", fake_get_table)
    monkeypatch.setattr(sampling, "sample_signal", spy)
    model = run_model.build_model(small_cfg(tmp_path), "na64e", "2016-2022")
    for _ in range(2):
        generator.signal_columns(model, np.random.default_rng(3), "brem", 0.01, 50)
    assert calls == [("e-", 100.0)]
    assert len(seen) == 2 and all(t is table for t in seen)


def test_muon_signal_is_not_given_a_table(tmp_path, monkeypatch):
    from na64flow import signal as signal_step

    def boom(*a, **k):
        raise AssertionError("no cascade table for the muon beam")

    monkeypatch.setattr(signal_step, "get_table", boom)
    model = run_model.build_model(small_cfg(tmp_path), "na64mu", "2022")
    cols = generator.signal_columns(model, np.random.default_rng(3), "zprime", 0.05, 50)
    assert np.all(cols["true_mediator_e_gev"] > model.e0_gev - 80.0 - 1e-9)


# ----------------------------------------------------------------------------- NA64mu acceptance


def _angle_cdf(w, x, e0, m, m_l):
    """Analytic CDF in w = theta^2 of the WW dsigma/(dx dcos theta) (BEST eq. 9) at fixed x."""
    a = e0**2 * x
    b = m**2 * (1 - x) / x + m_l**2 * x
    lead = 1 - x + x * x / 2
    c = x * (1 - x) * m**2 * a

    def integral(s):
        t1 = lead * (1 / (a * b) - 1 / (a * s))
        t2 = c / a**2 * (1 / (6 * b * b) - 1 / (2 * s * s) + b / (3 * s**3))
        return t1 - t2

    return integral(a * w + b) / integral(np.inf)


@pytest.mark.parametrize("x,m", [(0.7, 0.5), (0.55, 0.02)])
def test_sampled_zprime_angle_follows_the_ww_angular_distribution(x, m):
    from scipy import stats

    from na64flow.physics.constants import M_MU_GEV
    from na64flow.simulation import muon_geometry

    th = muon_geometry.sample_zprime_angle_rad(np.random.default_rng(21), np.full(20000, x), 160.0, m, M_MU_GEV)
    res = stats.kstest(th**2, lambda w: _angle_cdf(np.asarray(w), x, 160.0, m, M_MU_GEV))
    assert res.pvalue > 1e-3


def test_angle_integrated_ww_numerator_is_the_iww_one():
    # integral over theta of the angular formula = (1 - x + x^2/3) / U(0) for m_l -> 0 (the dsigma/dx of physics.brem)
    for x, m in [(0.6, 0.1), (0.9, 1.0)]:
        a, b = 160.0**2 * x, m**2 * (1 - x) / x
        total = (1 - x + x * x / 2) / (a * b) - x * (1 - x) * m**2 * a / a**2 / (6 * b * b)
        assert total * a * b == pytest.approx(1 - x + x * x / 3, rel=1e-12)


def test_soft_outgoing_muons_miss_the_hcal_and_the_trigger_counter_hard_ones_reach_it():
    from na64flow.simulation import muon_geometry as g

    rng = np.random.default_rng(2)
    n = 4000
    zero = np.zeros(n)
    soft = g.downstream(rng, np.full(n, 12.0), zero, zero, np.full(n, 40.0), np.full(n, 160.0))
    stop = g.downstream(rng, np.full(n, 6.0), zero, zero, np.full(n, 40.0), np.full(n, 160.0))
    hard = g.downstream(rng, np.full(n, 70.0), zero, zero, np.full(n, 40.0), np.full(n, 160.0))
    # 12 GeV: bent by 0.42 GeV rad / 12 GeV = 35 mrad over ~17 m -> ~0.55 m off axis, outside the 0.3 m
    # HCAL unless multiple scattering (~0.15 m) brings it back
    assert soft["counter"].mean() < 0.1 and soft["hcal_module"][:, 3].mean() < 0.1
    # 6 GeV: ranges out in the 4 x 1.7 GeV of HCAL iron, never reaches the counter
    assert stop["counter"].sum() == 0
    assert hard["counter"].mean() > 0.99 and hard["hcal_module"].all(axis=1).mean() > 0.99
    # tracker stations: P(>= 3 of 4 at 0.95) = 0.986 per spectrometer (binomial, 5 sigma)
    p = 0.95**4 + 4 * 0.95**3 * 0.05
    assert abs(hard["ms1_ok"].mean() - p) < 5 * np.sqrt(p * (1 - p) / n)


def test_muon_signal_efficiency_emerges_from_the_deflection_acceptance_and_falls_with_mass(tmp_path):
    from na64flow.simulation import trigger

    model = run_model.build_model(small_cfg(tmp_path), "na64mu", "2022")
    eff = {}
    for m in (0.01, 1.0):
        cols = generator.signal_columns(model, np.random.default_rng(8), "zprime", m, 4000)
        box = trigger.reference_box(cols, "muon", model.e0_gev, None)
        eff[m] = box.mean()
        # no event with an outgoing muon below ~6 GeV fires the trigger (range in the HCAL iron)
        soft = cols["ms2_momentum_gev"] < 5.0
        assert not np.any(trigger.physics_trigger(cols, "muon", model.e0_gev)[soft])
    # heavy Z': larger muon angle (p_T ~ m) and softer muon -> lower acceptance; both well below the
    # 0.96 of a detector without acceptance
    assert eff[1.0] < eff[0.01] - 0.2
    assert eff[0.01] < 0.9


# ----------------------------------------------------------------------------- importance-sampled box tails


def _srd_tag(cols):
    ok = np.ones(len(cols["srd1_mev"]), bool)
    for k in (1, 2, 3):
        ok &= (cols[f"srd{k}_mev"] > 1.0) & (cols[f"srd{k}_mev"] < 120.0)
    return ok


def test_hadron_box_importance_weights_reproduce_the_natural_flag_rates(monkeypatch):
    # with the rare probabilities raised to measurable values, the weighted enhanced sample must give the
    # same fractions (SRD tag faked in all three modules, leading-neutral punch-through, total) as the
    # natural sample: checks the weights, not the physics values
    from types import SimpleNamespace

    from na64flow.simulation import detector, processes_electron, trigger

    monkeypatch.setattr(detector, "SRD_FAKE_PROB", 0.3)
    monkeypatch.setattr(processes_electron, "SRD_ALL_FAKE_PROB", 0.3**3)
    monkeypatch.setattr(processes_electron, "HADRON_BOX_PROB", 0.05)
    ctx = SimpleNamespace(e0_gev=100.0, beam="e-", setup="electron", vhcal=False, dimuon_loss_prob=0.0)
    n = 60000
    out = {}
    for comp, seed in (("ps", 1), ("ps_box", 2)):
        rng = np.random.default_rng(seed)
        t = processes_electron.hadron_contamination(rng, n, ctx, component=comp)
        cols = detector.respond(rng, t, setup="electron", run_number=2022, vhcal=False)
        w = t["bias_weight"]
        lead = t["true_e_miss_gev"] > 0
        hcal_lt_5 = lead & (trigger.hcal_sum(cols) < 5.0)
        out[comp] = (np.mean(w), np.mean(w * _srd_tag(cols)), np.mean(w * lead), np.mean(w * hcal_lt_5))
    nat, imp = out["ps"], out["ps_box"]
    # the punch-through corner E_HCAL < 5 GeV (y, g importance-sampled): same rate within 5 sigma
    sig_nat = np.sqrt(nat[3] * (1 - nat[3]) / n)
    assert nat[3] > 0 and abs(imp[3] - nat[3]) < 5 * np.sqrt(2) * sig_nat
    assert imp[0] == pytest.approx(1.0, abs=0.02)
    p_lead = 0.05
    assert abs(nat[2] - p_lead) < 5 * np.sqrt(p_lead * (1 - p_lead) / n)   # natural: the patched rate
    for k in (1, 2):   # weighted sample: the same rates (weights ~2 on half of the events: sd <= 2x natural)
        sig = np.sqrt(nat[k] * (1 - nat[k]) / n)
        assert abs(imp[k] - nat[k]) < 5 * np.sqrt(sig**2 + (2 * sig) ** 2)


def test_beam_hadron_box_background_is_estimated_not_bounded(tmp_path):
    from na64flow.simulation import trigger

    cfg = small_cfg(tmp_path, n_mc=8000)
    model = run_model.build_model(cfg, "na64e", "2016-2022")
    cols = generator.mc_chunk(model, "hadron_contamination", 0, 1)
    r = model.rates["hadron_contamination"]
    w = cols["weight"]
    expected = model.n_ot * r.expected_triggered_per_ot
    # weight convention kept: sum of weights = expected triggered events (5 sigma of the weight spread)
    assert abs(w.sum() - expected) < 5 * np.sqrt(np.sum(w**2))
    box = trigger.reference_box(cols, "electron", model.e0_gev, 50.0)
    assert box.sum() >= 1
    est, err = w[box].sum(), np.sqrt(np.sum(w[box] ** 2))
    assert 0 < err < est   # a relative uncertainty below 100%, not an upper value


@pytest.mark.parametrize("beam,e0,ecal_max", [("e-", 100.0, 50.0), ("e+", 70.0, 42.0)])
def test_processes_declared_without_box_topology_never_reach_the_box_plane(beam, e0, ecal_max):
    # the manifest says these samples cannot reach the box (their box topology is another sample):
    # no event of a large natural sample may have E_ECAL < ecal_max and E_HCAL < 1 GeV
    from types import SimpleNamespace

    from na64flow.simulation import detector, processes, trigger

    ctx = SimpleNamespace(e0_gev=e0, beam=beam, setup="electron", vhcal=False, dimuon_loss_prob=0.0)
    procs = {p.name: p for p in processes.processes_for("electron", beam, e0)}
    rng = np.random.default_rng(12)
    names = [k for k in processes.BOX_NONE if k in procs]
    assert ("annihilation_sm" in names) == (beam == "e+")
    for name in names:
        assert procs[name].extra["box_topology"] == processes.BOX_NONE[name]
        t = procs[name].gen(rng, 100_000, ctx)
        cols = detector.respond(rng, t, setup="electron", run_number=2022, vhcal=False)
        plane = (cols["ecal_gev"] < ecal_max) & (trigger.hcal_sum(cols) < 1.0)
        assert plane.sum() == 0, name
