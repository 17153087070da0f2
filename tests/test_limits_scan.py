"""Mass scans of the `limits` step on hand-made inputs: exposure scaling, combination, units, contract."""

from __future__ import annotations

import csv
import math

import numpy as np
import pytest
from test_stats_inputs import make_config, write_inputs

from na64flow import cli, contracts, paths
from na64flow.stats import build_problem, compute_limits, scan_limits

FAST = {"stats.n_toys": 4000, "stats.asymptotic": False}


def _col(rows, header, name):
    i = header.index(name)
    return np.array([r[i] for r in rows], dtype=float)


def test_background_free_limit_scales_as_inverse_sqrt_exposure(tmp_path):
    cfg = make_config(tmp_path / "a", **FAST)
    write_inputs(cfg, n_masses=6, background=0.0, background_unc=0.0)
    _, _, header, rows = compute_limits(cfg, "na64mu", "dark_photon")
    cfg4 = make_config(tmp_path / "b", **FAST, **{"analyses.na64mu.runs.2022.n_ot": 4 * cfg["analyses"]["na64mu"]["runs"]["2022"]["n_ot"]})
    write_inputs(cfg4, n_masses=6, background=0.0, background_unc=0.0)
    _, _, header4, rows4 = compute_limits(cfg4, "na64mu", "dark_photon")
    ratio = _col(rows4, header4, "exp") / _col(rows, header, "exp")
    assert ratio == pytest.approx(np.full(6, 0.5), rel=1e-6)


def test_background_free_expected_limit_is_2p3_events_without_systematics(tmp_path):
    cfg = make_config(tmp_path, **{**FAST, "stats.signal_eff_syst_rel": 0.0, "stats.exposure_syst_rel": 0.0,
                                   "stats.n_toys": 20000})
    write_inputs(cfg, n_masses=4, background=0.0, background_unc=0.0, k_unc=0.0)
    problem, mu, header, rows = compute_limits(cfg, "na64mu", "lmu_ltau")
    events_at_limit = mu["exp"] * problem.signal_events.sum(axis=1)
    assert events_at_limit == pytest.approx(np.full(4, 2.303), abs=0.075)
    assert mu["n_solves"] == 1   # one channel: one solve, rescaled to every mass


def test_combined_limit_never_weaker_than_best_single_channel(tmp_path):
    cfg = make_config(tmp_path, **FAST)
    write_inputs(cfg, n_masses=8, run_slope={("na64e", "2023"): 1.6, ("na64e_plus", "2023"): 0.4,
                                             ("na64mu", "2022"): 0.7})
    single = {a: compute_limits(cfg, a, "dark_photon") for a in ("na64e", "na64e_plus", "na64mu")}
    comb = compute_limits(cfg, "combined", "dark_photon")
    best = np.min([_col(s[3], s[2], "exp") for s in single.values()], axis=0)
    combined = _col(comb[3], comb[2], "exp")
    assert np.all(combined <= best * 1.02)        # 2%: toy noise and Poisson discreteness (docs/statistics.md)
    # genuinely stronger where no single beam carries >= 90% of the signal; where one does, the other
    # channels add background for little signal and the discrete expected median may move by ~1%
    sig = build_problem(cfg, "combined", "dark_photon").signal_events
    shared = (sig / sig.sum(axis=1, keepdims=True)).max(axis=1) < 0.9
    assert shared.any() and np.all(combined[shared] < best[shared])


def test_combined_observed_limit_with_zero_events_never_weaker_than_best_single_channel(tmp_path):
    # published counts: 0 observed in every run [paper]; CLs(0 events) = P(all 0 | s+b)/P(all 0 | b)
    from test_stats_inputs import REPO

    from na64flow.config import load_config

    cfg = load_config(REPO / "configs" / "published.yaml", {"results_root": str(tmp_path), **FAST})
    write_inputs(cfg, n_masses=8, background=0.1, background_unc=0.05,
                 run_slope={("na64e_plus", "2023"): 0.4, ("na64mu", "2022"): 0.7})
    single = [compute_limits(cfg, a, "dark_photon") for a in ("na64e", "na64e_plus", "na64mu")]
    comb = compute_limits(cfg, "combined", "dark_photon")
    best = np.min([_col(s[3], s[2], "obs") for s in single], axis=0)
    assert np.all(_col(comb[3], comb[2], "obs") <= best * 1.01)


def test_shape_cache_agrees_with_a_solve_at_every_mass(tmp_path):
    cfg = make_config(tmp_path, **FAST)
    write_inputs(cfg, n_masses=10, run_slope={("na64e", "2023"): 2.0})
    problem = build_problem(cfg, "combined", "dark_photon")
    cached = scan_limits(problem, n_toys=4000, seed=3, shape_tolerance=0.01)
    exact = scan_limits(problem, n_toys=4000, seed=3, shape_tolerance=0.0)
    assert exact["n_solves"] == 10 and cached["n_solves"] < exact["n_solves"]
    # on the coupling (sqrt mu) the cache error stays below the ~1.5% toy precision
    assert np.sqrt(cached["exp"]) == pytest.approx(np.sqrt(exact["exp"]), rel=0.015)


