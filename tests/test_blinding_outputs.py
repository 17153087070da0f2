"""Blinding of the products: events planted in the signal box change no blinded output at all.

The whole blinded chain (process -> cutflow -> background -> normalisation -> closure -> limits ->
publish -> plot, the `na64flow` steps the rules call) runs twice on the same toy ntuples, once with
three signal-like data events planted in the box of run 2016-2022. Every file under results/<tag>/
must be the same in both runs: text and pickles byte for byte, PNGs pixel for pixel, PDFs without
their creation date, archives member by member. The only exception is the input ntuples themselves
(and the simulation manifest that counts their entries): their entry count minus the first data
cut-flow row is the number of events of the *blinded region* before any cut (README "Blinding
protocol"), not the box count. Identical outputs mean that no arithmetic on them (the subtraction
attacks below, e.g. "read - next row" or "after all cuts - plane integral") can recover the box count.
"""

from __future__ import annotations

import csv
import importlib.util
import io
import json
import re
import tarfile
from pathlib import Path

import numpy as np
import pytest
import yaml

from na64flow import histograms as H
from na64flow import paths
from na64flow.cli import main
from na64flow.config import load_config
from na64flow.events import TRIGGER_PHYSICS

_spec = importlib.util.spec_from_file_location("toy_events", Path(__file__).parent / "reference" / "toy_events.py")
toy = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(toy)

PLANTED_ECAL_GEV = 23.456
N_PLANTED = 3
RUNS = ("2016-2022", "2023")
MODELS = ("dark_photon", "lmu_ltau")
INPUT_PARTS = ("ntuples",)      # the input files (and their manifest): excluded from the comparison


def planted_box_events(n: int = N_PLANTED, srd1_mev: float = 30.0):
    """Clean 100 GeV electrons leaving 23.456 GeV in the ECAL and nothing after: signal-like.

    ``srd1_mev=0`` makes them fail the SRD tag while staying inside the box region of E_ECAL, E_HCAL."""
    c = dict(run_number=1, trigger_bits=TRIGGER_PHYSICS, spill_time_s=2.0,
             beam_momentum_gev=100.0, beam_angle_mrad=0.3, n_tracks_up=1, srd1_mev=srd1_mev, srd2_mev=35.0,
             srd3_mev=40.0, ecal_ps_gev=5.0, ecal_gev=PLANTED_ECAL_GEV, ecal_chi2=1.0, ecal_time_ns=0.5,
             veto_mip=0.02, vhcal_gev=0.0, hcal1_gev=0.05, hcal2_gev=0.05, hcal3_gev=0.05, hcal4_gev=0.05,
             hcal_time_ns=0.0, true_process=100, true_e_miss_gev=76.5, true_mediator_e_gev=76.5, weight=1.0)
    out = {k: np.full(n, v) for k, v in c.items()}
    out["event_number"] = 987654321 + np.arange(n)
    return out


def _config(tmp: Path, repo_root: Path) -> tuple[Path, dict]:
    """The default na64e analysis only, small toys, dimuon normalisation on the toy MC sample."""
    tmp.mkdir(parents=True, exist_ok=True)
    path, _ = toy.make_config(tmp, repo_root)
    raw = yaml.safe_load(path.read_text())
    raw["analyses"] = {"na64e": raw["analyses"]["na64e"]}
    raw["stats"].update(n_toys=500, asymptotic=False)
    raw.setdefault("normalisation", {}).setdefault("electron", {})["processes"] = ["bulk"]
    path.write_text(yaml.safe_dump(raw))
    return path, load_config(path)


def _signal_tables(cfg: dict) -> None:
    """Hand-made signal tables [est toy shapes]: the statistics step needs one per run and model."""
    masses = np.geomspace(0.002, 0.5, 6)
    from na64flow import registry

    # the models' tables and the LDM tables with their own signal (registry.signal_table_model)
    tables = [m for m in registry.signal_tables(cfg, "na64e") if m in MODELS or "_y_" in m]
    for run in RUNS:
        for m in tables:
            p = paths.signal_path(cfg, "na64e", m, run)
            p.parent.mkdir(parents=True, exist_ok=True)
            p.write_text("mass_gev,yield_per_ot,efficiency\n" + "".join(
                f"{x:.6g},{1e-6 * 0.01 / x:.6g},0.5\n" for x in masses))


