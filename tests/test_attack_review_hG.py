"""Hostile review (hG) of the two newest commits: byte-reproducible ROOT ntuples (events.write_events,
paths.atomic_output(same_name=True)) and observed-limit toy refinement (stats.toys.refine_observed,
stats.obs_precision_rel / stats.obs_max_toys).

Every test states what should hold and fails on the reviewed code; each docstring gives the severity,
what was measured and what "fixed" means. Each runs in well under 30 s.
"""

from __future__ import annotations

import hashlib
import importlib.util
from pathlib import Path

import numpy as np
import pytest
import uproot
from test_event_schema import _columns

from na64flow import NA64Error
from na64flow.events import write_events
from na64flow.stats import toys as T
from na64flow.stats.model import Channel, LimitProblem
from na64flow.stats.scan import initial_signal_range, scan_limits

REPO = Path(__file__).resolve().parents[1]


def _sha(p) -> str:
    return hashlib.sha256(Path(p).read_bytes()).hexdigest()


# ------------------------------------------------------------------------------------------------
# 1. ROOT ntuples


def test_root_file_uuid_differs_for_different_files_with_same_basename_and_entries(tmp_path):
    """LOW. write_events derives the TFile UUID from (setup, tree, basename, n_events) only. `simulate`
    writes every sample as <sample>/chunk_0000.root, so files with different content share one "unique"
    id: in the default na64h 2022 run the 5 MC samples (20000 events each: cex_eta_visible,
    cex_etaprime_visible, cex_pi0, hadron_punch_through, pion_shower) all carry UUID
    bc26d274-0d12-520f-83a5-c1919d0fc1ae, and both signal samples 622044dc-8dfb-5eff-8b32-38b9dc7c40ae;
    every other run of the same setup repeats them. ROOT treats fUUID as a file identity (TProcessID /
    TRef, file catalogues). Fixed: the UUID is derived from the content (e.g. a hash of the column bytes)
    or the path relative to the results root, still deterministic."""
    a, b = _columns("hadron", n=300, seed=1), _columns("hadron", n=300, seed=2)
    (tmp_path / "mc_a").mkdir()
    (tmp_path / "mc_b").mkdir()
    write_events(tmp_path / "mc_a" / "chunk_0000.root", a, "hadron", truth=True)
    write_events(tmp_path / "mc_b" / "chunk_0000.root", b, "hadron", truth=True)
    assert _sha(tmp_path / "mc_a" / "chunk_0000.root") != _sha(tmp_path / "mc_b" / "chunk_0000.root")
    ua = uproot.open(tmp_path / "mc_a" / "chunk_0000.root").file.uuid
    ub = uproot.open(tmp_path / "mc_b" / "chunk_0000.root").file.uuid
    assert ua != ub, f"two files with different events share the UUID {ua}"


def test_ntuple_bytes_do_not_depend_on_the_source_date_epoch_environment(tmp_path, monkeypatch):
    """LOW. The freeze pins ntuples by sha256 and docs/simulation.md promises that "a re-simulation with
    the same seed and code in a fresh clone matches a freeze record". But the bytes depend on an
    environment variable: SOURCE_DATE_EPOCH (set by many build/CI environments, and the variable this
    project itself documents for its publish archives) changes the TDatime stamps, so the same events
    written with SOURCE_DATE_EPOCH unset and =1700000000 give different sha256 (measured), and a
    reproduction in such an environment can never match the freeze (refuses: safe direction, but the
    promise fails). Values before 1995 are clamped, so 0/-5/unset agree. Fixed: ntuples always carry the
    fixed ROOT_EPOCH stamp (SOURCE_DATE_EPOCH only for archives), or the freeze pins ntuples by content;
    the last assertion of tests/test_event_schema.py::test_the_same_events_give_the_same_file_bytes then
    changes accordingly."""
    cols = _columns("electron", n=100)
    monkeypatch.delenv("SOURCE_DATE_EPOCH", raising=False)
    (tmp_path / "a").mkdir()
    write_events(tmp_path / "a" / "run.root", cols, "electron", truth=True)
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
    (tmp_path / "b").mkdir()
    write_events(tmp_path / "b" / "run.root", cols, "electron", truth=True)
    assert _sha(tmp_path / "a" / "run.root") == _sha(tmp_path / "b" / "run.root")


