"""NA64e invisible-mode selection (100 GeV e-, missing energy): cuts, box, regions, histograms.

Published cut-flow (physics.md §1-2 [paper]): incoming momentum window, small angle, single track,
SRD tag, pre-shower, shower shape, timing (pile-up), VETO, VHCAL (runs with VHCAL); then the signal box
E_ECAL < ecal_max_gev and E_HCAL < hcal_zero_gev. Every number comes from
``config.cuts_for(cfg, "na64e", run)`` (configs/*.yaml, analyses.na64e.cuts), never from this file.
"""

from __future__ import annotations

import numpy as np

from na64flow.events import TRIGGER_CALIBRATION, TRIGGER_PHYSICS
from na64flow.selection import Analysis, Axis, Below, Box, HistSpec, Selection, cut, need, region

HCAL_MODULES = ("hcal1_gev", "hcal2_gev", "hcal3_gev", "hcal4_gev")


def derive(cols, cuts):
    """Derived columns: total HCAL energy, smallest SRD module energy, E_miss = E0 - E_ECAL."""
    cols["hcal_gev"] = sum(cols[m].astype(np.float64) for m in HCAL_MODULES)
    cols["srd_min_mev"] = np.minimum(np.minimum(cols["srd1_mev"], cols["srd2_mev"]), cols["srd3_mev"])
    cols["e_miss_gev"] = cuts.beam_energy_gev - cols["ecal_gev"]
    return cols


@cut(uses=("trigger_bits",), n1=Axis("trigger_bits", 4, 0, 4, "trigger bits"))
def physics_trigger(ev, cuts):
    """Physics (missing-energy) trigger fired (bit 0)."""
    return (ev.trigger_bits & TRIGGER_PHYSICS) != 0


@cut(uses=("beam_momentum_gev",), n1=Axis("beam_momentum_gev", 100, 50, 150, "p_beam [GeV]"))
def beam_momentum(ev, cuts):
    """Incoming momentum inside the window (100 +- 3 GeV [paper])."""
    lo, hi = need(cuts, "beam_momentum_window_gev")
    return (ev.beam_momentum_gev > lo) & (ev.beam_momentum_gev < hi)


@cut(uses=("beam_angle_mrad",), n1=Axis("beam_angle_mrad", 50, 0, 10, "angle [mrad]"))
def track_angle(ev, cuts):
    """Small incoming angle to the beam axis."""
    return ev.beam_angle_mrad < need(cuts, "max_angle_mrad")


@cut(uses=("n_tracks_up",), n1=Axis("n_tracks_up", 6, 0, 6, "upstream tracks"))
def single_track(ev, cuts):
    """Exactly one reconstructed upstream track."""
    return ev.n_tracks_up == 1


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


@cut(uses=("veto_mip",), n1=Axis("veto_mip", 60, 0, 6, "VETO [MIP]"))
def veto_empty(ev, cuts):
    """No charged particle leaves the ECAL: VETO below the MIP fraction."""
    return ev.veto_mip < need(cuts, "veto_max_mip")


@cut(uses=("vhcal_gev",), n1=Axis("vhcal_gev", 100, 0, 20, "E_VHCAL [GeV]"), applies=lambda c: c.vhcal)
def vhcal_empty(ev, cuts):
    """Runs with a VHCAL (2023-): no upstream-interaction energy in it."""
    return ev.vhcal_gev < need(cuts, "vhcal_max_gev")


SELECTION = Selection([physics_trigger, beam_momentum, track_angle, single_track, srd_tag, preshower,
                       shower_shape, in_time, veto_empty, vhcal_empty])
BOX = Box(Below("ecal_gev", "ecal_max_gev", "E_ECAL [GeV]"), Below("hcal_gev", "hcal_zero_gev", "E_HCAL [GeV]"))


def _plane(ev, cuts):
    return ev.ecal_gev < need(cuts, "ecal_max_gev"), ev.hcal_gev < need(cuts, "hcal_zero_gev")


@region("box")
def box(ev, cuts, steps):
    """Signal box after all cuts (data: only when unblinded)."""
    return steps.in_box()


@region("sb_hcal")
def sb_hcal(ev, cuts, steps):
    """Side band: E_ECAL below the box edge but E_HCAL above zero."""
    low_ecal, zero_hcal = _plane(ev, cuts)
    return steps.all() & low_ecal & ~zero_hcal


@region("sb_ecal")
def sb_ecal(ev, cuts, steps):
    """Side band: E_ECAL above the box edge, E_HCAL zero."""
    low_ecal, zero_hcal = _plane(ev, cuts)
    return steps.all() & ~low_ecal & zero_hcal


@region("validation_ecal")
def validation_ecal(ev, cuts, steps):
    """Next to the box in E_ECAL: edge <= E_ECAL < edge + validation_ecal_width_gev, E_HCAL zero."""
    edge = need(cuts, "ecal_max_gev")
    near = (ev.ecal_gev >= edge) & (ev.ecal_gev < edge + need(cuts, "validation_ecal_width_gev"))
    return steps.all() & near & _plane(ev, cuts)[1]


@region("validation_hcal")
def validation_hcal(ev, cuts, steps):
    """Next to the box in E_HCAL: zero <= E_HCAL < zero + validation_hcal_width_gev, E_ECAL in the box."""
    zero = need(cuts, "hcal_zero_gev")
    near = (ev.hcal_gev >= zero) & (ev.hcal_gev < zero + need(cuts, "validation_hcal_width_gev"))
    return steps.all() & near & _plane(ev, cuts)[0]


@region("dimuon")
def dimuon(ev, cuts, steps):
    """Zone I: e Z -> e Z mu mu; all cuts but the vetoes, two MIPs in VETO and in every HCAL module."""
    lo, hi = need(cuts, "dimuon_hcal_module_window_gev")
    mods = np.ones(len(ev.hcal_gev), dtype=bool)
    for m in HCAL_MODULES:
        mods &= (getattr(ev, m) > lo) & (getattr(ev, m) < hi)
    return steps.all_but("veto_empty", "vhcal_empty") & mods & (ev.veto_mip > need(cuts, "dimuon_veto_min_mip"))


@region("calibration")
def calibration(ev, cuts, steps):
    """Prescaled unbiased calibration trigger (bit 1), any valid event."""
    return steps.valid & ((ev.trigger_bits & TRIGGER_CALIBRATION) != 0)


REGIONS = (box, sb_hcal, sb_ecal, validation_ecal, validation_hcal, dimuon, calibration)

HISTS = (
    HistSpec("ecal_hcal", (Axis("ecal_gev", 150, 0, 150, "E_ECAL [GeV]"), Axis("hcal_gev", 400, 0, 100, "E_HCAL [GeV]")),
             lambda ev, cuts, steps: steps.all(), "after all cuts except the box"),
    HistSpec("e_miss", (Axis("e_miss_gev", 150, 0, 150, "E_miss [GeV]"),),
             lambda ev, cuts, steps: steps.all() & _plane(ev, cuts)[1], "after all cuts, E_HCAL zero"),
)

ANALYSIS = Analysis(name="na64e", setup="electron", selection=SELECTION, box=BOX, regions=REGIONS,
                    hists=HISTS, derive=derive)