def blinded_chain(tmp: Path, repo_root: Path, planted: dict | None, steps: str = "all") -> Path:
    """Toy ntuples (``planted`` appended to the data of run 2016-2022) -> every blinded step; results dir."""
    path, cfg = _config(tmp, repo_root)
    for i, run in enumerate(RUNS):
        toy.write_run(cfg, "na64e", run, 3000, seed=21 + i, extra_data=planted if run == RUNS[0] else None)
    res = paths.results_dir(cfg)
    c = ["-c", str(path)]
    for run in RUNS:
        assert main(["process", *c, "--analysis", "na64e", "--run", run, "--executor", "iterative",
                     "--out", str(paths.histograms_path(cfg, "na64e", run))]) == 0
    assert main(["cutflow", *c, "--analysis", "na64e"]) == 0
    if steps == "process":
        return res
    for run in RUNS:
        assert main(["normalisation", *c, "--analysis", "na64e", "--run", run]) == 0   # background reads it
        assert main(["background", *c, "--analysis", "na64e", "--run", run]) == 0
    assert main(["closure", *c, "--analysis", "na64e"]) == 0
    _signal_tables(cfg)
    for m in MODELS:
        assert main(["limits", *c, "--analysis", "na64e", "--model", m]) == 0
    assert main(["publish", *c]) == 0
    assert main(["plot", *c]) == 0
    return res


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory, repo_root):
    """(results without, results with N_PLANTED signal-like events planted in the data box)."""
    tmp = tmp_path_factory.mktemp("planted")
    return (blinded_chain(tmp / "clean", repo_root, None),
            blinded_chain(tmp / "planted", repo_root, planted_box_events()))


def _outputs(res: Path) -> dict[str, Path]:
    return {p.relative_to(res).as_posix(): p for p in sorted(res.rglob("*"))
            if p.is_file() and p.relative_to(res).parts[0] not in INPUT_PARTS}


def _content(path: Path, root: Path):
    """What a file says: bytes; PNG pixels; PDF without creation date; archives member by member."""
    name = path.name
    if name.endswith(".png"):
        import matplotlib.image

        return matplotlib.image.imread(path).tobytes()
    if name.endswith(".pdf"):
        return re.sub(rb"/CreationDate \(D:[^)]*\)", b"", path.read_bytes())
    if name.endswith(".tar.gz"):
        return _archive(path.read_bytes(), root)
    return path.read_bytes().replace(str(root).encode(), b"<results>")


def _archive(blob: bytes, root: Path) -> dict:
    """Members of a .tar.gz (nested archives too) by name, without the mtimes of the tar headers."""
    with tarfile.open(fileobj=io.BytesIO(blob)) as tar:
        members = {m.name: tar.extractfile(m).read() for m in tar.getmembers() if m.isfile()}
    return {k: _archive(v, root) if k.endswith(".tar.gz") else v.replace(str(root).encode(), b"<results>")
            for k, v in members.items()}


def test_planted_box_events_change_no_blinded_output_file(two_runs):
    clean, planted = two_runs
    a, b = _outputs(clean), _outputs(planted)
    assert set(a) == set(b)
    kinds = {Path(n).suffix for n in a}
    assert {".pkl", ".csv", ".md", ".tex", ".json", ".yaml", ".png", ".pdf", ".gz"} <= kinds, kinds
    differ = [n for n in a if _content(a[n], clean.parents[1]) != _content(b[n], planted.parents[1])]
    assert differ == [], f"blinded outputs depend on events in the box: {differ}"
    # ... while the planted events are in the input files (the excluded channel)
    m0 = json.loads((clean / "ntuples/na64e/2016-2022/manifest.json").read_text())
    m1 = json.loads((planted / "ntuples/na64e/2016-2022/manifest.json").read_text())
    assert m1["samples"]["data"]["n_events"] == m0["samples"]["data"]["n_events"] + N_PLANTED


def _numbers(text: str) -> list[float]:
    return [float(x) for x in re.findall(r"-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?", text)]


def _csv_data_rows(path: Path) -> list[dict]:
    return [r for r in csv.DictReader(path.open()) if r["sample"] == "data"]


def attacks(res: Path) -> dict[str, float]:
    """An attacker's estimates of the data box count of run 2016-2022 from each blinded format."""
    run = RUNS[0]
    out = {}
    # histogram file: (after all cuts) - (plane integral), (read) - (next row), and the regions
    content = H.load(res / "histograms" / "na64e" / f"{run}.pkl")
    data = content["samples"]["data"]
    raw = data["cutflow"]["raw"]
    out["pkl: after cuts - plane integral"] = raw[-2] - data["hists"]["ecal_hcal"].sum(flow=True).value
    out["pkl: read - row 1"] = raw[0] - raw[1]
    out["pkl: regions"] = sum(v["raw"] for v in data["regions"].values())
    out["pkl: every bin"] = float(sum(h.values(flow=True).sum() for h in data["hists"].values()))
    # cut-flow csv: read - sum(removed) - last number; removed of the second row
    rows = _csv_data_rows(res / "cutflows" / "na64e" / f"{run}.csv")
    out["csv: read - removed - remaining"] = (float(rows[0]["raw"]) - sum(float(r["removed"] or 0) for r in rows[1:-1])
                                              - float(rows[-2]["raw"]))
    out["csv: removed by row 1"] = float(rows[1]["removed"])
    out["csv: read"] = float(rows[0]["raw"])
    # summary (csv/md/tex), md and tex tables, background tables: every number they print
    for name in ("summary.csv", "summary.md", "summary.tex", f"{run}.md", f"{run}.tex"):
        out[f"cutflows/{name}: numbers"] = sum(_numbers((res / "cutflows" / "na64e" / name).read_text()))
    for ext in ("json", "md", "tex"):
        out[f"background.{ext}: numbers"] = sum(_numbers((res / "background" / "na64e" / f"{run}.{ext}").read_text()))
    # HEPData cut-flow and background tables
    for f in sorted((res / "hepdata").glob("*.yaml")):
        if f.name == "submission.yaml":
            continue
        doc = yaml.safe_load(f.read_text())
        vals = [v.get("value") for d in (doc.get("dependent_variables") or []) for v in d.get("values", [])]
        out[f"hepdata/{f.name}: values"] = sum(float(v) for v in vals if isinstance(v, int | float))
    # plots: the cut-flow curve and the plane (pixel sums)
    import matplotlib.image
    for stem in (f"na64e-cutflow_{run.replace('-', '_')}", f"na64e-ecal_hcal_{run.replace('-', '_')}"):
        out[f"plots/{stem}.png: pixels"] = float(matplotlib.image.imread(res / "plots" / f"{stem}.png").sum())
    return out


