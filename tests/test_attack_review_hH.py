"""Hostile review (hH): cut-flow tables, background records, dimuon normalisation and closure tables of the
default reproduction, recomputed from the histogram files.

Every test states what a referee recomputes from the histograms (or what the documentation says) and fails on
the current code; it passes once the defect is fixed. Nothing here restates current behaviour.

Fixture: the default configuration's fast simulation of four runs (na64mu 2022, na64e_plus 2022, na64e 2016-2022,
na64h 2022; the same seed, hence the same numbers, as results/default/) run through the `na64flow` commands
(simulate, process, normalisation, background, closure, cutflow) into a temporary results root, the four
chains in parallel (~20-30 s in all).
"""

from __future__ import annotations

import copy
import csv
import json
import math
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]


def _cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "na64flow", *args]


CHAINS = {
    "na64mu": ("2022", ("simulate", "process", "background", "closure", "cutflow")),
    "na64e_plus": ("2022", ("simulate", "process", "normalisation", "background")),
    "na64e": ("2016-2022", ("simulate", "process", "normalisation", "background")),
    "na64h": ("2022", ("simulate", "process", "normalisation", "background")),
}


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    """(config dict, results dir) with the four runs' products of the default configuration."""
    tmp = tmp_path_factory.mktemp("hH")
    cfg = yaml.safe_load((REPO / "configs" / "default.yaml").read_text())
    cfg = copy.deepcopy(cfg)
    cfg["results_root"] = str(tmp / "results")
    cfile = tmp / "c.yaml"
    cfile.write_text(yaml.safe_dump(cfg))
    res = tmp / "results" / cfg["tag"]
    env = dict(os.environ, CONDOR_CONFIG="/dev/null")

    def chain(analysis, run, steps):
        cmds = []
        for step in steps:
            if step == "simulate":
                cmds.append(_cmd("simulate", "-c", str(cfile), "--analysis", analysis, "--run", run, "--workers", "1"))
            elif step == "process":
                out = res / "histograms" / analysis / f"{run}.pkl"
                cmds.append(_cmd("process", "-c", str(cfile), "--analysis", analysis, "--run", run, "--workers", "1",
                                 "--out", str(out)))
            elif step in ("closure", "cutflow"):
                cmds.append(_cmd(step, "-c", str(cfile), "--analysis", analysis))
            else:
                cmds.append(_cmd(step, "-c", str(cfile), "--analysis", analysis, "--run", run))
        return " && ".join(" ".join(f"'{c}'" for c in cmd) for cmd in cmds)

    procs = [subprocess.Popen(chain(a, r, s), shell=True, cwd=REPO, env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True) for a, (r, s) in CHAINS.items()]
    for p in procs:
        out, _ = p.communicate(timeout=600)
        assert p.returncode == 0, out[-4000:]
    return cfg, res


def _hist(res: Path, analysis: str, run: str) -> dict:
    from na64flow import histograms as H
    return H.load(res / "histograms" / analysis / f"{run}.pkl")


def _bkg(res: Path, analysis: str, run: str) -> dict:
    return json.loads((res / "background" / analysis / f"{run}.json").read_text())


def _source(rec: dict, name: str) -> dict:
    return next(s for s in rec["sources"] if s["name"] == name)


def _sel(edges, lo, hi):
    return (edges[:-1] >= lo - 1e-9) & (edges[1:] <= hi + 1e-9)


# ------------------------------------------------------------------------------------------------
# closure


