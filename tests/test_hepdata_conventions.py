"""The HEPData submission follows HEPData's conventions (parsed from the written YAML), and validates.

Rules: integer counts exact; upper values as a bound in their own column (never value 0 with an error
equal to the bound); no zero-valued "total" errors on the sources; asymmetric band errors signed
(minus <= 0 <= plus); cmenergies filled; every linked file exists in the submission; observed numbers
only when asked for, and then the data box row holds the observed count.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from publish_fixtures import CUTFLOW_HEADER, LIMIT_HEADER, make_config, populate, write_csv

from na64flow import NA64Error, publish

BIG_COUNT = 1505937       # 7 digits: a 4- or 5-significant-digit rounding would change it


def _tree(tmp_path, observed=False):
    cfg = make_config(tmp_path)
    res = populate(cfg, observed=observed)
    rows = [["data", "read", BIG_COUNT, "", "", 1, BIG_COUNT, 1227.2, "", 1],
            ["data", "srd_tag", 150593, BIG_COUNT - 150593, 0.1, 0.1, 150593, 388.1, 0.1, 0.1],
            ["data", "box", "blinded", "blinded", "blinded", "blinded", "blinded", "blinded", "blinded", "blinded"],
            ["mc_upstream_interaction", "read", 20000, "", "", 1, 151030.96, 2100.3, "", 1],
            ["mc_upstream_interaction", "srd_tag", 14000, 6000, 0.7, 0.7, 150000.5, 2000.1, 0.99, 0.99],
            ["mc_upstream_interaction", "box", 184, 13816, 0.01, 0.009, 1.186, 0.19, 8e-6, 8e-6]]
    write_csv(res / "cutflows" / "na64e" / "2023.csv", CUTFLOW_HEADER, rows)
    # Poisson discreteness: -1 sigma = median (n_obs = 0), and a point where every quantile is n_obs = 0
    write_csv(res / "limits" / "na64e_plus" / "dark_photon.csv", LIMIT_HEADER,
              [[0.01, 2e-5, 2e-5, 2e-5, 3e-5, 4e-5, 2e-5 if observed else ""],
               [0.1, 5e-5, 5e-5, 5e-5, 5e-5, 5e-5, 5e-5 if observed else ""]])
    bkg_path = res / "background" / "na64e" / "2023.json"
    bkg = json.loads(bkg_path.read_text())
    bkg["sources"].append({"name": "hadron_electroproduction", "estimate": 0.0, "stat": 0.32, "syst": 0.0,
                           "method": "simulation", "inputs": {"upper_value_only": True}})
    bkg_path.write_text(json.dumps(bkg))
    return cfg, res


def _tables(out: Path) -> dict[str, dict]:
    docs = [d for d in yaml.safe_load_all((out / "submission.yaml").read_text()) if d and "data_file" in d]
    return {d["name"]: {"meta": d, "data": yaml.safe_load((out / d["data_file"]).read_text())} for d in docs}


@pytest.fixture
def blinded(tmp_path):
    cfg, res = _tree(tmp_path, observed=True)      # observed limits exist on disk but are not asked for
    publish.write_hepdata(cfg, observed=False)
    return cfg, res / "hepdata"


def test_submission_validates_with_hepdata_validator(blinded):
    _, out = blinded
    assert publish.validate_hepdata(out) == []


def test_integer_counts_are_exact_not_rounded_to_significant_digits(blinded):
    _, out = blinded
    table = _tables(out)["Cut flow na64e 2023"]["data"]
    data = next(v for v in table["dependent_variables"] if v["header"]["name"] == "Events (data)")
    values = [v["value"] for v in data["values"]]
    assert values == [BIG_COUNT, 150593, "blinded"]
    assert all(type(v) is int for v in values[:2])
    mc = next(v for v in table["dependent_variables"] if v["header"]["name"] == "Events (mc_upstream_interaction)")
    assert mc["values"][0]["value"] == pytest.approx(151030.96, rel=1e-6)


def test_upper_values_are_bounds_in_their_own_column_never_zero_with_error(blinded):
    _, out = blinded
    table = _tables(out)["Background na64e 2023"]["data"]
    names = [v["value"] for v in table["independent_variables"][0]["values"]]
    i = names.index("hadron_electroproduction")
    est = next(v for v in table["dependent_variables"] if v["header"]["name"] == "Expected events")
    up = next(v for v in table["dependent_variables"] if v["header"]["name"].startswith("Upper value"))
    assert est["values"][i] == {"value": "-"}
    assert up["values"][i]["value"] == pytest.approx(0.32)
    assert any(q["name"] == "Limit" and "upper" in q["value"] for q in up["qualifiers"])
    assert all(v["value"] == "-" for j, v in enumerate(up["values"]) if j != i)


def test_no_zero_errors_and_no_total_error_on_the_sources(blinded):
    _, out = blinded
    for name, t in _tables(out).items():
        for dep in t["data"]["dependent_variables"]:
            for row, v in zip(t["data"]["independent_variables"][0]["values"], dep["values"], strict=True):
                for e in v.get("errors", []):
                    if "symerror" in e:
                        assert e["symerror"] != 0, f"{name}: zero error {e} at {row}"
                        if name.startswith("Background") and row["value"] != "total":
                            assert e["label"] != "total", f"{name}: 'total' error on source {row}"


def test_band_errors_are_signed_asymmetric_errors_and_zero_width_bands_have_none(blinded):
    _, out = blinded
    disc = _tables(out)["Limits na64e_plus dark_photon"]["data"]["dependent_variables"][0]["values"]
    assert [e["label"] for e in disc[0]["errors"]] == ["1 sigma", "2 sigma"]
    assert disc[0]["errors"][0]["asymerror"] == {"minus": 0.0, "plus": 1e-5}
    assert "errors" not in disc[1]
    for name, t in _tables(out).items():
        if not name.startswith("Limits"):
            continue
        for v in t["data"]["dependent_variables"][0]["values"]:
            for e in v.get("errors", []):
                assert e["label"] in ("1 sigma", "2 sigma")
                assert e["asymerror"]["minus"] <= 0 <= e["asymerror"]["plus"]


def test_cmenergies_filled_with_sqrt_s_and_beam_energy_qualifier(blinded):
    _, out = blinded
    for name, t in _tables(out).items():
        kw = {k["name"]: k["values"] for k in t["meta"]["keywords"]}
        assert kw.get("cmenergies") and all(isinstance(x, float) and x > 0 for x in kw["cmenergies"]), name
        for dep in t["data"]["dependent_variables"]:
            assert any(q["name"] == "E_beam" and q["units"] == "GeV" for q in dep["qualifiers"]), name
    # 100 GeV electrons on a nucleon at rest: sqrt(2 E m_N + m_N^2) = 13.73 GeV
    assert publish.hepdata.sqrt_s_gev(100.0, "e-") == pytest.approx(13.731, abs=1e-3)


def test_every_linked_file_exists_in_the_submission(blinded):
    _, out = blinded
    for doc in yaml.safe_load_all((out / "submission.yaml").read_text()):
        if not doc:
            continue
        assert doc.get("location") != "Example location"
        for r in doc.get("additional_resources", []):
            if not r["location"].startswith("http"):
                assert (out / r["location"]).is_file(), r["location"]


def test_blinded_submission_has_no_observed_limits_even_if_they_exist(blinded):
    _, out = blinded
    text = "".join(p.read_text() for p in out.glob("*.yaml"))
    assert "Observed" not in text
    cut = _tables(out)["Cut flow na64e 2023"]["data"]
    data = next(v for v in cut["dependent_variables"] if v["header"]["name"] == "Events (data)")
    assert data["values"][-1]["value"] == "blinded"


def _observed_view(cfg, res):
    """What `na64flow unblind` leaves under results/<tag>/unblinded/: limits with obs, observed cut flows."""
    import shutil

    from na64flow import paths
    u = res / "unblinded"
    for sub in ("limits", "background"):
        shutil.copytree(res / sub, u / sub, dirs_exist_ok=True)
    for f in (res / "cutflows").rglob("*.csv"):
        target = u / "cutflows" / f.relative_to(res / "cutflows")
        target.parent.mkdir(parents=True, exist_ok=True)
        lines = ["data,box,3,,,,3,1.7,," if line.startswith("data,box,") else line
                 for line in f.read_text().splitlines()]
        target.write_text("\n".join(lines) + "\n")
    return paths.observed_view(cfg)


def test_unblinded_submission_shows_observed_box_count_and_limits(tmp_path):
    cfg, res = _tree(tmp_path, observed=True)
    n = publish.write_hepdata(_observed_view(cfg, res), observed=True)
    out = res / "unblinded" / "hepdata"
    assert n["cutflows"] == 6 and publish.validate_hepdata(out) == []
    tables = _tables(out)
    data = next(v for v in tables["Cut flow na64e 2023"]["data"]["dependent_variables"]
                if v["header"]["name"] == "Events (data)")
    assert data["values"][-1]["value"] == 3                     # the observed box count of the unblinded table
    lim = tables["Limits na64e dark_photon"]["data"]["dependent_variables"]
    assert [d["header"]["name"].split()[0] for d in lim] == ["Expected", "Observed"]
    assert (res / "unblinded" / "hepdata.tar.gz").stat().st_size > 0
    assert not (res / "hepdata").exists()                        # the blinded products are not touched


def test_observed_submission_from_blinded_cut_flows_is_refused(tmp_path):
    cfg, _ = _tree(tmp_path, observed=True)
    with pytest.raises(NA64Error, match="blinded"):
        publish.write_hepdata(cfg, tmp_path / "out", observed=True)


def test_an_invalid_submission_never_replaces_the_published_one(tmp_path, monkeypatch):
    """`publish` validates the staged folder before it takes the place of results/<tag>/hepdata: a
    submission the validator refuses is reported and the previous (valid) folder and archive stay as
    they were (before, the invalid folder was moved into place first and checked afterwards)."""
    import argparse

    from na64flow import paths
    from na64flow.publish import hepdata as hepdata_module

    cfg, res = _tree(tmp_path)
    publish.write_hepdata(cfg, observed=False)
    out, archive = res / "hepdata", paths.hepdata_archive_path(cfg)
    before = {p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.is_file()}
    archive_before = archive.read_bytes()
    # the limits change, and the new submission does not validate
    write_csv(res / "limits" / "na64e_plus" / "dark_photon.csv", LIMIT_HEADER,
              [[0.01, 9e-5, 9e-5, 9e-5, 9e-5, 9e-5, ""], [0.1, 9e-5, 9e-5, 9e-5, 9e-5, 9e-5, ""]])
    monkeypatch.setattr(hepdata_module, "validate_hepdata", lambda d: [f"{d}/submission.yaml: planted error"])
    cfg_path = paths.effective_config_path(cfg)
    cfg_path.parent.mkdir(parents=True, exist_ok=True)
    cfg_path.write_text(yaml.safe_dump({k: v for k, v in json.loads(json.dumps(cfg)).items() if not k.startswith("_")}))
    args = argparse.Namespace(config=str(cfg_path), set=[], no_likelihoods=True, no_hepdata=False,
                              hepdata_dir=None, observed=False)
    with pytest.raises(NA64Error, match="planted error"):
        publish.run(args)
    after = {p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.is_file()}
    assert after == before and archive.read_bytes() == archive_before
    assert not [p for p in out.parent.iterdir() if p.name.startswith(".hepdata-")]   # no staging left
