"""Event data model: round trip through ROOT, and one clear error listing every bad branch."""

from __future__ import annotations

import numpy as np
import pytest
import uproot

from na64flow import NA64Error
from na64flow.events import (
    SCHEMA_VERSION,
    SchemaError,
    branch_names,
    markdown_doc,
    numpy_types,
    read_events,
    write_events,
)


def _columns(setup, n=50, truth=True, seed=1):
    rng = np.random.default_rng(seed)
    return {k: (rng.normal(size=n) * 10).astype(t) if t.kind == "f" else rng.integers(0, 100, n).astype(t)
            for k, t in numpy_types(setup, truth).items()}


@pytest.mark.parametrize("setup", ["electron", "muon", "hadron"])
def test_schema_round_trip_preserves_every_branch(tmp_path, setup):
    cols = _columns(setup)
    path = tmp_path / f"{setup}.root"
    write_events(path, cols, setup, truth=True)
    back = read_events(path, setup)
    assert set(back) == set(cols)
    for k in cols:
        assert back[k].dtype == cols[k].dtype
        np.testing.assert_array_equal(back[k], cols[k])
    assert SCHEMA_VERSION in uproot.open(path)["events"].title


def test_data_files_without_truth_are_read_without_truth(tmp_path):
    cols = _columns("electron", truth=False)
    write_events(tmp_path / "d.root", cols, "electron", truth=False)
    assert "weight" not in read_events(tmp_path / "d.root", "electron")


def test_mismatched_file_lists_every_missing_and_mistyped_branch(tmp_path):
    cols = _columns("electron", truth=False)
    cols.pop("hcal3_gev")
    cols.pop("srd2_mev")
    path = tmp_path / "real.root"
    with uproot.recreate(path) as f:
        f["events"] = {**cols, "ecal_chi2": np.array([b"x"] * 50, dtype="S1").view("u1")[:50].astype(bool)}
    with pytest.raises(SchemaError) as err:
        read_events(path, "electron")
    msg = str(err.value)
    assert str(path) in msg
    assert "hcal3_gev" in msg and "srd2_mev" in msg
    assert "ecal_chi2" in msg and "mistyped" in msg
    assert "input.branches" in msg


def test_branch_mapping_reads_real_names(tmp_path):
    cols = _columns("hadron", truth=False)
    cols["ECAL_total"] = cols.pop("ecal_gev")
    path = tmp_path / "mapped.root"
    with uproot.recreate(path) as f:
        f["T"] = cols
    with pytest.raises(NA64Error, match="no tree 'events'.*input.tree"):
        read_events(path, "hadron")
    back = read_events(path, "hadron", tree_name="T", branch_map={"ecal_gev": "ECAL_total"})
    np.testing.assert_array_equal(back["ecal_gev"], cols["ECAL_total"])


def test_truncated_and_missing_files_name_the_file(tmp_path):
    path = tmp_path / "t.root"
    write_events(path, _columns("electron"), "electron", truth=True)
    bad = tmp_path / "truncated.root"
    bad.write_bytes(path.read_bytes()[: path.stat().st_size // 3])
    with pytest.raises(NA64Error, match="truncated.root"):
        read_events(bad, "electron")
    with pytest.raises(NA64Error, match="absent.root: file not found"):
        read_events(tmp_path / "absent.root", "electron")


def test_schema_doc_lists_every_branch_with_its_unit():
    doc = markdown_doc()
    for setup in ("electron", "muon", "hadron"):
        for name in branch_names(setup, truth=True):
            assert f"`{name}`" in doc
    assert "| `ecal_gev` | float32 | GeV |" in doc


def test_committed_schema_doc_is_current(repo_root):
    """docs/event-schema.md is generated from events.py (`python -m na64flow.events > docs/event-schema.md`)."""
    assert (repo_root / "docs" / "event-schema.md").read_text() == markdown_doc()


def test_the_same_events_give_the_same_file_bytes(tmp_path, monkeypatch):
    """The freeze pins ntuples by their bytes: writing the same events twice (another folder, another
    time, another temporary name, SOURCE_DATE_EPOCH set or not) must give identical files; other
    events give another file UUID."""
    import hashlib
    import time

    cols = _columns("electron", n=200)
    digests = []
    for sub in ("a", "b", "c"):
        (tmp_path / sub).mkdir()
        if sub == "c":
            monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
        write_events(tmp_path / sub / "run.root", cols, "electron", truth=True)
        digests.append(hashlib.sha256((tmp_path / sub / "run.root").read_bytes()).hexdigest())
        time.sleep(1.1)                                    # TDatime has one-second resolution
    assert digests[0] == digests[1] == digests[2]
    assert sorted(p.name for p in (tmp_path / "a").iterdir()) == ["run.root"]   # no temporary left
    (tmp_path / "d").mkdir()
    write_events(tmp_path / "d" / "run.root", _columns("electron", n=200, seed=2), "electron", truth=True)
    assert uproot.open(tmp_path / "d" / "run.root").file.uuid != uproot.open(tmp_path / "a" / "run.root").file.uuid
    back = read_events(tmp_path / "c" / "run.root", "electron")
    for k in cols:
        np.testing.assert_array_equal(back[k], cols[k])


def test_clustered_writing_keeps_every_event(tmp_path):
    cols = _columns("muon", n=1001)
    write_events(tmp_path / "x.root", cols, "muon", truth=True, cluster_events=250)
    tree = uproot.open(tmp_path / "x.root")["events"]
    assert tree.num_entries == 1001 and len(tree[next(iter(cols))].member("fBasketEntry")) >= 5
    back = read_events(tmp_path / "x.root", "muon")
    for k in cols:
        np.testing.assert_array_equal(back[k], cols[k])


def test_a_failed_write_leaves_nothing(tmp_path):
    cols = _columns("electron", n=20)
    cols.pop(next(iter(cols)))
    with pytest.raises(NA64Error, match="columns missing"):
        write_events(tmp_path / "x.root", cols, "electron", truth=True)
    bad = _columns("electron", n=20)
    bad[next(iter(bad))] = np.zeros(3)                    # wrong length: refused before anything is written
    with pytest.raises(NA64Error, match="unequal length"):
        write_events(tmp_path / "y.root", bad, "electron", truth=True)
    assert list(tmp_path.iterdir()) == []
