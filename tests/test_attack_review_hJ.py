"""Hostile review (hJ): today's changes (1570d7e..dfed688) -- the code digest of every rule, the ntuple state
param of `process`, the duplicate-event check, the first-bin filling of box variables, the narrow Z'
annihilation, the new configuration checks and the public-output texts.

Every test fails on the current code for a defect and passes once it is fixed; none restates current
behaviour. What held is listed in the review report, not tested here.

Fixtures: a tiny simulation of na64e 2016-2022 (``tests/test_simulation.small_cfg``, ~4 s), and one
Snakemake ``process`` job on synthetic real-format ntuples (``tests/test_attack_review_hI_ntuples``'s
helpers) run in a temporary copy of the workflow and the package (PYTHONPATH), so that a source file can be
edited without touching this checkout (~15 s in all).
"""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from na64flow import NA64Error
from na64flow.config import load_config

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))


# ------------------------------------------------------------------------------------------------------------
# check_unique_events on the workflow's own simulation


def test_signal_injection_larger_than_a_chunk_is_not_refused_as_duplicate_events(tmp_path):
    """LOW. ``inputs.check_unique_events`` (today) refuses data holding one (run_number, event_number) twice.
    The simulation numbers the events of data chunk k from ``k * 2 * chunk_events``
    (``generator._merge_parts``), and ``simulation.inject`` puts all injected events into chunk 0, so a
    signal-injection test planting more than ~chunk_events events makes chunk 0 overlap chunk 1 and
    `process` refuses the workflow's own simulation as "a copy, or a re-processed file next to its original".

    Seen: ``small_cfg`` (na64e 2016-2022, n_ot 1e7, chunk_events 5000) with ``inject: [{na64e, 2016-2022,
    brem, 0.01, n_events: 12000}]`` -> ``simulate`` writes 6 data chunks (27542 events, 11161 injected in
    chunk_0000) -> ``check_unique_events``: "chunk_0000.root and chunk_0001.root: 2732 event(s) of data
    sample 'data' are in both files (run_number 2016, event_number 10000 first) ...".

    Fixed: event numbers of the simulation unique within a run whatever the chunk sizes (e.g. numbered from
    the cumulative count, or the injected events spread over the chunks: `chunk_events` also promises "at
    most chunk_events events per ROOT file"), so the check passes on the simulation.
    """
    from test_simulation import small_cfg

    from na64flow.processing import fileset_of
    from na64flow.processing.inputs import check_unique_events
    from na64flow.simulation import cli as sim_cli

    inject = [{"analysis": "na64e", "run": "2016-2022", "mode": "brem", "mass_gev": 0.01, "n_events": 12000}]
    cfg = small_cfg(tmp_path, inject=inject)
    sim_cli._MODELS.clear()
    sim_cli._COUNTS.clear()
    sim_cli.simulate(cfg, "na64e", "2016-2022", workers=1, progress=False)
    files, _ = fileset_of(cfg, "na64e", "2016-2022")
    assert len(files["data"]) >= 2
    try:
        check_unique_events(files["data"], cfg["input"].get("tree", "events"), {})
    except NA64Error as exc:
        pytest.fail(f"the workflow's own simulation is refused as duplicated data: {exc}")


# ------------------------------------------------------------------------------------------------------------
# Snakemake re-runs: one `process` job on real-format ntuples in a copy of the workflow


@pytest.fixture(scope="module")
def copied_workflow(tmp_path_factory):
    """(copy of the checkout, env, config, target) after one complete `process` job on real ntuples."""
    from test_attack_review_hI_ntuples import ANALYSIS, RUN, _columns, _config, _write_ttree

    tmp = tmp_path_factory.mktemp("hJ_wf")
    repo = tmp / "repo"
    repo.mkdir()
    for name in ("Snakefile", "pyproject.toml", "environment.yml", "requirements.lock"):
        shutil.copy2(REPO / name, repo / name)
    ignore = shutil.ignore_patterns("__pycache__", "*.egg-info")
    for name in ("workflow", "src", "analyses", "configs"):
        shutil.copytree(REPO / name, repo / name, ignore=ignore)
    pp = tmp / "pp"
    pp.mkdir()
    (pp / "na64flow_analyses").symlink_to(repo / "analyses")
    env = dict(os.environ, CONDOR_CONFIG="/dev/null", PYTHONPATH=f"{repo / 'src'}{os.pathsep}{pp}")

    data = tmp / "ntuples"
    data.mkdir()
    d0 = _write_ttree(data / "data_run_0.root", _columns(1500, 1, truth=False))
    c1 = _columns(1500, 2, truth=False)
    c1["event_number"] += 1500
    d1 = _write_ttree(data / "data_run_1.root", c1)
    cfg = _config(data, [d0, d1], only_run=True)
    target = data / "results" / "default" / "histograms" / ANALYSIS / f"{RUN}.pkl"
    r = subprocess.run([sys.executable, "-m", "snakemake", str(target), "--cores", "1", "--configfile", str(cfg)],
                       capture_output=True, text=True, env=env, cwd=repo, timeout=300)
    assert r.returncode == 0 and target.exists(), r.stdout[-3000:] + r.stderr[-3000:]
    return repo, env, cfg, target, [d0, d1]


