"""Hostile-review attacks on bad input (reviewer hC): each test is one bad configuration or input file
that the README promises to refuse early with a message naming the file and the key/branch, or to
count visibly. Every test here failed on the reviewed code (one finding each)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import uproot
from test_input_checks import _config_with, toy  # the same toy events and config editing

from na64flow.cli import main


def _refused(path: Path, capsys, *needles: str) -> str:
    rc = main(["check-config", "-c", str(path)])
    err = capsys.readouterr().err
    assert rc != 0, f"check-config accepted the bad configuration {path.name}"
    assert str(path) in err
    for n in needles:
        assert n in err, err
    return err


# ------------------------------------------------------------- typo'd names in free-form maps


def test_inject_into_a_run_that_is_not_configured_is_refused(tmp_path, repo_root, capsys):
    """A signal-injection test with a typo'd run ('2O22') plants nothing, silently (measured: the data
    stream has exactly the events of the run without injection)."""
    path = _config_with(tmp_path, repo_root, lambda c: c["simulation"].update(inject=[
        {"analysis": "na64h", "run": "2O22", "mode": "eta", "mass_gev": 0.547862, "n_events": 50}]))
    _refused(path, capsys, "simulation.inject", "2O22")


def test_inject_into_an_unknown_analysis_is_refused(tmp_path, repo_root, capsys):
    path = _config_with(tmp_path, repo_root, lambda c: c["simulation"].update(inject=[
        {"analysis": "na64hh", "run": "2022", "mode": "eta", "mass_gev": 0.547862, "n_events": 50}]))
    _refused(path, capsys, "simulation.inject", "na64hh")


def test_run_rate_scale_for_an_unknown_run_is_refused(tmp_path, repo_root, capsys):
    """'na64e_plus:2O22' (typo) is silently ignored: the run is simulated with rate scale 1."""
    def edit(c):
        rrs = c["simulation"]["run_rate_scale"]
        rrs["na64e_plus:2O22"] = rrs.pop("na64e_plus:2022")
    _refused(_config_with(tmp_path, repo_root, edit), capsys, "run_rate_scale", "na64e_plus:2O22")


def test_signal_modes_of_an_unknown_analysis_are_refused(tmp_path, repo_root, capsys):
    """signal_modes {na64hh: ...} (typo) replaces the defaults: na64h gets no signal samples, and only
    the later `signal` step fails, naming a histogram file instead of the configuration key."""
    def edit(c):
        c["simulation"]["signal_modes"]["na64hh"] = c["simulation"]["signal_modes"].pop("na64h")
    _refused(_config_with(tmp_path, repo_root, edit), capsys, "signal_modes", "na64hh")


def test_signal_masses_of_an_unknown_mode_are_refused(tmp_path, repo_root, capsys):
    path = _config_with(tmp_path, repo_root, lambda c: c["simulation"]["signal_masses_gev"].update(brems=[0.01]))
    _refused(path, capsys, "signal_masses_gev", "brems")


def test_branch_mapping_of_an_unknown_schema_branch_is_refused(tmp_path, repo_root, capsys):
    """input.branches {ecal_gv: ECAL_E} (typo): the mapping is dropped and, if the file also has a branch
    named ecal_gev, that one is read instead of ECAL_E without a word."""
    path = _config_with(tmp_path, repo_root, lambda c: c["input"].update(branches={"ecal_gv": "ECAL_E"}))
    _refused(path, capsys, "input.branches", "ecal_gv")


@pytest.mark.parametrize("block", [{"dat": ["x.root"], "mc": {"pion_shower": ["y.root"]}},
                                   {"data": ["x.root"], "mcc": {"pion_shower": ["y.root"]}}],
                         ids=["dat", "mcc"])
def test_unknown_key_in_an_ntuple_block_is_refused(tmp_path, repo_root, capsys, block):
    """{dat: [...], mc: ...}: `process` silently runs without the data sample; {data, mcc: ...}: without
    any simulation (and `background` then writes a total of 0 +- 0)."""
    def edit(c):
        c["input"].update(source="ntuples", ntuples={"na64h": {"2022": block}})
        c["analyses"] = {"na64h": c["analyses"]["na64h"]}
    key = next(k for k in block if k not in ("data", "mc"))
    _refused(_config_with(tmp_path, repo_root, edit), capsys, "input.ntuples.na64h.2022", key)


def test_sideband_replaces_an_unknown_process_is_refused(tmp_path, repo_root, capsys):
    """replaces: [upstream_interation] (typo): measured on a small na64e 2023 run, the background total
    goes from 0.44 to 0.83, upstream interactions counted twice (side band and simulation), no warning."""
    path = _config_with(tmp_path, repo_root, lambda c: c["background"]["electron"]["sideband"].update(
        replaces=["upstream_interation"]))
    _refused(path, capsys, "background.electron.sideband.replaces", "upstream_interation")


def test_mc_norm_region_that_no_analysis_defines_is_refused(tmp_path, repo_root, capsys):
    """mc_norm_region: calibraton (typo): every simulation-based source silently gets k = 1."""
    path = _config_with(tmp_path, repo_root, lambda c: c["background"].update(mc_norm_region="calibraton"))
    _refused(path, capsys, "background.mc_norm_region", "calibraton")


def test_sideband_primary_index_beyond_the_fit_ranges_is_refused(tmp_path, repo_root, capsys):
    """primary: [exponential, 7] with 3 fit ranges: accepted, then `background` dies with an IndexError
    traceback."""
    path = _config_with(tmp_path, repo_root, lambda c: c["background"]["electron"]["sideband"].update(
        primary=["exponential", 7]))
    _refused(path, capsys, "primary")


# ------------------------------------------------------------- YAML-level mistakes


def test_duplicate_key_in_a_configuration_file_is_refused(tmp_path, repo_root, capsys):
    """A run written twice: PyYAML keeps the last one silently (n_ot 1e8 -> 7e7)."""
    text = (repo_root / "configs" / "default.yaml").read_text().replace(
        '      "2023":      {beam_energy_gev: 100.0, n_ot: 5.0e+7',
        '      "2016-2022": {beam_energy_gev: 100.0, n_ot: 7.0e+7, vhcal: false}\n'
        '      "2023":      {beam_energy_gev: 100.0, n_ot: 5.0e+7', 1)
    path = tmp_path / "dup.yaml"
    path.write_text(text)
    _refused(path, capsys, "2016-2022")


@pytest.mark.parametrize("text", ["- tag\n- seed\n", "hello\n"], ids=["list", "scalar"])
def test_configuration_that_is_not_a_mapping_is_a_clear_error(tmp_path, capsys, text):
    path = tmp_path / "notamap.yaml"
    path.write_text(text)
    rc = main(["check-config", "-c", str(path)])   # raised TypeError/AttributeError (a traceback)
    assert rc != 0 and str(path) in capsys.readouterr().err


def test_override_below_a_scalar_is_a_clear_error(repo_root, capsys):
    rc = main(["check-config", "-c", str(repo_root / "configs" / "default.yaml"), "--set", "tag.x=1"])
    assert rc != 0 and "tag.x" in capsys.readouterr().err   # raised TypeError (a traceback)


# ------------------------------------------------------------- input files


def _ntuple_config(tmp_path, repo_root, block) -> Path:
    def edit(c):
        c["input"].update(source="ntuples", ntuples={"na64h": {"2022": block}})
        c["analyses"] = {"na64h": c["analyses"]["na64h"]}
        c["execution"]["executor"] = "iterative"
    return _config_with(tmp_path, repo_root, edit)


def _hadron_file(path: Path, n: int = 300, seed: int = 3, **change) -> Path:
    cols = toy.hadron(n, seed)
    cols = {k: np.asarray(v) for k, v in cols.items()}
    for k, v in change.items():
        cols[k] = v(cols[k]) if callable(v) else v
    with uproot.recreate(path) as f:
        f["events"] = cols
    return path


def _process(path: Path, tmp_path, capsys):
    out = tmp_path / "h.pkl"
    rc = main(["process", "-c", str(path), "--analysis", "na64h", "--run", "2022", "--out", str(out),
               "--executor", "iterative"])
    return rc, capsys.readouterr().err, out


def test_data_given_as_one_root_file_instead_of_a_list_is_a_clear_error(tmp_path, repo_root, capsys):
    """data: file.root (a string, not a list) is read as a text file list: UnicodeDecodeError traceback."""
    f = _hadron_file(tmp_path / "data.root")
    path = _ntuple_config(tmp_path, repo_root, {"data": str(f)})
    rc, err, out = _process(path, tmp_path, capsys)
    assert rc != 0 and "input.ntuples.na64h.2022.data" in err and not out.exists()


@pytest.mark.parametrize("bad", [np.nan, np.inf], ids=["nan", "inf"])
def test_non_finite_weight_of_a_simulated_sample_is_refused_naming_file_and_branch(tmp_path, repo_root, capsys, bad):
    """NaN/inf weights are accepted: every weighted cut-flow row of the sample becomes nan/inf."""
    data = _hadron_file(tmp_path / "data.root")

    def poison(w):
        w = w.astype(np.float64).copy()
        w[:10] = bad
        return w
    mc = _hadron_file(tmp_path / "mc.root", seed=4, weight=poison)
    path = _ntuple_config(tmp_path, repo_root, {"data": [str(data)], "mc": {"pion_shower": [str(mc)]}})
    rc, err, out = _process(path, tmp_path, capsys)
    assert rc != 0 and str(mc) in err and "weight" in err, err


def test_jagged_branch_is_reported_as_mistyped_naming_it(tmp_path, repo_root, capsys):
    """A jagged ecal_gev passes the up-front schema check; processing then fails with a numpy broadcast
    error and 'the file may be corrupt', without naming the branch."""
    import awkward as ak

    data = _hadron_file(tmp_path / "data.root")
    cols = {k: np.asarray(v) for k, v in toy.hadron(300, 4).items()}
    cols["ecal_gev"] = ak.Array([[x] for x in cols["ecal_gev"]])
    mc = tmp_path / "mc.root"
    with uproot.recreate(mc) as f:
        f["events"] = cols
    path = _ntuple_config(tmp_path, repo_root, {"data": [str(data)], "mc": {"pion_shower": [str(mc)]}})
    rc, err, out = _process(path, tmp_path, capsys)
    assert rc != 0 and str(mc) in err and "ecal_gev" in err and "mistyped" in err, err


def test_manifest_listing_fewer_events_than_it_declares_is_refused(tmp_path, repo_root, capsys):
    """A manifest whose file list lost a chunk (n_events still 600): `process` reads 300 data events and
    says nothing; the exposure n_ot stays that of the whole run."""
    path, cfg = toy.make_config(tmp_path, repo_root)
    toy.write_run(cfg, "na64e", "2016-2022", 600, seed=5, n_files=2)
    from na64flow.paths import manifest_path

    mpath = manifest_path(cfg, "na64e", "2016-2022")
    m = json.loads(mpath.read_text())
    m["samples"]["data"]["files"] = m["samples"]["data"]["files"][:1]
    mpath.write_text(json.dumps(m))
    out = tmp_path / "h.pkl"
    rc = main(["process", "-c", str(path), "--analysis", "na64e", "--run", "2016-2022", "--out", str(out),
               "--executor", "iterative"])
    err = capsys.readouterr().err
    assert rc != 0 and "manifest" in err and "n_events" in err, err


# ------------------------------------------------------------- the workflow reads the same file lists as `process`


@pytest.mark.parametrize("spec", ["glob", "string"])
def test_snakemake_accepts_the_file_lists_that_process_accepts(tmp_path, repo_root, spec):
    """`process` expands input.ntuples entries with expand_file_list (globs, a file-list path); the
    Snakefile's event_inputs takes them literally: a glob is a 'missing input file' `.../data*.root`, and
    a string is split into one-character file names."""
    import os
    import subprocess
    import sys

    data = _hadron_file(tmp_path / "data_0.root")
    mc = _hadron_file(tmp_path / "mc.root", seed=4)
    if spec == "glob":
        entry = [str(tmp_path / "data_*.root")]
    else:
        lst = tmp_path / "data.txt"
        lst.write_text(f"{data.name}\n")
        entry = str(lst)
    path = _ntuple_config(tmp_path, repo_root, {"data": entry, "mc": {"pion_shower": [str(mc)]}})
    r = subprocess.run([sys.executable, "-m", "snakemake", "-n", "--cores", "1", "--configfile", str(path)],
                       cwd=repo_root, capture_output=True, text=True, env={**os.environ, "CONDOR_CONFIG": "/dev/null"})
    assert r.returncode == 0, (r.stdout + r.stderr)[-1500:]


def test_outputs_are_readable_by_the_group_as_the_umask_allows(tmp_path):
    """Every output goes through paths.atomic_output, whose tempfile.mkstemp makes it mode 0600 whatever
    the umask: ntuples, histograms, tables, HEPData of a shared results/ are unreadable to collaborators."""
    import os
    import stat

    from na64flow.paths import atomic_output

    old = os.umask(0o022)
    try:
        with atomic_output(tmp_path / "table.csv") as fh:
            fh.write("x\n")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "table.csv").stat().st_mode) == 0o644


@pytest.mark.parametrize("analysis,beam", [("na64mu", "e-"), ("na64h", "mu-"), ("na64e", "pi-")])
def test_beam_that_the_setup_cannot_have_is_refused(tmp_path, repo_root, capsys, analysis, beam):
    """setup muon with beam e- (or hadron with mu-) is accepted, and `simulate` writes exactly the events
    of the right beam (measured: na64mu 2022 at 1e7 MOT, 355 data events for mu-, e- and pi-)."""
    path = _config_with(tmp_path, repo_root, lambda c: c["analyses"][analysis].update(beam=beam))
    _refused(path, capsys, f"analyses.{analysis}", beam)


def test_snakemake_configuration_error_names_the_configuration_file(tmp_path, repo_root):
    """The package's message through Snakemake reads 'configuration (--configfile/--config): invalid
    configuration: key ...': the key, but not which file holds it."""
    import os
    import subprocess
    import sys

    path = _config_with(tmp_path, repo_root, lambda c: c["stats"].update(n_toy=100))
    r = subprocess.run([sys.executable, "-m", "snakemake", "-n", "--cores", "1", "--configfile", str(path)],
                       cwd=repo_root, capture_output=True, text=True, env={**os.environ, "CONDOR_CONFIG": "/dev/null"})
    out = r.stdout + r.stderr
    assert r.returncode != 0 and "n_toy" in out
    assert str(path) in out.split("invalid configuration")[0].splitlines()[-1], out[-800:]


