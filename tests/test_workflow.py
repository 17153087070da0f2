"""The Snakemake layer: lint-clean, a complete DAG for every config, cluster profiles dry-run,
and every CLI step documented by --help."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from na64flow.cli import STEPS


def _snakemake(repo_root, *args, tmp_path):
    env = dict(os.environ, CONDOR_CONFIG="/dev/null")
    cmd = [sys.executable, "-m", "snakemake", "--cores", "1", "--directory", str(repo_root),
           "--config", f"results_root={tmp_path}/results", *args]
    return subprocess.run(cmd, cwd=repo_root, capture_output=True, text=True, env=env, timeout=300)


def test_snakemake_lint_is_clean(repo_root, tmp_path):
    out = _snakemake(repo_root, "--lint", tmp_path=tmp_path)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "good condition" in out.stdout + out.stderr


@pytest.mark.parametrize("configfile", ["default.yaml", "published.yaml"])
def test_dry_run_plans_every_contract_output(repo_root, tmp_path, configfile):
    if not (repo_root / "configs" / configfile).exists():
        pytest.fail(f"configs/{configfile} missing")
    out = _snakemake(repo_root, "-n", "--quiet", "rules", "--configfile", f"configs/{configfile}",
                     tmp_path=tmp_path)
    assert out.returncode == 0, out.stdout + out.stderr
    text = out.stdout + out.stderr
    for rule in ("limits", "publish", "plot", "background"):
        assert rule in text, rule
    if configfile == "default.yaml":
        for rule in ("simulate", "process", "cutflow_na64e", "closure", "normalisation"):
            assert rule in text, rule


@pytest.mark.parametrize("profile", ["slurm", "htcondor", "default"])
def test_cluster_profiles_dry_run(repo_root, tmp_path, profile):
    out = _snakemake(repo_root, "-n", "--profile", f"workflow/profiles/{profile}", tmp_path=tmp_path)
    assert out.returncode == 0, out.stdout + out.stderr


def test_unblinding_rules_are_not_in_the_blinded_dag(repo_root, tmp_path):
    """Unblinding itself: tests/test_workflow_blinding.py (refused without a freeze, own rules only)."""
    blinded = _snakemake(repo_root, "-n", "--quiet", "rules", tmp_path=tmp_path)
    assert blinded.returncode == 0, blinded.stderr
    jobs = {line.split()[0] for line in (blinded.stdout + blinded.stderr).splitlines() if line.strip()}
    assert not jobs & {"unblind", "freeze", "publish_observed", "plot_observed"}
    assert not any(j.startswith("plot_observed") for j in jobs), sorted(jobs)


@pytest.mark.parametrize("step", list(STEPS))
def test_every_step_has_help(step):
    out = subprocess.run([sys.executable, "-m", "na64flow", step, "--help"], capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    assert "--config" in out.stdout


def test_unknown_step_fails_cleanly():
    out = subprocess.run([sys.executable, "-m", "na64flow", "nonsense"], capture_output=True, text=True)
    assert out.returncode != 0
    assert "invalid choice" in out.stderr