@pytest.mark.parametrize("value", ["abc", "", "1e9", "2900000000"])
def test_malformed_or_out_of_range_source_date_epoch_gives_a_clear_error(tmp_path, monkeypatch, value):
    """LOW. SOURCE_DATE_EPOCH is parsed with a bare int(): "abc", "" or "1e9" raise
    `ValueError: invalid literal for int()` out of write_events (and publish.archive.archive_time), with no
    hint which variable is meant; a stamp after 2058 (TDatime keeps year-1995 in 6 bits), e.g.
    2900000000, is not clamped (only values before 1995 are) and fails mid-write inside uproot with
    `struct.error: 'I' format requires 0 <= number <= 4294967295`. (The temporary folder is cleaned up in
    all cases: that held.) Fixed: an NA64Error naming SOURCE_DATE_EPOCH for malformed values, and
    out-of-range values clamped to what a TDatime holds or refused with an NA64Error."""
    monkeypatch.setenv("SOURCE_DATE_EPOCH", value)
    try:
        write_events(tmp_path / "x.root", _columns("electron", n=10), "electron", truth=True)
    except NA64Error as exc:
        assert "SOURCE_DATE_EPOCH" in str(exc)
    except Exception as exc:     # noqa: BLE001 - the defect: anything else than a clear NA64Error
        pytest.fail(f"SOURCE_DATE_EPOCH={value!r}: {type(exc).__name__}: {exc}")
    assert [p.name for p in tmp_path.iterdir()] in ([], ["x.root"])


