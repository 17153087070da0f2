"""The `process` step: cut-flow conservation, format round trip, executors agree, bad inputs fail clearly."""

from __future__ import annotations

import importlib.util
import json
import os
from pathlib import Path

import numpy as np
import pytest
import uproot

from na64flow import NA64Error
from na64flow import histograms as H
from na64flow.cli import main
from na64flow.processing import box_events, run_processing

_spec = importlib.util.spec_from_file_location("toy_events", Path(__file__).parent / "reference" / "toy_events.py")
toy = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(toy)

RUNS = [("na64e", "2016-2022"), ("na64e", "2023"), ("na64e_plus", "2023"), ("na64mu", "2022"), ("na64h", "2022")]


@pytest.fixture(scope="module")
def processed(tmp_path_factory, repo_root):
    tmp = tmp_path_factory.mktemp("proc")
    _, cfg = toy.make_config(tmp, repo_root)
    out = {}
    for a, r in RUNS:
        toy.write_run(cfg, a, r, 3000, seed=11)
        # blind=False: what `unblind` sees (processing.unblinded_data); `process` always blinds
        out[(a, r)] = run_processing(cfg, a, r, executor="iterative", status=False, blind=False)
    return cfg, out


@pytest.mark.parametrize("analysis,run", RUNS)
def test_cutflow_conserves_events_read_invalid_failing_passing(processed, analysis, run):
    """read = invalid + sum(failing each cut) + passing all cuts; the box is a subset of passing."""
    _, out = processed
    content = out[(analysis, run)]
    assert content["blinded"] is False
    for s in content["samples"].values():
        raw = s["cutflow"]["raw"]
        names = s["cutflow"]["names"]
        assert names[:2] == ["read", "invalid values"] and names[-1] == "box"
        invalid = raw[0] - raw[1]
        failing = [raw[i - 1] - raw[i] for i in range(2, len(raw) - 1)]
        assert invalid > 0, "the toy sample plants invalid values; they must be counted"
        assert all(f >= 0 for f in failing)
        assert raw[0] == invalid + sum(failing) + raw[-2]
        assert 0 <= raw[-1] <= raw[-2]


@pytest.mark.parametrize("analysis,run", RUNS)
def test_blinded_data_cutflow_is_the_cutflow_outside_the_blinded_region(processed, analysis, run):
    """`process` (blind=True): data row 0 = events read minus those of the blinded region, same conservation;
    the simulated samples are identical to the unblinded processing."""
    cfg, out = processed
    blinded = run_processing(cfg, analysis, run, executor="iterative", status=False)
    assert blinded["blinded"] is True
    data, full = blinded["samples"]["data"]["cutflow"]["raw"], out[(analysis, run)]["samples"]["data"]
    assert data[-1] is None and "box" not in blinded["samples"]["data"]["regions"]
    assert data[0] < full["cutflow"]["raw"][0]          # the toy plants box-region events in every setup
    assert data[0] == (data[0] - data[1]) + sum(data[i - 1] - data[i] for i in range(2, len(data) - 1)) + data[-2]
    for s in blinded["samples"]:
        if s != "data":
            assert blinded["samples"][s]["cutflow"] == out[(analysis, run)]["samples"][s]["cutflow"]


def test_unblinded_data_read_row_equals_events_in_files(processed):
    cfg, out = processed
    import json

    from na64flow.paths import manifest_path
    for (a, r), content in out.items():
        m = json.loads(manifest_path(cfg, a, r).read_text())
        assert content["samples"]["data"]["cutflow"]["raw"][0] == m["samples"]["data"]["n_events"]


def test_ecal_hcal_plane_holds_the_events_after_all_cuts_and_box_region(processed):
    """Sum of the (E_ECAL, E_HCAL) histogram = events after all cuts; its box bins = box region."""
    _, out = processed
    s = out[("na64e", "2023")]["samples"]["mc_bulk"]
    h = s["hists"]["ecal_hcal"]
    assert h.sum(flow=True).value == pytest.approx(s["cutflow"]["weighted"][-2])
    box = h[:60j:sum, :1j:sum].value           # 2023: E_ECAL < 60 GeV, E_HCAL < 1 GeV (bin edges)
    assert box == pytest.approx(s["regions"]["box"]["weighted"])
    assert h.axes[0].edges[60] == 60.0 and h.axes[1].edges[4] == 1.0


