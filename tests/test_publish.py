"""The publish step: pyhf likelihoods (BkgOnly + PatchSet) and the HEPData submission, from
hand-made result files (tests/publish_fixtures.py)."""

from __future__ import annotations

import json
import math

import pyhf
import pytest
import yaml
from publish_fixtures import K_NORM, make_config, populate

from na64flow import NA64Error, paths, publish, stats
from na64flow.cli import main


@pytest.fixture
def tree(tmp_path):
    cfg = make_config(tmp_path)
    return cfg, populate(cfg)


def _load(res, analysis):
    ws = pyhf.Workspace(json.loads((res / "likelihoods" / analysis / "BkgOnly.json").read_text()))
    ps = pyhf.PatchSet(json.loads((res / "likelihoods" / analysis / "patchset.json").read_text()))
    return ws, ps


def test_patchset_verifies_against_bkgonly_for_every_analysis(tree):
    cfg, res = tree
    written = publish.write_likelihoods(cfg)
    assert written == ["na64e", "na64e_plus", "na64mu", "na64h", "combined"]
    for analysis in written:
        ws, ps = _load(res, analysis)
        ps.verify(ws)  # raises PatchSetVerificationError on a digest mismatch
        assert ps.labels == ["model", "mass_gev"]


def test_one_patch_per_model_and_mass(tree):
    cfg, res = tree
    publish.write_likelihoods(cfg)
    _, ps = _load(res, "na64mu")
    values = sorted(tuple(p.values) for p in ps.patches)
    expected = sorted((m, x) for m in ("dark_photon", "lmu_ltau") for x in (0.001, 0.01, 0.1, 0.5))
    assert values == expected
    _, ps_h = _load(res, "na64h")
    assert sorted(p.values[0] for p in ps_h.patches) == ["eta_invisible", "etaprime_invisible"]


def test_patched_workspace_expects_ref_signal_at_mu_1_and_runs_are_channels(tree):
    cfg, res = tree
    publish.write_likelihoods(cfg)
    ws, ps = _load(res, "na64e")
    patched = ps.apply(ws, ("dark_photon", 0.01))
    model = patched.model()
    assert model.config.channels == ["na64e_2016_2022", "na64e_2023"]
    pars = list(model.config.suggested_init())   # mu = 1, nuisances nominal
    s_plus_b = sum(model.expected_actualdata(pars))
    pars[model.config.poi_index] = 0.0
    b = sum(model.expected_actualdata(pars))
    assert math.isclose(b, 2 * 0.46, rel_tol=1e-6)   # fixture background per run
    assert math.isclose(s_plus_b - b, stats.REF_SIGNAL_EVENTS, rel_tol=1e-3)


def _signal_at_unit_coupling(cfg, analysis, model, mass_gev, channel):
    problem = stats.build_problem(cfg, analysis, model)
    ws = stats.build_workspace(problem, stats.mass_index(problem, mass_gev))
    s = [smp["data"][0] for c in ws["channels"] if c["name"] == channel for smp in c["samples"]
         if smp["name"] == "signal"]
    return s[0] / ws["_coupling_ref"] ** 2


def test_signal_scales_with_exposure_times_yield_times_efficiency(tree):
    cfg, _ = tree
    n_ot = cfg["analyses"]["na64e"]["runs"]["2016-2022"]["n_ot"]
    expected = n_ot * 1e-3 / (1 + 100 * 0.01) ** 2 * 0.5 * K_NORM  # fixture table at m = 0.01 GeV
    got = _signal_at_unit_coupling(cfg, "na64e", "dark_photon", 0.01, "na64e_2016_2022")
    assert math.isclose(got, expected, rel_tol=1e-6)


def test_lmu_ltau_table_at_g_1_is_used_as_is_without_second_loop_mixing(tree):
    # the signal table is at coupling 1 (contract): loop mixing is already inside it for electrons
    cfg, _ = tree
    e = _signal_at_unit_coupling(cfg, "na64e", "lmu_ltau", 0.1, "na64e_2016_2022")
    a = _signal_at_unit_coupling(cfg, "na64e", "dark_photon", 0.1, "na64e_2016_2022")
    assert math.isclose(e / a, 1.0, rel_tol=1e-9)   # the fixture writes the same table for both


def test_blinded_observations_are_background_asimov_not_box_counts(tree):
    cfg, res = tree
    publish.write_likelihoods(cfg)
    ws, ps = _load(res, "na64e")
    assert ws.observations["na64e_2023"] == [0.46]
    assert "Asimov" in ps.description


def test_likelihoods_never_use_unblinded_counts_even_when_unblinding_is_requested(tmp_path):
    """Blinded products (publish) never read the box: observed counts reach only the `unblind` outputs."""
    cfg = make_config(tmp_path)
    res = populate(cfg, observed=True)
    cfg["unblind"] = True
    assert stats.observed_of(cfg, "na64e", "2023") is None
    publish.write_likelihoods(cfg)
    _, ps = _load(res, "combined")
    assert "Asimov" in ps.description


