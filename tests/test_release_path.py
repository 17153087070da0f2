"""The README's commands are the tests (issue 9): a fresh clone, a new virtual environment, the README's
main command exactly as written (real configs/default.yaml, relative results/), then every contract
output of docs/contracts.md checked for validity, and `snakemake -n` must have nothing left to do.
The published reproduction of the README's "Everyday use" runs in a fresh clone of its own
(tests/test_release_published.py), so that the two reproductions run on the two workers side by side.

A fresh clone is what a new user has: no results/, no caches, no absolute results_root. Uncommitted
changes of tracked files (and new files git does not ignore) are copied over the clone, so a developer
tests what they are about to commit.
"""

from __future__ import annotations

import csv
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest
import yaml

pytestmark = pytest.mark.slow

TIMEOUT_S = 60 * 60


def readme_commands(repo_root: Path) -> list[str]:
    """The bash blocks of the README's "Quick start" section, in order."""
    text = (repo_root / "README.md").read_text()
    section = text.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    return [b.strip() for b in re.findall(r"```bash\n(.*?)```", section, re.S)]


def test_readme_quick_start_has_exactly_two_commands_and_ci_runs_the_second(repo_root):
    cmds = readme_commands(repo_root)
    assert len(cmds) == 2, cmds
    assert all("\n" not in c for c in cmds), "each quick-start command is one line"
    assert "requirements.lock" in cmds[0] and "snakemake" in cmds[0]
    assert "requirements.lock" in cmds[1] and "pytest" in cmds[1]
    ci = (repo_root / ".ci" / "run").read_text()
    assert cmds[1] in ci, ".ci/run must run the README's test command verbatim"


def _fresh_clone(repo_root: Path, dest: Path) -> Path:
    clone = dest / "clone"
    if (repo_root / ".git").exists():
        subprocess.run(["git", "clone", "-q", str(repo_root), str(clone)], check=True)
        changed = subprocess.run(["git", "ls-files", "-m", "-o", "--exclude-standard"], cwd=repo_root,
                                 capture_output=True, text=True, check=True).stdout.split()
        deleted = set(subprocess.run(["git", "ls-files", "-d"], cwd=repo_root, capture_output=True,
                                     text=True, check=True).stdout.split())
        for rel in changed:
            target = clone / rel
            if rel in deleted:
                target.unlink(missing_ok=True)
            elif (repo_root / rel).is_file():
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(repo_root / rel, target)
    else:   # an unpacked source tree: copy what a clone would hold
        shutil.copytree(repo_root, clone, ignore=shutil.ignore_patterns(
            "results", ".venv", ".snakemake", "__pycache__", "*.egg-info", ".pytest_cache"))
        for p in (clone / "results").glob("*"):
            shutil.rmtree(p) if p.is_dir() else p.unlink()
    assert not any((clone / "results").glob("*/")), "a fresh clone has no results"
    return clone


def _venv_env(dest: Path) -> dict:
    """A new virtual environment (it sees the already-installed third-party packages, so no download is
    needed, but it gets its own editable install of the clone and its own `na64flow` command)."""
    venv = dest / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", str(venv)], check=True)
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    env.update(PATH=f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}", VIRTUAL_ENV=str(venv),
               CONDOR_CONFIG="/dev/null")
    return env


def _run(cmd: str, cwd: Path, env: dict) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", "-c", cmd], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=TIMEOUT_S)


@pytest.fixture(scope="module")
def fresh_default(repo_root, tmp_path_factory):
    dest = tmp_path_factory.mktemp("fresh")
    clone = _fresh_clone(repo_root, dest)
    env = _venv_env(dest)
    main_cmd = readme_commands(repo_root)[0]
    out = _run(main_cmd, clone, env)
    assert out.returncode == 0, f"README main command failed:\n{out.stdout[-4000:]}\n{out.stderr[-8000:]}"
    # the package the workflow ran is the clone's own
    where = _run("python3 -c 'import na64flow; print(na64flow.__file__)'", clone, env).stdout
    assert str(clone) in where, where
    return clone, env


def _cfg(clone: Path, name: str) -> dict:
    return yaml.safe_load((clone / "configs" / f"{name}.yaml").read_text())