def test_n1_histogram_counts_events_failing_only_that_cut(processed):
    _, out = processed
    s = out[("na64e", "2016-2022")]["samples"]["data"]
    n1 = s["hists"]["n1_veto_empty"].sum(flow=True).value
    assert n1 >= s["cutflow"]["raw"][-2]          # N-1 contains everything passing all cuts
    assert n1 > s["cutflow"]["raw"][-2]           # ... and the events rejected only by the VETO


def test_histogram_file_round_trips(processed, tmp_path):
    _, out = processed
    content = out[("na64mu", "2022")]
    H.save(tmp_path / "x.pkl", content)
    back = H.load(tmp_path / "x.pkl")
    assert H.to_json(back, full=True) == H.to_json(content, full=True)
    assert back["samples"]["mc_bulk"]["hists"]["p_out"] == content["samples"]["mc_bulk"]["hists"]["p_out"]


def test_box_events_returns_the_data_box_candidates(processed):
    cfg, out = processed
    ev = box_events(cfg, "na64e", "2016-2022")
    assert len(ev["ecal_gev"]) == out[("na64e", "2016-2022")]["samples"]["data"]["regions"]["box"]["raw"]
    assert np.all(ev["ecal_gev"] < 50.0) and np.all(ev["hcal_gev"] < 1.0)


def _same(a, b):
    ja, jb = H.to_json(a, full=True), H.to_json(b, full=True)
    for s in ja["samples"]:
        assert ja["samples"][s]["cutflow"]["raw"] == jb["samples"][s]["cutflow"]["raw"]
        wa, wb = ja["samples"][s]["cutflow"]["weighted"], jb["samples"][s]["cutflow"]["weighted"]
        assert [x is None for x in wa] == [x is None for x in wb]
        np.testing.assert_allclose([x for x in wa if x is not None], [x for x in wb if x is not None], rtol=1e-10)
        assert ja["samples"][s]["regions"].keys() == jb["samples"][s]["regions"].keys()
        for h in ja["samples"][s]["hists"]:
            np.testing.assert_allclose(np.asarray(ja["samples"][s]["hists"][h]["values"]),
                                       np.asarray(jb["samples"][s]["hists"][h]["values"]), rtol=1e-10)


def test_dask_local_cluster_equals_iterative_executor(tmp_path, repo_root):
    _, cfg = toy.make_config(tmp_path, repo_root, {"execution.dask_scheduler": "local",
                                                   "execution.dask_local_processes": False})
    toy.write_run(cfg, "na64e", "2016-2022", 4000, seed=5, n_files=3)
    ref = run_processing(cfg, "na64e", "2016-2022", executor="iterative", status=False)
    dask = run_processing(cfg, "na64e", "2016-2022", workers=2, status=False)   # dask from dask_scheduler
    _same(ref, dask)


def test_futures_executor_two_workers_equals_iterative(tmp_path, repo_root):
    _, cfg = toy.make_config(tmp_path, repo_root)
    toy.write_run(cfg, "na64mu", "2022", 3000, seed=6, n_files=3)
    ref = run_processing(cfg, "na64mu", "2022", executor="iterative", status=False)
    fut = run_processing(cfg, "na64mu", "2022", executor="futures", workers=2, status=False)
    _same(ref, fut)


# ------------------------------------------------------------------ bad inputs

@pytest.fixture
def one_run(tmp_path, repo_root):
    path, cfg = toy.make_config(tmp_path, repo_root)
    toy.write_run(cfg, "na64e", "2016-2022", 500, seed=3)
    base = tmp_path / "results" / "default" / "ntuples" / "na64e" / "2016-2022"
    out = tmp_path / "out" / "h.pkl"
    return path, base, out


def _process(path, out, capsys):
    rc = main(["process", "-c", str(path), "--analysis", "na64e", "--run", "2016-2022", "--out", str(out),
               "--executor", "iterative"])
    return rc, capsys.readouterr().err


