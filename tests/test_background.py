"""Background step: side-band extrapolation, simulation-based sources, blinding, outputs, published mode."""

import json

import numpy as np
import pytest
from conftest import BoxGuard, poison_data_box

from na64flow import NA64Error, background, cli, closure, config, histograms


def test_sideband_extrapolation_recovers_upstream_box_count_of_toy(cfg):
    hfile = closure.toy_histogram_file(seed=4, n_upstream=2000.0)
    rec = background.estimate_from_histograms(cfg, "na64e", "2016-2022", hfile)
    up = next(s for s in rec["sources"] if s["name"] == "upstream_interactions")
    truth = 2000.0 * 0.5 * (1 - np.exp(-1 / 3.0))       # uniform E_ECAL<50 of 0-100, exp(3 GeV) E_HCAL<1
    assert abs(up["estimate"] - truth) < 3 * up["stat"]
    assert up["stat"] > 0 and up["syst"] >= 0
    models = [c["model"] for c in up["inputs"]["candidates"]]
    assert len(models) == 15 and models.count("mc_transfer") == 3      # 4 shapes x 3 ranges + transfers
    # central: the coverage-tested simulation transfer factor of the primary range (docs/background.md)
    assert up["method"].startswith("side-band extrapolation of data (E_HCAL shape, simulation transfer factor")
    assert up["inputs"]["central_policy"] == "transfer"
    # the simulated upstream process is replaced by the data-driven estimate, not double counted
    assert "upstream_interaction" not in [s["name"] for s in rec["sources"]]


def test_na64_fit_option_makes_the_primary_fit_central_when_it_closes(cfg):
    hfile = closure.toy_histogram_file(seed=4, n_upstream=2000.0)
    cfg = dict(cfg, background=dict(cfg.get("background") or {}))
    sb = dict(background.settings(cfg)["electron"]["sideband"], central="fit", syst="envelope")
    cfg["background"]["electron"] = dict(background.settings(cfg)["electron"], sideband=sb)
    rec = background.estimate_from_histograms(cfg, "na64e", "2016-2022", hfile)
    up = next(s for s in rec["sources"] if s["name"] == "upstream_interactions")
    assert up["method"].startswith("side-band extrapolation of data (E_HCAL shape, exponential fit")
    assert "envelope" in up["method"]


def test_background_result_does_not_depend_on_data_box_content(cfg):
    clean = closure.toy_histogram_file(seed=7)
    poisoned = closure.toy_histogram_file(seed=7)
    poison_data_box(poisoned)
    a = background.estimate_from_histograms(cfg, "na64e", "2016-2022", clean)
    b = background.estimate_from_histograms(cfg, "na64e", "2016-2022", poisoned)
    assert a == b


def test_blinded_background_never_reads_data_box_region(cfg):
    hfile = closure.toy_histogram_file(seed=8)
    data = hfile["samples"]["data"]
    assert "box" not in data["regions"]
    data["regions"] = BoxGuard(data["regions"])
    rec = background.estimate_from_histograms(cfg, "na64e", "2016-2022", hfile)
    assert rec["blinded"] is True and rec["total"]["estimate"] > 0


def test_strip_projection_excludes_box_bins_by_construction():
    hfile = closure.toy_histogram_file(seed=9)
    h = hfile["samples"]["data"]["hists"]["ecal_hcal"]
    poison_data_box(hfile, 5e8)
    edges, values, _ = background.hcal_strip(h, (0.0, 50.0), 1.0)
    assert edges[0] == pytest.approx(1.0)
    assert values.max() < 1e6


def test_dimuon_source_scaled_by_measured_k_and_total_adds_in_quadrature(cfg):
    hfile = closure.toy_histogram_file(seed=10, data_dimuon_scale=0.9, n_dimuon=5000.0)
    box = hfile["samples"]["mc_dimuon"]["regions"]["box"]
    box.update(raw=40, weighted=2.0, sumw2=0.1)
    rec = background.estimate_from_histograms(cfg, "na64e", "2016-2022", hfile)
    dimu = next(s for s in rec["sources"] if s["name"] == "dimuon")
    k = dimu["inputs"]["k"]
    assert 0.8 < k < 1.0
    assert dimu["estimate"] == pytest.approx(2.0 * k)
    tot = rec["total"]
    assert tot["estimate"] == pytest.approx(sum(s["estimate"] for s in rec["sources"]))
    assert tot["stat"] == pytest.approx(np.sqrt(sum(s["stat"] ** 2 for s in rec["sources"])))