def _snakemake(copied, *extra: str) -> str:
    repo, env, cfg, target, _ = copied
    r = subprocess.run([sys.executable, "-m", "snakemake", str(target), "--cores", "1", *extra, "--configfile", str(cfg)],
                       capture_output=True, text=True, env=env, cwd=repo, timeout=300)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    return r.stdout + r.stderr


def _dry_run(copied) -> str:
    return _snakemake(copied, "-n")


def _up_to_date(copied) -> None:
    """Bring the copy up to date (an earlier test may have touched a file) and check that nothing is left."""
    _snakemake(copied)
    out = _dry_run(copied)
    assert "Nothing to be done" in out, out[-1500:]


def test_write_protecting_the_ntuples_does_not_rerun_process(copied_workflow):
    """LOW. ``common.smk: ntuple_state`` (today) makes size, mtime *and ctime* of every real ntuple a param of
    `process`. The status-change time also moves on ``chmod``, ``chown``, a new hard link or an ``mv``: an
    analyst who write-protects the raw data after the first pass (``chmod a-w``) re-processes every run
    (hours for real NA64 data) although no byte changed; the README promises a re-run for "a changed
    ntuple" / "a replaced file".

    Seen: after a complete ``snakemake <histograms>`` on two real-format files, ``chmod a-w data_run_0.root``
    -> ``snakemake -n`` plans ``rule process`` ("params have changed"), not "Nothing to be done".

    Fixed: a metadata-only change re-runs nothing, while a ``cp -p`` replacement still does
    (test_attack_review_hI_ntuples): e.g. the param a content fingerprint of each file, recomputed only when
    its (size, mtime, ctime, inode) changed.
    """
    _up_to_date(copied_workflow)
    f = copied_workflow[4][0]
    mode = os.stat(f).st_mode
    os.chmod(f, mode & ~(stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH))
    try:
        out = _dry_run(copied_workflow)
    finally:
        os.chmod(f, mode)
    assert "Nothing to be done" in out and "rule process" not in out, out[-1500:]


def test_an_edit_of_a_plotting_module_does_not_rerun_process(copied_workflow):
    """LOW. ``blinding.code_digest()`` (today) is one digest of every .py of the package, and it is the ``code``
    param of every rule: an edit of a module that computes nothing upstream (plotting/style.py: a caption or
    a colour; the freeze itself lists plotting/ and publish/ in ``NOT_PINNED_SOURCES`` as reaching no limit)
    re-runs `simulate`, `process`, the backgrounds, the signal tables and the toy limits (30 job-s in the
    default, hours with real ntuples or the full configuration).

    Seen: in a copy of the checkout after a complete ``snakemake <histograms>`` on real ntuples, one comment
    line appended to src/na64flow/plotting/style.py -> ``snakemake -n`` plans ``rule process``.

    Fixed: the compute rules carry the digest of the sources they run (e.g. the pinned set,
    ``blinding.source_files``, and the libraries), the plot/publish rules the full one; a plotting edit then
    re-runs only plot/publish.
    """
    _up_to_date(copied_workflow)
    repo = copied_workflow[0]
    src = repo / "src" / "na64flow" / "plotting" / "style.py"
    original = src.read_bytes()
    try:
        src.write_bytes(original + b"\n# a caption tweak\n")
        out = _dry_run(copied_workflow)
    finally:
        src.write_bytes(original)
    assert "rule process" not in out, out[-1500:]


# ------------------------------------------------------------------------------------------------------------
# libraries in the code digest


