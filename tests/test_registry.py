"""The one list of analyses and models (na64flow.registry): the rules, limits, likelihoods, HEPData and
plots all follow it. A throw-away model is added in one place (registry.MODELS) and a throw-away
analysis in one place (the configuration); every output that should carry them does."""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

from na64flow import contracts, paths, plotting, publish, registry
from na64flow.cli import main
from na64flow.config import load_config

REPO = Path(__file__).resolve().parents[1]
TOY = registry.Model("toy_vector", ("mu-", "mu+"), poi="coupling", symbol="g", coupling_label="$g_X$",
                     mass_label="$m_X$", description="g_X of a throw-away vector X vs m_X")
TOY_PATCH = ("from na64flow import registry; registry.MODELS['toy_vector'] = registry.Model('toy_vector', "
             "('mu-', 'mu+'), poi='coupling', symbol='g', coupling_label='$g_X$', mass_label='$m_X$')")


def _config_with_toy_analysis(tmp_path: Path) -> Path:
    """configs/published.yaml plus a throw-away muon analysis 'na64x' (a copy of na64mu's block)."""
    raw = yaml.safe_load((REPO / "configs" / "published.yaml").read_text())
    raw["analyses"]["na64x"] = copy.deepcopy(raw["analyses"]["na64mu"])
    raw["results_root"] = str(tmp_path / "results")
    raw["stats"] = {**raw.get("stats", {}), "n_toys": 2000, "asymptotic": False}
    path = tmp_path / "toy.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


@pytest.fixture
def toy_model(monkeypatch):
    monkeypatch.setitem(registry.MODELS, TOY.name, TOY)
    return TOY


def _hand_made_inputs(cfg: dict) -> None:
    """Signal/background/normalisation files of every run and model (smooth toy yields [est], not physics)."""
    masses = np.geomspace(0.002, 0.5, 6)
    for a in registry.analyses(cfg):
        for r in registry.runs(cfg, a):
            for m in registry.signal_tables(cfg, a):
                spec = registry.parse_model(m)[0]
                x = np.array([{"eta": 0.547862, "etaprime": 0.95778}[spec.meson]]) if spec.meson else masses
                contracts.write_signal(paths.signal_path(cfg, a, m, r), contracts.SignalTable(
                    x, 1e-9 * (0.01 / x), np.full(len(x), 0.5)))
            contracts.write_background(paths.background_path(cfg, a, r), contracts.BackgroundEstimate(
                a, r, float(cfg["analyses"][a]["runs"][r]["n_ot"]), True,
                [{"name": "toy", "estimate": 0.3, "stat": 0.0, "syst": 0.1, "method": "hand-made"}],
                {"estimate": 0.3, "stat": 0.0, "syst": 0.1, "uncertainty": 0.1}))
            contracts.write_normalisation(paths.normalisation_path(cfg, a, r), contracts.Normalisation(
                a, r, 1.0, 0.1, None, None, "hand-made", "dimuon"))


def test_registry_lists_reproduce_the_published_model_lists():
    cfg = load_config(REPO / "configs" / "default.yaml")
    assert registry.signal_models(cfg, "na64e") == ["dark_photon", "dark_photon_brem", "dark_photon_annihilation",
                                                    "lmu_ltau"]
    assert registry.limit_models(cfg, "na64mu") == ["dark_photon", "lmu_ltau"]
    assert registry.limit_models(cfg, "na64e_plus") == ["dark_photon", "dark_photon_y_0.1", "dark_photon_y_0.5"]
    assert registry.combined_models(cfg) == ["dark_photon", "dark_photon_y_0.1", "dark_photon_y_0.5", "lmu_ltau"]
    assert registry.combined_members(cfg, "lmu_ltau") == ["na64e", "na64mu"]
    assert registry.public_models(cfg, "na64h") == ["eta_invisible", "etaprime_invisible"]
    assert registry.public_models(cfg, registry.COMBINED) == ["dark_photon", "lmu_ltau"]