def test_mc_source_without_passing_events_gets_upper_value_error(cfg):
    hfile = closure.toy_histogram_file(seed=12)
    hfile["samples"]["mc_beamline_decay"]["regions"]["box"].update(raw=0, weighted=0.0, sumw2=0.0)
    rec = background.estimate_from_histograms(cfg, "na64e", "2016-2022", hfile)
    bl = next(s for s in rec["sources"] if s["name"] == "beamline_decay")
    cf = hfile["samples"]["mc_beamline_decay"]["cutflow"]
    assert bl["estimate"] == 0.0
    assert bl["stat"] == pytest.approx(1.14 * cf["weighted"][0] / cf["raw"][0])
    assert bl["inputs"]["upper_value_only"]
    # the source enters the central total with its estimate 0 (said per source); its sample-size upper value
    # is stated and added only to the NA64-convention "Total (conservatively)"
    tot = rec["total"]
    assert tot["upper_values"]["beamline_decay"] == pytest.approx(bl["stat"])
    assert tot["estimate"] == pytest.approx(sum(s["estimate"] for s in rec["sources"]))
    assert tot["estimate_with_upper_values"] == pytest.approx(tot["estimate"] + sum(tot["upper_values"].values()))
    assert "beamline_decay" in tot["sources_in_estimate"] and tot["entries"]["beamline_decay"].startswith("0 (no simulated")
    md = background.markdown_table(rec)
    assert "< " in md and "Total (conservatively, NA64-table convention" in md and "in the total as" in md


def test_background_cli_reads_the_normalisation_record_and_writes_json_md_tex_per_contract(tmp_config):
    path, raw = tmp_config()
    cfg = config.load_config(path)
    hfile = closure.toy_histogram_file(seed=3)
    from na64flow import paths
    histograms.save(paths.histograms_path(cfg, "na64e", "2016-2022"), hfile)
    args = ["-c", str(path), "--analysis", "na64e", "--run", "2016-2022"]
    with pytest.raises(NA64Error, match="normalisation"):      # the dimuon k is read, not recomputed
        background.compute(cfg, "na64e", "2016-2022")
    assert cli.main(["normalisation", *args]) == 0
    norm_path = paths.normalisation_path(cfg, "na64e", "2016-2022")
    norm = json.loads(norm_path.read_text())
    norm["k"] = 2.0                                           # the background step uses the file's k
    norm_path.write_text(json.dumps(norm))
    assert cli.main(["background", *args]) == 0
    out = paths.background_path(cfg, "na64e", "2016-2022")
    rec = json.loads(out.read_text())
    assert {"analysis", "run", "n_ot", "blinded", "sources", "total"} <= set(rec)
    for s in rec["sources"]:
        assert {"name", "estimate", "stat", "syst", "method", "inputs"} <= set(s)
    assert {"estimate", "stat", "syst", "uncertainty"} <= set(rec["total"])
    assert "Total" in out.with_suffix(".md").read_text()
    assert r"\begin{tabular}" in out.with_suffix(".tex").read_text()
    dimu = next(s for s in rec["sources"] if s["name"] == "dimuon")
    assert dimu["inputs"]["k"] == 2.0
    # a record without k: the error names the file, the key and the record's contract (contracts reader)
    del norm["k"]
    norm_path.write_text(json.dumps(norm))
    with pytest.raises(NA64Error, match=r"2016-2022\.json: key 'k' missing or invalid \(contract: analysis, run, k"):
        background.compute(cfg, "na64e", "2016-2022")
    # the physical equivalent is stated in every table
    assert {"rate_scale", "total_physical"} <= set(rec)


def test_missing_histogram_file_names_the_file_and_step(tmp_config):
    path, _ = tmp_config()
    cfg = config.load_config(path)
    with pytest.raises(NA64Error, match="process"):
        background.compute(cfg, "na64e", "2016-2022")


def test_published_mode_reproduces_published_na64e_table(repo_root, tmp_path):
    cfg = config.load_config(repo_root / "configs" / "published.yaml", {"results_root": str(tmp_path)})
    rec = background.compute(cfg, "na64e", "2016-2022")
    assert rec["total"]["estimate"] == pytest.approx(0.51)       # [paper] physics.md §1
    assert rec["total"]["uncertainty"] == pytest.approx(0.13)
    assert all(s["method"] == "published" for s in rec["sources"])


