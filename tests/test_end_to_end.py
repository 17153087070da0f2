"""The whole workflow as a user runs it: `snakemake` on a reduced default configuration (all four
analyses), then `freeze`, a refused unblinding after a cut changed, and an accepted unblinding.

Checks the contract outputs of design.md exist and are blinded before unblinding: limit tables with an
empty `obs`, no data box count in any cut-flow table, no unblinding record; after unblinding the `obs`
columns are filled and an audit record names the frozen hash.
"""

from __future__ import annotations

import copy
import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

pytestmark = pytest.mark.slow

ANALYSES = ("na64e", "na64e_plus", "na64mu", "na64h")


def reduced_config(repo_root: Path, results_root: Path) -> dict:
    """The default configuration with smaller samples (same physics, same cuts, same exposures)."""
    cfg = yaml.safe_load((repo_root / "configs" / "default.yaml").read_text())
    cfg = copy.deepcopy(cfg)
    cfg["tag"] = "e2e"
    cfg["results_root"] = str(results_root)
    sim = cfg["simulation"]
    sim.update(n_pilot=5000, n_mc=3000, n_signal=300)
    sim["signal_masses_gev"] = {k: v[::2] for k, v in sim["signal_masses_gev"].items()}
    cfg["signal"]["mass_grid"].update(n_log=16, n_per_resonance_window=4)
    cfg["signal"]["cascade"].update(n_full=40, n_high=4000)
    cfg["stats"].update(n_toys=2000, asymptotic=False)
    cfg["background"]["closure"]["n_toys"] = 10
    return cfg


def snakemake(repo_root: Path, configfile: Path, *args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, CONDOR_CONFIG="/dev/null")
    # targets and --config before --configfile, which takes several values
    cmd = [sys.executable, "-m", "snakemake", "--cores", "2", *args, "--configfile", str(configfile)]
    return subprocess.run(cmd, cwd=repo_root, capture_output=True, text=True, env=env, timeout=1200)


@pytest.fixture(scope="module")
def blinded_run(repo_root, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("e2e")
    cfg = reduced_config(repo_root, tmp / "results")
    configfile = tmp / "e2e.yaml"
    configfile.write_text(yaml.safe_dump(cfg))
    out = snakemake(repo_root, configfile)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-6000:]
    return cfg, configfile, tmp / "results" / "e2e"


def _rows(path: Path) -> list[dict]:
    return list(csv.DictReader(path.open()))


def test_blinded_run_writes_every_contract_output(blinded_run):
    cfg, _, res = blinded_run
    for a in ANALYSES:
        for r in cfg["analyses"][a]["runs"]:
            for ext in ("csv", "md", "tex"):
                assert (res / "cutflows" / a / f"{r}.{ext}").is_file()
            assert json.loads((res / "background" / a / f"{r}.json").read_text())["total"]["estimate"] >= 0
            assert "k" in json.loads((res / "normalisation" / a / f"{r}.json").read_text())
        assert (res / "likelihoods" / a / "BkgOnly.json").is_file()
        assert (res / "likelihoods" / a / "patchset.json").is_file()
    assert (res / "hepdata" / "submission.yaml").is_file()
    assert any((res / "plots" / "figures").glob("*.png"))
    header = ["mass_gev", "exp", "exp_m2", "exp_m1", "exp_p1", "exp_p2", "obs"]
    for a, m in (("na64e", "dark_photon"), ("combined", "dark_photon"), ("na64mu", "lmu_ltau")):
        rows = _rows(res / "limits" / a / f"{m}.csv")
        assert list(rows[0]) == header and len(rows) >= 16
        for row in rows:
            assert row["obs"] == ""                                      # blinded
            bands = [float(row[k]) for k in ("exp_m2", "exp_m1", "exp", "exp_p1", "exp_p2")]
            assert bands == sorted(bands) and bands[0] > 0
    assert list(_rows(res / "limits" / "combined" / "dark_photon_y_0.1.csv")[0])[0] == "m_chi_gev"
    assert list(_rows(res / "limits" / "na64h" / "eta_invisible.csv")[0])[0] == "meson"


