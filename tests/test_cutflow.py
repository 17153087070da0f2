"""The `cutflow` step: tables per run and a summary in CSV, Markdown and LaTeX, with efficiencies."""

from __future__ import annotations

import csv
import importlib.util
from pathlib import Path

import pytest

from na64flow.cli import main
from na64flow.cutflow import comparison_rows, rows_of, run_sections, summary_rows, weighting_of

_spec = importlib.util.spec_from_file_location("toy_events", Path(__file__).parent / "reference" / "toy_events.py")
toy = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(toy)


def test_efficiencies_are_ratios_of_remaining_counts():
    cf = {"names": ["read", "invalid values", "a", "box"], "raw": [200, 190, 95, 5],
          "weighted": [100.0, 95.0, 47.5, 2.5], "sumw2": [50.0, 47.5, 23.75, 1.25]}
    rows = rows_of("mc_x", cf)
    assert [r["removed"] for r in rows] == [None, 10, 95, 90]
    assert rows[2]["rel_eff"] == pytest.approx(0.5) and rows[2]["cum_eff"] == pytest.approx(0.475)
    assert rows[3]["weighted_err"] == pytest.approx(1.25 ** 0.5)


def test_blinded_box_row_reads_blinded():
    cf = {"names": ["read", "invalid values", "a", "box"], "raw": [10, 9, 8, None],
          "weighted": [10.0, 9.0, 8.0, None], "sumw2": [10.0, 9.0, 8.0, None]}
    assert rows_of("data", cf)[-1]["_blinded"]


@pytest.fixture(scope="module")
def tables(tmp_path_factory, repo_root):
    tmp = tmp_path_factory.mktemp("cf")
    path, cfg = toy.make_config(tmp, repo_root)
    res = tmp / "results" / "default"
    for run in ("2022",):
        toy.write_run(cfg, "na64mu", run, 2000, seed=4)
        assert main(["process", "-c", str(path), "--analysis", "na64mu", "--run", run, "--executor", "iterative",
                     "--out", str(res / "histograms" / "na64mu" / f"{run}.pkl")]) == 0
    assert main(["cutflow", "-c", str(path), "--analysis", "na64mu"]) == 0
    return res / "cutflows" / "na64mu"


def test_cutflow_writes_every_run_and_summary_in_three_formats(tables):
    for stem in ("2022", "summary"):
        for ext in ("csv", "md", "tex"):
            assert (tables / f"{stem}.{ext}").stat().st_size > 0


def test_cutflow_csv_first_row_is_events_read_and_data_box_is_blinded(tables):
    rows = list(csv.DictReader((tables / "2022.csv").open()))
    data = [r for r in rows if r["sample"] == "data"]
    assert data[0]["step"] == "read" and data[0]["cum_eff"] == "1"
    assert data[1]["step"] == "invalid values" and int(data[1]["removed"]) > 0
    assert data[-1]["step"] == "box" and data[-1]["raw"] == "blinded"
    mc = [r for r in rows if r["sample"] == "mc_bulk"]
    assert mc[-1]["raw"].isdigit()                       # simulation not blinded
    assert int(mc[0]["raw"]) == sum(int(r["removed"]) for r in mc[1:-1]) + int(mc[-2]["raw"])


def test_latex_and_markdown_tables_are_well_formed(tables):
    tex = (tables / "2022.tex").read_text()
    # data vs simulation, weighted processes, raw MC events (the toy has no signal sample)
    assert tex.count(r"\begin{tabular}") == tex.count(r"\end{tabular}") == 3
    assert r"physics\_trigger" in tex and "blinded" in tex
    md = (tables / "summary.md").read_text()
    assert "| 2022 | data |" in md and "blinded" in md


def test_cutflow_without_histograms_names_the_missing_file(tmp_path, repo_root, capsys):
    path, _ = toy.make_config(tmp_path, repo_root)
    assert main(["cutflow", "-c", str(path), "--analysis", "na64h"]) == 1
    err = capsys.readouterr().err
    assert "histograms/na64h/2022.pkl" in err and "na64flow process" in err