def test_muon_p_out_sideband_extrapolates_below_cut(cfg):
    import hist
    rng = np.random.default_rng(3)
    h = hist.Hist(hist.axis.Regular(200, 0, 200, name="p_out_gev"), storage=hist.storage.Weight())
    p = 200 - rng.exponential(25.0, 20000)       # falling tail towards low p_out
    h.fill(p_out_gev=p[p >= 80])                 # data: box p_out < 80 unfilled
    cuts = config.cuts_for(cfg, "na64mu", "2022")
    ex, inputs = background.sideband_estimate(h, "muon", cuts, background.settings(cfg))
    truth = 20000 * np.exp(-120 / 25.0) * (1 - np.exp(-80 / 25.0))
    assert abs(ex.central.estimate - truth) < 3 * ex.stat
    assert inputs["target_gev"] == [0.0, 80.0]


def _srd_hist(values):
    import hist
    h = hist.Hist(hist.axis.Regular(100, 0, 200, name="srd_min_mev"), storage=hist.storage.Weight())
    h.view(flow=False)["value"] = values
    h.view(flow=False)["variance"] = values * 0.01
    return h


def test_hadron_content_measured_in_srd_n1_slice_normalises_beamline_decays(cfg):
    hfile = closure.toy_histogram_file(seed=13)
    had, other = np.zeros(100), np.zeros(100)
    had[0], other[0], other[5:40] = 400.0, 100.0, 50.0       # hadrons: no SR, first 2 MeV bin
    hfile["samples"]["mc_hadron_contamination"] = {
        "cutflow": {"names": ["read"], "raw": [1000], "weighted": [400.0], "sumw2": [160.0]},
        "regions": {"box": {"raw": 0, "weighted": 0.0, "sumw2": 0.0}}, "hists": {"n1_srd_tag": _srd_hist(had)}}
    hfile["samples"]["mc_upstream_interaction"]["hists"]["n1_srd_tag"] = _srd_hist(other)
    hfile["samples"]["data"]["hists"]["n1_srd_tag"] = _srd_hist(np.round(1.5 * had + other))
    bset = background.settings(cfg)
    k, k_unc, note = background.hadron_norm_factor(hfile, bset["electron"]["hadron_norm"], bset["mc_norm_syst"])
    # the 100 subtracted upstream-interaction events carry their normalisation uncertainty (0.30 default)
    assert k == pytest.approx(1.5, abs=0.01) and 0.3 * 100 / 400 < k_unc < 0.15
    rec = background.estimate_from_histograms(cfg, "na64e", "2016-2022", hfile)
    bl = next(s for s in rec["sources"] if s["name"] == "beamline_decay")
    box = hfile["samples"]["mc_beamline_decay"]["regions"]["box"]["weighted"]
    assert bl["inputs"]["k"] == pytest.approx(k) and bl["estimate"] == pytest.approx(k * box)
    assert "hadron content" in bl["method"]


def test_empty_data_side_band_enters_the_total_through_the_simulation_normalised_to_data(cfg):
    hfile = closure.toy_histogram_file(seed=14)
    h = hfile["samples"]["data"]["hists"]["ecal_hcal"]
    h.view(flow=False)["value"] = 0.0          # no data side-band event: data-driven estimate impossible
    h.view(flow=False)["variance"] = 0.0
    rec = background.estimate_from_histograms(cfg, "na64e", "2016-2022", hfile)
    up = next(s for s in rec["sources"] if s["name"] == "upstream_interactions")
    mc_box = hfile["samples"]["mc_upstream_interaction"]["regions"]["box"]["weighted"]
    assert up["estimate"] > 0 and up["estimate"] == pytest.approx(mc_box * up["inputs"]["simulation"][0]["k"])
    assert up["stat"] > 0 and up["syst"] > 0
    assert "side band empty" in up["method"] and up["inputs"]["obtained"].startswith("simulation normalised")
    assert "upstream_interactions" in rec["total"]["sources_in_estimate"]


def test_no_source_is_silently_dropped_and_each_says_how_it_was_obtained(cfg):
    hfile = closure.toy_histogram_file(seed=15)
    hfile["samples"]["mc_beamline_decay"]["regions"]["box"].update(raw=0, weighted=0.0, sumw2=0.0)
    rec = background.estimate_from_histograms(cfg, "na64e", "2016-2022", hfile)
    names = {s["name"] for s in rec["sources"]}
    simulated = {s[3:] for s in hfile["samples"] if s.startswith("mc_")} - {"upstream_interaction"}
    assert simulated <= names and "upstream_interactions" in names
    tot = rec["total"]
    assert set(tot["sources_in_estimate"]) == names == set(tot["entries"])     # every source is in the total
    assert set(tot["upper_values"]) <= names
    assert all(s["inputs"].get("obtained") for s in rec["sources"])
    md, _tex = background.markdown_table(rec), background.latex_table(rec)
    for s in rec["sources"]:
        assert s["label"] in md


