"""Each cut of each analysis on hand-made events with known answers; box, regions, invalid values."""

from __future__ import annotations

import numpy as np
import pytest
from na64flow_analyses.na64e.selection import ANALYSIS as NA64E
from na64flow_analyses.na64h.selection import ANALYSIS as NA64H
from na64flow_analyses.na64mu.selection import ANALYSIS as NA64MU

from na64flow import NA64Error
from na64flow.config import cuts_for, load_config
from na64flow.events import TRIGGER_CALIBRATION, TRIGGER_PHYSICS, branch_names, numpy_types
from na64flow.selection import evaluate


@pytest.fixture(scope="module")
def cfg(repo_root):
    return load_config(repo_root / "configs" / "default.yaml")


def good_electron(n=1):
    """A clean 100 GeV electron shower passing every cut, outside the box (E_ECAL = 100 GeV)."""
    c = {"run_number": 1, "event_number": 0, "trigger_bits": TRIGGER_PHYSICS, "spill_time_s": 1.0,
         "beam_momentum_gev": 100.0, "beam_angle_mrad": 0.5, "n_tracks_up": 1, "srd1_mev": 40.0,
         "srd2_mev": 40.0, "srd3_mev": 40.0, "ecal_ps_gev": 8.0, "ecal_gev": 100.0, "ecal_chi2": 1.0,
         "ecal_time_ns": 0.0, "veto_mip": 0.05, "vhcal_gev": 0.0, "hcal1_gev": 0.1, "hcal2_gev": 0.05,
         "hcal3_gev": 0.0, "hcal4_gev": 0.0, "hcal_time_ns": 0.0}
    types = numpy_types("electron")
    return {k: np.full(n, c[k], dtype=types[k]) for k in branch_names("electron")}


def passes(analysis, cols, cuts):
    steps = evaluate(analysis, cols, cuts)
    return steps, {k: bool(v[0]) for k, v in steps.cuts.items()}


# (column, value, cut expected to fail) for the 2016-2022 NA64e values: window 97-103 GeV, angle < 3 mrad,
# SRD 1-120 MeV, PS > 0.5 GeV, chi2 < 4, |t| < 5 ns, VETO < 0.5 MIP
ELECTRON_CASES = [
    ("trigger_bits", TRIGGER_CALIBRATION, "physics_trigger"),
    ("beam_momentum_gev", 96.9, "beam_momentum"),
    ("beam_momentum_gev", 103.1, "beam_momentum"),
    ("beam_angle_mrad", 3.1, "track_angle"),
    ("n_tracks_up", 2, "single_track"),
    ("n_tracks_up", 0, "single_track"),
    ("srd2_mev", 0.5, "srd_tag"),
    ("srd3_mev", 130.0, "srd_tag"),
    ("ecal_ps_gev", 0.4, "preshower"),
    ("ecal_chi2", 4.5, "shower_shape"),
    ("ecal_time_ns", -6.0, "in_time"),
    ("veto_mip", 0.6, "veto_empty"),
]


@pytest.mark.parametrize("column,value,failing", ELECTRON_CASES)
def test_na64e_each_cut_rejects_exactly_its_variable(cfg, column, value, failing):
    cuts = cuts_for(cfg, "na64e", "2016-2022")
    cols = good_electron()
    _, ok = passes(NA64E, cols, cuts)
    assert all(ok.values())
    cols[column][:] = value
    _, ok = passes(NA64E, cols, cuts)
    assert [k for k, v in ok.items() if not v] == [failing]


def test_na64e_hcal_time_only_matters_when_hcal_has_energy(cfg):
    cuts = cuts_for(cfg, "na64e", "2016-2022")
    cols = good_electron()
    cols["hcal_time_ns"][:] = 20.0        # late, but HCAL is empty (0.15 GeV < 1 GeV)
    assert passes(NA64E, cols, cuts)[1]["in_time"]
    cols["hcal1_gev"][:] = 5.0            # late energy in the HCAL: pile-up
    assert not passes(NA64E, cols, cuts)[1]["in_time"]


def test_vhcal_cut_only_in_runs_with_vhcal(cfg):
    cols = good_electron()
    cols["vhcal_gev"][:] = 3.0
    assert "vhcal_empty" not in passes(NA64E, cols, cuts_for(cfg, "na64e", "2016-2022"))[1]
    ok = passes(NA64E, cols, cuts_for(cfg, "na64e", "2023"))[1]
    assert ok["vhcal_empty"] is False


@pytest.mark.parametrize("ecal,hcal,run,in_box", [
    (49.9, 0.5, "2016-2022", True), (50.1, 0.5, "2016-2022", False), (10.0, 1.2, "2016-2022", False),
    (55.0, 0.5, "2023", True),   # 2023 run override: E_ECAL < 60 GeV [paper]
])
def test_electron_box_edges_follow_run_config(cfg, ecal, hcal, run, in_box):
    cols = good_electron()
    cols["ecal_gev"][:] = ecal
    cols["hcal1_gev"][:] = hcal
    for m in ("hcal2_gev", "hcal3_gev", "hcal4_gev"):
        cols[m][:] = 0.0
    steps = evaluate(NA64E, cols, cuts_for(cfg, "na64e", run))
    assert bool(steps.in_box()[0]) is in_box


