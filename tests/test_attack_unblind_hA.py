"""Hostile-review attacks on the freeze/unblind protocol (reviewer hA).

Promises attacked (README "Blinding protocol"):
* "Unblinding is requested only with the literal `--config unblind=true`" and "a refusal writes
  nothing under results/";
* "Freezing after unblinding is refused unless nothing changed" (a changed analysis needs a new tag);
* the freeze "pins ... the expected limits of every table" and the observed tables carry the
  "expected columns as frozen".
"""

from __future__ import annotations

import copy
import json
import shutil

import pytest
from test_unblind_guard import _blinded_analysis, _ucfg, install_fake_box
from test_workflow_blinding import _write, frozen, small_config, snakemake, tree  # noqa: F401 (fixture)

from na64flow import NA64Error, paths
from na64flow.blinding import freeze
from na64flow.unblind import unblind


@pytest.mark.slow
def test_refused_unblinding_through_the_unblind_rule_target_writes_nothing(frozen, repo_root, tmp_path):  # noqa: F811 (the imported module fixture)
    """`snakemake unblind` (the rule named as target) after a change: refused, and nothing written."""
    cfg, _, results = frozen
    changed = copy.deepcopy(cfg)
    changed["analyses"]["na64h"]["runs"]["2022"]["n_ot"] *= 1.01
    changed_file = _write(tmp_path / "changed.yaml", changed)
    before = tree(results)
    out = snakemake(repo_root, changed_file, "unblind")
    assert out.returncode != 0
    after = tree(results)
    assert after == before, {k for k in set(before) | set(after) if before.get(k) != after.get(k)}


@pytest.mark.slow
def test_unblind_rule_target_without_the_literal_request_does_not_unblind(frozen, repo_root):  # noqa: F811 (the imported module fixture)
    """Unblinding must need `--config unblind=true`; naming the rule (or an observed product) must not do."""
    _, configfile, results = frozen
    out = snakemake(repo_root, configfile, "unblind")
    assert not (results / "small" / "unblinded" / "audit.json").exists(), \
        "unblinded without --config unblind=true:\n" + out.stdout[-1500:] + out.stderr[-1500:]
    for target in ("unblind", "plot_observed"):
        out = snakemake(repo_root, configfile, "-n", target)
        planned = {ln.split()[0] for ln in out.stdout.splitlines() if ln.strip()}
        assert "unblind" not in planned or out.returncode != 0, (target, out.stdout[-2000:])


def test_hand_edited_expected_rows_of_the_freeze_record_are_refused(tmp_path, monkeypatch):
    """The observed tables take their expected columns from freeze.json's `expected_limits` rows, which
    the freeze hash does not cover: an edit there must be refused, not published as 'frozen'."""
    cfg = _blinded_analysis(tmp_path)
    fpath = paths.freeze_path(cfg)
    record = json.loads(fpath.read_text())
    name = "na64h/eta_invisible.csv"
    for row in record["expected_limits"][name]:
        row["exp"] = "1e-99"
    fpath.write_text(json.dumps(record, indent=1))
    install_fake_box(monkeypatch, {})
    try:
        unblind(_ucfg(tmp_path))
    except NA64Error:
        return
    text = (paths.results_dir(cfg) / "unblinded" / "limits" / name).read_text()
    pytest.fail("forged expected column accepted and published:\n" + text)


def test_new_freeze_refused_after_an_unblinding_even_when_unblinded_folder_is_removed(tmp_path, monkeypatch):
    """After an unblinding (audit history in results/<tag>/audit/), a changed analysis must not be
    re-frozen and re-unblinded under the same tag just because results/<tag>/unblinded/ was deleted."""
    cfg = _blinded_analysis(tmp_path)
    install_fake_box(monkeypatch, {("na64h", "2022"): 2})
    unblind(_ucfg(tmp_path))
    assert list((paths.results_dir(cfg) / "audit").glob("unblind-*.json"))
    bpath = paths.background_path(cfg, "na64mu", "2022")     # the analysis changes after the unblinding
    data = json.loads(bpath.read_text())
    data["total"]["estimate"] = 0.3
    bpath.write_text(json.dumps(data))
    with pytest.raises(NA64Error, match="already unblinded"):
        freeze(cfg)                                           # holds while unblinded/ exists
    shutil.rmtree(paths.results_dir(cfg) / "unblinded")
    with pytest.raises(NA64Error, match="unblind"):
        freeze(cfg)                                           # currently: a new freeze is written