def test_subtraction_attacks_on_every_format_give_the_same_answer_with_and_without_box_events(two_runs):
    clean, planted = two_runs
    a, b = attacks(clean), attacks(planted)
    changed = {k: (a[k], b[k]) for k in a if a[k] != pytest.approx(b[k], rel=0, abs=1e-9)}
    assert changed == {}, f"box count recoverable from: {changed}"


def test_blinded_data_cutflow_first_row_counts_only_events_outside_the_blinded_region(two_runs):
    clean, _ = two_runs
    content = H.load(clean / "histograms" / "na64e" / f"{RUNS[0]}.pkl")
    raw = content["samples"]["data"]["cutflow"]["raw"]
    names = content["samples"]["data"]["cutflow"]["names"]
    manifest = json.loads((clean / "ntuples/na64e/2016-2022/manifest.json").read_text())
    assert names[:2] == ["read", "invalid values"] and names[-1] == "box" and raw[-1] is None
    assert raw[0] < manifest["samples"]["data"]["n_events"]      # the toy has box-region events
    assert "box" not in content["samples"]["data"]["regions"]
    rows = _csv_data_rows(clean / "cutflows" / "na64e" / f"{RUNS[0]}.csv")
    assert rows[-1]["step"] == "box" and set(rows[-1].values()) - {"data", "box"} == {"blinded"}
    summary = list(csv.DictReader((clean / "cutflows" / "na64e" / "summary.csv").open()))
    assert "withheld" not in summary[0]


def test_blinded_plane_has_empty_box_bins_for_data_but_not_for_simulation(two_runs):
    clean, _ = two_runs
    content = H.load(clean / "histograms" / "na64e" / f"{RUNS[0]}.pkl")
    data = content["samples"]["data"]["hists"]["ecal_hcal"]
    mc = content["samples"]["mc_bulk"]["hists"]["ecal_hcal"]
    assert data[:50j:sum, :1j:sum].value == 0
    assert mc[:50j:sum, :1j:sum].value > 0       # simulated samples are not blinded


def test_box_events_passing_or_failing_the_cuts_give_identical_blinded_outputs(tmp_path, repo_root):
    """Three box-region events passing every cut vs three failing the SRD tag: same blinded files."""
    passing = blinded_chain(tmp_path / "pass", repo_root, planted_box_events(), steps="process")
    failing = blinded_chain(tmp_path / "fail", repo_root, planted_box_events(srd1_mev=0.0), steps="process")
    a, b = _outputs(passing), _outputs(failing)
    assert {n: _content(p, passing.parents[1]) for n, p in a.items()} == \
        {n: _content(p, failing.parents[1]) for n, p in b.items()}


def test_unblinded_processing_finds_the_planted_events(two_runs):
    """The same data through `processing.unblinded_data` (what `unblind` uses after its guard)."""
    from na64flow import processing

    clean, planted = two_runs
    cfg0 = load_config(clean.parents[1] / "config.yaml")
    cfg1 = load_config(planted.parents[1] / "config.yaml")
    d0 = processing.unblinded_data(cfg0, "na64e", RUNS[0])
    d1 = processing.unblinded_data(cfg1, "na64e", RUNS[0])
    assert d1["regions"]["box"]["raw"] == d0["regions"]["box"]["raw"] + N_PLANTED
    assert d1["cutflow"]["raw"][-1] == d0["cutflow"]["raw"][-1] + N_PLANTED
    diff = d1["hists"]["ecal_hcal"].values() - d0["hists"]["ecal_hcal"].values()
    i, j = np.argwhere(diff != 0)[0]
    assert diff.sum() == N_PLANTED and i == int(PLANTED_ECAL_GEV) and j == 0
    assert len(processing.box_events(cfg1, "na64e", RUNS[0])["ecal_gev"]) == d1["cutflow"]["raw"][-1]


def test_blinded_log_lines_name_no_box_count(tmp_path, repo_root, caplog):
    import logging

    caplog.set_level(logging.INFO)
    blinded_chain(tmp_path, repo_root, planted_box_events(), steps="process")
    for rec in caplog.records:
        assert str(PLANTED_ECAL_GEV) not in rec.getMessage() and "987654321" not in rec.getMessage()
