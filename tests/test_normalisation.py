"""Dimuon normalisation k = data / expected (and the muon/hadron beam cross-check)."""

import json

import numpy as np
import pytest
from conftest import BoxGuard

from na64flow import NA64Error, cli, closure, config, histograms, normalisation, paths


def test_dimuon_rate_scaled_by_0p9_gives_k_0p90_within_uncertainty(cfg):
    ks = []
    for seed in range(5):
        hfile = closure.toy_histogram_file(seed=seed, n_dimuon=20000.0, data_dimuon_scale=0.9)
        rec = normalisation.normalisation_from_histograms(hfile, "electron", normalisation.settings(cfg))
        stat = np.hypot(rec["components"]["stat_data"], rec["components"]["stat_mc"])
        assert abs(rec["k"] - 0.90) < 3 * stat          # statistical error alone (~0.008)
        assert abs(rec["k"] - 0.90) < rec["k_unc"]
        ks.append(rec["k"])
    assert np.mean(ks) == pytest.approx(0.90, abs=0.01)


def test_unscaled_dimuon_rate_gives_k_1(cfg):
    hfile = closure.toy_histogram_file(seed=1, n_dimuon=20000.0)
    rec = normalisation.normalisation_from_histograms(hfile, "electron", normalisation.settings(cfg))
    assert rec["k"] == pytest.approx(1.0, abs=0.04)
    assert rec["region"] == "dimuon" and rec["n_data"] > 0 and rec["n_expected"] > 0


def test_k_uncertainty_includes_the_configured_systematic(cfg):
    hfile = closure.toy_histogram_file(seed=2, n_dimuon=1e5)
    ncfg = normalisation.settings(cfg)
    ncfg["syst_frac"] = 0.2
    rec = normalisation.normalisation_from_histograms(hfile, "electron", ncfg)
    assert rec["k_unc"] >= 0.2 * rec["k"]


def test_muon_cross_check_uses_calibration_region_against_all_simulation(cfg):
    def reg(raw, w, w2):
        return {"raw": raw, "weighted": w, "sumw2": w2}
    hfile = {"analysis": "na64mu", "run": "2022", "samples": {
        "data": {"regions": {"calibration": reg(1900, 1900.0, 1900.0)}},
        "mc_muon_nominal": {"regions": {"calibration": reg(5000, 1500.0, 450.0), "box": reg(0, 0, 0)}},
        "mc_k_mu_nu": {"regions": {"calibration": reg(1000, 500.0, 250.0), "box": reg(3, 0.01, 1e-4)}}}}
    rec = normalisation.normalisation_from_histograms(hfile, "muon", normalisation.settings(cfg))
    assert rec["k"] == pytest.approx(0.95)
    assert rec["n_expected"] == pytest.approx(2000.0)
    assert rec["region"] == "calibration"


def test_normalisation_refuses_the_signal_box_and_names_missing_region(cfg):
    hfile = closure.toy_histogram_file(seed=3)
    ncfg = normalisation.settings(cfg)
    ncfg["electron"] = {"region": "box", "processes": ["dimuon"]}
    with pytest.raises(NA64Error, match="box"):
        normalisation.normalisation_from_histograms(hfile, "electron", ncfg)
    ncfg["electron"] = {"region": "nowhere", "processes": ["dimuon"]}
    with pytest.raises(NA64Error, match="no region 'nowhere'"):
        normalisation.normalisation_from_histograms(hfile, "electron", ncfg)


def test_normalisation_cli_writes_contract_keys(tmp_config):
    path, _ = tmp_config()
    cfg = config.load_config(path)
    histograms.save(paths.histograms_path(cfg, "na64e", "2016-2022"), closure.toy_histogram_file(seed=5))
    assert cli.main(["normalisation", "-c", str(path), "--analysis", "na64e", "--run", "2016-2022"]) == 0
    rec = json.loads(paths.normalisation_path(cfg, "na64e", "2016-2022").read_text())
    assert {"analysis", "run", "k", "k_unc", "n_data", "n_expected", "method", "region"} <= set(rec)
    assert rec["analysis"] == "na64e" and rec["run"] == "2016-2022"


def test_published_mode_gives_k_1_and_the_ten_percent_once(repo_root, tmp_path):
    """k = 1 exactly: the ~10% dimuon-comparison systematic is the run's published.signal_efficiency_unc
    (tests/test_attack_stats_hE.py checks that the likelihood carries it once)."""
    cfg = config.load_config(repo_root / "configs" / "published.yaml", {"results_root": str(tmp_path)})
    rec = normalisation.compute(cfg, "na64e", "2016-2022")
    assert rec["k"] == 1.0 and rec["k_unc"] == 0.0
    assert cfg["analyses"]["na64e"]["runs"]["2016-2022"]["published"]["signal_efficiency_unc"] == pytest.approx(0.10)


def test_blinded_normalisation_never_reads_data_box_region(cfg):
    hfile = closure.toy_histogram_file(seed=6)
    data = hfile["samples"]["data"]
    data["regions"] = BoxGuard(data["regions"])
    rec = normalisation.normalisation_from_histograms(hfile, "electron", normalisation.settings(cfg))
    assert rec["n_data"] > 0


def test_k_uncertainty_includes_the_normalisation_of_the_subtracted_processes(cfg):
    """k = (N_data - N_other) / N_dimuon: N_other is known to its mc_norm_syst only (review hH)."""
    hfile = closure.toy_histogram_file(seed=3, n_dimuon=1e5)
    ncfg = normalisation.settings(cfg)
    others = [s for s in hfile["samples"] if s.startswith("mc_") and s != "mc_dimuon"
              and "dimuon" in hfile["samples"][s]["regions"]]
    assert others
    for s in others:
        hfile["samples"][s]["regions"]["dimuon"] = {"raw": 100, "weighted": 500.0, "sumw2": 2500.0}
    base = normalisation.normalisation_from_histograms(hfile, "electron", ncfg, {"default": 0.0})
    rec = normalisation.normalisation_from_histograms(hfile, "electron", ncfg, {"default": 0.4})
    assert rec["k"] == base["k"]
    extra = 0.4 * 500.0 * np.sqrt(len(others)) / rec["n_expected"]
    assert rec["components"]["syst_other"] == pytest.approx(extra)
    assert rec["k_unc"] == pytest.approx(np.hypot(base["k_unc"], extra))