def _nothing_to_do(clone: Path, env: dict, *args: str) -> None:
    out = _run(" ".join(["python3", "-m", "snakemake", "-n", "--cores", "2", *args]), clone, env)
    assert out.returncode == 0, out.stderr[-3000:]
    assert "Nothing to be done" in out.stdout + out.stderr, (out.stdout + out.stderr)[-3000:]


LIMIT_COLUMNS = ["exp", "exp_m2", "exp_m1", "exp_p1", "exp_p2", "obs"]


def check_contract_outputs(res: Path, cfg: dict, with_events: bool) -> None:
    """Every contract output of docs/contracts.md exists and is valid (blinded: obs empty)."""
    import pyhf
    from hepdata_validator.full_submission_validator import FullSubmissionValidator

    analyses = list(cfg["analyses"])
    for a in analyses:
        for r in map(str, cfg["analyses"][a]["runs"]):
            if with_events:
                for ext in ("csv", "md", "tex"):
                    f = res / "cutflows" / a / f"{r}.{ext}"
                    assert f.stat().st_size > 0, f
                with open(res / "cutflows" / a / f"{r}.csv", newline="") as fh:
                    assert len(list(csv.reader(fh))) > 3
                norm = json.loads((res / "normalisation" / a / f"{r}.json").read_text())
                assert norm["k"] > 0 and norm["k_unc"] >= 0, norm
            bkg = json.loads((res / "background" / a / f"{r}.json").read_text())
            assert bkg["sources"] and bkg["total"]["estimate"] >= 0, bkg
            signal = sorted((res / "signal" / a).glob(f"*_{r}.csv"))
            assert signal, f"no signal tables of {a} {r}"
            for f in signal:
                with open(f, newline="") as fh:
                    rows = list(csv.DictReader(fh))
                assert rows and {"mass_gev", "yield_per_ot", "efficiency"} <= set(rows[0]), f
        if with_events:
            for ext in ("csv", "md"):
                assert (res / "closure" / f"{a}.{ext}").stat().st_size > 0
            for ext in ("csv", "md", "tex"):
                assert (res / "cutflows" / a / f"summary.{ext}").stat().st_size > 0
    for a in analyses + (["combined"] if len(analyses) > 1 else []):
        tables = [p for p in sorted((res / "limits" / a).glob("*.csv")) if not p.stem.endswith("_asymptotic")]
        assert tables, f"no limit tables of {a}"
        for f in tables:
            with open(f, newline="") as fh:
                rows = list(csv.DictReader(fh))
            assert rows and set(LIMIT_COLUMNS) <= set(rows[0]), f
            for row in rows:
                assert float(row["exp"]) > 0, (f, row)
                # events: blinded, no observed limit; published summaries: the public observed counts
                assert (row["obs"] == "") == with_events, (f, row)
                assert float(row["exp_m2"]) <= float(row["exp_m1"]) <= float(row["exp"]) \
                    <= float(row["exp_p1"]) <= float(row["exp_p2"]), (f, row)
        bkgonly = json.loads((res / "likelihoods" / a / "BkgOnly.json").read_text())
        patchset = pyhf.PatchSet(json.loads((res / "likelihoods" / a / "patchset.json").read_text()))
        patchset.verify(bkgonly)
        ws = pyhf.Workspace(bkgonly)
        patched = patchset.apply(bkgonly, patchset.patches[0].name)
        assert pyhf.Workspace(patched).model().config.poi_name is not None
        assert ws.model(poi_name=None).config.nmaindata > 0
    validator = FullSubmissionValidator()
    assert validator.validate(directory=str(res / "hepdata")), validator.get_messages()
    with tarfile.open(res / "hepdata.tar.gz") as tar:
        assert "submission.yaml" in {Path(n).name for n in tar.getnames()}
    with tarfile.open(res / "likelihoods.tar.gz") as tar:
        assert any(n.endswith("patchset.json") for n in tar.getnames())
    pngs = sorted((res / "plots" / "figures").glob("*.png"))
    assert pngs and all(p.stat().st_size > 5000 for p in pngs), pngs


def test_readme_main_command_in_a_fresh_clone_writes_every_contract_output(fresh_default):
    clone, env = fresh_default
    cfg = _cfg(clone, "default")
    res = clone / "results" / cfg["tag"]
    check_contract_outputs(res, cfg, with_events=True)
    assert not list((clone / "results").glob("*/unblinded/*")), "a blinded run wrote unblinded outputs"


