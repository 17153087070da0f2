"""Coverage study of the background method: a small version on re-simulated seeds, and its statistics."""

import numpy as np
import pytest
from scipy import stats

from na64flow import background, cli, config, coverage, paths

N_SEEDS = 6     # small version of the study (the Snakemake target runs background.coverage.n_seeds)


@pytest.fixture(scope="module")
def na64e_sim(tmp_path_factory, repo_root):
    cfg = config.load_config(repo_root / "configs" / "default.yaml",
                             {"results_root": str(tmp_path_factory.mktemp("cov"))})
    return cfg, coverage.RunSimulator(cfg, "na64e", "2016-2022")


def test_randomised_pvalue_is_uniform_for_a_correct_prediction_and_not_for_a_biased_one():
    rng = np.random.default_rng(1)
    b, sigma = np.full(2000, 1.2), np.full(2000, 0.3)
    lam = rng.gamma((1.2 / 0.3) ** 2, 0.3**2 / 1.2, 2000)          # truth drawn from the stated prediction
    p = coverage.pvalue_randomised(rng.poisson(lam), b, sigma, rng)
    assert stats.kstest(p, "uniform").pvalue > 0.01
    p_biased = coverage.pvalue_randomised(rng.poisson(2 * lam), b, sigma, rng)   # prediction too low by 2
    assert stats.kstest(p_biased, "uniform").pvalue < 1e-6


def test_seed_truth_is_the_simulated_box_count_and_the_estimate_never_reads_the_data_box(na64e_sim):
    cfg, sim = na64e_sim
    hfile, truth, factors = sim.histograms(11)
    data = hfile["samples"]["data"]
    assert "box" not in data["regions"] and data["cutflow"]["raw"][-1] is None      # blinded as `process`
    assert set(truth) <= {"upstream_interaction", "dimuon", "beamline_decay", "punch_through"}
    assert all(f > 0 for f in factors.values())
    hfile2, truth2, _ = sim.histograms(11)
    assert truth2 == truth                                   # a seed is reproducible


def test_central_estimate_and_uncertainty_do_not_depend_on_the_shape_fits(na64e_sim):
    cfg, sim = na64e_sim
    hfile, _, _ = sim.histograms(5)
    with_fits = background.estimate_from_histograms(cfg, "na64e", "2016-2022", hfile)
    no_fits = background.estimate_from_histograms(
        dict(cfg, background=dict(config.section(cfg, "background"), fit_models=[])), "na64e", "2016-2022", hfile)
    assert with_fits["total"] == no_fits["total"]


@pytest.fixture(scope="module")
def na64e_rows(na64e_sim):
    cfg, sim = na64e_sim
    cfg = dict(cfg, background=dict(config.section(cfg, "background"), fit_models=[]))   # as the study
    rows = [coverage.seed_row(cfg, sim, 100 + i) for i in range(N_SEEDS)]
    coverage.set_expected(rows)
    return rows


def test_small_coverage_study_of_na64e_is_compatible_with_its_targets(na64e_rows):
    s = coverage.summarise(na64e_rows, coverage.DEFAULTS["targets"])
    # N_SEEDS seeds cannot test |bias| < 0.2 (error ~1/sqrt(N)): compatibility within 3 errors
    assert abs(s["bias"]) < 0.2 + 3 * s["bias_err"], s
    assert 0.3 < s["pull_width"] < 2.0, s
    assert s["ks_pvalue"] > 1e-3, s
    assert s["expected_truth"] == pytest.approx(np.mean([r["mc_expected"] for r in na64e_rows]))


def test_coverage_statistics_detect_a_method_biased_by_half_its_value(na64e_rows):
    """The study is no test if it cannot fail: inflate every estimate by 50% and it must see the bias."""
    biased = [dict(r, estimate=1.5 * r["estimate"]) for r in na64e_rows]
    s = coverage.summarise(biased, coverage.DEFAULTS["targets"])
    assert s["bias"] > 1.0 and not s["passed"]["bias"], s


def test_coverage_cli_writes_summary_tables(tmp_config):
    path, raw = tmp_config()
    raw["analyses"] = {"na64h": raw["analyses"]["na64h"]}
    import yaml
    path.write_text(yaml.safe_dump(raw))
    assert cli.main(["coverage", "-c", str(path), "--seeds", "3"]) == 0
    cfg = config.load_config(path)
    out = paths.results_dir(cfg) / "coverage"
    md = (out / "summary.md").read_text()
    assert "na64h" in md and "KS p" in md
    assert (out / "seeds.csv").read_text().count("\n") == 4


def test_ks_of_an_always_empty_box_is_reported_as_uninformative_not_as_a_pass():
    """With N = 0 in every seed the randomised p-values are uniform whatever the prediction: the KS test
    must not count as passed (the NA64mu / NA64h boxes at the default exposure)."""
    rng = np.random.default_rng(3)
    rows = [{"estimate": e, "uncertainty": 0.3 * e, "stat": 0.3 * e, "observed": 0, "mc_expected": 1e-7}
            for e in rng.gamma(100.0, 1e-9, 40)]
    s = coverage.summarise(rows, coverage.DEFAULTS["targets"])
    assert s["nonzero_truth_fraction"] == 0.0 and not s["ks_informative"] and s["passed"]["ks"] is None
    wrong = [dict(r, estimate=100 * r["estimate"]) for r in rows]      # 100x too high: KS still "uniform"
    assert coverage.summarise(wrong, coverage.DEFAULTS["targets"])["passed"]["ks"] is None
    assert "n/a" in coverage.markdown({"n_seeds": 40, "seeds": [1, 40], "targets": coverage.DEFAULTS["targets"],
                                       "timing": {}, "runs": {}, "analyses": {"x": s}})
    populated = [dict(r, observed=int(k)) for r, k in zip(rows, rng.poisson(1.0, 40))]
    assert coverage.summarise(populated, coverage.DEFAULTS["targets"])["ks_informative"]
