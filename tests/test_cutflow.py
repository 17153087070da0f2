"""The `cutflow` step: tables per run and a summary in CSV, Markdown and LaTeX, with efficiencies."""

from __future__ import annotations

import csv
import importlib.util
from pathlib import Path

import pytest

from na64flow.cli import main
from na64flow.cutflow import rows_of

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
    assert tex.count(r"\begin{tabular}") == tex.count(r"\end{tabular}") == 2
    assert r"physics\_trigger" in tex and "blinded" in tex
    md = (tables / "summary.md").read_text()
    assert "| 2022 | data |" in md and "blinded" in md


def test_cutflow_without_histograms_names_the_missing_file(tmp_path, repo_root, capsys):
    path, _ = toy.make_config(tmp_path, repo_root)
    assert main(["cutflow", "-c", str(path), "--analysis", "na64h"]) == 1
    err = capsys.readouterr().err
    assert "histograms/na64h/2022.pkl" in err and "na64flow process" in err