def test_unknown_model_and_analysis_errors_name_the_choices():
    cfg = load_config(REPO / "configs" / "default.yaml")
    with pytest.raises(Exception, match="unknown model 'axion'.*dark_photon"):
        registry.parse_model("axion")
    with pytest.raises(Exception, match="unknown analysis 'na64z'.*na64e"):
        registry.limit_models(cfg, "na64z")
    with pytest.raises(Exception, match="no combination for model 'eta_invisible'"):
        registry.members(cfg, registry.COMBINED, "eta_invisible")


def test_snakemake_dag_picks_up_a_throw_away_model_and_analysis(tmp_path):
    cfgfile = _config_with_toy_analysis(tmp_path)
    code = (f"import sys; {TOY_PATCH}; from snakemake.cli import main; "
            f"sys.argv = ['snakemake', '-n', '--quiet', 'rules', '--cores', '1', '--directory', {str(REPO)!r}, "
            f"'--configfile', {str(cfgfile)!r}]; main()")
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=300,
                         env=dict(os.environ, CONDOR_CONFIG="/dev/null"))
    text = out.stdout + out.stderr
    assert out.returncode == 0, text
    jobs = {line.split()[0] for line in text.splitlines() if line.strip()}
    # the new analysis gets its signal, background, limits (every model of its beam, the toy included)
    assert {"signal_na64x_2022", "limits_na64x_dark_photon", "limits_na64x_lmu_ltau",
            "limits_na64x_toy_vector", "limits_na64mu_toy_vector"} <= jobs, sorted(jobs)
    # two analyses share the toy model: it is combined
    assert "limits_combined_toy_vector" in jobs


def test_limits_likelihoods_hepdata_and_plots_pick_up_a_throw_away_model_and_analysis(tmp_path, toy_model):
    cfgfile = _config_with_toy_analysis(tmp_path)
    cfg = load_config(cfgfile)
    _hand_made_inputs(cfg)
    for a, m in registry.limit_targets(cfg):
        if registry.parse_model(m)[0].name in ("toy_vector", "dark_photon", "lmu_ltau") and "_y_" not in m:
            assert main(["limits", "-c", str(cfgfile), "--analysis", a, "--model", m]) == 0
    for a, m in [("na64x", "toy_vector"), ("combined", "toy_vector")]:
        table = contracts.read_limits(paths.limits_path(cfg, a, m))
        assert table.header[0] == "mass_gev" and len(table.rows) == 6 and table.observed
    assert contracts.read_limits(paths.run_limits_path(cfg, "na64x", "toy_vector", "2022")).rows
    # likelihoods: one patch per mass of the toy model, for the new analysis and the combination
    publish.write_likelihoods(cfg)
    for a in ("na64x", "combined"):
        ps = json.loads((paths.likelihood_dir(cfg, a) / "patchset.json").read_text())
        toy = [p for p in ps["patches"] if p["metadata"]["values"][0] == "toy_vector"]
        assert len(toy) == 6 and toy[0]["metadata"]["poi_definition"] == "mu = (g/coupling_ref)^2"
    combined = json.loads((paths.likelihood_dir(cfg, "combined") / "BkgOnly.json").read_text())
    assert {"na64x_2022", "na64mu_2022"} <= {c["name"] for c in combined["channels"]}
    # HEPData: a limit table of the toy model for the new analysis and the combination
    sub, n = publish.hepdata_submission(cfg)
    names = {t.name for t in sub.tables}
    assert {"Limits na64x toy_vector", "Limits combined toy_vector", "Limits na64x dark_photon"} <= names
    # plots: the toy model's limits of the new analysis, and its beam overlay
    p = plotting.make_all(cfg, tmp_path / "plots")
    made = {f"{m['category']}-{m['name']}" for m in p.made}
    assert {"na64x-toy_vector_limits", "combined-toy_vector_beams", "na64x-dark_photon_limits"} <= made
