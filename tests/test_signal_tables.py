"""The `signal` step: yield tables on a hand-made histogram dict, efficiencies, published mode, read API."""

import numpy as np
import pytest

from na64flow import NA64Error, config, contracts, histograms, paths
from na64flow import signal as sig
from na64flow.cli import main

FAST = {"cascade": {"n_full": 0, "n_high": 3000, "e_split_gev": 1.0, "seed": 2},
        "mass_grid": {"min_gev": 0.001, "max_gev": 1.0, "n_log": 60, "n_per_resonance_window": 20}}


def _sample(eff, n=1000.0):
    return {"cutflow": {"names": ["read", "invalid values", "srd", "box"], "raw": [int(n), int(n), int(n), int(n * eff)],
                        "weighted": [n, n, n, n * eff], "sumw2": [n, n, n, n * eff]},
            "regions": {}, "hists": {}}


def _hist_dict(analysis, run, samples):
    return {"schema_version": 1, "analysis": analysis, "run": run, "blinded": True, "n_ot": 1e9, "box": {},
            "samples": {"data": _sample(0.0), **samples}}


@pytest.fixture
def fast_cfg(tmp_config):
    path, _ = tmp_config(signal=FAST)
    return path, config.load_config(path)


def test_efficiency_interpolates_in_log_mass_and_is_flat_beyond_simulated_points():
    content = _hist_dict("na64e", "2016-2022", {"signal_brem_m0.01": _sample(0.5), "signal_brem_m0.1": _sample(0.3)})
    effs = sig.efficiencies_from_histograms(content)
    m, e = effs["brem"]
    assert list(m) == [0.01, 0.1] and list(e) == [0.5, 0.3]
    got = sig.interpolate_efficiency(m, e, np.array([0.001, 0.01, np.sqrt(0.001), 0.1, 1.0]))
    assert np.allclose(got, [0.5, 0.5, 0.4, 0.3, 0.3])


def test_signal_step_writes_every_contract_model_for_na64e(fast_cfg):
    path, cfg = fast_cfg
    hist = _hist_dict("na64e", "2016-2022", {"signal_brem_m0.01": _sample(0.6), "signal_brem_m0.5": _sample(0.4),
                                             "signal_annihilation_m0.25": _sample(0.5)})
    histograms.save(paths.histograms_path(cfg, "na64e", "2016-2022"), hist)
    assert main(["signal", "-c", str(path), "--analysis", "na64e", "--run", "2016-2022"]) == 0
    tables = {}
    for model in ("dark_photon", "dark_photon_brem", "dark_photon_annihilation", "lmu_ltau"):
        out = paths.signal_path(cfg, "na64e", model, "2016-2022")
        assert out.read_text().splitlines()[0] == "mass_gev,yield_per_ot,efficiency"
        t = contracts.read_signal(out)
        tables[model] = (t.mass_gev, t.yield_per_ot, t.efficiency)
    m, y_brem, e_brem = tables["dark_photon_brem"]
    assert len(m) >= 60 and np.all(np.diff(m) > 0) and m[0] == pytest.approx(0.001) and m[-1] == pytest.approx(1.0)
    # denser across the resonance window sqrt(2 m_e E_thr)..sqrt(2 m_e E0) = 0.226..0.320 GeV
    assert np.sum((m > 0.226) & (m < 0.320)) >= 20
    assert np.all(y_brem > 0) and np.all(np.diff(y_brem) < 0)            # falls with mass
    _, y_ann, e_ann = tables["dark_photon_annihilation"]
    inside = (m > 0.2265) & (m < 0.3196)
    # (near sqrt(2 m_e E0) shower positrons of ~E0 are too rare for the small test cascade: up to 0.30)
    # default line shape (Breit-Wigner, LDM width Gamma ~ 3% m): well outside the window (m < 0.8 x 0.226,
    # m > 1.1 x 0.320 GeV) only the off-shell tail, < 3% of the peak
    assert np.all(y_ann[inside & (m < 0.30)] > 0)
    assert np.all(y_ann[(m < 0.18) | (m > 0.35)] < 0.03 * y_ann[inside].max())
    _, y_dp, e_dp = tables["dark_photon"]
    assert np.allclose(y_dp, y_brem + y_ann, rtol=1e-6)
    # the dip: annihilation dominates somewhere in the window for an electron beam
    assert np.max(y_ann[inside] / y_brem[inside]) > 1
    # efficiencies: brem from brem samples (flat 0.6 below 10 MeV), annihilation flat 0.5, mixture in between
    assert e_brem[0] == pytest.approx(0.6) and np.allclose(e_ann, 0.5)
    w = y_ann / (y_brem + y_ann)
    assert np.allclose(e_dp, (1 - w) * e_brem + w * 0.5, atol=2e-6)
    # lmu_ltau through the loop mixing (g/69)^2 x BR(Z' -> nu nu)
    _, y_l, _ = tables["lmu_ltau"]
    assert y_l[0] / y_dp[0] == pytest.approx(1 / 69.29**2, rel=1e-3)
    # the cascade table was cached for the next run
    assert sig.tracklength_path(cfg, "e-", 100.0).is_file()