def test_box_events_and_the_unblinded_processor_agree_on_an_event_with_nan_in_an_unused_branch(tmp_path, repo_root):
    """A box candidate with a non-finite value in a branch the analysis never reads (e.g. a spare
    calorimeter quantity): `process`/`unblinded_data` (validity over the declared branches) count it,
    `box_events` (validity over every schema branch) does not, so `unblind` stops with "the two
    selections disagree" on such data: unblinding becomes impossible."""
    import numpy as np
    from test_blinding_outputs import RUNS, _config, planted_box_events, toy

    from na64flow import processing
    from na64flow.config import cuts_for
    from na64flow.events import branch_names

    path, cfg = _config(tmp_path, repo_root)
    ana = processing.analysis_module("na64e", "selection").ANALYSIS
    declared = set(ana.branches(cuts_for(cfg, "na64e", RUNS[0])))
    unused = [b for b in branch_names("electron") if b not in declared
              and np.asarray(planted_box_events(1)[b]).dtype.kind == "f"]
    assert unused, "no unused float branch"
    planted = planted_box_events(3)
    planted[unused[0]][0] = np.nan
    for i, run in enumerate(RUNS):
        toy.write_run(cfg, "na64e", run, 3000, seed=21 + i, extra_data=planted if run == RUNS[0] else None)
    n_box = len(processing.box_events(cfg, "na64e", RUNS[0])["event_number"])
    n_proc = processing.unblinded_data(cfg, "na64e", RUNS[0])["cutflow"]["raw"][-1]
    assert n_box == n_proc, (unused[0], n_box, n_proc)


@pytest.mark.slow
def test_freeze_refuses_products_made_from_other_ntuples_than_the_ones_it_pins(tmp_path, repo_root):
    """The data ntuple replaced after the blinded chain ran (Snakemake's `process` declares only the
    manifest as input, so `snakemake freeze` re-processes nothing): the freeze then pins the new
    ntuple next to histograms, backgrounds and expected limits computed from the old one, and
    `unblind` accepts. Observed in the default workflow: `snakemake --cores 2 freeze` ran 1 job."""
    from test_blinding_outputs import RUNS, _config, blinded_chain, planted_box_events, toy

    blinded_chain(tmp_path, repo_root, None)
    _, cfg = _config(tmp_path, repo_root)
    toy.write_run(cfg, "na64e", RUNS[0], 3000, seed=21, extra_data=planted_box_events(10))
    with pytest.raises(NA64Error):
        freeze(cfg)


def test_quoted_true_in_a_configuration_file_given_to_snakemake_is_not_an_unblinding_request(repo_root, tmp_path):
    """README: unblinding is requested only with the literal `--config unblind=true`, and `unblind: true`
    inside a configuration file given to Snakemake is refused. `unblind: "true"` (quoted) is taken as
    the request (observed on the frozen default: the dry run plans `unblind` and the plot_observed jobs)."""
    cfg = small_config(repo_root, tmp_path / "results")
    cfg["unblind"] = "true"
    out = snakemake(repo_root, _write(tmp_path / "quoted.yaml", cfg), "-n")
    text = out.stdout + out.stderr
    assert out.returncode != 0 and "literal `--config unblind=true`" in text, text[-2000:]


@pytest.mark.slow
def test_unblind_refuses_after_the_blinded_histogram_file_was_edited(tmp_path, repo_root):
    """`unblind` copies the simulated samples of results/<tag>/histograms/<a>/<run>.pkl into the observed
    histograms and cut-flow tables, but the freeze does not pin that file: an edit after the freeze
    is accepted and published in unblinded/cutflows/."""
    from test_blinding_outputs import RUNS, _config, blinded_chain

    from na64flow import histograms as H
    from na64flow.config import load_config

    blinded_chain(tmp_path, repo_root, None)
    path, cfg = _config(tmp_path, repo_root)
    freeze(cfg)
    hp = paths.histograms_path(cfg, "na64e", RUNS[0])
    content = H.load(hp)
    mc = next(s for s in content["samples"] if s != "data")
    content["samples"][mc]["cutflow"]["raw"][0] = 123456789
    H.save(hp, content)
    try:
        unblind(load_config(path, {"unblind": "true"}))
    except NA64Error:
        return
    text = (paths.results_dir(cfg) / "unblinded" / "cutflows" / "na64e" / f"{RUNS[0]}.csv").read_text()
    assert "123456789" not in text, "edited histogram file accepted and published"


@pytest.mark.slow
def test_unblinding_run_refuses_targets_of_the_blinded_chain(frozen, repo_root):  # noqa: F811 (the imported module fixture)
    """hA side note S2: with --config unblind=true, `-R limits_... freeze` planned limits and freeze
    (README: an unblinding never runs freeze or any rule of the blinded chain). Refused before any job
    runs (the onstart handler: Snakemake knows the targets only then), and nothing is written."""
    _, configfile, results = frozen
    before = tree(results)
    out = snakemake(repo_root, configfile, "freeze", "--config", "unblind=true")   # up to date: runs nothing
    assert tree(results) == before, out.stdout[-1500:]
    for extra in (["-R", "freeze"], ["-R", "limits_na64h_eta_invisible"], ["-F"]):
        out = snakemake(repo_root, configfile, *extra, "--config", "unblind=true")
        assert out.returncode != 0 and "only the" in out.stdout + out.stderr, (extra, out.stderr[-1500:])
        assert tree(results) == before, extra
    out = snakemake(repo_root, configfile, "-n", "unblind", "--config", "unblind=true")
    assert out.returncode == 0, out.stdout[-1500:] + out.stderr[-1500:]
