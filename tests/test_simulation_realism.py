"""Simulation realism follow-ups: signal threshold by construction, the signal step's cascade table in
the simulated e- signal, the NA64mu deflected-muon acceptance, and importance-sampled box tails."""

from __future__ import annotations

import numpy as np
from test_simulation import small_cfg

from na64flow.physics import brem, sampling, tracklength
from na64flow.simulation import generator


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
    model = generator.build_model(small_cfg(tmp_path), "na64e", "2016-2022")
    for _ in range(2):
        generator.signal_columns(model, np.random.default_rng(3), "brem", 0.01, 50)
    assert calls == [("e-", 100.0)]
    assert len(seen) == 2 and all(t is table for t in seen)


def test_muon_signal_is_not_given_a_table(tmp_path, monkeypatch):
    from na64flow import signal as signal_step

    def boom(*a, **k):
        raise AssertionError("no cascade table for the muon beam")

    monkeypatch.setattr(signal_step, "get_table", boom)
    model = generator.build_model(small_cfg(tmp_path), "na64mu", "2022")
    cols = generator.signal_columns(model, np.random.default_rng(3), "zprime", 0.05, 50)
    assert np.all(cols["true_mediator_e_gev"] > model.e0_gev - 80.0 - 1e-9)