def test_closure_simulation_row_stat_is_mc_statistics_not_sqrt_sum_w(small):
    """MED. closure/na64mu.csv, row "simulation mc_momentum_misreco": estimate 0.00414 with stat 0.0576
    (14x the estimate), truth 0.00414 +- 5.7e-05, pull -6.7e-05, "passed". The side-band count of the weighted
    simulated pseudo-data (sum w = 0.00516 in [80, 100] GeV) is given the Poisson error sqrt(sum w) = 0.0719,
    as if it were a count of data events; its MC-statistical error is sqrt(sum w^2) = 6.3e-05. Recomputed from
    the p_out histogram of mc_momentum_misreco, the stat of the transfer-factor estimate is 9.1e-05, i.e. 630x
    smaller: the simulation closure test of NA64mu (and its contamination row, stat 0.061) cannot fail
    whatever the method does. (Electrons: sqrt(sum w) = 9.6 vs sqrt(sum w^2) = 3.7 in the NA64e 2016-2022 [1, 6]
    GeV simulated side band, the error also inflated.)
    Fixed: the simulation closure rows propagate the MC statistics of the weighted side band (sqrt(sum w^2)),
    so the quoted stat agrees with the recomputation within a factor 2 and is below the estimate."""
    cfg, res = small
    rows = list(csv.DictReader((res / "closure" / "na64mu.csv").open()))
    row = next(r for r in rows if r["test"] == "simulation mc_momentum_misreco")
    h = _hist(res, "na64mu", "2022")["samples"]["mc_momentum_misreco"]["hists"]["p_out"]
    e, v, var = h.axes[0].edges, h.values(), h.variances()
    lo, hi = cfg["background"]["muon"]["sideband"]["fit_ranges_gev"][0]
    box, boxv = v[_sel(e, e[0], 80.0)].sum(), var[_sel(e, e[0], 80.0)].sum()
    sb, sbv = v[_sel(e, lo, hi)].sum(), var[_sel(e, lo, hi)].sum()
    r = box / sb
    rel_r = math.sqrt(boxv / box**2 + sbv / sb**2)
    expected_stat = math.hypot(math.sqrt(sbv) * r, sb * r * rel_r)
    stat, est = float(row["stat"]), float(row["estimate"])
    assert abs(est - sb * r) < 1e-3 * est          # same estimate: only its error is in question
    assert stat < est and stat < 2 * expected_stat, (
        f"closure na64mu 'simulation mc_momentum_misreco': stat {stat:.3g} on estimate {est:.3g}; "
        f"MC statistics of the weighted side band give {expected_stat:.3g}")


# ------------------------------------------------------------------------------------------------
# normalisation


def test_dimuon_k_unc_carries_the_normalisation_of_subtracted_processes(small):
    """MED. normalisation/na64e_plus/2022.json: k = (N_data - N_other) / N_dimuon = (130 - 40.71) / 84.44 =
    1.057 +- 0.145. N_other (mc_annihilation_sm, 31% of the data in the region; 35% in 2023: 39.5 of 113) is
    subtracted with its MC statistics only (stat_mc 0.0095), although the project's own normalisation
    systematic of every simulated process other than the listed ones is mc_norm_syst.default = 0.30
    (background.mc_norm_syst) and the module doc calls N_other "(small)". 0.30 x 40.71 / 84.44 = 0.145 on k, as
    large as the whole quoted k_unc: k_unc should be >= 0.205. The k scales every signal yield of the run.
    Fixed: k_unc includes the normalisation uncertainty of the subtracted processes (mc_norm_syst of each,
    or a documented dedicated value), i.e. k_unc >= sqrt(recorded components^2 + (f x N_other / N_dimuon)^2)."""
    cfg, res = small
    rec = json.loads((res / "normalisation" / "na64e_plus" / "2022.json").read_text())
    comp = rec["components"]
    hf = _hist(res, "na64e_plus", "2022")
    ns = cfg["background"]["mc_norm_syst"]
    others = [s for s in hf["samples"] if s.startswith("mc_") and s not in comp["measured_samples"]]
    syst_other = math.sqrt(sum((float(ns.get(s[3:], ns["default"])) * hf["samples"][s]["regions"]["dimuon"]["weighted"]) ** 2
                               for s in others))
    assert comp["n_other_mc"] > 0.2 * rec["n_data"]          # not "small"
    need = math.sqrt(comp["stat_data"] ** 2 + comp["stat_mc"] ** 2 + comp["syst"] ** 2
                     + (syst_other / rec["n_expected"]) ** 2)
    assert rec["k_unc"] >= 0.99 * need, (
        f"na64e_plus 2022: k = {rec['k']:.3f} +- {rec['k_unc']:.3f} with N_other = {comp['n_other_mc']:.1f} of "
        f"N_data = {rec['n_data']:.0f} subtracted without its normalisation uncertainty (need >= {need:.3f})")


