"""The blinding protocol through real `python -m snakemake` calls on a small configuration.

The small analysis is configs/published.yaml reduced to na64mu and na64h (no events to simulate, a short
signal mass grid, few toys): the blinded chain, `freeze`, then unblinding requests. Checks: an
unblinding request without a freeze, with `unblind=yes`, or after a change refuses before any rule is
scheduled and changes no file under results/ (hash of the whole tree); dry runs and --report write
nothing; an accepted unblinding runs only its own rules and writes only under results/<tag>/unblinded/
(and the audit history); observed limits survive a rerun of `limits`.
"""

from __future__ import annotations

import copy
import hashlib
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from na64flow import registry

pytestmark = pytest.mark.slow


def small_config(repo_root: Path, results_root: Path) -> dict:
    cfg = yaml.safe_load((repo_root / "configs" / "published.yaml").read_text())
    cfg["analyses"] = {k: v for k, v in cfg["analyses"].items() if k in ("na64mu", "na64h")}
    cfg["results_root"] = str(results_root)
    cfg["tag"] = "small"
    cfg.setdefault("stats", {}).update(n_toys=500, asymptotic=False)
    cfg.setdefault("signal", {}).setdefault("mass_grid", {}).update(n_log=8, n_per_resonance_window=2)
    cfg["publish"].pop("reference_limits", None)
    return cfg


def snakemake(repo_root: Path, configfile: Path, *args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, CONDOR_CONFIG="/dev/null")
    cmd = [sys.executable, "-m", "snakemake", "--cores", "2", *args, "--configfile", str(configfile)]
    return subprocess.run(cmd, cwd=repo_root, capture_output=True, text=True, env=env, timeout=900)


def tree(root: Path) -> dict[str, str]:
    """sha256 of every file under ``root`` (the whole results tree)."""
    return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def _write(path: Path, cfg: dict) -> Path:
    path.write_text(yaml.safe_dump(cfg))
    return path


@pytest.fixture(scope="module")
def frozen(repo_root, tmp_path_factory):
    """The small analysis run blinded and frozen: (config dict, config file, results root)."""
    tmp = tmp_path_factory.mktemp("smk_blind")
    cfg = small_config(repo_root, tmp / "results")
    configfile = _write(tmp / "small.yaml", cfg)
    out = snakemake(repo_root, configfile)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-6000:]
    out = snakemake(repo_root, configfile, "freeze")
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    return cfg, configfile, tmp / "results"


def test_unblind_true_without_a_freeze_refuses_and_schedules_nothing(repo_root, tmp_path):
    configfile = _write(tmp_path / "small.yaml", small_config(repo_root, tmp_path / "results"))
    for extra in (("-n",), ()):
        out = snakemake(repo_root, configfile, *extra, "--config", "unblind=true")
        text = out.stdout + out.stderr
        assert out.returncode != 0 and "no freeze record" in text and "unblinding refused" in text, text[-3000:]
        assert "freeze" not in [ln.split()[0] for ln in out.stdout.splitlines() if ln.strip()]
    assert not (tmp_path / "results").exists()


@pytest.mark.parametrize("typed", ["yes", "True"])
def test_unblind_request_other_than_the_literal_true_is_refused(repo_root, tmp_path, typed):
    configfile = _write(tmp_path / "small.yaml", small_config(repo_root, tmp_path / "results"))
    out = snakemake(repo_root, configfile, "-n", "--config", f"unblind={typed}")
    text = out.stdout + out.stderr
    assert out.returncode != 0 and "refused" in text and "literal `--config unblind=true`" in text, text
    assert not (tmp_path / "results").exists()


def test_dry_run_and_report_write_nothing_under_results(repo_root, tmp_path):
    configfile = _write(tmp_path / "small.yaml", small_config(repo_root, tmp_path / "results"))
    assert snakemake(repo_root, configfile, "-n").returncode == 0
    snakemake(repo_root, configfile, "--report", str(tmp_path / "report.html"))
    assert not (tmp_path / "results").exists()