def test_after_the_main_command_snakemake_has_nothing_to_do(fresh_default):
    clone, env = fresh_default
    _nothing_to_do(clone, env)


def test_changed_package_code_reruns_the_steps_that_ran_it(fresh_default):
    """A user who updates the code (git pull) and runs `snakemake` again must not keep outputs the old code
    made: before, Snakemake saw only the rules' command lines and said "Nothing to be done" after a change of
    src/na64flow/signal.py. With the code digest in every rule's params the dry run plans the steps again;
    with the file restored nothing is to be done."""
    clone, env = fresh_default
    src = clone / "src" / "na64flow" / "signal.py"
    original = src.read_bytes()
    try:
        src.write_bytes(original + b"\n# a changed line\n")
        out = _run("python3 -m snakemake -n --cores 2", clone, env)
        text = out.stdout + out.stderr
        assert out.returncode == 0, text[-3000:]
        assert "Nothing to be done" not in text and "params have changed" in text, text[-3000:]
        planned = re.search(r"^signal_\S+\s+\d+$", out.stdout, re.M)
        assert planned, out.stdout[-3000:]
    finally:
        src.write_bytes(original)
    _nothing_to_do(clone, env)


def test_report_of_the_fresh_run_says_complete_and_renders(fresh_default):
    """`snakemake --report` (README "Everyday use") on the finished run: the landing page states that every
    step completed, and the page renders in headless Chromium (scripts/check_report.py)."""
    clone, env = fresh_default
    out = _run("python3 -m snakemake --report results/default/report.html", clone, env)
    assert out.returncode == 0, out.stderr[-3000:]
    landing = (clone / ".snakemake" / "na64flow" / "report-landing.rst").read_text()
    assert "Complete run" in landing and "INCOMPLETE" not in landing, landing[:3000]
    check = _run("python3 scripts/check_report.py results/default/report.html --config configs/default.yaml "
                 "--expect 'Complete run'", clone, env)
    assert check.returncode == 0, check.stdout[-3000:] + check.stderr[-3000:]


def _declared_outputs(clone: Path, env: dict, *args: str) -> set[Path]:
    out = _run(" ".join(["python3", "-m", "snakemake", "--summary", "--cores", "1", *args]), clone, env)
    assert out.returncode == 0, out.stderr[-3000:]
    files = set()
    for line in out.stdout.splitlines()[1:]:
        path = line.split("\t")[0].strip()
        if path:
            files.add((clone / path).resolve())
    return files


def test_every_file_the_run_wrote_is_a_declared_output(fresh_default):
    """A file no rule declares survives a failed step and looks complete: every file under results/<tag>/ is
    a declared output (or inside a declared folder), a log, or a simulated ntuple listed in its manifest."""
    clone, env = fresh_default
    res = (clone / "results" / _cfg(clone, "default")["tag"]).resolve()
    declared = _declared_outputs(clone, env)
    listed = set()
    for manifest in res.glob("ntuples/*/*/manifest.json"):
        for info in json.loads(manifest.read_text())["samples"].values():
            listed |= {(manifest.parent / f).resolve() for f in info["files"]}
    stray = []
    for f in res.rglob("*"):
        if f.is_dir() or f in declared or f in listed or any(d in f.parents for d in declared):
            continue
        if f.parent.name == "hepdata" and f.parent / "submission.yaml" in declared:
            continue   # the HEPData folder is renamed into place whole, its submission.yaml declared
        rel = f.relative_to(res)
        if rel.parts[0] == "logs" or rel.as_posix() in ("config.yaml", "report.html"):
            continue
        stray.append(rel.as_posix())
    assert not stray, f"files written but declared by no rule: {stray[:20]}"


def _tree(root: Path) -> dict[str, str]:
    import hashlib

    return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def _rows(path: Path) -> list[dict]:
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def _everyday(clone: Path, words: str) -> str:
    """A command of the README's "Everyday use" block (as `python3 -m snakemake ...`), checked to be there."""
    readme = (clone / "README.md").read_text()
    everyday = readme.split("## Everyday use", 1)[1].split("\n## ", 1)[0]
    line = next((ln.split("#")[0].strip() for ln in everyday.splitlines()
                 if ln.startswith("snakemake") and ln.split("#")[0].strip().endswith(words)), None)
    assert line, f"the README's Everyday use has no `snakemake ... {words}` command: update this test"
    return "python3 -m " + line