def test_patches_reproduce_the_stats_workspace_for_its_channels(tree):
    cfg, res = tree
    publish.write_likelihoods(cfg)
    ws, ps = _load(res, "combined")
    problem = stats.build_problem(cfg, "combined", "lmu_ltau")
    full = stats.build_workspace(problem, stats.mass_index(problem, 0.1))
    patched = ps.apply(ws, ("lmu_ltau", 0.1))
    for ch in full["channels"]:
        assert patched.channel_nbins[ch["name"]] == 1
        got = {s["name"]: s["data"] for c in patched["channels"] if c["name"] == ch["name"] for s in c["samples"]}
        assert got == {s["name"]: s["data"] for s in ch["samples"]}


def test_split_workspace_roundtrip_reproduces_full_workspace(tree):
    cfg, _ = tree
    problem = stats.build_problem(cfg, "na64mu", "lmu_ltau")
    full = stats.build_workspace(problem, stats.mass_index(problem, 0.1))
    full.pop("_coupling_ref")
    bkg, ops = publish.split_workspace(full)
    assert all(s["name"] == "background" for c in bkg["channels"] for s in c["samples"])
    import jsonpatch
    assert jsonpatch.apply_patch(bkg, ops) == full


def test_missing_background_file_names_the_file_and_step(tree):
    cfg, res = tree
    (res / "background" / "na64mu" / "2022.json").unlink()
    with pytest.raises(NA64Error, match=r"na64mu/2022.json.*na64flow background"):
        publish.background_of(cfg, "na64mu", "2022")


def test_hepdata_submission_validates_with_hepdata_validator(tree):
    cfg, res = tree
    n = publish.write_hepdata(cfg)
    assert n == {"limits": 11, "cutflows": 6, "background": 6}
    assert publish.validate_hepdata(res / "hepdata") == []
    assert (res / "hepdata.tar.gz").stat().st_size > 0


def test_hepdata_links_the_pyhf_likelihoods_as_histfactory_resource(tree):
    cfg, res = tree
    publish.write_likelihoods(cfg)
    publish.write_hepdata(cfg)
    assert publish.validate_hepdata(res / "hepdata") == []
    meta = next(yaml.safe_load_all((res / "hepdata" / "submission.yaml").read_text()))
    resource = next(r for r in meta["additional_resources"] if r.get("type") == "HistFactory")
    import tarfile
    with tarfile.open(res / "hepdata" / resource["location"]) as tar:
        names = tar.getnames()
    assert "likelihoods/combined/patchset.json" in names and "likelihoods/na64h/BkgOnly.json" in names


def test_hepdata_contains_cutflow_and_background_tables(tree):
    cfg, res = tree
    publish.write_hepdata(cfg)
    docs = list(yaml.safe_load_all((res / "hepdata" / "submission.yaml").read_text()))
    names = [d["name"] for d in docs if "name" in d]
    assert "Cut flow na64e 2016-2022" in names
    assert "Background na64mu 2022" in names
    cut = yaml.safe_load(next((res / "hepdata").glob("cut_flow_na64e_2016-2022.yaml")).read_text())
    cuts = [v["value"] for v in cut["independent_variables"][0]["values"]]
    assert cuts == ["read", "srd_tag", "box"]
    data = next(d for d in cut["dependent_variables"] if d["header"]["name"] == "Events (data)")
    assert [v["value"] for v in data["values"]] == [100000.0, 90000.0, "blinded"]
    dimuon = next(d for d in cut["dependent_variables"] if d["header"]["name"] == "Events (mc_dimuon)")
    assert dimuon["values"][2]["value"] == 0.04 and dimuon["values"][2]["errors"][0]["symerror"] == 0.04
    bkg = yaml.safe_load((res / "hepdata" / "background_na64mu_2022.yaml").read_text())
    assert [v["value"] for v in bkg["independent_variables"][0]["values"]] == [
        "upstream_interactions", "decays_in_flight", "total"]


def test_hepdata_limit_table_has_expected_bands_and_no_observed_while_blinded(tree):
    cfg, res = tree
    publish.write_hepdata(cfg)
    lim = yaml.safe_load((res / "hepdata" / "limits_na64e_dark_photon.yaml").read_text())
    assert len(lim["dependent_variables"]) == 1  # expected only
    first = lim["dependent_variables"][0]["values"][0]
    labels = [e["label"] for e in first["errors"]]
    assert labels == ["1 sigma", "2 sigma"]
    assert first["errors"][0]["asymerror"]["minus"] < 0 < first["errors"][0]["asymerror"]["plus"]