# ------------------------------------------------------------------------------------------------
# background records


def test_background_json_records_the_sideband_count_and_transfer_factor_used(small):
    """MED. background/na64e/2016-2022.json, source upstream_interactions: inputs.n_sideband = 572 (the whole
    strip E_ECAL < 50, E_HCAL 1-100 GeV), while the central estimate 0.786 = n_sb x T_box/T_sb uses the data
    count of the central range [1, 6] GeV, n_sb = 64 (recomputed from the data ecal_hcal histogram; 0.786 is
    reproduced exactly with 64 x 0.012280). The transfer factor itself is recorded nowhere, so the central
    number cannot be reproduced from the record: 572 x anything stated in it does not give 0.786. (The region
    sb_hcal of the same file holds yet another count, 590, the overflow E_HCAL >= 100 GeV included.)
    Fixed: the record states the side-band count of the central range (64) and the transfer factor it
    multiplies, such that n_sideband x transfer_factor = estimate."""
    cfg, res = small
    src = _source(_bkg(res, "na64e", "2016-2022"), "upstream_interactions")
    inp = src["inputs"]
    h = _hist(res, "na64e", "2016-2022")["samples"]["data"]["hists"]["ecal_hcal"]
    ee, he = h.axes[0].edges, h.axes[1].edges
    lo, hi = cfg["background"]["electron"]["sideband"]["fit_ranges_gev"][0]
    n_sb = float(h.values()[_sel(ee, 0.0, 50.0)][:, _sel(he, lo, hi)].sum())
    tf = next((inp[k] for k in ("transfer_factor", "transfer_ratio", "t_ratio") if k in inp), None)
    assert inp["n_sideband"] == n_sb and tf is not None and abs(inp["n_sideband"] * tf - src["estimate"]) < 1e-6, (
        f"n_sideband {inp['n_sideband']:g} recorded, {n_sb:g} used in [{lo}, {hi}] GeV; transfer factor recorded: {tf}")


def test_sideband_target_is_the_whole_box(small):
    """LOW. The box is E_ECAL < ecal_max and E_HCAL < hcal_zero for valid values, i.e. down to
    -noise_tolerance_gev = -0.5 GeV, but the ecal_hcal histogram starts at 0 GeV, so the transfer factor's
    target [0, 1) GeV (background) and the closure truth of the background candidates miss the box events with
    a negative E_HCAL or E_ECAL. na64e_plus 2022, mc_upstream_interaction: box region 1.13082, histogram target
    [0, 50) x [0, 1) GeV 1.12327 (-0.67%); na64e 2016-2022 1.18603 vs 1.18517. The same simulation closure of
    mc_transfer [1, 6] thus reads -0.234 in background/na64e/2016-2022.json (closure_pull) and -0.238 in
    closure/na64e.csv. Fixed: the extrapolation target (and the histogram) covers the whole box: the simulated
    box count of the target equals the box region count (values below an axis's start count in its first
    bin on the axes of box variables, ``Processor._box_axis_values``)."""
    cfg, res = small
    hf = _hist(res, "na64e_plus", "2022")
    smp = hf["samples"]["mc_upstream_interaction"]
    h = smp["hists"]["ecal_hcal"]
    ee, he = h.axes[0].edges, h.axes[1].edges
    thr = cfg["analyses"]["na64e_plus"]["cuts"]["ecal_max_gev"]
    target = float(h.values()[_sel(ee, ee[0], thr)][:, _sel(he, he[0], 1.0)].sum())
    box = float(smp["regions"]["box"]["weighted"])
    assert abs(target - box) <= 1e-6 * box, f"simulated box {box:.6g}, extrapolation target holds {target:.6g}"


