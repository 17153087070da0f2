"""Hostile review (hI-nt): plugging *real* ntuples in by configuration (``input.source: ntuples``).

An NA64 analyst with real reconstructed files follows README "Using real ntuples" and docs/event-schema.md:
``input.tree``, ``input.branches`` (schema name -> file branch), ``input.ntuples.<A>.<R>.{data,mc,signal}``.
What worked as documented (not tested here, see the report): other branch names and tree name, float64
instead of float32, extra (also jagged) branches, several files per run, a 0-entry file with
``allow_empty_data``, data without ``weight`` and truth branches -- the data cut-flow and histograms are
identical to the simulation path on the same events, and box events planted in real-format data change no
blinded output. Missing / misspelled / jagged / mistyped branches, a wrong tree, a non-matching glob, a
truncated or corrupt *TTree*, n_ot missing or 0, a run without files: clear errors naming file/branch/key.

Every test below fails on the current code for a defect and passes once it is fixed; none restates current
behaviour. Ntuples are built in tmp_path with uproot (synthetic events of the electron schema), so the module
needs nothing outside the checkout; one test runs Snakemake (one small `process` job, ~10 s).
"""

from __future__ import annotations

import copy
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import yaml

from na64flow import NA64Error
from na64flow.config import load_config
from na64flow.events import numpy_types

REPO = Path(__file__).resolve().parents[1]
ANALYSIS, RUN = "na64e", "2016-2022"


def _columns(n: int, seed: int, truth: bool) -> dict[str, np.ndarray]:
    """Synthetic electron-schema events, plausible enough for every cut (most pass the beam cuts)."""
    rng = np.random.default_rng(seed)
    types = numpy_types("electron", truth=truth)
    c = {
        "run_number": np.full(n, 5000), "event_number": np.arange(n) + 1,
        "trigger_bits": np.ones(n), "spill_time_s": rng.uniform(0, 4.8, n),
        "beam_momentum_gev": rng.normal(100, 1, n), "beam_angle_mrad": rng.uniform(0, 2, n),
        "n_tracks_up": np.ones(n), "srd1_mev": rng.uniform(5, 60, n), "srd2_mev": rng.uniform(5, 60, n),
        "srd3_mev": rng.uniform(5, 60, n), "ecal_ps_gev": rng.uniform(1, 10, n),
        "ecal_gev": rng.uniform(20, 100, n), "ecal_chi2": rng.uniform(0, 3, n),
        "ecal_time_ns": rng.normal(0, 1, n), "veto_mip": rng.uniform(0, 0.3, n), "vhcal_gev": np.zeros(n),
        "hcal1_gev": rng.uniform(0, 3, n), "hcal2_gev": rng.uniform(0, 3, n), "hcal3_gev": rng.uniform(0, 1, n),
        "hcal4_gev": rng.uniform(0, 1, n), "hcal_time_ns": rng.normal(0, 1, n),
    }
    if truth:
        c.update(true_process=np.full(n, 2), true_e_miss_gev=np.zeros(n), true_mediator_e_gev=np.zeros(n),
                 weight=np.full(n, 0.5))
    return {k: np.asarray(c[k]).astype(t) for k, t in types.items()}


def _write_ttree(path: Path, cols: dict[str, np.ndarray], tree: str = "events") -> str:
    import uproot

    with uproot.recreate(path) as f:
        f.mktree(tree, {k: v.dtype for k, v in cols.items()})
        f[tree].extend(cols)
    return str(path)


