"""Every input is checked before work starts (issue 9): each bad configuration or input file below stops
with one clear message naming the key (and the allowed keys) or the file, before any processing.

These were found by trying bad configurations: a typo in a per-run cut override was silently ignored,
a string or scalar where a number or window belongs failed later blaming a data file, a run name with
backticks executed a command through a Snakemake shell line, and an empty data tree was accepted.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from na64flow import NA64Error
from na64flow.cli import main
from na64flow.config import cut_keys, load_config

_spec = importlib.util.spec_from_file_location("toy_events", Path(__file__).parent / "reference" / "toy_events.py")
toy = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(toy)


def _config_with(tmp_path, repo_root, edit) -> Path:
    cfg = yaml.safe_load((repo_root / "configs" / "default.yaml").read_text())
    cfg["results_root"] = str(tmp_path / "results")
    edit(cfg)
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def _check_config_error(path: Path, capsys) -> str:
    rc = main(["check-config", "-c", str(path)])
    err = capsys.readouterr().err
    assert rc != 0, "check-config accepted a bad configuration"
    return err


def test_typo_in_a_per_run_cut_override_names_the_key_and_the_allowed_keys(tmp_path, repo_root, capsys):
    path = _config_with(tmp_path, repo_root,
                        lambda c: c["analyses"]["na64e"]["runs"]["2023"]["cuts"].update(ecal_max_gv=60))
    err = _check_config_error(path, capsys)
    assert "analyses.na64e.runs.2023.cuts" in err and "ecal_max_gv" in err
    assert "allowed keys here" in err and "ecal_max_gev" in err


def test_typo_in_an_analysis_cut_is_refused(tmp_path, repo_root, capsys):
    path = _config_with(tmp_path, repo_root, lambda c: c["analyses"]["na64mu"]["cuts"].update(p_out_max=80))
    err = _check_config_error(path, capsys)
    assert "analyses.na64mu.cuts" in err and "p_out_max" in err and "p_out_max_gev" in err


def test_cut_given_as_a_string_is_refused_naming_the_key(tmp_path, repo_root, capsys):
    path = _config_with(tmp_path, repo_root, lambda c: c["analyses"]["na64e"]["cuts"].update(ecal_max_gev="50"))
    err = _check_config_error(path, capsys)
    assert "analyses.na64e.cuts.ecal_max_gev" in err and "not of type 'number'" in err


def test_scalar_where_a_window_is_expected_is_refused_with_the_window_shape(tmp_path, repo_root, capsys):
    path = _config_with(tmp_path, repo_root, lambda c: c["analyses"]["na64e"]["cuts"].update(srd_window_mev=5))
    err = _check_config_error(path, capsys)
    assert "analyses.na64e.cuts.srd_window_mev" in err and "[low, high] in MeV" in err


def test_reversed_window_is_refused(tmp_path, repo_root, capsys):
    path = _config_with(tmp_path, repo_root,
                        lambda c: c["analyses"]["na64h"]["cuts"].update(beam_momentum_window_gev=[51.5, 48.5]))
    err = _check_config_error(path, capsys)
    assert "analyses.na64h.cuts.beam_momentum_window_gev" in err and "low < high" in err


def test_missing_cut_is_refused_before_processing(tmp_path, repo_root, capsys):
    path = _config_with(tmp_path, repo_root, lambda c: c["analyses"]["na64e"]["cuts"].pop("shower_chi2_max"))
    err = _check_config_error(path, capsys)
    assert "missing shower_chi2_max" in err


def test_cut_of_the_wrong_setup_is_refused(tmp_path, repo_root, capsys):
    """A muon cut in an electron analysis is a typo of the analysis, not a cut anyone reads."""
    path = _config_with(tmp_path, repo_root, lambda c: c["analyses"]["na64e"]["cuts"].update(p_out_max_gev=80.0))
    err = _check_config_error(path, capsys)
    assert "p_out_max_gev" in err


def test_cut_schema_lists_exactly_the_cuts_the_selections_read(repo_root):
    """Every `need(cuts, "<key>")` of an analysis is in its setup's schema, and the schema has no key
    no selection reads (a schema key nobody reads would accept a setting that does nothing)."""
    import re

    read: dict[str, set[str]] = {"electron": set(), "muon": set(), "hadron": set()}
    setups = {"na64e": "electron", "na64e_plus": "electron", "na64mu": "muon", "na64h": "hadron"}
    common = repo_root / "analyses" / "common.py"
    pattern = re.compile(r'need\(\w+, "([a-z0-9_]+)"\)')
    shared = set(pattern.findall((repo_root / "src" / "na64flow" / "selection.py").read_text()))
    for analysis, setup in setups.items():
        text = (repo_root / "analyses" / analysis / "selection.py").read_text()
        read[setup] |= set(pattern.findall(text)) | shared
        # the shared cuts of analyses/common.py that this selection imports
        imported = set(re.findall(r"\b([a-z_]+)\b", text))
        for fn, body in re.findall(r"\ndef ([a-z_]+)\(.*?\n(.*?)(?=\ndef |\Z)", common.read_text(), re.S):
            if fn in imported:
                read[setup] |= set(pattern.findall(body))
    for setup, keys in read.items():
        schema_keys = set(cut_keys(setup))
        assert keys <= schema_keys, f"{setup}: read but not in the schema: {sorted(keys - schema_keys)}"
        assert schema_keys <= keys, f"{setup}: in the schema but read by no selection: {sorted(schema_keys - keys)}"


def test_every_shipped_configuration_is_valid(repo_root):
    for path in sorted((repo_root / "configs").glob("*.yaml")):
        load_config(path)


def test_run_name_with_shell_characters_is_refused_and_runs_nothing(tmp_path, repo_root, capsys):
    marker = tmp_path / "pwned"
    run = f"x`touch {marker}`"
    path = _config_with(tmp_path, repo_root, lambda c: c["analyses"]["na64h"]["runs"].update(
        {run: {"beam_energy_gev": 50.0, "n_ot": 1.0e6}}))
    err = _check_config_error(path, capsys)
    assert "analyses.na64h.runs" in err and "does not match" in err
    # and Snakemake refuses it while building the DAG, before any shell line
    out = subprocess.run([sys.executable, "-m", "snakemake", "-n", "--cores", "1", "--configfile", str(path)],
                         cwd=repo_root, capture_output=True, text=True, timeout=300,
                         env=dict(os.environ, CONDOR_CONFIG="/dev/null"))
    assert out.returncode != 0
    assert "does not match" in out.stdout + out.stderr
    assert not marker.exists()


def test_snakemake_reports_a_cut_typo_with_the_packages_message(tmp_path, repo_root):
    path = _config_with(tmp_path, repo_root,
                        lambda c: c["analyses"]["na64e"]["runs"]["2023"]["cuts"].update(ecal_max_gv=60))
    out = subprocess.run([sys.executable, "-m", "snakemake", "-n", "--cores", "1", "--configfile", str(path)],
                         cwd=repo_root, capture_output=True, text=True, timeout=300,
                         env=dict(os.environ, CONDOR_CONFIG="/dev/null"))
    assert out.returncode != 0
    text = out.stdout + out.stderr
    assert "analyses.na64e.runs.2023.cuts" in text and "allowed keys here" in text
    assert not (tmp_path / "results").exists(), "a refused configuration wrote results"


def test_shell_arguments_of_every_rule_are_quoted(repo_root):
    """Values reaching a shell line are quoted ({x:q}), so a path with spaces or quotes stays one word."""
    import re

    for smk in sorted((repo_root / "workflow" / "rules").glob("*.smk")):
        for m in re.finditer(r'shell:\s*((?:\s*"[^"\n]*"\s*)+)', smk.read_text()):
            for field in re.findall(r"\{([^{}]+)\}", m[1]):
                if field == "threads":
                    continue
                assert field.endswith(":q"), f"{smk.name}: shell field {{{field}}} is not quoted"


# ------------------------------------------------------------------ empty input files

@pytest.fixture
def toy_run(tmp_path, repo_root):
    path, cfg = toy.make_config(tmp_path, repo_root)
    toy.write_run(cfg, "na64e", "2016-2022", 300, seed=5)
    base = tmp_path / "results" / "default" / "ntuples" / "na64e" / "2016-2022"
    return path, base


def _empty_data_file(base: Path) -> Path:
    import json

    import uproot

    from na64flow.events import write_events

    f = sorted((base / "data").glob("*.root"))[0]
    n_before = uproot.open(f)["events"].num_entries
    cols = toy.electron(10, 1)
    write_events(f, {k: v[:0] for k, v in cols.items() if k != "weight"}, "electron", truth=False)
    manifest = base / "manifest.json"      # kept consistent: process checks the declared event counts
    if manifest.exists():
        m = json.loads(manifest.read_text())
        m["samples"]["data"]["n_events"] -= n_before
        manifest.write_text(json.dumps(m))
    return f


def test_data_file_without_events_is_an_error_naming_the_file(toy_run, tmp_path, capsys):
    path, base = toy_run
    f = _empty_data_file(base)
    out = tmp_path / "h.pkl"
    rc = main(["process", "-c", str(path), "--analysis", "na64e", "--run", "2016-2022", "--out", str(out),
               "--executor", "iterative"])
    err = capsys.readouterr().err
    assert rc != 0 and str(f) in err and "no events" in err and "allow_empty_data" in err
    assert not out.exists()


def test_empty_data_file_is_accepted_when_the_configuration_expects_it(toy_run, repo_root):
    from na64flow.config import _set_dotted
    from na64flow.processing import run_processing

    path, base = toy_run
    _empty_data_file(base)
    raw = yaml.safe_load(path.read_text())
    _set_dotted(raw, "analyses.na64e.runs.2016-2022.allow_empty_data", True)
    path.write_text(yaml.safe_dump(raw))
    content = run_processing(load_config(path), "na64e", "2016-2022", executor="iterative", status=False)
    assert "data" in content["samples"]


def test_bad_configuration_errors_are_one_message_per_mistake(tmp_path, repo_root):
    def edit(c):
        c["analyses"]["na64e"]["cuts"]["ecal_max_gev"] = "50"
        c["analyses"]["na64e"]["runs"]["2023"]["cuts"]["ecal_max_gv"] = 60

    path = _config_with(tmp_path, repo_root, edit)
    with pytest.raises(NA64Error) as exc:
        load_config(path)
    lines = [ln for ln in str(exc.value).splitlines() if ln.strip().startswith("key ")]
    assert len(lines) == 2, str(exc.value)


def test_reversed_analysis_window_is_reported_once_naming_the_key_not_once_per_run(tmp_path, repo_root):
    """na64e has two runs: a reversed analysis-level window is one mistake, one message; a reversed
    per-run override is named by its own key."""
    def edit(c):
        c["analyses"]["na64e"]["cuts"]["beam_momentum_window_gev"] = [110.0, 90.0]
        c["analyses"]["na64e_plus"]["runs"]["2023"].setdefault("cuts", {})["beam_momentum_window_gev"] = [80.0, 60.0]

    with pytest.raises(NA64Error) as exc:
        load_config(_config_with(tmp_path, repo_root, edit))
    lines = [ln.strip() for ln in str(exc.value).splitlines() if ln.strip().startswith("key ")]
    assert lines == ["key 'analyses.na64e.cuts.beam_momentum_window_gev': window [110.0, 90.0] must be [low, high] "
                     "with low < high",
                     "key 'analyses.na64e_plus.runs.2023.cuts.beam_momentum_window_gev': window [80.0, 60.0] must be "
                     "[low, high] with low < high"], str(exc.value)