def test_na64h_simulation_sources_normalised_as_documented(small):
    """LOW. docs/background.md section 2: simulation-based sources are x k_exp = data / simulation in
    mc_norm_region, "NA64h: `sideband_hcal`, because its simulated samples carry no calibration stream". The
    configuration has background.hadron.mc_norm_region: null, and every NA64h source in
    background/na64h/2022.json has k = 1.0 +- 0.0 ("normalised to the exposure n_ot"), while the same file's
    data/simulation in sideband_hcal is 101 / 92.41 = 1.093 +- 0.196 (normalisation/na64h/2022.json).
    Fixed: docs and code agree: either the docs no longer claim sideband_hcal for NA64h, or the sources carry
    k = data/simulation in sideband_hcal."""
    cfg, res = small
    text = (REPO / "docs" / "background.md").read_text()
    claims = bool(re.search(r"NA64h:\s*`sideband_hcal`, because its simulated\s+samples carry no calibration", text))
    rec = _bkg(res, "na64h", "2022")
    norm = json.loads((res / "normalisation" / "na64h" / "2022.json").read_text())
    ks = {s["name"]: s["inputs"]["k"] for s in rec["sources"]}
    if claims:
        assert all(abs(k - norm["k"]) < 1e-9 for k in ks.values()), (
            f"docs: NA64h sources x data/simulation in sideband_hcal ({norm['k']:.3f}); record: k = {ks}")


def test_configured_dimuon_normalisation_systematic_is_applied(small):
    """LOW. configs/default.yaml background.mc_norm_syst.dimuon = 0.10 and docs/background.md section 2 list
    "dimuons 0.10 (~10% dimuon comparison [paper])", but the dimuon source uses syst_frac 0.0 (sources.py:
    "k_unc of the normalisation already carries its systematic") and k_unc carries normalisation.syst_frac =
    0.05: background/na64e/2016-2022.json dimuon syst / estimate = 0.0758 (= k_unc / k) < 0.10. The configured
    and documented 10% is a dead setting.
    Fixed: either the dimuon source's relative syst is >= mc_norm_syst.dimuon, or the key is removed from the
    configuration and the documentation."""
    cfg, res = small
    # resolved by documentation (lead): the key is not dead (the coverage study's spread of the true dimuon
    # rate, and the normalisation uncertainty of a dimuon sample wherever one is subtracted); the dimuon
    # source's uncertainty is the measured k_unc, as docs/background.md now says, and no longer "0.10"
    text = " ".join((REPO / "docs" / "background.md").read_text().split())
    assert "dimuons 0.10 (~10% dimuon comparison [paper])" not in text
    assert "The dimuon source takes no such fraction: its uncertainty is the measured k_unc" in text
    src = _source(_bkg(res, "na64e", "2016-2022"), "dimuon")
    norm = json.loads((res / "normalisation" / "na64e" / "2016-2022.json").read_text())
    assert src["syst"] / src["estimate"] == pytest.approx(norm["k_unc"] / norm["k"], rel=1e-9)


# ------------------------------------------------------------------------------------------------
# documentation vs output