def _config(tmp_path: Path, data, mc=None, signal=None, branches=None, tree="events", only_run=False,
            name="c.yaml") -> Path:
    """A copy of configs/default.yaml reading real ntuples for na64e 2016-2022 (results under tmp_path)."""
    raw = yaml.safe_load((REPO / "configs" / "default.yaml").read_text())
    raw["results_root"] = str(tmp_path / "results")
    block = {"data": data, "mc": {"dimuon": mc if mc is not None else
                                  [_write_ttree(tmp_path / "mc_dimuon.root", _columns(2000, 2, truth=True))]}}
    if signal:
        block["signal"] = signal
    raw["input"] = {"source": "ntuples", "tree": tree, "branches": branches or {},
                    "ntuples": {ANALYSIS: {RUN: block}}}
    if only_run:   # one analysis, one run: what an analyst with one run's files configures
        a = copy.deepcopy(raw["analyses"][ANALYSIS])
        a["runs"] = {RUN: a["runs"][RUN]}
        raw["analyses"] = {ANALYSIS: a}
    path = tmp_path / name
    path.write_text(yaml.safe_dump(raw))
    return path


def _process(cfg_path: Path) -> dict:
    from na64flow.processing import run_processing

    return run_processing(load_config(cfg_path), ANALYSIS, RUN, executor="iterative", status=False)


def _env() -> dict:
    return dict(os.environ, CONDOR_CONFIG="/dev/null")


# ------------------------------------------------------------------------------------------------------------


def test_truncated_rntuple_file_is_a_clear_error_not_a_traceback(tmp_path):
    """MED. A truncated RNTuple input (uproot's own default writer: ``f["events"] = {...}`` writes an RNTuple;
    ``events.check_tree`` and ``inputs.check_inputs`` explicitly support RNTuple fields) crashes `process`
    with a Python traceback instead of an NA64Error naming the file.

    Seen: data file written with ``uproot.recreate(p)["events"] = columns`` and its last 100 bytes cut off,
    ``na64flow process -c C --analysis na64e --run 2016-2022 --out H`` -> exit 1 with
    ``Traceback ... inputs.py line 116 check_tree -> events.py line 170 keys = set(tree.keys()) -> ...
    OSError: expected Chunk of length 148, received 111 bytes from FSSpecSource``. (A truncated *TTree*
    gives the clear "points beyond the end of the file ... the file is truncated" message.)
    Cause: ``check_tree`` calls ``tree.keys()`` outside its try/except; ``open_tree`` returns the lazily read
    RNTuple whose footer is only read on first use.

    Fixed: `process` exits 1 with one ``na64flow process: error:`` line naming the file (e.g. "... the file
    may be truncated or corrupt"), no traceback.
    """
    import uproot

    full = tmp_path / "data_full.root"
    with uproot.recreate(full) as f:
        f["events"] = _columns(3000, 1, truth=False)
    assert "RNTuple" in uproot.open(full).classnames()["events;1"]
    blob = full.read_bytes()
    bad = tmp_path / "data_trunc.root"
    bad.write_bytes(blob[:-100])
    cfg = _config(tmp_path, [str(bad)])
    r = subprocess.run([sys.executable, "-m", "na64flow", "process", "-c", str(cfg), "--analysis", ANALYSIS,
                        "--run", RUN, "--workers", "1", "--out", str(tmp_path / "h.pkl")],
                       capture_output=True, text=True, env=_env(), cwd=REPO, timeout=120)
    assert r.returncode == 1
    assert "Traceback" not in r.stderr, r.stderr[-1500:]
    assert "na64flow process: error:" in r.stderr and str(bad) in r.stderr, r.stderr[-1500:]


