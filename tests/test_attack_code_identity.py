"""The workflow runs the code of its own checkout, whatever else is installed (hostile review, code identity).

Two ways a run could silently mix code versions:

* the rules' shell commands called the first ``na64flow`` on PATH (another virtual environment, another
  clone's editable install), not the package the Snakefile imported and validated the configuration with;
* the Snakefile imported whatever ``na64flow`` / ``na64flow_analyses`` the interpreter found first (e.g. a
  PYTHONPATH entry or another clone's editable install), not this checkout's ``src/`` and ``analyses/``.

Each attack plants the foreign code and runs Snakemake as a user would.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

from na64flow import paths


def _snakemake(repo_root, tmp_path, *args, env_extra=None):
    env = dict(os.environ, CONDOR_CONFIG="/dev/null", **(env_extra or {}))
    cmd = [sys.executable, "-m", "snakemake", *args, "--cores", "1", "--directory", str(repo_root),
           "--config", f"results_root={tmp_path}/results"]
    return subprocess.run(cmd, cwd=repo_root, capture_output=True, text=True, env=env, timeout=600)


def test_rules_do_not_run_a_foreign_na64flow_on_path(repo_root, tmp_path, default_config_dict):
    """A different `na64flow` first on PATH must not be what the rules run."""
    fake_bin = tmp_path / "bin"
    fake_bin.mkdir()
    marker = tmp_path / "foreign-na64flow-ran"
    fake = fake_bin / "na64flow"
    fake.write_text(f"#!/bin/sh\ntouch {marker}\necho 'foreign na64flow' >&2\nexit 3\n")
    fake.chmod(0o755)
    cfg = dict(default_config_dict, results_root=f"{tmp_path}/results")
    target = str(paths.tracklength_path(cfg, "e-", 100.0))
    out = _snakemake(repo_root, tmp_path, target,
                     env_extra={"PATH": f"{fake_bin}{os.pathsep}{os.environ['PATH']}"})
    assert not marker.exists(), "a rule ran the na64flow first on PATH, not the workflow's own package"
    assert out.returncode == 0, out.stdout + out.stderr
    assert os.path.exists(target)


def test_snakefile_refuses_a_foreign_package(repo_root, tmp_path):
    """A copy of the package first on sys.path (PYTHONPATH) is refused, naming both places, before any job."""
    foreign = tmp_path / "foreign"
    shutil.copytree(repo_root / "src" / "na64flow", foreign / "na64flow",
                    ignore=shutil.ignore_patterns("__pycache__"))
    out = _snakemake(repo_root, tmp_path, "-n", env_extra={"PYTHONPATH": str(foreign)})
    text = out.stdout + out.stderr
    assert out.returncode != 0, text
    assert str(foreign / "na64flow") in text and str(repo_root / "src" / "na64flow") in text, text
    assert not (tmp_path / "results").exists()


def test_snakefile_refuses_foreign_analyses(repo_root, tmp_path):
    """The same for the analyses (``na64flow_analyses``): another checkout's selections are refused."""
    foreign = tmp_path / "foreign"
    shutil.copytree(repo_root / "analyses", foreign / "na64flow_analyses",
                    ignore=shutil.ignore_patterns("__pycache__"))
    out = _snakemake(repo_root, tmp_path, "-n", env_extra={"PYTHONPATH": str(foreign)})
    text = out.stdout + out.stderr
    assert out.returncode != 0, text
    assert str(foreign / "na64flow_analyses") in text and str(repo_root / "analyses") in text, text


def test_another_path_of_the_same_interpreter_reruns_nothing(repo_root, tmp_path, default_config_dict):
    """python vs python3 vs python3.11 of one environment: the same code, so nothing is re-run (the
    interpreter's path is not a parameter of the jobs)."""
    import pytest

    here = os.path.realpath(sys.executable)
    bindir = os.path.dirname(sys.executable)
    others = [p for p in (os.path.join(bindir, n) for n in ("python", "python3", f"python3.{sys.version_info.minor}"))
              if os.path.exists(p) and os.path.realpath(p) == here and p != sys.executable]
    if not others:
        pytest.skip(f"no other name of {sys.executable} in {bindir}")
    cfg = dict(default_config_dict, results_root=f"{tmp_path}/results")
    target = str(paths.tracklength_path(cfg, "e-", 100.0))
    first = _snakemake(repo_root, tmp_path, target)
    assert first.returncode == 0, first.stdout + first.stderr
    env = dict(os.environ, CONDOR_CONFIG="/dev/null")
    again = subprocess.run([others[0], "-m", "snakemake", target, "--cores", "1", "--directory", str(repo_root),
                            "--config", f"results_root={tmp_path}/results"], cwd=repo_root, capture_output=True,
                           text=True, env=env, timeout=600)
    assert again.returncode == 0, again.stdout + again.stderr
    assert "Nothing to be done" in again.stdout + again.stderr, again.stdout + again.stderr