def test_truncated_file_fails_naming_the_file_and_writes_nothing(one_run, capsys):
    path, base, out = one_run
    f = base / "data" / "chunk_0001.root"
    data = f.read_bytes()
    f.write_bytes(data[: len(data) // 2])
    rc, err = _process(path, out, capsys)
    assert rc == 1 and "chunk_0001.root" in err and not out.exists()
    assert not list(out.parent.glob("*")) if out.parent.exists() else True


def test_garbage_file_fails_naming_the_file(one_run, capsys):
    path, base, out = one_run
    (base / "data" / "chunk_0000.root").write_bytes(b"this is not ROOT" * 100)
    rc, err = _process(path, out, capsys)
    assert rc == 1 and "chunk_0000.root" in err and "not a readable ROOT file" in err and not out.exists()


def test_empty_file_fails_naming_the_file(one_run, capsys):
    path, base, out = one_run
    (base / "data" / "chunk_0000.root").write_bytes(b"")
    rc, err = _process(path, out, capsys)
    assert rc == 1 and "chunk_0000.root" in err and "empty" in err and not out.exists()


def test_missing_branch_is_named(one_run, capsys):
    path, base, out = one_run
    f = base / "mc" / "bulk" / "chunk_0000.root"
    arrays = uproot.open(f)["events"].arrays(library="np")
    del arrays["veto_mip"]
    os.unlink(f)
    with uproot.recreate(f) as fh:
        fh["events"] = arrays
    rc, err = _process(path, out, capsys)
    assert rc == 1 and "chunk_0000.root" in err and "veto_mip" in err and not out.exists()


def test_missing_tree_is_named(one_run, capsys):
    path, base, out = one_run
    f = base / "data" / "chunk_0000.root"
    arrays = uproot.open(f)["events"].arrays(library="np")
    os.unlink(f)
    with uproot.recreate(f) as fh:
        fh["other"] = arrays
    rc, err = _process(path, out, capsys)
    assert rc == 1 and "chunk_0000.root" in err and "no tree 'events'" in err


def test_missing_file_and_missing_manifest_are_named(one_run, capsys):
    path, base, out = one_run
    os.unlink(base / "data" / "chunk_0001.root")
    rc, err = _process(path, out, capsys)
    assert rc == 1 and "chunk_0001.root: file not found" in err
    os.unlink(base / "manifest.json")
    rc, err = _process(path, out, capsys)
    assert rc == 1 and "manifest.json" in err and "simulate" in err


def test_ntuple_source_without_file_list_names_the_key(tmp_path, repo_root):
    _, cfg = toy.make_config(tmp_path, repo_root, {"input.source": "ntuples"})
    with pytest.raises(NA64Error, match=r"input\.ntuples\.na64e\.2016-2022"):
        run_processing(cfg, "na64e", "2016-2022", executor="iterative", status=False)


def test_real_branch_names_are_mapped_through_input_branches(tmp_path, repo_root):
    """Real ntuples with other branch names: input.branches renames them; results equal the schema names'."""
    _, cfg = toy.make_config(tmp_path, repo_root)
    toy.write_run(cfg, "na64e", "2016-2022", 800, seed=9, n_files=1)
    base = tmp_path / "results" / "default" / "ntuples" / "na64e" / "2016-2022"
    ref = run_processing(cfg, "na64e", "2016-2022", executor="iterative", status=False)
    renamed = {}
    for sample, rel in (("data", "data/chunk_0000.root"), ("bulk", "mc/bulk/chunk_0000.root")):
        arrays = uproot.open(base / rel)["events"].arrays(library="np")
        arrays["ECAL_E"] = arrays.pop("ecal_gev")
        dest = tmp_path / f"real_{sample}.root"
        with uproot.recreate(dest) as fh:
            fh.mktree("T", {k: v.dtype for k, v in arrays.items()})
            fh["T"].extend(arrays)
        renamed[sample] = str(dest)
    _, cfg2 = toy.make_config(tmp_path, repo_root, {
        "input.source": "ntuples", "input.tree": "T", "input.branches": {"ecal_gev": "ECAL_E"},
        "input.ntuples": {"na64e": {"2016-2022": {"data": [renamed["data"]], "mc": {"bulk": [renamed["bulk"]]}}}}})
    got = run_processing(cfg2, "na64e", "2016-2022", executor="iterative", status=False)
    _same(ref, got)


def test_ntuple_file_lists_globs_and_missing_lists(tmp_path):
    from na64flow.processing import expand_file_list

    (tmp_path / "d").mkdir()
    for i in range(3):
        (tmp_path / "d" / f"f{i}.root").write_bytes(b"")
    listing = tmp_path / "files.txt"
    listing.write_text("# data files\nd/f0.root\nd/f2.root  # second\n")
    assert [Path(p).name for p in expand_file_list(str(listing), "k")] == ["f0.root", "f2.root"]
    assert len(expand_file_list([str(tmp_path / "d" / "*.root")], "k")) == 3
    with pytest.raises(NA64Error, match="nofile.txt: file list not found.*input.ntuples.na64e"):
        expand_file_list(str(tmp_path / "nofile.txt"), "input.ntuples.na64e.2016-2022.data")
    with pytest.raises(NA64Error, match=r"\*\.nope: no file matches"):
        expand_file_list([str(tmp_path / "*.nope")], "k")


def test_simulated_sample_whose_files_hold_no_events_is_refused_naming_it(one_run):
    """A simulated sample without any event would estimate its process as 0 (hostile review hC): refused,
    naming the sample and its file. (It was processed into an all-zero cut-flow before.)"""
    from na64flow.config import load_config
    from na64flow.events import write_events

    path, base, _ = one_run
    f = base / "mc" / "bulk" / "chunk_0000.root"
    cols = toy.electron(10, 1)
    write_events(f, {k: v[:0] for k, v in cols.items()}, "electron", truth=True)
    manifest = base / "manifest.json"
    m = json.loads(manifest.read_text())
    m["samples"]["mc_bulk"]["n_events"] = 0                # a consistent manifest: only the emptiness is refused
    manifest.write_text(json.dumps(m))
    with pytest.raises(NA64Error, match=r"chunk_0000.root: simulated sample 'mc_bulk' holds no events"):
        run_processing(load_config(path), "na64e", "2016-2022", executor="iterative", status=False)


def test_corrupt_basket_fails_naming_the_file(one_run, capsys):
    """Bytes flipped inside the compressed data (size unchanged): caught while reading, file named."""
    path, base, out = one_run
    f = base / "data" / "chunk_0000.root"
    b = bytearray(f.read_bytes())
    for i in range(len(b) // 4, len(b) // 2, 7):
        b[i] ^= 0x5A
    f.write_bytes(bytes(b))
    rc, err = _process(path, out, capsys)
    assert rc == 1 and "chunk_0000.root" in err and not out.exists()


@pytest.mark.parametrize("executor", ["iterative", "futures"])
def test_a_failing_chunk_is_named_by_its_file_and_entries_through_any_executor(one_run, monkeypatch, executor):
    """A chunk that fails inside the processor comes back with its file and entry range (the chunk's
    metadata), also through a process pool, where a raised exception would lose its chain."""
    from na64flow.processing import NA64Processor

    path, base, _ = one_run
    orig = NA64Processor.fill

    def fill(self, sample, cols, weight, steps):
        if sample == "data":
            raise ValueError("boom")
        return orig(self, sample, cols, weight, steps)

    monkeypatch.setattr(NA64Processor, "fill", fill)
    from na64flow.config import load_config

    cfg = load_config(path)
    with pytest.raises(NA64Error, match=r"data/chunk_000\d\.root: reading or processing entries \d+-\d+ failed "
                                        r"\(ValueError: boom\); the file may be corrupt"):
        run_processing(cfg, "na64e", "2016-2022", executor=executor, workers=2, status=False)


def test_our_own_error_inside_a_chunk_is_said_as_it_is_with_the_file(one_run, monkeypatch):
    from na64flow.processing import NA64Processor

    path, _, _ = one_run

    def fill(self, sample, cols, weight, steps):
        raise NA64Error("histogram 'x' reads column 'y' that nothing declares")

    monkeypatch.setattr(NA64Processor, "fill", fill)
    from na64flow.config import load_config

    with pytest.raises(NA64Error, match=r"chunk_000\d\.root: histogram 'x' reads column 'y' that nothing declares"
                                        r" \(\d+ more chunk\(s\) failed"):
        run_processing(load_config(path), "na64e", "2016-2022", executor="futures", workers=2, status=False)