def test_docs_default_numbers_of_background_match_outputs(small):
    """LOW. docs/background.md states for the default simulation: hadron content "k_had = 1.14 +- 0.48 (NA64e
    2016-2022), 1.22 +- 0.24 (NA64e+ 2022)"; the default outputs (background/<a>/<run>.json, method of
    beamline_decay / hadron_contamination) give 0.869 +- 0.511 and 1.618 +- 0.451 (recomputed from n1_srd_tag
    [0, 2) MeV: (753 - 487.5) / 305.4 and (1213 - 434.6) / 481.2). And "NA64mu default: momentum
    mis-reconstruction 0.0041 +- 0.0012" vs 0.004184 +- 0.00126 (i.e. 0.0042 +- 0.0013).
    Fixed: the documented numbers are those of the default run (within their printed rounding)."""
    cfg, res = small
    text = " ".join((REPO / "docs" / "background.md").read_text().split())
    bad = []
    m = re.search(r"k_had = ([\d.]+) ± ([\d.]+) \(NA64e 2016-2022\), ([\d.]+) ± ([\d.]+) \(NA64e\+ 2022\)", text)
    assert m, "the sentence with the documented k_had values is gone: update this test"
    for (a, r), (k_doc, u_doc) in zip((("na64e", "2016-2022"), ("na64e_plus", "2022")),
                                      ((m.group(1), m.group(2)), (m.group(3), m.group(4)))):
        inp = _source(_bkg(res, a, r), "beamline_decay")["inputs"]
        if abs(inp["k"] - float(k_doc)) > 0.006 or abs(inp["k_unc"] - float(u_doc)) > 0.006:
            bad.append(f"{a} {r}: docs k_had {k_doc} ± {u_doc}, output {inp['k']:.3f} ± {inp['k_unc']:.3f}")
    m = re.search(r"NA64mu default: momentum mis-reconstruction ([\d.]+) ± ([\d.]+)", text)
    if m:
        s = _source(_bkg(res, "na64mu", "2022"), "momentum_misreco")
        unc = math.hypot(s["stat"], s["syst"])
        if abs(s["estimate"] - float(m.group(1))) > 0.00005 or abs(unc - float(m.group(2))) > 0.00005:
            bad.append(f"na64mu: docs {m.group(1)} ± {m.group(2)}, output {s['estimate']:.4g} ± {unc:.3g}")
    assert not bad, "; ".join(bad)


# ------------------------------------------------------------------------------------------------
# cut-flow tables


def _md_value(cell: str) -> float:
    cell = cell.strip()
    m = re.fullmatch(r"\(([-\d.]+) ± [-\d.]+\)e([-+]\d+)", cell)
    if m:
        return float(m.group(1)) * 10.0 ** int(m.group(2))
    return float(cell.split("±")[0])


def test_cutflow_simulation_column_box_row_is_the_same_population(small):
    """LOW. cutflows/na64mu/2022.md, "Data vs simulation", column "simulation (sum)": veto_mip
    (5.790 +- 0.064)e-3, box (5.666 +- 0.058)e-3: a box efficiency of 0.979 after the last cut. The rows above
    the box count only the simulated events outside the blinded region, the box row all simulated events
    (the note says so); per process (same file) the last cut keeps 1.1456e-2 and the box 5.666e-3, a box
    efficiency of 0.495. A column whose last row is not a subset of the row above tells the reader a wrong
    efficiency (the outside-region population has no box event at all).
    Fixed: every row of a column counts the same population (e.g. the box expectation of all simulated events
    printed next to an all-events column, or its own row/column), so box / previous row is the simulated box
    efficiency of that population (0.495 for all events, or 0 outside the blinded region)."""
    cfg, res = small
    md = (res / "cutflows" / "na64mu" / "2022.md").read_text().splitlines()
    start = md.index("## Data vs simulation")
    rows = {}
    for ln in md[start:]:
        if ln.startswith("## ") and ln != "## Data vs simulation":
            break
        cells = [c.strip() for c in ln.strip().strip("|").split("|")]
        if len(cells) == 5 and cells[0] not in ("cut", "---"):
            rows[cells[0]] = cells
    names = list(rows)
    box_i = names.index("box")
    prev, box = _md_value(rows[names[box_i - 1]][3]), _md_value(rows["box"][3])
    implied = box / prev
    hf = _hist(res, "na64mu", "2022")
    mc = [s for s in hf["samples"] if s.startswith("mc_")]
    cf_names = hf["samples"][mc[0]]["cutflow"]["names"]
    i_box = cf_names.index("box")
    all_prev = sum(hf["samples"][s]["cutflow"]["weighted"][i_box - 1] for s in mc)
    all_box = sum(hf["samples"][s]["cutflow"]["weighted"][i_box] for s in mc)
    true_all = all_box / all_prev
    assert abs(implied - true_all) < 0.02 * true_all or implied == 0.0, (
        f"simulation (sum) column: {names[box_i - 1]} {prev:.4g} -> box {box:.4g} (x{implied:.3f}); "
        f"the simulated box efficiency is x{true_all:.3f} (all events) or 0 (outside the blinded region)")