def test_simulated_sample_without_events_is_refused_naming_the_file(tmp_path, repo_root, capsys):
    """An empty data tree is an error (allow_empty_data), an empty simulated one is not: `process` reads
    0 events and `background` then writes the process as '0 (no simulated box event; its 68% upper value
    < 0 is the sample's sensitivity ...)'."""
    data = _hadron_file(tmp_path / "data.root")
    good = _hadron_file(tmp_path / "mc_pi0.root", seed=4)
    empty = _hadron_file(tmp_path / "mc_pion.root", n=10, seed=5, **{k: (lambda v: v[:0]) for k in toy.hadron(10, 5)})
    path = _ntuple_config(tmp_path, repo_root, {"data": [str(data)],
                                                "mc": {"cex_pi0": [str(good)], "pion_shower": [str(empty)]}})
    rc, err, out = _process(path, tmp_path, capsys)
    assert rc != 0 and str(empty) in err, err


def test_out_that_is_an_existing_folder_is_a_clear_error_before_processing(tmp_path, repo_root, capsys):
    """--out <existing folder>: the whole run is processed, then os.replace raises IsADirectoryError
    (a traceback)."""
    data = _hadron_file(tmp_path / "data.root")
    mc = _hadron_file(tmp_path / "mc.root", seed=4)
    path = _ntuple_config(tmp_path, repo_root, {"data": [str(data)], "mc": {"pion_shower": [str(mc)]}})
    folder = tmp_path / "outdir"
    folder.mkdir()
    rc = main(["process", "-c", str(path), "--analysis", "na64h", "--run", "2022", "--out", str(folder),
               "--executor", "iterative"])
    assert rc != 0 and str(folder) in capsys.readouterr().err