def test_sidebands_and_box_partition_the_selected_plane(cfg):
    cuts = cuts_for(cfg, "na64e", "2016-2022")
    cols = good_electron(4)
    cols["ecal_gev"][:] = [10.0, 10.0, 80.0, 80.0]
    cols["hcal1_gev"][:] = [0.0, 5.0, 0.0, 5.0]
    cols["hcal_time_ns"][:] = 0.0
    steps = evaluate(NA64E, cols, cuts)
    from na64flow.selection import Ev
    ev = Ev(cols)
    regions = {r.name: r.fn(ev, cuts, steps).tolist() for r in NA64E.regions}
    assert regions["box"] == [True, False, False, False]
    assert regions["sb_hcal"] == [False, True, False, False]
    assert regions["sb_ecal"] == [False, False, True, False]


def test_invalid_values_fail_valid_and_nan_never_passes(cfg):
    cuts = cuts_for(cfg, "na64e", "2016-2022")
    cols = good_electron(4)
    cols["ecal_gev"][0] = np.nan
    cols["veto_mip"][1] = np.inf
    cols["hcal2_gev"][2] = -3.0     # beyond the 0.5 GeV noise tolerance
    cols["hcal3_gev"][3] = -0.2     # noise: still valid
    steps = evaluate(NA64E, cols, cuts)
    assert steps.valid.tolist() == [False, False, False, True]
    assert steps.all().tolist() == [False, False, False, True]


def test_missing_cut_value_names_the_key(cfg):
    cuts = cuts_for(cfg, "na64e", "2016-2022")
    del cuts.veto_max_mip
    with pytest.raises(NA64Error, match="veto_max_mip"):
        evaluate(NA64E, good_electron(), cuts)


def good_muon():
    c = good_electron()
    c.update(beam_momentum_gev=np.array([160.0], np.float32), ecal_gev=np.array([0.5], np.float32),
             veto_mip=np.array([1.0], np.float32), ms2_momentum_gev=np.array([150.0], np.float32),
             ms2_chi2=np.array([1.0], np.float32), max_hits_per_tracker=np.array([1], np.int32),
             hcal_time_spread_ns=np.array([1.0], np.float32))
    for m in ("hcal1_gev", "hcal2_gev", "hcal3_gev", "hcal4_gev"):
        c[m] = np.array([1.5], np.float32)
    return c


@pytest.mark.parametrize("column,value,failing", [
    ("hcal_time_spread_ns", 6.0, "hcal_in_time"), ("max_hits_per_tracker", 2, "single_hit"),
    ("beam_momentum_gev", 130.0, "ms1_momentum"), ("beam_momentum_gev", 190.0, "ms1_momentum"),
    ("ms2_chi2", 6.0, "ms2_quality"), ("ecal_gev", 3.0, "ecal_mip"), ("hcal3_gev", 8.0, "hcal_mip"),
    ("veto_mip", 0.2, "veto_mip"), ("veto_mip", 2.5, "veto_mip"),
])
def test_na64mu_each_cut_rejects_exactly_its_variable(cfg, column, value, failing):
    cuts = cuts_for(cfg, "na64mu", "2022")
    cols = good_muon()
    assert all(passes(NA64MU, cols, cuts)[1].values())
    cols[column][:] = value
    ok = passes(NA64MU, cols, cuts)[1]
    assert [k for k, v in ok.items() if not v] == [failing]


def test_na64mu_box_is_p_out_below_80_gev(cfg):
    cuts = cuts_for(cfg, "na64mu", "2022")
    cols = good_muon()
    assert not evaluate(NA64MU, cols, cuts).in_box()[0]
    cols["ms2_momentum_gev"][:] = 79.0
    assert evaluate(NA64MU, cols, cuts).in_box()[0]


def empty_pion():
    """A 50 GeV pion that disappears: nothing downstream (the NA64h signal signature)."""
    c = good_electron()
    c.update(beam_momentum_gev=np.array([50.0], np.float32), ecal_gev=np.array([0.2], np.float32),
             ecal_ps_gev=np.array([0.0], np.float32), ecal_time_ns=np.array([99.0], np.float32),
             hcal_time_ns=np.array([99.0], np.float32))
    for s in ("srd1_mev", "srd2_mev", "srd3_mev"):
        c[s] = np.array([0.1], np.float32)
    return c


@pytest.mark.parametrize("column,value,failing", [
    ("beam_momentum_gev", 47.0, "beam_momentum"), ("beam_angle_mrad", 4.0, "track_angle"),
    ("srd1_mev", 5.0, "no_srd"), ("veto_mip", 1.0, "veto_empty"), ("vhcal_gev", 2.0, "vhcal_empty"),
])
def test_na64h_each_cut_rejects_exactly_its_variable(cfg, column, value, failing):
    cuts = cuts_for(cfg, "na64h", "2022")
    cols = empty_pion()
    steps, ok = passes(NA64H, cols, cuts)
    assert all(ok.values()) and steps.in_box()[0]   # empty calorimeters: times are irrelevant
    cols[column][:] = value
    ok = passes(NA64H, cols, cuts)[1]
    assert [k for k, v in ok.items() if not v] == [failing]


def test_na64h_visible_late_ecal_energy_is_pileup(cfg):
    cuts = cuts_for(cfg, "na64h", "2022")
    cols = empty_pion()
    cols["ecal_gev"][:] = 30.0
    assert not passes(NA64H, cols, cuts)[1]["in_time"]