def test_lmu_ltau_tables_are_used_as_written_by_the_signal_step(tmp_path):
    # the signal step's lmu_ltau tables already hold loop mixing and BR(Z' -> inv): no second factor
    cfg = make_config(tmp_path, **FAST)
    write_inputs(cfg, n_masses=6)
    assert build_problem(cfg, "na64e", "lmu_ltau").signal_events == pytest.approx(
        build_problem(cfg, "na64e", "dark_photon").signal_events, rel=1e-9)


def test_missing_lmu_ltau_table_of_an_electron_run_names_the_file_and_step(tmp_path):
    # the signal step writes every model of the beam (registry); a missing table is an error, not a
    # silent re-derivation from another model's table
    cfg = make_config(tmp_path, **FAST)
    write_inputs(cfg, n_masses=6)
    paths.signal_path(cfg, "na64e", "lmu_ltau", "2023").unlink()
    with pytest.raises(Exception, match=r"signal/na64e/lmu_ltau_2023.csv.*na64flow signal"):
        build_problem(cfg, "na64e", "lmu_ltau")


def test_ldm_y_limit_is_eps_squared_times_alpha_d_over_81(tmp_path):
    """At the signal's alpha_D (0.1) the y table is the epsilon limit in other units; at alpha_D = 0.5 it
    rests on its own signal table (hand-made: about twice the yield, so about half the mu = eps^2 limit)."""
    cfg = make_config(tmp_path, **FAST)
    write_inputs(cfg, n_masses=5)
    _, _, h_eps, r_eps = compute_limits(cfg, "na64e", "dark_photon")
    _, _, h_y1, r_y1 = compute_limits(cfg, "na64e", "dark_photon_y_0.1")
    _, _, h_y, r_y = compute_limits(cfg, "na64e", "dark_photon_y_0.5")
    assert h_y[0] == h_y1[0] == "m_chi_gev"
    assert _col(r_y, h_y, "m_chi_gev") == pytest.approx(_col(r_eps, h_eps, "mass_gev") / 3)
    assert _col(r_y1, h_y1, "exp") == pytest.approx(_col(r_eps, h_eps, "exp") ** 2 * 0.1 / 81, rel=1e-9)
    assert _col(r_y, h_y, "exp") == pytest.approx(_col(r_eps, h_eps, "exp") ** 2 / 2 * 0.5 / 81, rel=0.02)


def test_limits_cli_writes_the_contract_tables_blinded(tmp_path):
    cfg = make_config(tmp_path)
    write_inputs(cfg, n_masses=5)
    base = ["limits", "-c", cfg["_path"], "--set", f"results_root={tmp_path}", "--set", "stats.n_toys=2000"]
    assert cli.main([*base, "--analysis", "na64e", "--model", "dark_photon"]) == 0
    assert cli.main([*base, "--analysis", "na64h", "--model", "eta_invisible"]) == 0
    with open(paths.limits_path(cfg, "na64e", "dark_photon")) as fh:
        rows = list(csv.DictReader(fh))
    assert list(rows[0]) == ["mass_gev", "exp", "exp_m2", "exp_m1", "exp_p1", "exp_p2", "obs"]
    assert len(rows) == 5 and all(r["obs"] == "" for r in rows)          # blinded: obs empty
    assert all(float(r["exp_m2"]) <= float(r["exp"]) <= float(r["exp_p2"]) for r in rows)
    with open(paths.limits_path(cfg, "na64h", "eta_invisible")) as fh:
        eta = list(csv.DictReader(fh))
    assert list(eta[0])[:2] == ["meson", "mass_gev"] and eta[0]["meson"] == "eta"
    # Br limit: ~2.3-4 events / (n_ot x P x eff x k) [hand-made yields]
    n_sig_at_br1 = cfg["analyses"]["na64h"]["runs"]["2022"]["n_ot"] * 1e-7 * 0.5 * 0.95
    assert 2.0 < float(eta[0]["exp"]) * n_sig_at_br1 < 6.0
    assert paths.limits_path(cfg, "na64e", "dark_photon").with_name("dark_photon_asymptotic.csv").exists()
    assert "asymptotic" in paths.limits_path(cfg, "na64e", "dark_photon").with_name(
        "dark_photon_comparison.md").read_text()


def test_limits_missing_background_file_names_it(tmp_path):
    cfg = make_config(tmp_path, **FAST)
    write_inputs(cfg, n_masses=3)
    paths.background_path(cfg, "na64mu", "2022").unlink()
    with pytest.raises(Exception, match=r"background/na64mu/2022.json.*na64flow background"):
        compute_limits(cfg, "na64mu", "lmu_ltau")


def test_coupling_limit_is_sqrt_of_mu(tmp_path):
    cfg = make_config(tmp_path, **FAST)
    write_inputs(cfg, n_masses=3)
    problem, mu, header, rows = compute_limits(cfg, "na64mu", "dark_photon")
    assert _col(rows, header, "exp") == pytest.approx(np.sqrt(mu["exp"]))
    assert all(math.isnan(v) for v in _col(rows, header, "obs"))