def test_muon_and_hadron_models(fast_cfg):
    path, cfg = fast_cfg
    histograms.save(paths.histograms_path(cfg, "na64mu", "2022"),
                    _hist_dict("na64mu", "2022", {"signal_zprime_m0.01": _sample(0.3), "signal_zprime_m1": _sample(0.2)}))
    res = sig.compute(cfg, "na64mu", "2022")
    assert set(res) == {"lmu_ltau", "dark_photon"}
    m, y_z, e_z = res["lmu_ltau"]
    _, y_a, e_a = res["dark_photon"]
    assert np.allclose(e_z, e_a)                 # dark photon off muons uses the zprime samples
    assert e_z[0] == pytest.approx(0.3) and e_z[-1] == pytest.approx(0.2)
    histograms.save(paths.histograms_path(cfg, "na64h", "2022"),
                    _hist_dict("na64h", "2022", {"signal_eta_m0.547862": _sample(0.2),
                                                 "signal_etaprime_m0.95778": _sample(0.25)}))
    res = sig.compute(cfg, "na64h", "2022")
    (m_eta, y_eta, e_eta), (m_etap, y_etap, e_etap) = res["eta_invisible"], res["etaprime_invisible"]
    assert len(m_eta) == 1 and m_eta[0] == pytest.approx(0.547862) and m_etap[0] == pytest.approx(0.95778)
    assert e_eta[0] == pytest.approx(0.2) and e_etap[0] == pytest.approx(0.25) and 0 < y_etap[0] < y_eta[0] < 1e-3


def test_missing_signal_samples_name_the_histogram_file(fast_cfg):
    _, cfg = fast_cfg
    p = paths.histograms_path(cfg, "na64mu", "2022")
    histograms.save(p, _hist_dict("na64mu", "2022", {}))
    with pytest.raises(NA64Error, match=r"2022\.pkl.*signal_(zprime|brem)"):
        sig.compute(cfg, "na64mu", "2022")


def test_published_mode_takes_the_run_efficiency_or_names_the_missing_key(tmp_config, default_config_dict):
    analyses = default_config_dict["analyses"]
    analyses["na64mu"]["runs"]["2022"]["published"] = {"background": 0.07, "signal_efficiency": 0.25}
    path, _ = tmp_config(signal=FAST, input={"source": "published"}, analyses=analyses)
    cfg = config.load_config(path)
    m, y, e = sig.compute(cfg, "na64mu", "2022")["lmu_ltau"]
    assert np.allclose(e, 0.25) and np.all(y > 0)
    with pytest.raises(NA64Error, match=r"analyses\.na64h\.runs\.2022\.published\.signal_efficiency"):
        sig.compute(cfg, "na64h", "2022")


def test_published_efficiency_is_the_product_of_its_cited_factors(tmp_config, default_config_dict):
    analyses = default_config_dict["analyses"]
    factors = [{"name": "trigger", "value": 0.25, "source": "[paper] design study"},
               {"name": "tracking 2022", "value": 0.25, "source": "[paper] factor four"}]
    analyses["na64mu"]["runs"]["2022"]["published"] = {"background": 0.07, "signal_efficiency_factors": factors}
    path, _ = tmp_config(signal=FAST, input={"source": "published"}, analyses=analyses)
    cfg = config.load_config(path)
    assert sig.published_efficiency(cfg, "na64mu", "2022") == pytest.approx(0.0625)
    m, y, e = sig.compute(cfg, "na64mu", "2022")["lmu_ltau"]
    assert np.allclose(e, 0.0625)


def test_published_efficiency_factors_disagreeing_with_the_total_are_an_error(tmp_config, default_config_dict):
    analyses = default_config_dict["analyses"]
    factors = [{"name": "trigger", "value": 0.25, "source": "s"}, {"name": "tracking 2022", "value": 0.25, "source": "s"}]
    analyses["na64mu"]["runs"]["2022"]["published"] = {"background": 0.07, "signal_efficiency": 0.25,
                                                       "signal_efficiency_factors": factors}
    path, _ = tmp_config(signal=FAST, input={"source": "published"}, analyses=analyses)
    cfg = config.load_config(path)
    with pytest.raises(NA64Error, match=r"na64mu\.runs\.2022\.published: signal_efficiency = 0\.25.*0\.0625"):
        sig.published_efficiency(cfg, "na64mu", "2022")


def test_signal_reader_rejects_a_table_without_the_contract_columns(tmp_path):
    p = tmp_path / "bad.csv"
    p.write_text("mass_gev,yield\n0.1,1e-5\n")
    with pytest.raises(NA64Error, match="bad.csv.*efficiency"):
        contracts.read_signal(p)
    with pytest.raises(NA64Error, match="made by `na64flow signal`"):
        contracts.read_signal(tmp_path / "absent.csv")


def test_tracklengths_step_writes_a_table_the_signal_step_reuses(fast_cfg, capsys):
    path, cfg = fast_cfg
    out = sig.tracklength_path(cfg, "e+", 70.0)
    assert main(["tracklengths", "-c", str(path), "--beam", "e+", "--energy-gev", "70", "--out", str(out)]) == 0
    assert "track length above" in capsys.readouterr().out
    from na64flow.physics.tracklength import load

    table = load(out)
    assert table.beam == "e+" and table.e0_gev == 70.0 and table.per_energy("e+")[-1] > 0
    stamp = out.stat().st_mtime_ns
    assert sig.get_table(cfg, "e+", 70.0).source == table.source      # read back, not recomputed
    assert out.stat().st_mtime_ns == stamp
