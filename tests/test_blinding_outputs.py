"""Blinding: a planted data event inside the signal box reaches no histogram bin, region, box cell or log line.

Strongest form for histograms and regions: they are identical with and without the planted event. The
cut-flow tables count every event read (row 0 = events read, as the contract says); the planted event is
withheld with the whole box region of the observables before any cut, so only rows 0 ("read") and the
withheld count change. A box-region event that fails a cut gives byte-identical outputs to one that
passes every cut: the signal-box count cannot be derived from anything written while blinded.
Unblinded, the same event is found (box region, box row, the box bin of the E_ECAL-E_HCAL plane).
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np

from na64flow import histograms as H
from na64flow.cli import main
from na64flow.events import TRIGGER_PHYSICS

_spec = importlib.util.spec_from_file_location("toy_events", Path(__file__).parent / "reference" / "toy_events.py")
toy = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(toy)

PLANTED_ECAL_GEV = 23.456


def planted_box_event(srd1_mev: float = 30.0):
    """A clean 100 GeV electron that leaves 23.456 GeV in the ECAL and nothing after: signal-like.

    ``srd1_mev=0`` makes it fail the SRD tag while staying inside the box region of E_ECAL, E_HCAL."""
    c = dict(run_number=1, event_number=987654321, trigger_bits=TRIGGER_PHYSICS, spill_time_s=2.0,
             beam_momentum_gev=100.0, beam_angle_mrad=0.3, n_tracks_up=1, srd1_mev=srd1_mev, srd2_mev=35.0,
             srd3_mev=40.0, ecal_ps_gev=5.0, ecal_gev=PLANTED_ECAL_GEV, ecal_chi2=1.0, ecal_time_ns=0.5,
             veto_mip=0.02, vhcal_gev=0.0, hcal1_gev=0.05, hcal2_gev=0.05, hcal3_gev=0.05, hcal4_gev=0.05,
             hcal_time_ns=0.0, true_process=100, true_e_miss_gev=76.5, true_mediator_e_gev=76.5, weight=1.0)
    return {k: np.array([v]) for k, v in c.items()}


def chain(tmp_path, repo_root, capsys, planted: bool, unblind: bool, srd1_mev: float = 30.0):
    """simulate-like toy inputs -> `na64flow process` (both runs) -> `na64flow cutflow`; returns outputs."""
    tmp_path.mkdir(parents=True, exist_ok=True)
    path, cfg = toy.make_config(tmp_path, repo_root, {"unblind": unblind})
    for run in ("2016-2022", "2023"):
        extra = planted_box_event(srd1_mev) if planted else None
        toy.write_run(cfg, "na64e", run, 3000, seed=21, extra_data=extra)
    res = tmp_path / "results" / "default"
    for run in ("2016-2022", "2023"):
        assert main(["process", "-c", str(path), "--analysis", "na64e", "--run", run, "--executor", "iterative",
                     "--out", str(res / "histograms" / "na64e" / f"{run}.pkl")]) == 0
    assert main(["cutflow", "-c", str(path), "--analysis", "na64e"]) == 0
    console = capsys.readouterr()
    text = {p.relative_to(res).as_posix(): p.read_text() for p in sorted((res / "cutflows").rglob("*")) if p.is_file()}
    hists = {run: H.load(res / "histograms" / "na64e" / f"{run}.pkl") for run in ("2016-2022", "2023")}
    return text, hists, console.out + console.err


def _strip_paths(s: str, tmp: Path) -> str:
    return s.replace(str(tmp), "<tmp>")


def _hists_and_regions(content):
    d = H.to_json(content, full=True)
    return {s: {"hists": v["hists"], "regions": v["regions"]} for s, v in d["samples"].items()}


def test_blinded_histograms_and_regions_do_not_depend_on_a_planted_box_event(tmp_path, repo_root, capsys):
    a = tmp_path / "a"
    b = tmp_path / "b"
    text_a, hists_a, log_a = chain(a, repo_root, capsys, planted=True, unblind=False)
    text_b, hists_b, log_b = chain(b, repo_root, capsys, planted=False, unblind=False)
    for run in hists_a:
        assert _hists_and_regions(hists_a[run]) == _hists_and_regions(hists_b[run])
        assert "box" not in hists_a[run]["samples"]["data"]["regions"]
        assert hists_a[run]["samples"]["data"]["cutflow"]["raw"][-1] is None
    # cut-flow tables: simulated rows identical; data rows count the extra event read, box row blinded
    import csv
    import io
    for run in ("2016-2022", "2023"):
        ra = list(csv.DictReader(io.StringIO(text_a[f"cutflows/na64e/{run}.csv"])))
        rb = list(csv.DictReader(io.StringIO(text_b[f"cutflows/na64e/{run}.csv"])))
        assert [r for r in ra if r["sample"] != "data"] == [r for r in rb if r["sample"] != "data"]
        da = [r for r in ra if r["sample"] == "data"]
        db = [r for r in rb if r["sample"] == "data"]
        assert da[-1]["step"] == "box" and set(da[-1].values()) - {"data", "box"} == {"blinded"}
        assert da[-1] == db[-1]
        assert da[1]["step"] == "blinded region withheld"
        assert [int(x["raw"]) - int(y["raw"]) for x, y in zip(da[:-1], db[:-1])] == [1] + [0] * (len(da) - 2)
    for t in text_a.values():
        assert f"{PLANTED_ECAL_GEV}" not in t and "987654321" not in t
    for line in (log_a + log_b).splitlines():
        if "INFO" in line:
            assert " box" not in line.lower().replace("/", " ")


def test_blinded_data_read_row_equals_events_in_the_files(tmp_path, repo_root, capsys):
    _, hists, _ = chain(tmp_path, repo_root, capsys, planted=True, unblind=False)
    assert hists["2016-2022"]["samples"]["data"]["cutflow"]["raw"][0] == 3000 + 1


def test_blinded_plane_has_empty_box_bins_for_data_but_not_for_simulation(tmp_path, repo_root, capsys):
    _, hists, _ = chain(tmp_path, repo_root, capsys, planted=True, unblind=False)
    data = hists["2016-2022"]["samples"]["data"]["hists"]["ecal_hcal"]
    mc = hists["2016-2022"]["samples"]["mc_bulk"]["hists"]["ecal_hcal"]
    assert data[:50j:sum, :1j:sum].value == 0
    assert mc[:50j:sum, :1j:sum].value > 0       # simulated samples are not blinded
    for name, h in hists["2016-2022"]["samples"]["data"]["hists"].items():
        if name.startswith("n1_") or name == "e_miss":
            continue
        assert h[:50j:sum, :1j:sum].value == 0, name


def test_unblinded_chain_finds_the_planted_event(tmp_path, repo_root, capsys):
    _, with_ev, _ = chain(tmp_path / "a", repo_root, capsys, planted=True, unblind=True)
    _, without, _ = chain(tmp_path / "b", repo_root, capsys, planted=False, unblind=True)
    d1 = with_ev["2016-2022"]["samples"]["data"]
    d0 = without["2016-2022"]["samples"]["data"]
    assert d1["regions"]["box"]["raw"] == d0["regions"]["box"]["raw"] + 1
    assert d1["cutflow"]["raw"][-1] == d0["cutflow"]["raw"][-1] + 1
    diff = d1["hists"]["ecal_hcal"].values() - d0["hists"]["ecal_hcal"].values()
    i, j = np.argwhere(diff != 0)[0]
    assert diff.sum() == 1 and i == int(PLANTED_ECAL_GEV) and j == 0


def test_box_count_cannot_be_derived_from_blinded_outputs(tmp_path, repo_root, capsys):
    """A box-region event passing every cut and one failing the SRD tag give identical blinded outputs."""
    text_pass, hists_pass, _ = chain(tmp_path / "pass", repo_root, capsys, planted=True, unblind=False)
    text_fail, hists_fail, _ = chain(tmp_path / "fail", repo_root, capsys, planted=True, unblind=False,
                                     srd1_mev=0.0)
    assert text_pass == text_fail
    for run in ("2016-2022", "2023"):
        a, b = H.to_json(hists_pass[run], full=True), H.to_json(hists_fail[run], full=True)
        assert a["samples"]["data"] == b["samples"]["data"]
    # ... while unblinded they differ (the SRD-failing event is not a candidate)
    _, un_pass, _ = chain(tmp_path / "upass", repo_root, capsys, planted=True, unblind=True)
    _, un_fail, _ = chain(tmp_path / "ufail", repo_root, capsys, planted=True, unblind=True, srd1_mev=0.0)
    assert un_pass["2016-2022"]["samples"]["data"]["cutflow"]["raw"][-1] == \
        un_fail["2016-2022"]["samples"]["data"]["cutflow"]["raw"][-1] + 1