def test_toy_range_is_widened_when_the_bands_lie_beyond_it(monkeypatch):
    """If the +2 sigma band lies beyond the toy ensemble's signal range, the scan widens the range
    (here forced by starting at 3 events) instead of failing, and still orders the bands."""
    import numpy as np

    from na64flow import stats
    from na64flow.stats import Channel, LimitProblem, scan_limits

    monkeypatch.setattr(stats, "initial_signal_range", lambda b_total, n_obs_total: 3.0)
    chans = [Channel("na64e_plus", "2022", 0.95, 0.56, {"eff": 0.1}),
             Channel("na64e_plus", "2023", 1.41, 1.30, {"eff": 0.1})]
    problem = LimitProblem("na64e_plus", "dark_photon", chans, np.array([0.01, 0.02]),
                           np.array([[10.0, 10.0], [5.0, 15.0]]), [None, None])
    lim = scan_limits(problem, n_toys=4000, seed=1)
    for i in range(2):
        bands = [lim[k][i] for k in ("exp_m2", "exp_m1", "exp", "exp_p1", "exp_p2")]
        assert np.all(np.isfinite(bands)) and bands == sorted(bands)
        assert bands[-1] * 20.0 > 3.0 * 2     # +2 sigma beyond the initial range: widened at least once


def test_per_run_tables_one_per_run_and_a_single_run_analysis_equals_its_table(tmp_path):
    cfg = make_config(tmp_path)
    write_inputs(cfg, n_masses=5)
    base = ["limits", "-c", cfg["_path"], "--set", f"results_root={tmp_path}", "--set", "stats.n_toys=2000",
            "--set", "stats.asymptotic=false"]
    assert cli.main([*base, "--analysis", "na64mu", "--model", "dark_photon"]) == 0
    assert cli.main([*base, "--analysis", "na64e", "--model", "dark_photon"]) == 0
    # na64mu has one run: its per-run table is its table (same channel, same seed)
    assert (paths.run_limits_path(cfg, "na64mu", "dark_photon", "2022").read_bytes()
            == paths.limits_path(cfg, "na64mu", "dark_photon").read_bytes())
    # na64e: one table per run and per LDM table, each weaker than the two-run combination
    full = contracts.read_limits(paths.limits_path(cfg, "na64e", "dark_photon"))
    for run in cfg["analyses"]["na64e"]["runs"]:
        one = contracts.read_limits(paths.run_limits_path(cfg, "na64e", "dark_photon", run))
        assert one.header == full.header and len(one.rows) == len(full.rows)
        assert all(a >= b * 0.98 for a, b in zip(one.column("exp"), full.column("exp"), strict=True))
        assert paths.run_limits_path(cfg, "na64e", "dark_photon_y_0.1", run).exists()


def test_problems_with_the_same_channels_share_their_solves_through_the_cache(tmp_path):
    """An LDM table at another alpha_D has the channels of its base model: with one cache its solve reuses
    the base model's toys and shapes (a signal scaled by 2 has the same shapes: no new solve, half the mu)."""
    from na64flow.stats.model import LimitProblem

    cfg = make_config(tmp_path, **FAST)
    write_inputs(cfg, n_masses=5)
    base = build_problem(cfg, "na64e", "dark_photon")
    twice = LimitProblem(base.analysis, base.model, base.channels, base.mass_gev, 2 * base.signal_events,
                         base.observed)
    cache: dict = {}
    mu1 = scan_limits(base, "toys", 0.9, 2000, 7, cache=cache)
    mu2 = scan_limits(twice, "toys", 0.9, 2000, 7, cache=cache)
    assert mu1["n_solves"] > 0 and mu2["n_solves"] == 0
    assert mu2["exp"] == pytest.approx(mu1["exp"] / 2, rel=1e-12)
    fresh = scan_limits(twice, "toys", 0.9, 2000, 7)
    assert fresh["exp"] == pytest.approx(mu2["exp"], rel=1e-12)   # same shapes, same seed: the same numbers


def test_an_ldm_table_asked_for_by_itself_equals_the_one_of_its_base_models_job(tmp_path):
    """`limits --model dark_photon_y_0.5` by hand gives the table the workflow's `--model dark_photon` job
    writes (that job solves the base model first and the y table reuses its shapes where they agree)."""
    cfg = make_config(tmp_path)
    write_inputs(cfg, n_masses=5)
    base = ["limits", "-c", cfg["_path"], "--set", f"results_root={tmp_path}", "--set", "stats.n_toys=2000",
            "--set", "stats.asymptotic=false", "--analysis", "na64e"]
    out = paths.limits_path(cfg, "na64e", "dark_photon_y_0.5")
    assert cli.main([*base, "--model", "dark_photon"]) == 0
    from_job = out.read_text()
    out.unlink()
    assert cli.main([*base, "--model", "dark_photon_y_0.5"]) == 0
    assert out.read_text() == from_job