def test_published_config_background_table_comes_from_config(tmp_path):
    cfg = make_config(tmp_path, "published.yaml")
    table = publish.background_table(cfg, "na64e", "2016-2022")
    y, upper = table.variables[1], table.variables[2]
    assert y.values[-1] == 0.51           # total [paper]
    assert y.values[-2] == "-" and upper.values[-2] == 0.01   # punch-through: only an upper value [paper]
    assert upper.name.startswith("Upper value")
    assert stats.observed_of(cfg, "na64mu", "2022") == 0


def test_projection_has_no_observed_count(tmp_path):
    cfg = make_config(tmp_path, "projections.yaml")
    assert stats.observed_of(cfg, "na64e", "LS3") is None


def test_publish_cli_writes_files_and_reports_valid(tree, capsys):
    cfg, res = tree
    cfg_path = res / "cfg.yaml"
    raw = yaml.safe_load(open(publish_config_path()).read())
    raw["results_root"] = str(res.parent)
    cfg_path.write_text(yaml.safe_dump(raw))
    assert main(["publish", "-c", str(cfg_path)]) == 0
    out = capsys.readouterr().out
    assert "valid" in out
    assert (res / "likelihoods" / "combined" / "patchset.json").exists()


def publish_config_path():
    from publish_fixtures import ROOT
    return ROOT / "configs" / "default.yaml"


def test_comparison_with_published_takes_strongest_limit_in_mass_range(tree):
    cfg, res = tree
    cfg["publish"]["reference_limits"] = [
        {"analysis": "na64e", "model": "dark_photon", "value": 2e-5, "mass_range_gev": [0.05, 0.6], "reference": "test"},
        {"analysis": "na64h", "model": "eta_invisible", "meson": "eta", "value": 1.1e-4, "reference": "test"}]
    rows = publish.comparison_with_published(cfg)
    # fixture: exp = 1e-5 (1 + 10 m), masses 0.1 and 0.5 in range -> strongest 2e-5 at 0.1 GeV
    assert rows[0]["kind"] == "expected" and math.isclose(rows[0]["ours"], 2e-5)
    assert math.isclose(rows[0]["ratio"], 1.0)
    assert math.isclose(rows[1]["ours"], 1.1e-4) and rows[1]["kind"] == "expected"
    out = publish.write_comparison(cfg)
    assert "| na64h | eta_invisible | eta |" in out.read_text()


def test_read_cutflow_takes_weighted_events_and_keeps_blinded_text(tree):
    cfg, _ = tree
    steps, values, errors = publish.read_cutflow(next((paths.results_dir(cfg) / "cutflows" / "na64e").glob("*.csv")))
    assert steps == ["read", "srd_tag", "box"]
    assert values["data"] == [100000.0, 90000.0, "blinded"] and values["mc_dimuon"][1] == 4000.25
    assert errors["mc_dimuon"][:2] == [111.8, 100.0]


def test_comparison_with_published_interpolates_at_a_benchmark_mass_and_reads_per_run_tables(tree):
    import shutil

    cfg, res = tree
    combined = paths.limits_path(cfg, "na64e", "dark_photon")
    per_run = combined.with_name("dark_photon_2016-2022.csv")
    shutil.copy(combined, per_run)
    cfg["publish"]["reference_limits"] = [
        {"analysis": "na64e", "model": "dark_photon", "value": 1e-5, "mass_gev": 0.3, "reference": "test"},
        {"analysis": "na64e", "model": "dark_photon", "value": 1e-5, "mass_gev": 0.3, "run": "2016-2022",
         "reference": "test"},
        {"analysis": "na64e", "model": "dark_photon", "value": 1e-5, "mass_gev": 0.3, "run": "1999",
         "reference": "test"},
        {"analysis": "na64e", "model": "dark_photon", "value": 1e-5, "mass_gev": 5.0, "reference": "test"}]
    rows = publish.comparison_with_published(cfg)
    # fixture: exp = 1e-5 (1 + 10 m) at 0.1 and 0.5 GeV: log-log at 0.3 GeV between 2e-5 and 6e-5
    want = math.exp(0.5 * (math.log(2e-5) + math.log(6e-5)) + (math.log(0.3) - 0.5 * (math.log(0.1) + math.log(0.5)))
                    * (math.log(6e-5) - math.log(2e-5)) / (math.log(0.5) - math.log(0.1)))
    assert math.isclose(rows[0]["ours"], want, rel_tol=1e-9) and math.isclose(rows[1]["ours"], want, rel_tol=1e-9)
    assert rows[2]["ours"] is None and rows[2]["file"].endswith("dark_photon_1999.csv")   # missing table: reported
    assert rows[3]["ours"] is None                                                        # outside the scanned masses
    text = publish.write_comparison(cfg).read_text()
    assert "0.3 GeV (run 2016-2022)" in text and "missing:" in text

