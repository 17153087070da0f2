"""The processor reads only the branches that the cuts, box, regions, histograms and derivations declare
(issue 15), and a piece that reads a column it does not declare fails loudly, naming itself and the column."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from na64flow_analyses.na64e.processor import Processor as NA64eProcessor
from na64flow_analyses.na64e.selection import ANALYSIS as NA64E

from na64flow import NA64Error, processing
from na64flow.config import cuts_for, load_config
from na64flow.events import branch_names
from na64flow.processing import NA64Processor, run_processing
from na64flow.selection import Analysis, Axis, Below, Box, HistSpec, Selection, cut, derived, evaluate, region

_spec = importlib.util.spec_from_file_location("toy_events", Path(__file__).parent / "reference" / "toy_events.py")
toy = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(toy)


@pytest.fixture(scope="module")
def cfg(repo_root):
    return load_config(repo_root / "configs" / "default.yaml")


class RecordingEvents:
    """Stands in for a coffea chunk: records which branches the processor reads."""

    def __init__(self, cols):
        self._cols = cols
        self.read: list[str] = []
        self.fields = list(cols)

    def __getitem__(self, name):
        self.read.append(name)
        return self._cols[name]


def electron_chunk(n=10):
    return toy.electron(n, seed=1)


def test_processor_reads_only_declared_branches_and_vhcal_only_in_vhcal_runs(cfg):
    for run, vhcal in (("2016-2022", False), ("2023", True)):
        proc = NA64eProcessor(cuts_for(cfg, "na64e", run), blind=False)
        ev = RecordingEvents(electron_chunk())
        cols = proc.columns(ev, with_weight=False)
        assert ev.read == proc.branches() == list(cols)
        # never declared by the NA64e cuts/box/regions/histograms: not decompressed
        for name in ("run_number", "event_number", "spill_time_s"):
            assert name not in ev.read
        assert ("vhcal_gev" in ev.read) is vhcal
        # everything declared is read: the cut and box variables and the inputs of the derived columns
        for name in ("trigger_bits", "beam_momentum_gev", "ecal_gev", "hcal1_gev", "hcal4_gev", "srd2_mev",
                     "veto_mip", "ecal_chi2", "hcal_time_ns"):
            assert name in ev.read
        assert set(ev.read) < set(branch_names("electron"))


def test_declared_branches_are_enough_to_evaluate_every_cut_region_and_histogram(cfg):
    cuts = cuts_for(cfg, "na64e", "2023")
    proc = NA64eProcessor(cuts, blind=False)
    cols = {k: v for k, v in electron_chunk(2000).items() if k in proc.branches()}
    out = proc.fill("mc_bulk", cols, np.ones(2000), evaluate(NA64E, cols, cuts))
    assert out["cutflow"]["raw"][0] == 2000
    assert sum(h.sum(flow=True).value for h in out["hists"].values()) > 0


def _toy_analysis(**overrides):
    """A one-cut analysis whose pieces are replaced by ``overrides`` (to plant an undeclared read)."""

    @cut(uses=("veto_mip",), n1=Axis("veto_mip", 10, 0, 5))
    def veto(ev, cuts):
        return ev.veto_mip < 1.0

    @region("quiet", uses=("veto_mip",))
    def quiet(ev, cuts, steps):
        return steps.all() & (ev.veto_mip < 0.5)

    @derived(uses=("ecal_gev",), makes=("e_miss_gev",))
    def derive(cols, cuts):
        cols["e_miss_gev"] = 100.0 - cols["ecal_gev"]
        return cols

    parts = {"selection": Selection([veto]), "regions": (quiet,),
             "hists": (HistSpec("e_miss", (Axis("e_miss_gev", 10, 0, 100),), lambda ev, c, s: s.all()),),
             "derive": derive}
    parts.update(overrides)
    return Analysis(name="toy", setup="electron", box=Box(Below("ecal_gev", "ecal_max_gev")), **parts)


CUTS = SimpleNamespace(analysis="toy", run="r", noise_tolerance_gev=0.5, noise_tolerance_mip=0.5, ecal_max_gev=50.0)


def _bad_cut():
    @cut(uses=("veto_mip",))
    def veto(ev, cuts):
        return (ev.veto_mip < 1.0) & (ev.srd2_mev > 1.0)      # srd2_mev not declared
    return {"selection": Selection([veto])}


def _bad_region():
    @region("sneaky", uses=("veto_mip",))
    def sneaky(ev, cuts, steps):
        return ev.hcal1_gev > 0                               # hcal1_gev not declared
    return {"regions": (sneaky,)}


def _bad_hist():
    return {"hists": (HistSpec("e_miss", (Axis("e_miss_gev", 10, 0, 100),),
                               lambda ev, c, s: s.all() & (ev.srd1_mev > 1)),)}   # srd1_mev not declared


def _bad_derivation():
    @derived(uses=("ecal_gev",), makes=("e_miss_gev",))
    def derive(cols, cuts):
        cols["e_miss_gev"] = cols["beam_momentum_gev"] - cols["ecal_gev"]   # beam_momentum_gev not declared
        return cols
    return {"derive": derive}


@pytest.mark.parametrize("make,owner,column", [
    (_bad_cut, "cut 'veto'", "srd2_mev"), (_bad_region, "region 'sneaky'", "hcal1_gev"),
    (_bad_hist, "histogram 'e_miss'", "srd1_mev"), (_bad_derivation, "derivation of e_miss_gev", "beam_momentum_gev"),
])
def test_reading_an_undeclared_column_fails_naming_the_piece_and_the_column(make, owner, column):
    ana = _toy_analysis(**make())
    assert column not in ana.branches(CUTS)       # so the processor would not have read it

    class Proc(NA64Processor):
        analysis = ana

    proc = Proc(CUTS, blind=False)
    cols = electron_chunk(50)                     # every branch present: the view still refuses the column
    with pytest.raises(NA64Error, match=f"{owner} reads column '{column}'.*does not declare"):
        steps = evaluate(ana, cols, CUTS)
        proc.fill("mc_x", cols, None, steps)


def test_declaring_a_column_outside_the_schema_fails_when_the_analysis_is_defined():
    @region("typo", uses=("ecal_gve",))
    def typo(ev, cuts, steps):
        return steps.all()

    with pytest.raises(NA64Error, match="region 'typo' declares column.*ecal_gve"):
        _toy_analysis(regions=(typo,))
    with pytest.raises(NA64Error, match="derive must declare its columns"):
        _toy_analysis(derive=lambda cols, cuts: cols)


def test_undeclared_column_in_a_real_run_fails_the_process_step_naming_file_and_column(tmp_path, repo_root,
                                                                                      monkeypatch):
    _, cfg = toy.make_config(tmp_path, repo_root)
    toy.write_run(cfg, "na64e", "2016-2022", 300, seed=4, n_files=1)

    @region("sneaky", uses=())
    def sneaky(ev, cuts, steps):
        return steps.all() & (ev.veto_mip < 0.1)              # veto_mip is read for a cut, but not declared here

    ana = Analysis(name="na64e", setup="electron", selection=NA64E.selection, box=NA64E.box,
                   regions=NA64E.regions + (sneaky,), hists=NA64E.hists, derive=NA64E.derive)

    class Proc(NA64Processor):
        analysis = ana

    monkeypatch.setattr(processing, "analysis_module", lambda a, part="processor": SimpleNamespace(Processor=Proc))
    with pytest.raises(NA64Error, match=r"chunk_0000\.root: region 'sneaky' reads column 'veto_mip'"):
        run_processing(cfg, "na64e", "2016-2022", executor="iterative", status=False)


def test_each_chunk_starts_with_the_previous_chunks_files_and_caches_freed(tmp_path, repo_root, monkeypatch):
    """Memory flat in the number of chunks: coffea/uproot leave each chunk's open file (with its basket
    caches) in reference cycles that only a full GC frees; the processor collects them at the start of
    the next chunk (without that, one worker's RSS grew ~5 MB per chunk: benchmarks/RESULTS.md)."""
    import gc

    import uproot

    _, cfg = toy.make_config(tmp_path, repo_root)
    toy.write_run(cfg, "na64e", "2016-2022", 8000, seed=8, n_files=8)    # 8 data chunks + 1 MC chunk
    open_files = []
    orig_columns = NA64eProcessor.columns

    def columns(self, events, with_weight=True):
        cols = orig_columns(self, events, with_weight)
        open_files.append(sum(isinstance(o, uproot.reading.ReadOnlyFile) for o in gc.get_objects()))
        return cols

    monkeypatch.setattr(NA64eProcessor, "columns", columns)
    run_processing(cfg, "na64e", "2016-2022", executor="iterative", status=False)
    assert len(open_files) == 9
    assert max(open_files) <= 2, open_files     # this chunk's file (+ at most one more), not one per chunk