def test_unblind_true_inside_a_configuration_file_is_not_a_request_for_the_cli_either(tmp_path, repo_root, capsys):
    """configs/default.yaml: 'the only way to unblind: --config unblind=true'; Snakemake refuses the key in
    a file, but `na64flow unblind -c FILE` takes `unblind: true` in FILE as the request and goes on to the
    freeze check ('no freeze record; run `na64flow freeze` ...')."""
    text = (repo_root / "configs" / "default.yaml").read_text().replace("unblind: false", "unblind: true", 1)
    path = tmp_path / "ub.yaml"
    path.write_text(text.replace("tag: default", f"tag: default\nresults_root: {tmp_path / 'results'}", 1))
    rc = main(["unblind", "-c", str(path)])
    err = capsys.readouterr().err
    assert rc != 0 and ("not requested" in err or "refused" in err), err


# ------------------------------------------------------------- added with the fixes (lead)


@pytest.mark.parametrize("setup,beam,e0_gev", [("electron", "e-", 100.0), ("electron", "e+", 100.0),
                                              ("electron", "e+", 70.0), ("muon", "mu-", 160.0),
                                              ("hadron", "pi-", 50.0)])
def test_every_simulated_process_is_a_process_name_of_its_setup(setup, beam, e0_gev):
    """The configuration check takes a setup's process names from the code blocks of events.PROCESSES:
    every process `simulate` makes for the setup must be among them, or a correct name would be refused."""
    from na64flow.events import setup_processes
    from na64flow.simulation.processes import processes_for

    assert {p.name for p in processes_for(setup, beam, e0_gev)} <= set(setup_processes(setup))


