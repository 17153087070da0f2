"""NA64e invisible-mode selection (100 GeV e-, missing energy): cuts, box, regions, histograms.

Published cut-flow (physics.md §1-2 [paper]): incoming momentum window, small angle, single track,
SRD tag, pre-shower, shower shape, timing (pile-up), VETO, VHCAL (runs with VHCAL); then the signal box
E_ECAL < ecal_max_gev and E_HCAL < hcal_zero_gev. Every number comes from
``config.cuts_for(cfg, "na64e", run)`` (configs/*.yaml, analyses.na64e.cuts), never from this file.
"""

from __future__ import annotations

import numpy as np
from na64flow_analyses.common import (
    ECAL_HCAL_BOX,
    ECAL_HCAL_HIST,
    HCAL_MODULES,
    PLANE,
    beam_momentum_cut,
    box,
    calibration,
    hcal_total_gev,
    physics_trigger,
    plane,
    single_track,
    track_angle,
    validation_ecal,
    validation_hcal,
    veto_empty,
    vhcal_empty,
)

from na64flow.selection import Analysis, Axis, HistSpec, Selection, cut, derived, need, region

beam_momentum = beam_momentum_cut(50, 150)      # 100 +- 3 GeV window [paper], values from the config


@derived(uses=HCAL_MODULES + ("srd1_mev", "srd2_mev", "srd3_mev", "ecal_gev"),
         makes=("hcal_gev", "srd_min_mev", "e_miss_gev"))
def derive(cols, cuts):
    """Derived columns: total HCAL energy, smallest SRD module energy, E_miss = E0 - E_ECAL."""
    cols["hcal_gev"] = hcal_total_gev(cols)
    cols["srd_min_mev"] = np.minimum(np.minimum(cols["srd1_mev"], cols["srd2_mev"]), cols["srd3_mev"])
    cols["e_miss_gev"] = cuts.beam_energy_gev - cols["ecal_gev"]
    return cols


@cut(uses=("srd1_mev", "srd2_mev", "srd3_mev"), n1=Axis("srd_min_mev", 100, 0, 200, "min SRD [MeV]"))
def srd_tag(ev, cuts):
    """Synchrotron-radiation tag of the incoming electron: every SRD module in its window."""
    lo, hi = need(cuts, "srd_window_mev")
    return ((ev.srd1_mev > lo) & (ev.srd1_mev < hi) & (ev.srd2_mev > lo) & (ev.srd2_mev < hi)
            & (ev.srd3_mev > lo) & (ev.srd3_mev < hi))


@cut(uses=("ecal_ps_gev",), n1=Axis("ecal_ps_gev", 100, 0, 20, "E_PS [GeV]"))
def preshower(ev, cuts):
    """The electron starts its shower in the pre-shower (first 4 X0 of the ECAL)."""
    return ev.ecal_ps_gev > need(cuts, "ecal_ps_min_gev")


@cut(uses=("ecal_chi2",), n1=Axis("ecal_chi2", 100, 0, 20, "shower chi2/ndf"))
def shower_shape(ev, cuts):
    """ECAL cell pattern compatible with an e-m shower (chi2/ndf below the cut)."""
    return ev.ecal_chi2 < need(cuts, "shower_chi2_max")


@cut(uses=("ecal_time_ns", "hcal_time_ns", "hcal_gev"), n1=Axis("ecal_time_ns", 80, -20, 20, "t_ECAL [ns]"))
def in_time(ev, cuts):
    """No pile-up: ECAL in time, and the HCAL in time whenever it has energy."""
    w = need(cuts, "time_window_ns")
    hcal_ok = (ev.hcal_gev < need(cuts, "hcal_zero_gev")) | (np.abs(ev.hcal_time_ns) < w)
    return (np.abs(ev.ecal_time_ns) < w) & hcal_ok


SELECTION = Selection([physics_trigger, beam_momentum, track_angle, single_track, srd_tag, preshower,
                       shower_shape, in_time, veto_empty, vhcal_empty])
BOX = ECAL_HCAL_BOX


@region("sb_hcal", uses=PLANE)
def sb_hcal(ev, cuts, steps):
    """Side band: E_ECAL below the box edge but E_HCAL above zero."""
    low_ecal, zero_hcal = plane(ev, cuts)
    return steps.all() & low_ecal & ~zero_hcal


@region("sb_ecal", uses=PLANE)
def sb_ecal(ev, cuts, steps):
    """Side band: E_ECAL above the box edge, E_HCAL zero."""
    low_ecal, zero_hcal = plane(ev, cuts)
    return steps.all() & ~low_ecal & zero_hcal


@region("dimuon", uses=HCAL_MODULES + ("hcal_gev", "veto_mip"))
def dimuon(ev, cuts, steps):
    """Zone I: e Z -> e Z mu mu; all cuts but the vetoes, two MIPs in VETO and in every HCAL module."""
    lo, hi = need(cuts, "dimuon_hcal_module_window_gev")
    mods = np.ones(len(ev.hcal_gev), dtype=bool)
    for m in HCAL_MODULES:
        mods &= (getattr(ev, m) > lo) & (getattr(ev, m) < hi)
    return steps.all_but("veto_empty", "vhcal_empty") & mods & (ev.veto_mip > need(cuts, "dimuon_veto_min_mip"))


REGIONS = (box, sb_hcal, sb_ecal, validation_ecal, validation_hcal, dimuon, calibration)

HISTS = (
    ECAL_HCAL_HIST,
    HistSpec("e_miss", (Axis("e_miss_gev", 150, 0, 150, "E_miss [GeV]"),),
             lambda ev, cuts, steps: steps.all() & plane(ev, cuts)[1], "after all cuts, E_HCAL zero", uses=PLANE),
)

ANALYSIS = Analysis(name="na64e", setup="electron", selection=SELECTION, box=BOX, regions=REGIONS,
                    hists=HISTS, derive=derive)