def test_hadron_content_k_unc_carries_the_normalisation_of_subtracted_processes(small):
    """MED. background/na64e/2016-2022.json (beamline_decay, hadron_contamination): k_had = (N_data - N_other) /
    N_hadron in n1_srd_tag [0, 2) MeV = (753 - 487.5) / 305.4 = 0.869 +- 0.511 (recomputed from the histograms).
    N_other (65% of the data in the slice, mostly mc_upstream_interaction, whose rate is boosted x60000 by
    simulation.rate_scale and whose normalisation the analysis measures nowhere but in the signal-box side band)
    is subtracted with its MC statistics only; with the project's own mc_norm_syst (0.30 default) it moves k_had
    by 0.30 x 487.5 / 305.4 = 0.48, i.e. k_unc should be >= 0.69, not 0.51. Same in na64e_plus 2022
    (434.6 of 1213 subtracted). The 17% beam-line-decay systematic then rides on an understated k.
    Fixed: k_had's uncertainty includes the normalisation uncertainty of the subtracted simulated processes."""
    cfg, res = small
    hf = _hist(res, "na64e", "2016-2022")
    hn = cfg["background"]["electron"]["hadron_norm"]
    lo, hi = hn["range"]
    ns = cfg["background"]["mc_norm_syst"]
    measured = {"mc_" + p for p in hn["processes"]}
    n_data = n_meas = var_meas = var_other = syst_other = 0.0
    n_other = 0.0
    for s, v in hf["samples"].items():
        if not (s == "data" or s.startswith("mc_")):
            continue
        h = v["hists"][hn["histogram"]]
        sel = _sel(h.axes[0].edges, lo, hi)
        w = float(h.values()[sel].sum())
        w2 = float((h.variances() if h.variances() is not None else h.values())[sel].sum())
        if s == "data":
            n_data = w
        elif s in measured:
            n_meas, var_meas = n_meas + w, var_meas + w2
        else:
            n_other, var_other = n_other + w, var_other + w2
            syst_other += (float(ns.get(s[3:], ns["default"])) * w) ** 2
    k = (n_data - n_other) / n_meas
    need = math.sqrt(n_data + var_other + syst_other + k * k * var_meas) / n_meas
    inp = _source(_bkg(res, "na64e", "2016-2022"), "beamline_decay")["inputs"]
    assert abs(inp["k"] - k) < 1e-9                      # the same k: only its error is in question
    assert n_other > 0.5 * n_data
    assert inp["k_unc"] >= 0.99 * need, (
        f"k_had = {inp['k']:.3f} +- {inp['k_unc']:.3f}: N_other = {n_other:.1f} of N_data = {n_data:.0f} subtracted "
        f"without its normalisation uncertainty (need >= {need:.3f})")


def test_closure_verdict_of_a_source_refers_to_the_method_in_the_total(small):
    """LOW. background/na64mu/2022.json, source momentum_misreco: the estimate in the total (0.00418 +- 0.0013) is
    "simulation normalised to data (empty data side band)" (method: mc_momentum_misreco box count x k), but its
    closure block says central_model 'mc_transfer', central_closes True, toy_closure_passes True, and
    closure/na64mu.md prints a passed "Toy closure of the central method" for mc_transfer [80, 100] at an
    exposure factor 7.7e4. The transfer factor gave 0 +- 0.73 here and is not what enters the likelihood; the
    number that does (simulation x k_exp, 30% syst) has no closure test, yet the record and table certify it.
    Fixed: the closure block of a source describes the method whose estimate is in the total (here: the
    simulation; central_model not 'mc_transfer', or a verdict "not applicable: simulation-based")."""
    cfg, res = small
    src = _source(_bkg(res, "na64mu", "2022"), "momentum_misreco")
    uses_simulation = src["inputs"]["obtained"].startswith("simulation")
    assert uses_simulation                     # the premise: empty data side band at the default exposure
    cl = src["closure"]
    assert not (cl["central_model"] == "mc_transfer" and cl["central_closes"]), (
        f"estimate obtained as '{src['inputs']['obtained']}', closure certifies '{cl['central_model']}': {cl['decision']}")