def test_same_data_events_in_two_files_are_refused_not_counted_twice(tmp_path):
    """MED. docs/event-schema.md: ``event_number`` is "unique within a run". A real run list that names the
    same events twice (a re-processed file next to the original, a copy under another name) is accepted and
    every event is counted twice: cut-flow rows, side bands and the data the background is normalised to.

    Seen: data [run5000_a.root, run5000_b.root] where b is a byte copy of a (3000 events, run_number 5000,
    event_number 1..3000): `process` succeeds, data cut-flow row 0 "read" = 5988 = 2 x 2994 (6 per file in the
    blinded region), every row doubled; with the first 20000 simulated na64e 2016-2022 data events copied
    into two files, row 0 = 39998 = 2 x 19999;
    the path-level duplicate check of ``inputs.expand_file_list`` only catches the *same path* listed twice.
    (Same within one file: event_number 1 repeated 100 times is accepted too.)

    Fixed: `process` (``inputs.check_inputs``) refuses with an NA64Error naming the files and the duplicated
    (run_number, event_number) pairs, before any event is counted.
    """
    a = _write_ttree(tmp_path / "run5000_a.root", _columns(3000, 1, truth=False))
    b = tmp_path / "run5000_b.root"
    shutil.copyfile(a, b)
    cfg = _config(tmp_path, [a, str(b)])
    with pytest.raises(NA64Error, match=r"(?i)duplicat|event_number|more than once"):
        out = _process(cfg)
        pytest.fail(f"accepted: data cut-flow row 0 = {out['samples']['data']['cutflow']['raw'][0]} "
                    "for 3000 distinct events")


def test_misnamed_signal_sample_of_real_ntuples_is_refused(tmp_path):
    """MED. ``input.ntuples.<A>.<R>.signal`` keys are sample names that must read ``signal_<mode>_m<mass_gev>``
    (docs/contracts.md "Samples"), but nothing checks them: a misnamed signal sample is processed and then
    silently ignored by every later step, so the efficiency of that mass is interpolated from the others (or
    the sample silently becomes a background-like "mc" sample).

    Seen: ``signal: {signal_brem_m10MeV: [f], brem_m0.01: [g], signal_bremm_m0.01: [h]}`` passes
    ``na64flow check-config`` and `process` (histogram kinds: brem_m0.01 -> "mc", signal_bremm_m0.01 ->
    "signal"); ``signal.efficiencies_from_histograms`` skips names ``samples.parse_signal`` does not parse
    (``continue``) and keeps mode "bremm" that no model uses: none of the three reaches a signal table.

    Fixed: configuration validation (``config._check_references``) or ``inputs.fileset_of`` raises an NA64Error
    naming the key ``input.ntuples.na64e.2016-2022.signal.<name>`` for each of the three names (mode must be
    one of ``samples.SIGNAL_MODES``, mass a number).
    """
    sig = _write_ttree(tmp_path / "sig.root", _columns(500, 3, truth=True))
    data = [_write_ttree(tmp_path / "data.root", _columns(2000, 1, truth=False))]
    accepted = []
    for i, name in enumerate(("signal_brem_m10MeV", "brem_m0.01", "signal_bremm_m0.01")):
        cfg = _config(tmp_path, data, signal={name: [sig]}, name=f"c{i}.yaml")
        try:
            out = _process(cfg)
        except NA64Error as exc:
            assert name in str(exc), str(exc)
            continue
        accepted.append(f"{name} (kind {out['samples'][name]['kind']})")
    assert not accepted, f"misnamed signal samples accepted without a word: {accepted}"


def test_glob_string_for_the_data_files_is_accepted_as_documented(tmp_path):
    """LOW. ``inputs.expand_file_list`` documents "one string naming a text file list ... or a glob", and the
    refusal message itself says "(a string names a text file list or a glob)", yet a glob string ending in
    ``.root`` is refused by the configuration check.

    Seen: ``input.ntuples.na64e."2016-2022".data: "/x/data_run_*.root"`` -> ``na64flow check-config``:
    "key 'input.ntuples.na64e.2016-2022.data': one ROOT file must be written as a list,
    [/x/data_run_*.root] (a string names a text file list or a glob)" -- it is a glob.
    Cause: ``config._check_references`` refuses every string ending in ".root" without looking for glob
    characters (``*?[``), which ``expand_file_list`` does.

    Fixed: the glob string validates and `process` reads the files it matches.
    """
    for i in range(2):
        _write_ttree(tmp_path / f"data_run_{i}.root", _columns(1000, 10 + i, truth=False))
    cfg = _config(tmp_path, str(tmp_path / "data_run_*.root"))
    try:
        c = load_config(cfg)
    except NA64Error as exc:
        pytest.fail(f"glob string refused: {exc}")
    from na64flow.processing import fileset_of

    files, _ = fileset_of(c, ANALYSIS, RUN)
    assert [Path(f).name for f in files["data"]] == ["data_run_0.root", "data_run_1.root"]