def _content(blinded=True):
    """A hand-made histogram-file content: data, a uniform and an importance-sampled MC, one signal."""
    names = ["read", "invalid values", "a", "box"]
    return {"analysis": "na64e", "run": "2023", "blinded": blinded, "n_ot": 1e9, "samples": {
        "data": {"cutflow": {"names": names, "raw": [1000, 990, 100, None if blinded else 2],
                             "weighted": [1000.0, 990.0, 100.0, None if blinded else 2.0],
                             "sumw2": [1000.0, 990.0, 100.0, None if blinded else 2.0]}},
        "mc_flat": {"cutflow": {"names": names, "raw": [400, 396, 40, 4], "weighted": [800.0, 792.0, 80.0, 8.0],
                                "sumw2": [1600.0, 1584.0, 160.0, 16.0]}},     # weights all 2
        # importance-sampled: 100 events of weight 2 (bulk) + 100 of weight 1e-6 (the rare topology)
        "mc_rare": {"cutflow": {"names": names, "raw": [200, 200, 110, 100], "weighted": [200.0, 200.0, 20.0, 1e-4],
                                "sumw2": [400.0, 400.0, 40.0, 1e-10]}},
        "signal_brem_m0.01": {"cutflow": {"names": names, "raw": [50, 50, 45, 40], "weighted": [50.0, 50.0, 45.0, 40.0],
                                          "sumw2": [50.0, 50.0, 45.0, 40.0]}}}}


def test_data_and_summed_simulation_side_by_side_at_every_cut_with_ratio():
    rows = comparison_rows(_content())
    assert [r["step"] for r in rows] == ["read", "invalid values", "a", "box"]
    assert rows[0]["sim"] == pytest.approx(1000.0) and rows[0]["ratio"] == pytest.approx(1.0)
    assert rows[0]["sim_err"] == pytest.approx((1600 + 400) ** 0.5)
    assert rows[2]["ratio"] == pytest.approx(1.0)
    assert rows[-1]["_blinded"] and rows[-1]["ratio"] is None       # blinded box: no data, no ratio
    md_rows = run_sections(_content())[0][3]
    assert md_rows[-1][1] == "blinded" and md_rows[-1][-1] == "blinded"
    assert md_rows[-1][3].startswith("8.0")                           # the simulation box stays visible


def test_blinded_ratio_compares_data_with_the_simulation_outside_the_blinded_region():
    """Blinded data count only events outside the blinded region: the simulation they are compared with is
    the simulated events outside it too (``cutflow_outside_blinded_region``), except the box row, which
    shows the whole simulated expectation (there are no data there)."""
    c = _content()
    for name, frac in (("mc_flat", 0.5), ("mc_rare", 0.5)):
        cf = c["samples"][name]["cutflow"]
        c["samples"][name]["cutflow_outside_blinded_region"] = {
            "names": cf["names"], "raw": [int(x * frac) for x in cf["raw"]],
            "weighted": [x * frac for x in cf["weighted"]], "sumw2": [x * frac for x in cf["sumw2"]]}
    rows = comparison_rows(c)
    assert rows[0]["sim"] == pytest.approx(500.0) and rows[0]["ratio"] == pytest.approx(2.0)
    assert rows[-1]["sim"] == pytest.approx(8.0 + 1e-4)               # box row: whole expectation
    note = run_sections(c)[0][1]
    assert "compares like with like" in note
    assert "below 1 by the simulated fraction" in run_sections(_content())[0][1]   # older files: said so


def test_unblinded_box_row_shows_the_count_and_ratio():
    rows = comparison_rows(_content(blinded=False))
    assert rows[-1]["data"] == 2.0 and rows[-1]["ratio"] == pytest.approx(2.0 / (8.0 + 1e-4))


def test_importance_sampled_samples_are_detected_from_their_weights_and_marked():
    c = _content()
    assert weighting_of("mc_flat", c["samples"]["mc_flat"]["cutflow"]) == "uniform"
    assert weighting_of("mc_rare", c["samples"]["mc_rare"]["cutflow"]) == "importance-sampled"
    title, note, header, _ = run_sections(c)[1]
    assert "rare †" in header and "flat" in header and "flat †" not in header
    assert "importance-sampled" in note and "n_eff" in note


def test_signal_efficiencies_are_labelled_conditional_on_acceptance():
    title, note, header, rows = run_sections(_content())[-1]
    assert "conditional on acceptance" in title
    assert header == ["cut", "brem_m0.01"] and rows[-1] == ["box", "0.8"]


def test_summary_efficiency_includes_the_box_row_and_uses_weighted_events():
    rows = {r["sample"]: r for r in summary_rows([_content(blinded=False)])}
    assert rows["mc_rare"]["eff_cuts"] == pytest.approx(0.1)          # weighted 20/200, not raw 110/200
    assert rows["mc_rare"]["eff_box"] == pytest.approx(5e-7)
    assert rows["signal_brem_m0.01"]["eff_box"] == pytest.approx(0.8)
    assert rows["data"]["box"] == 2
    blinded = {r["sample"]: r for r in summary_rows([_content()])}
    assert blinded["data"]["_blinded_cols"]