@pytest.mark.parametrize("key,value", [("histogram", "n1_srd_tagg"), ("processes", ["hadron_contaminaton"])])
def test_hadron_norm_with_a_typo_is_refused(tmp_path, repo_root, capsys, key, value):
    """A typo'd hadron_norm histogram or process fell back to the calibration region silently."""
    path = _config_with(tmp_path, repo_root, lambda c: c["background"]["electron"]["hadron_norm"].update({key: value}))
    _refused(path, capsys, f"background.electron.hadron_norm.{key}", value if isinstance(value, str) else value[0])


def test_process_with_no_worker_is_refused(tmp_path, repo_root, capsys):
    data = _hadron_file(tmp_path / "data.root")
    mc = _hadron_file(tmp_path / "mc.root", seed=4)
    path = _ntuple_config(tmp_path, repo_root, {"data": [str(data)], "mc": {"pion_shower": [str(mc)]}})
    rc = main(["process", "-c", str(path), "--analysis", "na64h", "--run", "2022", "--out", str(tmp_path / "h.pkl"),
               "--workers", "0"])
    assert rc != 0 and "--workers" in capsys.readouterr().err and not (tmp_path / "h.pkl").exists()


def test_every_shipped_configuration_passes_the_reference_checks(repo_root, capsys):
    """The new checks must not refuse what the project ships (default, full, published, projections)."""
    for path in sorted((repo_root / "configs").glob("*.yaml")):
        assert main(["check-config", "-c", str(path)]) == 0, capsys.readouterr().err