def test_blinded_run_writes_no_box_count(blinded_run):
    cfg, _, res = blinded_run
    for a in ANALYSES:
        for r in cfg["analyses"][a]["runs"]:
            data = [row for row in _rows(res / "cutflows" / a / f"{r}.csv") if row["sample"] == "data"]
            assert data[-1]["step"] == "box" and data[-1]["raw"] == "blinded"
    assert not (res / "unblinded").exists()
    assert not any("unblind" in p.name for p in (res / "logs").rglob("*"))
    for a in ANALYSES:
        summary = _rows(res / "cutflows" / a / "summary.csv")
        assert "withheld" not in summary[0] and all(r["box"] == "blinded" for r in summary if r["sample"] == "data")


def _tree(root: Path) -> dict[str, str]:
    import hashlib

    return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def test_unblinding_refuses_after_a_cut_changed_then_runs_with_the_frozen_analysis(blinded_run, repo_root):
    cfg, configfile, res = blinded_run
    out = snakemake(repo_root, configfile, "freeze")
    assert out.returncode == 0, out.stderr[-3000:]
    frozen = json.loads((res / "freeze.json").read_text())
    assert "na64h/2022 data/chunk_0000.root" in " ".join(frozen["state"]["ntuples"])

    changed = copy.deepcopy(cfg)
    changed["analyses"]["na64e"]["cuts"]["veto_max_mip"] = 0.6
    changed_file = configfile.with_name("changed.yaml")
    changed_file.write_text(yaml.safe_dump(changed))
    before = _tree(res.parent)
    refused = subprocess.run([sys.executable, "-m", "na64flow", "unblind", "-c", str(changed_file),
                              "--set", "unblind=true"], capture_output=True, text=True, cwd=repo_root)
    assert refused.returncode != 0
    assert "configuration section analyses: changed since the freeze" in refused.stderr
    refused = snakemake(repo_root, changed_file, "--config", "unblind=true")
    assert refused.returncode != 0 and "configuration section analyses: changed" in refused.stdout + refused.stderr
    assert _tree(res.parent) == before                      # a refused unblinding changes nothing
    assert not (res / "unblinded").exists()

    out = snakemake(repo_root, configfile, "--config", "unblind=true")
    assert out.returncode == 0, out.stderr[-3000:]
    after = _tree(res.parent)
    rewritten = {k for k in before if after.get(k) != before[k]}
    assert rewritten == set(), rewritten                    # no blinded product touched
    u = res / "unblinded"
    audit = json.loads((u / "audit.json").read_text())
    assert frozen["hash"] in json.dumps(audit)
    rows = _rows(u / "limits" / "combined" / "dark_photon.csv")
    assert all(row["obs"] != "" and float(row["obs"]) > 0 for row in rows)
    assert all(row["obs"] == "" for row in _rows(res / "limits" / "combined" / "dark_photon.csv"))
    for a in ANALYSES:
        for r in cfg["analyses"][a]["runs"]:
            data = [row for row in _rows(u / "cutflows" / a / f"{r}.csv") if row["sample"] == "data"]
            assert data[-1]["step"] == "box" and int(data[-1]["raw"]) == audit["counts"][a][r]
    assert (u / "hepdata" / "submission.yaml").is_file() and any((u / "plots" / "figures").glob("*.png"))

    # observed limits survive a rerun of `limits` (which stays blinded)
    observed = _tree(u / "limits")
    # one `limits` rule per (analysis, base model) of the registry: force every one of them
    from na64flow import registry

    jobs = {(a, registry.parse_model(m)[0].name) for a, m in registry.limit_targets(cfg)}
    out = snakemake(repo_root, configfile, "--forcerun", *(f"limits_{a}_{m}" for a, m in sorted(jobs)))
    assert out.returncode == 0, out.stderr[-3000:]
    assert _tree(u / "limits") == observed
    assert all(row["obs"] == "" for row in _rows(res / "limits" / "combined" / "dark_photon.csv"))