def test_blinding_protocol_of_the_readme_in_the_fresh_clone(fresh_default):
    """The README's blinding protocol as a user runs it, on the default run of the fresh clone (so this test
    runs last in the module): the blinded run holds no box count; `freeze`; a cut edited in
    configs/default.yaml makes `--config unblind=true` refuse, naming the section, and change no file; with
    the file restored it unblinds, writing only under unblinded/; a forced rerun of every `limits` job leaves
    the observed limits alone and the blinded ones blinded."""
    clone, env = fresh_default
    cfg = _cfg(clone, "default")
    res = clone / "results" / cfg["tag"]
    analyses = list(cfg["analyses"])
    # blinded: no data box count in any table, no unblinding output or log
    for a in analyses:
        for r in map(str, cfg["analyses"][a]["runs"]):
            data = [row for row in _rows(res / "cutflows" / a / f"{r}.csv") if row["sample"] == "data"]
            assert data[-1]["step"] == "box" and data[-1]["raw"] == "blinded", (a, r, data[-1])
        assert all(row["box"] == "blinded" for row in _rows(res / "cutflows" / a / "summary.csv")
                   if row["sample"] == "data")
    assert not (res / "unblinded").exists()
    assert not any("unblind" in p.name for p in (res / "logs").rglob("*"))

    out = _run(_everyday(clone, "freeze"), clone, env)
    assert out.returncode == 0, out.stderr[-3000:]
    frozen = json.loads((res / "freeze.json").read_text())
    assert any(n.startswith("na64h/2022 data/") for n in frozen["state"]["ntuples"]), frozen["state"]["ntuples"]

    unblind = _everyday(clone, "--config unblind=true")
    config_file = clone / "configs" / "default.yaml"
    original = config_file.read_text()
    assert "veto_max_mip: 0.5 " in original
    config_file.write_text(original.replace("veto_max_mip: 0.5 ", "veto_max_mip: 0.6 ", 1))
    before = _tree(clone / "results")
    refused = _run(unblind, clone, env)
    assert refused.returncode != 0
    assert "configuration section analyses: changed" in refused.stdout + refused.stderr, refused.stderr[-3000:]
    assert _tree(clone / "results") == before            # a refused unblinding writes nothing
    config_file.write_text(original)

    out = _run(unblind, clone, env)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    after = _tree(clone / "results")
    assert {k for k in before if after.get(k) != before[k]} == set()   # no blinded product touched
    new = {k for k in after if k not in before}
    prefix = f"{cfg['tag']}/"
    assert new and all(k.startswith((prefix + "unblinded/", prefix + "audit/", prefix + "logs/")) for k in new), \
        sorted(new)[:20]
    u = res / "unblinded"
    audit = json.loads((u / "audit.json").read_text())
    assert frozen["hash"] in json.dumps(audit)
    rows = _rows(u / "limits" / "combined" / "dark_photon.csv")
    assert rows and all(row["obs"] != "" and float(row["obs"]) > 0 for row in rows)
    for a in analyses:
        for r in map(str, cfg["analyses"][a]["runs"]):
            data = [row for row in _rows(u / "cutflows" / a / f"{r}.csv") if row["sample"] == "data"]
            assert data[-1]["step"] == "box" and int(data[-1]["raw"]) == audit["counts"][a][r]
    assert (u / "hepdata" / "submission.yaml").is_file() and any((u / "plots" / "figures").glob("*.png"))

    # observed limits survive a forced rerun of every `limits` job (which stays blinded)
    from na64flow import registry

    observed = _tree(u / "limits")
    jobs = {(a, registry.parse_model(m)[0].name) for a, m in registry.limit_targets(cfg)}
    out = _run("python3 -m snakemake --cores all --forcerun " + " ".join(f"limits_{a}_{m}" for a, m in sorted(jobs)),
               clone, env)
    assert out.returncode == 0, out.stderr[-3000:]
    assert _tree(u / "limits") == observed
    assert all(row["obs"] == "" for row in _rows(res / "limits" / "combined" / "dark_photon.csv"))