def test_file_listed_twice_is_refused_naming_it(tmp_path, repo_root, capsys):
    """hC: the same file listed twice (or by a list entry and a glob) was silently read once."""
    data = _hadron_file(tmp_path / "data_0.root")
    mc = _hadron_file(tmp_path / "mc.root", seed=4)
    path = _ntuple_config(tmp_path, repo_root, {"data": [str(data), str(tmp_path / "data_*.root")],
                                                "mc": {"pion_shower": [str(mc)]}})
    rc, err, out = _process(path, tmp_path, capsys)
    assert rc != 0 and "data_0.root listed more than once" in err and "input.ntuples.na64h.2022.data" in err, err


def test_nested_config_override_keeps_its_types(repo_root, tmp_path, default_config_dict):
    """`--config 'stats={n_toys: 500}'` means the integer 500 (Snakemake's own parser hands nested values
    over as text, which the validation then refused as "'500' is not of type 'integer'")."""
    import os
    import subprocess
    import sys

    import yaml

    from na64flow import paths

    cfg = dict(default_config_dict, results_root=f"{tmp_path}/results")
    target = str(paths.tracklength_path(cfg, "e-", 100.0))
    out = subprocess.run([sys.executable, "-m", "snakemake", target, "--cores", "1", "--directory", str(repo_root),
                          "--config", f"results_root={tmp_path}/results",
                          "stats={n_toys: 500, cl: 0.9, asymptotic: false}"],
                         cwd=repo_root, capture_output=True, text=True, timeout=600,
                         env=dict(os.environ, CONDOR_CONFIG="/dev/null"))
    assert out.returncode == 0, out.stdout + out.stderr
    effective = yaml.safe_load(paths.effective_config_path(cfg).read_text())
    assert effective["stats"]["n_toys"] == 500 and effective["stats"]["cl"] == 0.9
    assert effective["stats"]["asymptotic"] is False
    assert effective["stats"]["calculator"] == default_config_dict["stats"]["calculator"]   # merged, not replaced
