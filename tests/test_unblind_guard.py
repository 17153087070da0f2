"""The blinding protocol: freeze, the unblinding guard (flag + hash), and what unblinding writes."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
from test_stats_inputs import REPO, make_config, write_inputs

from na64flow import NA64Error, cli, contracts, paths, processing
from na64flow import blinding as blinding_mod
from na64flow.blinding import freeze
from na64flow.config import load_config
from na64flow.stats import compute_limits
from na64flow.unblind import unblind

SETTINGS = {"stats.n_toys": 2000, "stats.asymptotic": False}
TABLES = [("na64mu", "lmu_ltau"), ("na64h", "eta_invisible"), ("combined", "lmu_ltau")]


def _blinded_analysis(tmp_path: Path) -> dict:
    """Hand-made inputs, blinded limit tables for TABLES and a freeze; returns the config."""
    cfg = make_config(tmp_path, **SETTINGS)
    write_inputs(cfg, n_masses=4)
    for a, m in TABLES:
        _, _, header, rows = compute_limits(cfg, a, m)
        contracts.write_limits(paths.limits_path(cfg, a, m), contracts.LimitTable(header, rows))
    freeze(cfg)
    return cfg


def _written_by_unblind(cfg: dict) -> list[Path]:
    root = paths.results_dir(cfg)
    return sorted(p for d in ("unblinded", "audit") for p in (root / d).rglob("*") if p.is_file())


def _fake_box(counts: dict):
    def box_events(cfg, analysis, run):
        n = counts.get((analysis, run), 0)
        return {"ecal_gev": np.full(n, 10.0), "hcal_gev": np.zeros(n)}
    return box_events


def _rows(path: Path) -> list[dict]:
    with open(path) as fh:
        return list(csv.DictReader(fh))


@pytest.fixture
def no_box_access(monkeypatch):
    def forbidden(cfg, analysis, run):
        raise AssertionError(f"box events of {analysis}/{run} read while blinded")
    monkeypatch.setattr(processing, "box_events", forbidden)


def test_blinded_limits_and_freeze_never_read_box_events(tmp_path, no_box_access):
    cfg = _blinded_analysis(tmp_path)
    record = json.loads(paths.freeze_path(cfg).read_text())
    assert set(record["expected_limits"]) == {f"{a}/{m}.csv" for a, m in TABLES}
    assert all(r["obs"] == "" for a, m in TABLES for r in _rows(paths.limits_path(cfg, a, m)))
    assert {"config", "background_files", "normalisation_files", "sources", "package_version",
            "expected_limits"} == set(record["state"])
    assert {"src/na64flow/stats/toys.py", "src/na64flow/contracts.py"} <= set(record["state"]["sources"])


def test_unblind_refuses_without_the_flag_and_writes_nothing(tmp_path, no_box_access):
    cfg = _blinded_analysis(tmp_path)
    with pytest.raises(NA64Error, match="unblinding not requested"):
        unblind(cfg)
    assert _written_by_unblind(cfg) == []


def test_unblind_refuses_without_a_freeze(tmp_path, no_box_access):
    cfg = make_config(tmp_path, unblind=True, **SETTINGS)
    write_inputs(cfg, n_masses=3)
    with pytest.raises(NA64Error, match="no freeze record"):
        unblind(cfg)
    assert _written_by_unblind(cfg) == []


def test_unblind_refuses_after_a_cut_changed_and_writes_nothing(tmp_path, no_box_access):
    cfg = _blinded_analysis(tmp_path)
    before = {p: p.read_bytes() for p in paths.results_dir(cfg).rglob("*.csv")}
    changed = make_config(tmp_path, unblind=True, **SETTINGS, **{"analyses.na64e.cuts.ecal_max_gev": 55.0})
    with pytest.raises(NA64Error, match=r"refusing to unblind(.|\n)*config analyses: changed"):
        unblind(changed)
    assert _written_by_unblind(changed) == []
    assert {p: p.read_bytes() for p in paths.results_dir(cfg).rglob("*.csv")} == before


def test_unblind_refuses_after_a_background_estimate_changed(tmp_path, no_box_access):
    cfg = _blinded_analysis(tmp_path)
    bpath = paths.background_path(cfg, "na64mu", "2022")
    data = json.loads(bpath.read_text())
    data["total"]["estimate"] = 0.3
    bpath.write_text(json.dumps(data))
    with pytest.raises(NA64Error, match="background_files na64mu/2022: changed"):
        unblind(make_config(tmp_path, unblind=True, **SETTINGS))
    assert _written_by_unblind(cfg) == []


def test_unblind_refuses_after_a_selection_source_changed(tmp_path, monkeypatch, no_box_access):
    src = tmp_path / "selection_copy.py"
    src.write_text("CUT = 50.0\n")
    real = blinding_mod.source_files
    monkeypatch.setattr(blinding_mod, "source_files", lambda: {**real(), "analyses/na64e/selection_copy.py": src})
    cfg = _blinded_analysis(tmp_path)
    src.write_text("CUT = 45.0\n")
    with pytest.raises(NA64Error, match="sources analyses/na64e/selection_copy.py: changed"):
        unblind(make_config(tmp_path, unblind=True, **SETTINGS))
    assert _written_by_unblind(cfg) == []


def test_unblind_writes_counts_observed_limits_and_an_audit_record(tmp_path, monkeypatch):
    cfg = _blinded_analysis(tmp_path)
    frozen = json.loads(paths.freeze_path(cfg).read_text())
    monkeypatch.setattr(processing, "box_events", _fake_box({}))     # nothing in any box
    ucfg = make_config(tmp_path, unblind=True, **SETTINGS)
    base = ["unblind", "-c", cfg["_path"], "--set", f"results_root={tmp_path}", "--set", "unblind=true",
            "--set", "stats.n_toys=2000", "--set", "stats.asymptotic=false"]
    assert cli.main(base) == 0
    for a in ucfg["analyses"]:
        for r in ucfg["analyses"][a]["runs"]:
            rec = json.loads((paths.results_dir(ucfg) / "unblinded" / a / f"{r}.json").read_text())
            assert rec["observed"] == 0 and rec["freeze_hash"] == frozen["hash"]
    audits = list((paths.results_dir(ucfg) / "audit").glob("unblind-*.json"))
    assert len(audits) == 1
    audit = json.loads(audits[0].read_text())
    assert audit["freeze_hash"] == frozen["hash"] and audit["who"] and audit["when_utc"]
    assert audit["counts"]["na64mu"]["2022"] == 0
    assert (paths.results_dir(ucfg) / "unblinded" / "audit.json").exists()
    for a, m in TABLES:
        rows = _rows(paths.limits_path(ucfg, a, m))
        assert all(r["obs"] != "" for r in rows)
        # expected columns are the frozen ones, untouched
        assert [{k: v for k, v in r.items() if k != "obs"} for r in rows] == frozen["expected_limits"][f"{a}/{m}.csv"]
        # zero observed: the observed limit is at the strong end of the expected band
        assert all(float(r["obs"]) <= float(r["exp"]) * 1.05 for r in rows)
    # freezing again after unblinding keeps the freeze (nothing changed)
    _, _, written = freeze(ucfg)
    assert not written


def test_signal_injection_observed_limit_weaker_than_expected_and_excess_visible(tmp_path, monkeypatch):
    """A planted excess (8 events where 0.5 are expected) shows up in the counts and weakens the limit."""
    cfg = _blinded_analysis(tmp_path)
    monkeypatch.setattr(processing, "box_events", _fake_box({("na64mu", "2022"): 8}))
    audit = unblind(make_config(tmp_path, unblind=True, **SETTINGS))
    assert audit["counts"]["na64mu"]["2022"] == 8
    rows = _rows(paths.limits_path(cfg, "na64mu", "lmu_ltau"))
    for r in rows:
        assert float(r["obs"]) > float(r["exp_p2"])       # beyond the +2 sigma band
    # the limits step now reads the unblinded counts (unblind: true) and reproduces the observed limit
    ucfg = make_config(tmp_path, unblind=True, **SETTINGS)
    problem, _, header, again = compute_limits(ucfg, "na64mu", "lmu_ltau")
    assert problem.unblinded and again[0][header.index("obs")] == pytest.approx(float(rows[0]["obs"]), rel=1e-4)


def test_published_counts_give_observed_limits_directly(tmp_path, no_box_access):
    cfg = load_config(REPO / "configs" / "published.yaml", {"results_root": str(tmp_path), **SETTINGS})
    write_inputs(cfg, n_masses=4)
    for a in cfg["analyses"]:      # published mode: the background/normalisation steps write the public numbers
        for r in cfg["analyses"][a]["runs"]:
            for step in ("background", "normalisation"):
                assert cli.main([step, "-c", cfg["_path"], "--set", f"results_root={tmp_path}",
                                 "--analysis", a, "--run", r]) == 0
    problem, mu, header, rows = compute_limits(cfg, "na64e", "dark_photon")
    assert problem.unblinded and [c.background for c in problem.channels] == [0.51]
    obs, exp = (np.array([r[header.index(c)] for r in rows]) for c in ("obs", "exp"))
    assert np.all(np.isfinite(obs)) and np.all(obs <= exp * 1.05)     # 0 observed [paper]


def test_freeze_refused_without_limit_tables(tmp_path):
    cfg = make_config(tmp_path, **SETTINGS)
    write_inputs(cfg, n_masses=3)
    with pytest.raises(NA64Error, match="no limit tables to freeze"):
        freeze(cfg)
    assert not paths.freeze_path(cfg).exists()


def test_published_unblind_takes_the_public_counts_without_reading_events(tmp_path, no_box_access):
    over = {"results_root": str(tmp_path), **SETTINGS}
    cfg = load_config(REPO / "configs" / "published.yaml", over)
    write_inputs(cfg, n_masses=3)
    _, _, header, rows = compute_limits(cfg, "na64mu", "lmu_ltau")
    contracts.write_limits(paths.limits_path(cfg, "na64mu", "lmu_ltau"), contracts.LimitTable(header, rows))
    freeze(cfg)
    audit = unblind(load_config(REPO / "configs" / "published.yaml", {**over, "unblind": True}))
    assert audit["counts"]["na64mu"]["2022"] == cfg["analyses"]["na64mu"]["runs"]["2022"]["published"]["observed"]
    rec = json.loads((paths.results_dir(cfg) / "unblinded" / "na64mu" / "2022.json").read_text())
    assert rec["source"] == "published"