def test_benchmark_toy_ntuple_writer_is_reproducible(tmp_path):
    """LOW. benchmarks/bench_processing.write_clustered says it writes "like events.write_events" /
    "what `simulate` writes", but it still calls uproot.recreate with the real clock, a random UUID and
    the random temporary name (atomic_output without same_name): two writes of the same events give
    different bytes (measured), so benchmark inputs are neither what `simulate` writes nor reproducible.
    grep finds no other non-test writer (simulation.writer goes through write_events; merge only merges
    manifests; the uproot.recreate calls in tests write deliberately bad files). Fixed: write_clustered
    uses the same fixed clock / UUID / same_name temporary (e.g. a cluster option of write_events)."""
    spec = importlib.util.spec_from_file_location("bench_processing_hG", REPO / "benchmarks" / "bench_processing.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    cols = _columns("electron", n=400)
    for sub in ("a", "b"):
        (tmp_path / sub).mkdir()
        mod.write_clustered(tmp_path / sub / "chunk_0000.root", cols, cluster=100)
    assert _sha(tmp_path / "a" / "chunk_0000.root") == _sha(tmp_path / "b" / "chunk_0000.root")


# ------------------------------------------------------------------------------------------------
# 2. observed-limit refinement


def _count_ensembles(monkeypatch) -> list:
    built = []
    orig = T.ToyCLs.__init__

    def init(self, *a, **k):
        built.append(1)
        orig(self, *a, **k)

    monkeypatch.setattr(T.ToyCLs, "__init__", init)
    return built


def test_refinement_builds_each_extra_ensemble_once_per_scan(monkeypatch):
    """MED (runtime). refine_observed pools extra ensembles per *shape*; ToyCLs.extra_ensemble keeps them
    only while their arrival times fit EXTRA_CACHE_BYTES (256 MB per ensemble owner). A multi-channel
    ensemble's arrivals are sized for the whole toy range (k ~ max_signal_events x signal factor, e.g.
    144 x 10000 x 3 x 8 B = 35 MB for 3 channels), although the refinement scans only mu_obs/2..2 mu_obs
    (a few events): 7 fit, every other ensemble is re-drawn for every shape (and again when the dense
    grid misses). Measured: a 3-channel deficit with systematics (b = 3, 2.5, 4; n = 1, 0, 1), 10
    shapes, defaults: 843 ensembles built instead of 100, 58-84 s instead of 2.2 s without refinement
    (23.5 s with an unlimited cache, but then 3.8 GB). docs/statistics.md only quotes ~2 s for a
    single-channel refined limit; a multi-channel unblinded scan (hundreds of shapes: 354 solves in the
    default scan) costs minutes to tens of minutes per job. This test (3 shapes, obs_max_toys 3e5, i.e.
    30 ensembles): 74 ensembles drawn, ~6 s. Fixed: each extra ensemble is drawn at most
    once per scan (e.g. extra ensembles sized for the dense range only, or pooled once), here <= 30."""
    chs = [Channel("x", "r1", 3.0, 0.9, {"eff": 0.1}), Channel("x", "r2", 2.5, 0.7, {"eff": 0.1}),
           Channel("x", "r3", 4.0, 1.0, {"eff": 0.1})]
    f1, f2 = np.array([0.1, 0.4, 0.7]), np.array([0.6, 0.35, 0.1])
    sig = np.stack([f1, f2, 1 - f1 - f2], 1) * 100
    p = LimitProblem("x", "dark_photon", chs, np.array([0.1, 0.2, 0.3]), sig, [1, 0, 1])
    built = _count_ensembles(monkeypatch)
    r = scan_limits(p, n_toys=10000, seed=1, max_toys=300_000)
    assert r["n_solves"] == 3
    assert len(built) <= 30, f"{len(built)} toy ensembles drawn for 3 shapes (30 distinct ones needed)"


def test_extra_ensemble_memory_is_bounded_per_limits_job(monkeypatch):
    """LOW (memory). EXTRA_CACHE_BYTES bounds the kept extra ensembles per ToyCLs, not per process: the
    `limits` job keeps one cache dict for all its problems (the analysis and each per-run problem have
    their own channels, hence their own ToyCLs), so a job with P unblinded problems with deficits keeps
    up to P x 256 MB for the whole job (measured maxrss 633 MB for one 3-channel problem, vs 312 MB
    without refinement), although a single-channel problem has one shape and never reuses its extras.
    Here, with the bound shrunk to 3 ensembles, three per-run style problems keep 9 ensembles (3x). Fixed:
    the bound holds for the cache as a whole (or extras of finished problems are dropped)."""
    probe = T.ToyCLs([Channel("x", "r0", 9.0)], 2000, 0, max_signal_events=initial_signal_range(9.0, 2))
    one = probe.extra_ensemble(1).nbytes
    del probe
    monkeypatch.setattr(T, "EXTRA_CACHE_BYTES", 3 * one)
    cache: dict = {}
    for i, b in enumerate((8.0, 8.5, 9.0)):          # three runs, each a deficit of 2 observed
        p = LimitProblem("x", "dark_photon", [Channel("x", f"r{i}", b)], np.array([0.1]), np.array([[10.0]]), [2])
        scan_limits(p, n_toys=2000, seed=i, cache=cache, max_toys=40_000)
    kept = sum(e.nbytes for st in cache.values() for e in st["toys"]._extra.values())
    assert kept <= T.EXTRA_CACHE_BYTES, f"extra ensembles kept: {kept / one:.0f} x one ensemble, bound 3"
    assert T._EXTRA_BYTES[0] <= T.EXTRA_CACHE_BYTES
    cache.clear()
    import gc

    gc.collect()
    assert T._EXTRA_BYTES[0] == 0, "ensembles of dropped problems are still counted"


def test_doc_claim_n0_ensembles_grow_as_exp_of_the_total_background(monkeypatch):
    """LOW (docs). docs/statistics.md "Precision" said "published and default limits with n = 0 and b < 1.5
    need 1-3 ensembles"; b = 1.4, n = 0 needs 5 for every seed 0-3 (b = 1.0: 3-4; five channels of
    b = 0.5, n = 0: 14-15). The doc now states "about 1.2 e^B ensembles in all (B the total background)":
    checked here (at most 1.5 e^B, and the limit is the ln 10 of n = 0)."""
    import math

    calls: list = []
    orig = T.ToyCLs.extra_ensemble

    def ee(self, i):
        calls.append(i)
        return orig(self, i)

    monkeypatch.setattr(T.ToyCLs, "extra_ensemble", ee)
    text = (REPO / "docs" / "statistics.md").read_text()
    assert "about 1.2 e^B ensembles" in text
    for chans in ([Channel("x", "r", 1.4)], [Channel("x", "r", 0.6)],
                  [Channel("x", f"r{i}", 0.5) for i in range(5)]):
        btot = sum(c.background for c in chans)
        shape = np.full(len(chans), 1.0 / len(chans))
        for seed in range(3):
            calls.clear()
            toys = T.ToyCLs(chans, 10000, seed, max_signal_events=30.0)
            lim = T.toy_limit_events(toys, shape, np.zeros(len(chans)), 0.9)["obs"]
            assert lim == pytest.approx(2.3026, rel=0.04)
            used = max(calls) + 1 if calls else 1
            assert used <= math.ceil(1.5 * math.exp(btot)), f"B = {btot}, n = 0: {used} ensembles"


def test_default_configuration_documents_the_new_stats_settings(repo_root=REPO):
    """LOW (docs). configs/default.yaml spells out every `stats` setting with its value and source (cl,
    calculator, n_toys, signal_eff_syst_rel, ..., ldm_mass_ratio; `seed` falls back to the top level) but
    not the two new ones, obs_precision_rel and obs_max_toys, and its n_toys comment still says "~10% for
    deficits", which the observed refinement is meant to remove (it now applies to the expected bands
    only). Fixed: both settings listed there with their defaults, the n_toys comment updated."""
    import yaml

    from na64flow.stats.settings import DEFAULTS

    text = (repo_root / "configs" / "default.yaml").read_text()
    listed = set(yaml.safe_load(text)["stats"])
    assert set(DEFAULTS) - listed <= {"seed"}, f"not in configs/default.yaml: {sorted(set(DEFAULTS) - listed - {'seed'})}"
    assert "~10% for deficits" not in text