def test_two_schema_branches_mapped_to_one_file_branch_are_refused(tmp_path):
    """LOW. ``input.branches`` may map two schema branches to the same file branch (a copy-paste slip such as
    ``hcal3_gev: HCAL2, hcal4_gev: HCAL2``); it is accepted and the derived E_HCAL = sum of the four modules
    silently counts one module twice, shifting events out of the signal box / side bands.

    Seen: file with the schema names, ``input.branches: {hcal4_gev: hcal3_gev}`` -> check-config valid,
    `process` succeeds; on the first 20000 simulated na64e 2016-2022 data events the data ``sb_ecal`` region
    (E_HCAL zero) goes from 33 to 32 events because hcal3 is added twice (larger for real HCAL noise).

    Fixed: configuration validation (or ``check_tree``) raises an NA64Error naming both schema keys and the
    shared branch.
    """
    cols = _columns(2000, 1, truth=False)
    data = [_write_ttree(tmp_path / "data.root", cols)]
    cfg = _config(tmp_path, data, branches={"hcal4_gev": "hcal3_gev"})
    with pytest.raises(NA64Error, match=r"hcal3_gev"):
        load_config(cfg)
        _process(cfg)


def test_real_ntuple_replaced_by_cp_p_reruns_process(tmp_path):
    """MED. README "Everyday use": "A changed ntuple re-runs `process` (its modification or status-change
    time)", and the blinding section: a ``cp -p`` / ``rsync -a`` copy that keeps an older modification time
    counts. True for the simulation manifest path (``common.smk: event_inputs`` adds files
    ``paths.changed_after`` the manifest), not for ``input.source: ntuples``: there the rule's inputs are the
    configured files and Snakemake compares modification times only.

    Seen (real1 config: na64e 2016-2022 only, real ntuples): after a full ``snakemake --cores 1``,
    ``cp -p data_run_0.root data_run_1.root`` (new content, old mtime, new ctime) ->
    ``snakemake -n --cores 1 --configfile real1.yaml`` prints "Nothing to be done"; the histograms, backgrounds
    and expected limits stay those of the old file. Only ``na64flow freeze`` notices ("freeze refused ...
    older than its input(s) data:.../data_run_1.root").

    Fixed: after the replacement, the dry run plans ``rule process`` for that run.
    """
    d0 = _write_ttree(tmp_path / "data_run_0.root", _columns(1500, 1, truth=False))
    c1 = _columns(1500, 2, truth=False)
    c1["event_number"] += 1500        # the run's next events (event_number is unique within a run)
    d1 = _write_ttree(tmp_path / "data_run_1.root", c1)
    cfg = _config(tmp_path, [d0, d1], only_run=True)
    target = tmp_path / "results" / "default" / "histograms" / ANALYSIS / f"{RUN}.pkl"
    base = [sys.executable, "-m", "snakemake", str(target), "--cores", "1"]
    r = subprocess.run(base + ["--configfile", str(cfg)], capture_output=True, text=True, env=_env(), cwd=REPO, timeout=300)
    assert r.returncode == 0 and target.exists(), r.stdout[-2000:] + r.stderr[-2000:]
    time.sleep(0.05)
    os.remove(d1)
    shutil.copy2(d0, d1)          # what `cp -p` does: new bytes, the old file's older mtime, a new ctime
    assert os.stat(d1).st_mtime_ns < os.stat(target).st_mtime_ns < os.stat(d1).st_ctime_ns
    r = subprocess.run(base + ["-n", "--configfile", str(cfg)], capture_output=True, text=True, env=_env(), cwd=REPO, timeout=300)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    out = r.stdout + r.stderr
    assert "rule process" in out, "replaced ntuple not re-processed: " + out[-800:]