def test_tables_state_rate_scale_physical_and_published_exposure_equivalent(cfg):
    hfile = closure.toy_histogram_file(seed=16)
    cfg = dict(cfg, simulation=dict(cfg["simulation"], rate_scale={"upstream_interaction": 100.0}, run_rate_scale={}))
    rec = background.estimate_from_histograms(cfg, "na64e", "2016-2022", hfile)
    up = next(s for s in rec["sources"] if s["name"] == "upstream_interactions")
    assert rec["rate_scale"] == {"upstream_interaction": 100.0}
    assert up["estimate_physical"] == pytest.approx(up["estimate"] / 100.0)
    assert rec["total_physical"] == pytest.approx(sum(s["estimate_physical"] for s in rec["sources"]))
    assert rec["published_total"] == pytest.approx(0.51)          # background.published_reference [paper]
    assert rec["total_published_exposure"] == pytest.approx(rec["total_physical"] * 9.37e11 / rec["n_ot"])
    md = background.markdown_table(rec)
    assert "upstream_interaction x100" in md and "published total 0.51" in md


def _forced_central(cfg, model: str, n_toys: int = 30):
    import copy
    b = copy.deepcopy(config.section(cfg, "background"))
    b["electron"]["sideband"].update(central="fit", primary=[model, 0])
    b["closure"] = {"n_toys": n_toys}
    return dict(cfg, background=b)


def test_a_central_fit_failing_its_toy_closure_is_refused_and_replaced_with_the_reason_written(cfg):
    """Attack (issue 11 item 4): configure as central a fit that closes on the simulated sample (|pull| < 2)
    but whose toys show a pull width ~2.7 (errors 2.7x too small); the background step must refuse it,
    use the method that passes, and say so in the record and in both tables."""
    hfile = closure.toy_histogram_file(seed=31, n_upstream=1000.0, mc_factor=1.0)
    rec = background.estimate_from_histograms(_forced_central(cfg, "gamma"), "na64e", "2016-2022", hfile)
    src = rec["sources"][0]
    gamma = next(c for c in src["inputs"]["candidates"] if c["model"] == "gamma" and c["fit_range_gev"] == [1.0, 6.0])
    assert gamma["closes_on_simulation"]                     # the simulation closure alone would let it through
    fit_toys, used_toys = src["inputs"]["toy_closure"]
    assert fit_toys["method"] == "fit" and not fit_toys["passed"] and "pull width" in fit_toys["reason"]
    assert used_toys["method"] == "transfer" and used_toys["passed"]
    assert src["closure"]["central_model"] == "mc_transfer" and "REFUSED" in src["closure"]["decision"]
    assert src["estimate"] == pytest.approx(next(c["estimate"] for c in src["inputs"]["candidates"]
                                                 if c["model"] == "mc_transfer" and c["fit_range_gev"] == [1.0, 6.0]))
    assert rec["closure_failed"] == []
    assert "REFUSED" in background.markdown_table(rec) and "REFUSED" in background.latex_table(rec)


def test_when_no_method_passes_its_toy_closure_the_source_is_marked_closure_failed(cfg, monkeypatch):
    from na64flow import fits
    real = fits.transfer_candidate

    def inflated(*a, **k):          # the transfer factor quoting 4x its error: toy width ~0.25, fails too
        c = real(*a, **k)
        c.stat *= 4.0
        return c

    monkeypatch.setattr(fits, "transfer_candidate", inflated)
    hfile = closure.toy_histogram_file(seed=31, n_upstream=1000.0, mc_factor=1.0)
    rec = background.estimate_from_histograms(_forced_central(cfg, "gamma"), "na64e", "2016-2022", hfile)
    assert rec["closure_failed"] == ["upstream_interactions"]
    assert not rec["sources"][0]["closure"]["central_closes"]
    assert "CLOSURE FAILED" in background.markdown_table(rec) and "closure failed" in background.latex_table(rec)


def test_closure_step_shows_the_toy_verdict_the_background_step_used(cfg):
    hfile = closure.toy_histogram_file(seed=31, n_upstream=1000.0, mc_factor=1.0)
    c = _forced_central(cfg, "gamma")
    rec = background.estimate_from_histograms(c, "na64e", "2016-2022", hfile)
    seed = int(c["seed"]) + [str(r) for r in config.runs_of(c, "na64e")].index("2016-2022")
    rows = closure.closure_rows(c, "na64e", "2016-2022", hfile, n_toys=30, seed=seed)
    toys = [r for r in rows if r["kind"] == "toys"]
    assert [(t["method"], t["passed"], t["pull_width"]) for t in toys] == \
        [(t["method"], t["passed"], t["pull_width"]) for t in rec["sources"][0]["inputs"]["toy_closure"]]