def test_refused_unblinding_after_a_change_leaves_the_results_tree_unchanged(frozen, repo_root, tmp_path):
    cfg, _, results = frozen
    changed = copy.deepcopy(cfg)
    changed["analyses"]["na64h"]["runs"]["2022"]["n_ot"] *= 1.01
    changed_file = _write(tmp_path / "changed.yaml", changed)
    before = tree(results)
    for extra in (("-n",), ()):
        out = snakemake(repo_root, changed_file, *extra, "--config", "unblind=true")
        text = out.stdout + out.stderr
        assert out.returncode != 0, text[-3000:]
        assert "configuration section analyses: changed since the freeze" in text, text[-3000:]
        assert tree(results) == before
    # the dry run of an accepted request plans only the unblinding rules
    out = snakemake(repo_root, frozen[1], "-n", "--quiet", "rules", "--config", "unblind=true")
    jobs = {ln.split()[0] for ln in out.stdout.splitlines() if ln.strip() and not ln.startswith(("Job", "-", "total"))}
    assert out.returncode == 0, out.stderr[-3000:]
    assert {"unblind", "publish_observed", "plot_observed"} <= jobs
    assert not jobs & {"freeze", "limits", "signal_na64mu_2022", "background", "normalisation", "publish", "plot"}
    # the observed plots come one job per category, and no blinded plot job runs
    from na64flow import plotting

    assert {j for j in jobs if re.fullmatch(r"plot_\w+", j)} == \
        {"plot_observed"} | {f"plot_observed_{c}" for c in plotting.categories(frozen[0])}, sorted(jobs)
    assert tree(results) == before


def _unblinded(frozen, repo_root) -> tuple[dict, dict]:
    """Run the accepted unblinding once; return (tree before, tree after)."""
    _, configfile, results = frozen
    audit = results / "small" / "unblinded" / "audit.json"
    before = tree(results)
    if not audit.exists():
        out = snakemake(repo_root, configfile, "--config", "unblind=true")
        assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-6000:]
    return before, tree(results)


def test_accepted_unblinding_writes_only_its_own_outputs(frozen, repo_root):
    before, after = _unblinded(frozen, repo_root)
    changed = {k for k in set(before) | set(after) if before.get(k) != after.get(k)}
    outside = {k for k in changed if not k.startswith(("small/unblinded/", "small/audit/"))}
    assert outside == set(), outside          # no blinded product rewritten, config.yaml included
    u = frozen[2] / "small" / "unblinded"
    for name in ("audit.json", "limits/na64mu/lmu_ltau.csv", "limits/na64h/eta_invisible.csv",
                 "counts/na64mu/2022.json", "background/na64h/2022.md", "hepdata/submission.yaml"):
        assert (u / name).is_file(), name
    assert any((u / "plots" / "figures").glob("*.png"))
    rows = (u / "limits" / "na64mu" / "lmu_ltau.csv").read_text().splitlines()
    assert rows[0].endswith(",obs") and all(not r.endswith(",") for r in rows[1:])
    # the per-run tables and the pyhf likelihoods have observed counterparts too, verified by pyhf
    run_rows = (u / "limits" / "na64mu" / "lmu_ltau_2022.csv").read_text().splitlines()
    assert run_rows[0] == rows[0] and all(not r.endswith(",") for r in run_rows[1:])
    import json

    import pyhf
    for a in ("na64mu", "na64h"):
        bkg = json.loads((u / "likelihoods" / a / "BkgOnly.json").read_text())
        ps = pyhf.PatchSet(json.loads((u / "likelihoods" / a / "patchset.json").read_text()))
        ps.verify(bkg)
        ps.apply(pyhf.Workspace(bkg), ps.patches[0].name).model()
        observed = json.loads((u / "counts" / a / "2022.json").read_text())["observed"]
        assert [o["data"] for o in bkg["observations"]] == [[float(observed)]]
    assert (u / "likelihoods.tar.gz").is_file()
    assert "likelihoods.tar.gz" in (u / "hepdata" / "submission.yaml").read_text()


def test_observed_limits_survive_a_rerun_of_limits(frozen, repo_root):
    _unblinded(frozen, repo_root)
    _, configfile, results = frozen
    u = results / "small" / "unblinded"
    observed = tree(u / "limits")
    # one `limits` rule per (analysis, base model) of the registry: force every one of them
    cfg = yaml.safe_load(configfile.read_text())
    jobs = {(a, registry.parse_model(m)[0].name) for a, m in registry.limit_targets(cfg)}
    out = snakemake(repo_root, configfile, "--forcerun", *(f"limits_{a}_{m}" for a, m in sorted(jobs)))
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    assert "rule limits" in out.stdout + out.stderr or "limits" in out.stdout
    assert tree(u / "limits") == observed
