"""Hostile review (hI-pub): the public outputs a referee re-uses without our code -- the pyhf likelihoods
(BkgOnly + patchset), the HEPData submission, the limit CSVs, the comparison with the published NA64 limits,
the plots' captions and the numbers the documentation quotes for them.

Every test states what a referee reads (or recomputes with stock pyhf) from the released files and fails on the
current code; it passes once the defect is fixed. Nothing here restates current behaviour.

Fixture: configs/published.yaml (public counts, no events) run through the `na64flow` commands (signal,
normalisation, background, limits for every analysis and the combination, publish, plot --category combined)
into a temporary results root: the same numbers as `snakemake --configfile configs/published.yaml`
(results/published/, checked identical for limits, likelihoods and hepdata), in ~30-40 s.
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


def _cmd(*args: str) -> str:
    return " ".join(f"'{a}'" for a in [sys.executable, "-m", "na64flow", *args])


@pytest.fixture(scope="module")
def pub(tmp_path_factory):
    """(config dict, results dir) of the published configuration, every public product written."""
    from na64flow import registry

    tmp = tmp_path_factory.mktemp("hI_pub")
    cfg = copy.deepcopy(yaml.safe_load((REPO / "configs" / "published.yaml").read_text()))
    cfg["results_root"] = str(tmp / "results")
    cfile = tmp / "c.yaml"
    cfile.write_text(yaml.safe_dump(cfg))
    res = tmp / "results" / cfg["tag"]
    env = dict(os.environ, CONDOR_CONFIG="/dev/null")
    c = str(cfile)

    def chain(analysis):
        cmds = []
        for run in registry.runs(cfg, analysis):
            for step in ("signal", "normalisation", "background"):
                cmds.append(_cmd(step, "-c", c, "--analysis", analysis, "--run", run))
        for model in registry.limit_models(cfg, analysis):
            if "_y_" not in model:
                cmds.append(_cmd("limits", "-c", c, "--analysis", analysis, "--model", model))
        return " && ".join(cmds)

    def run_all(scripts):
        procs = [subprocess.Popen(s, shell=True, cwd=REPO, env=env, stdout=subprocess.PIPE,
                                  stderr=subprocess.STDOUT, text=True) for s in scripts]
        for p in procs:
            out, _ = p.communicate(timeout=900)
            assert p.returncode == 0, out[-4000:]

    analyses = registry.analyses(cfg)
    run_all([" && ".join(chain(a) for a in analyses[0::2]), " && ".join(chain(a) for a in analyses[1::2])])
    combined = " && ".join(_cmd("limits", "-c", c, "--analysis", "combined", "--model", m)
                           for m in registry.combined_models(cfg) if "_y_" not in m)
    run_all([combined + " && " + _cmd("publish", "-c", c) + " && "
             + _cmd("plot", "-c", c, "--category", "combined", "--out-dir", str(res / "plots"))])
    return cfg, res


def _submission(res: Path) -> dict:
    """{table name: (submission.yaml entry, data file dict)}."""
    docs = list(yaml.safe_load_all((res / "hepdata" / "submission.yaml").read_text()))
    return {d["name"]: (d, yaml.safe_load((res / "hepdata" / d["data_file"]).read_text())) for d in docs[1:]}


def _e_beams(data: dict) -> set[str]:
    return {q["value"] for v in data["dependent_variables"] for q in v.get("qualifiers", []) if q["name"] == "E_beam"}


def _cmenergies(entry: dict) -> list[float]:
    return next(k["values"] for k in entry["keywords"] if k["name"] == "cmenergies")


def _patchset(res: Path, analysis: str) -> dict:
    return json.loads((res / "likelihoods" / analysis / "patchset.json").read_text())


def _limits(res: Path, analysis: str, model: str) -> list[dict]:
    return list(csv.DictReader((res / "limits" / analysis / f"{model}.csv").open()))


# ------------------------------------------------------------------------------------------------
# pyhf public likelihoods


def test_public_files_state_the_statistical_method_of_the_quoted_limits(pub):
    """MED. A referee takes results/published/likelihoods/na64e/{BkgOnly,patchset}.json, applies patch
    dark_photon_m0p001 with stock pyhf 0.7.6 and runs pyhf's own
    `pyhf.infer.intervals.upper_limits.toms748_scan(data, model, 1e-4, 50, level=0.1)` (q~_mu, asymptotic:
    pyhf's default calculator), converting with the patch's documented eps = coupling_ref*sqrt(mu)
    (coupling_ref 1.0456e-05): observed eps 4.25e-06, expected 4.92e-06, against our
    limits/na64e/dark_photon.csv obs 5.037e-06, exp 5.062e-06 -- the observed limit 16% stronger in eps
    (30% in signal events), at every mass (0.0104 GeV: 1.78e-05 vs 2.11e-05; 0.28 GeV: 2.07e-04 vs 2.45e-04).
    Our numbers are right for the method docs/statistics.md describes (hybrid CLs, LEP statistic at nominal
    nuisances, toys; an independent enumeration of CLs = E_theta[exp(-mu s F_s(theta))] for n = 0 gives
    5.044e-06, 0.14% from ours), but no released file says so: the patchset description says only "workspaces
    from na64flow.stats.build_workspace", the HEPData limit tables only "90% CL upper limits (CLs)". A referee
    without our code cannot know which calculator/test statistic reproduces the table (and pyhf's ToyCalculator,
    the other stock choice, uses the profiled q~_mu: also not ours).
    Fixed: the patchset metadata (description or a dedicated key) and the HEPData limit-table descriptions name
    the calculator and test statistic of the quoted limits (toys, hybrid/LEP ratio at nominal nuisances) and
    warn that pyhf's asymptotic formulae differ at these counts."""
    cfg, res = pub
    pyhf = pytest.importorskip("pyhf")
    bkg = json.loads((res / "likelihoods" / "na64e" / "BkgOnly.json").read_text())
    ps = pyhf.PatchSet(_patchset(res, "na64e"))
    patch = next(p for p in ps.patches if p.name == "dark_photon_m0p001")
    ws = pyhf.Workspace(patch.apply(bkg))
    model = ws.model()
    obs_mu, _exp = pyhf.infer.intervals.upper_limits.toms748_scan(ws.data(model), model, 1e-4, 50, level=0.1)[:2]
    ours = float(_limits(res, "na64e", "dark_photon")[0]["obs"])
    referee = patch.metadata["coupling_ref"] * math.sqrt(float(obs_mu))
    method = re.compile(r"\b[Tt]oys?\b|[Hh]ybrid|pseudo-experiment|\bLEP\b")
    desc = _patchset(res, "na64e")["metadata"]["description"]
    meta = json.dumps(_patchset(res, "na64e")["metadata"])
    tables = _submission(res)
    hd = tables["Limits na64e dark_photon"][0]["description"]
    if abs(referee / ours - 1) > 0.05:
        assert method.search(meta) and method.search(hd), (
            f"stock pyhf (asymptotic) on the released na64e likelihood: eps_90 = {referee:.4g} at 1 MeV, our table "
            f"{ours:.4g} ({referee / ours - 1:+.0%}); the patchset description {desc!r} and the HEPData description "
            f"{hd!r} do not say which calculator/test statistic gives the table")


def test_dark_photon_limits_and_patches_state_alpha_d_and_mass_ratio(pub):
    """MED. The eps limits of the electron and positron beams depend on alpha_D (the resonant-annihilation yield
    goes with the A' width): signal/na64e_plus/dark_photon_2023.csv (alpha_D = 0.1, signal.ldm) and
    dark_photon_y_0.5_2023.csv differ by up to x3.65 (published run, m = 0.1536 GeV: 3.68e-4 vs 1.35e-3 per
    e+OT; 0.85x at 0.2 GeV; default run 0.28 GeV: 5.84e-4 vs 1.12e-3), and the published NA64e+ result is "for alpha_D = 0.1". Yet the released
    eps products never say at which alpha_D, m_chi/m_A' and chi spin they were computed: HEPData
    "Limits na64e_plus dark_photon" (and na64e, combined) describe "90% CL upper limits (CLs) on $\\epsilon$ for
    the model 'dark_photon'" with qualifiers CL, E_beam, SQRT(S) only, and the dark_photon patches'
    metadata hold name, values, coupling_ref, poi_definition only. (Only the y tables state alpha_D.)
    Fixed: the dark_photon limit tables (description or qualifiers) and the dark_photon patches (metadata or
    patchset description) of analyses with an annihilation signal state alpha_D, m_A'/m_chi (3) and the chi kind
    (signal.ldm)."""
    cfg, res = pub
    sig = {r["mass_gev"]: float(r["yield_per_ot"])
           for r in csv.DictReader((res / "signal" / "na64e_plus" / "dark_photon_2023.csv").open())}
    sig5 = {r["mass_gev"]: float(r["yield_per_ot"])
            for r in csv.DictReader((res / "signal" / "na64e_plus" / "dark_photon_y_0.5_2023.csv").open())}
    dep = max(sig5[m] / sig[m] for m in sig if sig[m] > 0)
    assert dep > 1.2      # the eps limit depends on alpha_D: it must be stated
    alpha = re.compile(r"alpha_?\{?D\}?|\\alpha_D|alpha_d", re.I)
    tables = _submission(res)
    missing = []
    for name in ("Limits na64e_plus dark_photon", "Limits na64e dark_photon", "Limits combined dark_photon"):
        entry, data = tables[name]
        text = entry["description"] + json.dumps(data["dependent_variables"][0].get("qualifiers", []))
        if not alpha.search(text):
            missing.append(f"HEPData '{name}'")
    for analysis in ("na64e_plus", "na64e", "combined"):
        ps = _patchset(res, analysis)
        p = next(p for p in ps["patches"] if p["metadata"]["values"][0] == "dark_photon")
        if not (alpha.search(json.dumps(p["metadata"])) or alpha.search(ps["metadata"]["description"])):
            missing.append(f"likelihoods/{analysis}/patchset.json dark_photon patches")
    assert not missing, (f"alpha_D changes the e+ signal by up to x{dep:.2f}, but these eps products do not state "
                         f"alpha_D / m_A'/m_chi: {missing}")


# ------------------------------------------------------------------------------------------------
# HEPData


def test_per_run_tables_carry_only_their_run_beam_energy(pub):
    """MED. HEPData "Background na64e_plus 2022" (run 2022: 100 GeV e+, configs/published.yaml) carries the
    qualifiers E_beam = "70 (e+)" with SQRT(S) = 11.499 GeV first and then "100 (e+)" / 13.731, and
    cmenergies [11.499, 13.731]; "Background na64e_plus 2023" (70 GeV only) likewise lists 100 GeV. The same in
    the default run for the cut-flow tables (cut_flow_na64e_plus_2022.yaml, _2023.yaml). publish/hepdata.py
    `_energies` uses `beams_of(cfg, analysis)`, every run of the analysis, also for one-run tables. A
    referee reading the 2022 background table gets a 70 GeV beam the run never had (docs/publishing.md: "one per
    beam energy of the table").
    Fixed: per-run tables (background, cut flow) carry only that run's beam energy (E_beam, SQRT(S), cmenergies)."""
    cfg, res = pub
    tables = _submission(res)
    bad = []
    for run in ("2022", "2023"):
        e = float(cfg["analyses"]["na64e_plus"]["runs"][run]["beam_energy_gev"])
        entry, data = tables[f"Background na64e_plus {run}"]
        beams = _e_beams(data)
        if beams != {f"{e:g} (e+)"} or len(_cmenergies(entry)) != 1:
            bad.append(f"run {run} ({e:g} GeV): E_beam {sorted(beams)}, cmenergies {_cmenergies(entry)}")
    assert not bad, "per-run HEPData tables with other runs' beam energies: " + "; ".join(bad)


def test_combined_limit_tables_state_the_beams_of_their_likelihood(pub):
    """LOW. HEPData "Limits combined lmu_ltau": the likelihood (likelihoods/combined/patchset.json, lmu_ltau
    patches) has signal only in na64e_2016_2022 and na64mu_2022 (docs/statistics.md: lmu_ltau = na64e + na64mu;
    docs/publishing.md: "the combined lmu_ltau likelihood has no positron channels"), but the table's qualifiers
    list E_beam "70 (e+)" and "100 (e+)" and cmenergies [11.499, 13.731, 17.353] (11.499 GeV = the 70 GeV e+
    beam only). `beams_of(cfg, "combined")` takes every lepton analysis whatever the model.
    Fixed: the combined tables' E_beam/SQRT(S)/cmenergies are those of the analyses entering that model's
    likelihood (registry.combined_members)."""
    cfg, res = pub
    entry, data = _submission(res)["Limits combined lmu_ltau"]
    ps = _patchset(res, "combined")
    bkg = json.loads((res / "likelihoods" / "combined" / "BkgOnly.json").read_text())
    chans = {bkg["channels"][int(op["path"].split("/")[2])]["name"]
             for p in ps["patches"] if p["metadata"]["values"][0] == "lmu_ltau" for op in p["patch"]}
    positron = [c for c in chans if c.startswith("na64e_plus")]
    beams = _e_beams(data)
    assert positron or not any("e+" in b for b in beams), (
        f"combined lmu_ltau likelihood channels {sorted(chans)} (no e+), HEPData qualifiers E_beam {sorted(beams)}, "
        f"cmenergies {_cmenergies(entry)}")


# ------------------------------------------------------------------------------------------------
# plots' stated numbers


def test_combined_plot_captions_state_the_exposures_of_the_combined_channels(pub):
    """LOW. plots/index.json (and the right-hand label of the figure): the caption of combined-dark_photon_limits
    states "combined, 9.4e11 EOT (2016-2022); 2.6e10 e+OT (2022, 2023); 2e10 MOT (2022); 2.9e9 piOT (2022)" --
    the pion run is in no combined likelihood (BkgOnly channels na64e_*, na64e_plus_*, na64mu_*); the
    combined-lmu_ltau_limits / _beams captions also list the e+OT, which has no lmu_ltau channel. Default run
    the same (1e8 piOT in combined-dark_photon_limits). `plotting.style.exposure_text(cfg, "combined")` joins
    every analysis.
    Fixed: the combined captions and labels list the exposures of the analyses in that model's combination."""
    cfg, res = pub
    plots = {p["name"]: p["caption"] for p in json.loads((res / "plots" / "index.json").read_text())["plots"]}
    bad = [f"{n}: {plots[n][:200]}" for n in ("dark_photon_limits", "lmu_ltau_limits", "lmu_ltau_beams")
           if n in plots and ("pi$OT" in plots[n] or (n.startswith("lmu") and "e^+$OT" in plots[n]))]
    assert "dark_photon_limits" in plots and not bad, "exposures of beams outside the combination: " + " | ".join(bad)


# ------------------------------------------------------------------------------------------------
# documentation vs the run


def _doc_comparison_rows() -> list[tuple[str, str, float, float]]:
    text = (REPO / "docs" / "publishing.md").read_text()
    sec = text.split("## Comparison with the published limits", 1)[1].split("\n\n", 3)
    rows = []
    for line in "\n\n".join(sec[:3]).splitlines():
        m = re.match(r"\| (\w+) \| ([^|]+) \| ([^|]+) \| ([\d.e+-]+) \| ([\d.e+-]+) \| ([\d.]+) \|", line)
        if m:
            rows.append((m[1], m[3].strip(), float(m[5]), float(m[6])))
    return rows


def test_docs_published_comparison_is_that_of_the_run(pub):
    """LOW. docs/publishing.md "Comparison with the published limits" says it copies
    results/published/published_comparison.md of "the commit of this text"; the run at HEAD (deterministic:
    the fixture, /work/lead-tmp/clA and a fresh snakemake run give the same file) writes eta 3.25e-4 (ratio 2.95),
    NA64e+ run 2023 2.61e-4, NA64e+ 2022+2023 2.59e-4, NA64mu 5.07e-4 (0.84), the doc 3.23e-4 (2.93), 2.60e-4,
    2.60e-4, 5.08e-4 (0.85): re-measured before ff31e37 changed the observed-limit ensembles. (Also stale there:
    the "published-config observed values" na64e eps 5.1e-6, 2.1e-5, 3.5e-4 -- now 5.0e-6, 2.0e-5, 3.4e-4 --,
    and the configuration table's na64h background "0.1 +- 0.1 [est]" while configs/published.yaml, the
    likelihood and HEPData use 0.1 +- 0.05.)
    Fixed: the documented table equals the run's published_comparison.md to the digits quoted."""
    cfg, res = pub
    rows = _doc_comparison_rows()
    assert len(rows) >= 5
    from na64flow.publish import comparison_with_published
    ours = comparison_with_published(cfg)
    diffs = []
    for (a, where, val, ratio), r in zip(rows, ours, strict=False):
        got, got_ratio = float(f"{r['ours']:.3g}"), float(f"{r['ratio']:.2f}")
        if got != val or got_ratio != ratio:
            diffs.append(f"{a} {where}: doc {val:g} ({ratio}), run {got:g} ({got_ratio})")
    assert not diffs, "docs/publishing.md comparison differs from the run: " + "; ".join(diffs)


def test_docs_asymptotic_vs_toys_direction_is_the_measured_one(pub):
    """LOW. docs/statistics.md: "Measured on hand-made inputs (b = 0.5 +- 0.13 per run): asymptotic expected
    median limits on eps are ~5% weaker than the toys". The released cross-check of exactly that case
    (configs/published.yaml na64e: b = 0.51 +- 0.13, limits/na64e/dark_photon_comparison.md) gives
    asymptotic/toys = 0.972, i.e. ~3% *stronger*; every comparison table of the default and the published runs
    has a median ratio <= 1.005 (0.58-0.98), and stock pyhf on the released likelihood gives 4.92e-6 vs our
    5.06e-6 at 1 MeV. A referee comparing pyhf's asymptotic numbers with ours is told the wrong direction.
    Fixed: the documented direction and size agree with the comparison tables (within 3%)."""
    cfg, res = pub
    text = (REPO / "docs" / "statistics.md").read_text()
    m = re.search(r"asymptotic expected median\s+limits on ε are\s+~(\d+)% (weaker|stronger)\s+than the toys", text)
    assert m, "statement not found (reworded? then check it against the comparison tables)"
    doc_ratio = 1 + int(m[1]) / 100 * (1 if m[2] == "weaker" else -1)
    cmp_md = (res / "limits" / "na64e" / "dark_photon_comparison.md").read_text()
    measured = float(re.search(r"Median ratio asymptotic/toys of the expected limit: ([\d.]+)", cmp_md)[1])
    assert abs(measured - doc_ratio) < 0.03, (f"docs: asymptotic/toys ~{doc_ratio:.2f}; measured on b = 0.51 +- 0.13 "
                                              f"(na64e, published): {measured}")


def test_docs_do_not_report_fixed_defects_of_the_released_limits(pub):
    """MED (documentation of a released table). docs/publishing.md, "Known issue" / "Seen on the plots of this
    session": "the na64e g limits come out 69x too weak (g ~ 2e-2 at 1 MeV instead of ~3e-4)" because
    `stats._signal_per_ot` applies (g/69)^2 twice, and "snakemake --configfile configs/published.yaml ... stop[s]
    with analyses.na64e.runs.2023.published is missing". Neither holds at HEAD: `stats._signal_per_ot` does not
    exist, the published snakemake run completes (82 s), and limits/na64e/lmu_ltau.csv / dark_photon.csv =
    69.4 (obs) - 69.6 (exp) below 2 m_mu (= 1/mixing, g = 69 eps exactly as physics.md §3 wants; 87 at 0.23 GeV from
    Br(Z' -> nu nu)), i.e. g = 3.5e-4 at 1 MeV in published mode (2.25e-2 in the default run, where eps is 3.2e-4:
    the doc confuses eps and g). A referee reading the publishing docs would discard the released na64e
    L_mu-L_tau HEPData table as 69x wrong.
    Fixed: the stale "Known issue" paragraphs are removed (or describe a defect that exists)."""
    cfg, res = pub
    dp, lm = _limits(res, "na64e", "dark_photon"), _limits(res, "na64e", "lmu_ltau")
    ratio = float(lm[0]["obs"]) / float(dp[0]["obs"])
    assert 60 < ratio < 80      # g = eps / (mixing per unit g): the limits are as physics.md prescribes
    from na64flow import stats
    text = (REPO / "docs" / "publishing.md").read_text()
    stale = []
    if "69x too weak" in text and not hasattr(stats, "_signal_per_ot"):
        stale.append(f"'69x too weak' (g/eps = {ratio:.2f} at {dp[0]['mass_gev']} GeV: correct)")
    if ("analyses.na64e.runs.2023.published is missing" in text
            and "workflow.overwrite_configfiles" in (REPO / "Snakefile").read_text()):
        stale.append("'snakemake --configfile configs/published.yaml' said to stop (the Snakefile loads "
                     "configs/default.yaml only without --configfile)")
    assert not stale, "docs/publishing.md reports defects that do not exist: " + "; ".join(stale)