def _weighted_strip(rng, n_events=4000):
    """A simulated-like (E_ECAL, E_HCAL) sample: E_ECAL flat in [0, 50), weights falling e^(-E_ECAL/2 GeV)
    (like the upstream-interaction importance weights), E_HCAL ~ Exp(2 GeV) independent of E_ECAL."""
    import hist
    e = rng.uniform(0, 50, n_events)
    hc = rng.exponential(2.0, n_events)
    h = hist.Hist(hist.axis.Regular(150, 0, 150, name="ecal_gev"), hist.axis.Regular(400, 0, 100, name="hcal_gev"),
                  storage=hist.storage.Weight())
    h.fill(ecal_gev=e, hcal_gev=hc, weight=np.exp(-(50 - e) / 2.0))
    return h


def test_factorised_transfer_factor_rests_on_all_simulated_box_events_not_on_the_heaviest_weights():
    """Weights that vary by e^25 across the strip make the plain weighted box/side-band ratio rest on the few
    heaviest events; with the E_ECAL columns reweighted (the E_HCAL shape does not depend on E_ECAL) the
    ratio is much more precise and its quoted error covers its scatter (unit pull width)."""
    from na64flow.background import sideband
    rng = np.random.default_rng(5)
    true_r = (1 - np.exp(-0.5)) / (np.exp(-0.5) - np.exp(-3.0))      # P(h < 1) / P(1 <= h < 6), Exp(2 GeV)
    plain, fact, pulls = [], [], []
    for _ in range(40):
        h = _weighted_strip(rng)
        e1, v1, var1 = sideband.simulation_projection(h, "electron", (0.0, 50.0))
        e2, v2, var2, cols = sideband.factorised_projection(h, (0.0, 50.0))
        for store, (e, v, var) in ((plain, (e1, v1, var1)), (fact, (e2, v2, var2))):
            b, bv = sideband.interval_sum(e, v, var, 0.0, 1.0)
            s, sv = sideband.interval_sum(e, v, var, 1.0, 6.0)
            store.append(b / s)
            if store is fact:
                pulls.append((b / s - true_r) / ((b / s) * np.sqrt(bv / b**2 + sv / s**2)))
    rms = lambda x: float(np.sqrt(np.mean((np.array(x) - true_r) ** 2)))   # noqa: E731
    assert rms(fact) < 0.5 * rms(plain), (rms(fact), rms(plain))
    assert abs(np.mean(fact) / true_r - 1) < 0.05
    assert 0.7 < np.std(pulls, ddof=1) < 1.4


def test_factorisation_check_detects_an_e_hcal_shape_that_depends_on_e_ecal():
    import hist

    from na64flow.background import sideband
    rng = np.random.default_rng(6)
    e = rng.uniform(0, 50, 20000)
    hc = rng.exponential(np.where(e < 25, 1.0, 4.0))                 # shape changes across the strip
    h = hist.Hist(hist.axis.Regular(150, 0, 150, name="ecal_gev"), hist.axis.Regular(400, 0, 100, name="hcal_gev"),
                  storage=hist.storage.Weight())
    h.fill(ecal_gev=e, hcal_gev=hc)
    edges, _, _, cols = sideband.factorised_projection(h, (0.0, 50.0))
    assert sideband.column_homogeneity(cols, edges, (0.0, 1.0), (1.0, 6.0)) < 1e-6
    edges, _, _, cols = sideband.factorised_projection(_weighted_strip(rng, 20000), (0.0, 50.0))
    assert sideband.column_homogeneity(cols, edges, (0.0, 1.0), (1.0, 6.0)) > 1e-3


def test_the_ecal_axis_is_found_by_its_name_not_by_a_substring():
    """The E_ECAL axis is the one named after its column (``ecal_gev``); an axis whose name merely contains
    "ecal" (e.g. a VHCAL or pre-shower axis) is not taken for it, and a plane without it is an error."""
    import hist

    h = hist.Hist(hist.axis.Regular(4, 0, 4, name="hcal_gev"), hist.axis.Regular(4, 0, 4, name="ecal_gev"))
    assert background.ecal_axis(h) == 1
    bad = hist.Hist(hist.axis.Regular(4, 0, 4, name="preshower_ecal_gev"), hist.axis.Regular(4, 0, 4, name="hcal_gev"))
    with pytest.raises(NA64Error, match=r"no axis named 'ecal_gev' \(axes: \['preshower_ecal_gev', 'hcal_gev'\]\)"):
        background.ecal_axis(bad)