@pytest.mark.parametrize("library", ["matplotlib", "hepdata_lib", "boost-histogram"])
def test_an_upgrade_of_a_library_the_outputs_depend_on_changes_the_code_digest(monkeypatch, library):
    """LOW. README: "every rule ... carries a digest of the package's sources, analyses/ and the pinned library
    versions (blinding.code_digest), so after a git pull or an edit snakemake plans the steps again". The
    libraries are ``PINNED_LIBRARIES`` (chosen for the freeze: those that reach a limit), so an upgrade of
    matplotlib/mplhep (every plot), hepdata_lib (the HEPData submission), or boost-histogram (the filling
    engine of hist, not pinned exactly by hist) re-runs nothing and keeps the old library's outputs.

    Seen: ``blinding.code_digest()`` is unchanged when ``importlib.metadata.version('<library>')`` returns
    another version (monkeypatched) for matplotlib, hepdata_lib and boost-histogram.

    Fixed: the digest (at least of the rules that use them) includes the versions of the libraries the
    outputs depend on.
    """
    from na64flow import blinding

    before = blinding.code_digest()
    real = blinding.importlib.metadata.version

    def bumped(name):
        return "999.0" if name.replace("_", "-").lower() == library.replace("_", "-").lower() else real(name)

    monkeypatch.setattr(blinding.importlib.metadata, "version", bumped)
    assert blinding.code_digest() != before, f"an upgrade of {library} re-runs nothing"


# ------------------------------------------------------------------------------------------------------------
# public texts


def test_ldm_sentence_is_not_stated_when_the_yield_does_not_depend_on_alpha_d():
    """LOW. Today's public texts (``publish.inputs.ldm_assumption`` / ``ldm_text``, in every e-/e+ dark-photon
    HEPData limit table and patchset) say "the A' width, hence this yield and the limit, depend on them
    [alpha_D, m_A'/m_chi, chi kind]". With ``signal.annihilation_width: narrow`` (a documented option,
    today routed to ``yields.narrow_annihilation_yield``) the yield has no width and does not depend on
    alpha_D or the chi kind at all: the sentence is false for the epsilon tables.

    Seen: default config with ``signal.annihilation_width: narrow``: ``signal.model_yields(..., 'dark_photon')``
    at alpha_D 0.1 and (``dark_photon_y_0.5``) 0.5 are identical, yet ``ldm_assumption(cfg, 'na64e',
    'dark_photon')`` = {'alpha_d': 0.1, 'm_aprime_over_m_chi': 3.0, 'chi_kind': 'dirac'} and the table states
    the dependence.

    Fixed: with the narrow option ``ldm_assumption`` returns None for the epsilon models (or the sentence
    says the narrow-width yield is independent of them).
    """
    from na64flow import signal
    from na64flow.config import load_config
    from na64flow.publish.inputs import ldm_assumption

    cfg = load_config(REPO / "configs" / "default.yaml", {"signal.annihilation_width": "narrow"})
    small = load_config(REPO / "configs" / "default.yaml",   # a tiny cascade is enough for this comparison
                        {"signal.cascade": {"n_full": 0, "n_high": 2000, "e_split_gev": 1.0, "seed": 1}})
    table = signal.compute_table(small, "e-", 100.0)
    m = np.array([0.23, 0.25, 0.28])
    a = signal.model_yields(cfg, "na64e", "2016-2022", "dark_photon", m, table=table)
    b = signal.model_yields(cfg, "na64e", "2016-2022", "dark_photon_y_0.5", m, table=table)
    assert np.allclose(a["annihilation"], b["annihilation"], rtol=0, atol=0)   # the premise: no alpha_D
    assert ldm_assumption(cfg, "na64e", "dark_photon") is None


def test_blinded_limit_table_does_not_describe_an_observed_limit_refinement(tmp_path):
    """LOW (hJ side note). The method sentence of a blinded HEPData limit table said "observed limits with
    further ensembles until CLs is 3% precise" though the table has no observed limit. Fixed: a table without
    observed limits states only the expected-limit method; one with them states the refinement."""
    from na64flow.publish import hepdata

    cfg = load_config(REPO / "configs" / "default.yaml")
    path = tmp_path / "dark_photon.csv"
    path.write_text("mass_gev,exp,exp_m2,exp_m1,exp_p1,exp_p2,obs\n0.01,1e-4,5e-5,7e-5,1.5e-4,2e-4,\n"
                    "0.1,1e-3,5e-4,7e-4,1.5e-3,2e-3,\n")
    blinded = hepdata.limit_table(path, "na64e", "dark_photon", cfg).description
    assert "hybrid toys" in blinded and "further ensembles" not in blinded, blinded
    path.write_text("mass_gev,exp,exp_m2,exp_m1,exp_p1,exp_p2,obs\n0.01,1e-4,5e-5,7e-5,1.5e-4,2e-4,1.1e-4\n"
                    "0.1,1e-3,5e-4,7e-4,1.5e-3,2e-3,1.2e-3\n")
    unblinded = hepdata.limit_table(path, "na64e", "dark_photon", cfg, observed=True).description
    assert "further ensembles" in unblinded, unblinded
