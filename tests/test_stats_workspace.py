"""The public workspace of stats.build_workspace (used by `publish`) is the model of the limits."""

from __future__ import annotations

import math

import pyhf
import pytest
from test_stats_inputs import make_config, write_inputs

from na64flow import NA64Error
from na64flow.stats import (
    REF_SIGNAL_EVENTS,
    asymptotic_limit_events,
    build_problem,
    build_workspace,
    mass_index,
)


def test_build_workspace_is_valid_pyhf_with_ref_signal_and_asimov_data(tmp_path):
    cfg = make_config(tmp_path)
    write_inputs(cfg, n_masses=4)
    problem = build_problem(cfg, "combined", "dark_photon")
    m = float(problem.mass_gev[1])
    spec = build_workspace(problem, mass_index(problem, m))
    ref = spec.pop("_coupling_ref")
    ws = pyhf.Workspace(spec)
    model = ws.model()
    assert model.config.poi_name == "mu"
    assert sorted(model.config.channels) == sorted(c.name for c in problem.channels)
    sig = sum(s["data"][0] for c in spec["channels"] for s in c["samples"] if s["name"] == "signal")
    assert sig == pytest.approx(REF_SIGNAL_EVENTS)
    assert ref ** 2 * problem.signal_events[1].sum() == pytest.approx(REF_SIGNAL_EVENTS)
    # blinded: observations are the background expectation (Asimov), not box counts
    assert [o["data"][0] for o in spec["observations"]] == pytest.approx([0.5] * len(problem.channels))
    # the asymptotic limit from this workspace equals the stats one (same model)
    obs, exp = pyhf.infer.intervals.upper_limits.toms748_scan(ws.data(model), model, 0.01, 5.0, level=0.1,
                                                              test_stat="qtilde", rtol=1e-5)
    f = problem.signal_events[1] / problem.signal_events[1].sum()
    ours = asymptotic_limit_events(problem.channels, f, None, 0.9)
    assert float(exp[2]) * REF_SIGNAL_EVENTS == pytest.approx(ours["exp"], rel=0.01)


def test_build_workspace_unknown_mass_names_the_range(tmp_path):
    cfg = make_config(tmp_path)
    write_inputs(cfg, n_masses=4)
    with pytest.raises(NA64Error, match="no signal at m = 7"):
        mass_index(build_problem(cfg, "na64mu", "lmu_ltau"), 7.0)
    eta = build_problem(cfg, "na64h", "eta_invisible")
    assert math.isfinite(build_workspace(eta, mass_index(eta, 0.547862))["_coupling_ref"])
