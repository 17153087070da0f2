"""NA64h selection (50 GeV pi-, eta/eta' -> invisible): beam, no SRD, timing, then full disappearance.

Published signature (physics.md §1-2 [paper]): the charge-exchange meson takes ~all the beam energy and
decays invisibly, so nothing is seen in the ECAL, HCAL, VETO or VHCAL. The VETO and VHCAL are cuts; the
box is E_ECAL < ecal_max_gev and E_HCAL < hcal_zero_gev. Values from ``config.cuts_for(cfg, "na64h", run)``.
"""

from __future__ import annotations

import numpy as np

from na64flow.events import TRIGGER_CALIBRATION, TRIGGER_PHYSICS
from na64flow.selection import Analysis, Axis, Below, Box, HistSpec, Selection, cut, need, region

HCAL_MODULES = ("hcal1_gev", "hcal2_gev", "hcal3_gev", "hcal4_gev")


def derive(cols, cuts):
    """Derived columns: total HCAL energy, largest SRD module energy."""
    cols["hcal_gev"] = sum(cols[m].astype(np.float64) for m in HCAL_MODULES)
    cols["srd_max_mev"] = np.maximum(np.maximum(cols["srd1_mev"], cols["srd2_mev"]), cols["srd3_mev"])
    return cols


@cut(uses=("trigger_bits",), n1=Axis("trigger_bits", 4, 0, 4, "trigger bits"))
def physics_trigger(ev, cuts):
    """Physics (disappearance) trigger fired (bit 0)."""
    return (ev.trigger_bits & TRIGGER_PHYSICS) != 0


@cut(uses=("beam_momentum_gev",), n1=Axis("beam_momentum_gev", 100, 25, 75, "p_beam [GeV]"))
def beam_momentum(ev, cuts):
    """Incoming momentum inside the window around the beam energy."""
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


@cut(uses=("srd1_mev", "srd2_mev", "srd3_mev"), n1=Axis("srd_max_mev", 100, 0, 50, "max SRD [MeV]"))
def no_srd(ev, cuts):
    """A hadron emits no synchrotron radiation: every SRD module below srd_max_mev."""
    m = need(cuts, "srd_max_mev")
    return (ev.srd1_mev < m) & (ev.srd2_mev < m) & (ev.srd3_mev < m)


@cut(uses=("ecal_gev", "ecal_time_ns", "hcal_gev", "hcal_time_ns"),
     n1=Axis("ecal_time_ns", 80, -20, 20, "t_ECAL [ns]"))
def in_time(ev, cuts):
    """No pile-up: every calorimeter with energy is in time (empty ones have no time)."""
    w = need(cuts, "time_window_ns")
    ecal_ok = (ev.ecal_gev < need(cuts, "ecal_max_gev")) | (np.abs(ev.ecal_time_ns) < w)
    hcal_ok = (ev.hcal_gev < need(cuts, "hcal_zero_gev")) | (np.abs(ev.hcal_time_ns) < w)
    return ecal_ok & hcal_ok


@cut(uses=("veto_mip",), n1=Axis("veto_mip", 60, 0, 6, "VETO [MIP]"))
def veto_empty(ev, cuts):
    """Nothing charged after the target: VETO below the MIP fraction."""
    return ev.veto_mip < need(cuts, "veto_max_mip")


@cut(uses=("vhcal_gev",), n1=Axis("vhcal_gev", 100, 0, 20, "E_VHCAL [GeV]"), applies=lambda c: c.vhcal)
def vhcal_empty(ev, cuts):
    """Runs with a VHCAL: nothing in it."""
    return ev.vhcal_gev < need(cuts, "vhcal_max_gev")


SELECTION = Selection([physics_trigger, beam_momentum, track_angle, single_track, no_srd, in_time,
                       veto_empty, vhcal_empty])
BOX = Box(Below("ecal_gev", "ecal_max_gev", "E_ECAL [GeV]"), Below("hcal_gev", "hcal_zero_gev", "E_HCAL [GeV]"))


def _plane(ev, cuts):
    return ev.ecal_gev < need(cuts, "ecal_max_gev"), ev.hcal_gev < need(cuts, "hcal_zero_gev")


@region("box")
def box(ev, cuts, steps):
    """Full disappearance after all cuts (data: only when unblinded)."""
    return steps.in_box()


@region("sideband_ecal")
def sideband_ecal(ev, cuts, steps):
    """Energy in the ECAL only."""
    low_ecal, zero_hcal = _plane(ev, cuts)
    return steps.all() & ~low_ecal & zero_hcal


@region("sideband_hcal")
def sideband_hcal(ev, cuts, steps):
    """Energy in the HCAL only."""
    low_ecal, zero_hcal = _plane(ev, cuts)
    return steps.all() & low_ecal & ~zero_hcal


@region("validation_ecal")
def validation_ecal(ev, cuts, steps):
    """Next to the box in E_ECAL: edge <= E_ECAL < edge + validation_ecal_width_gev, HCAL empty."""
    edge = need(cuts, "ecal_max_gev")
    near = (ev.ecal_gev >= edge) & (ev.ecal_gev < edge + need(cuts, "validation_ecal_width_gev"))
    return steps.all() & near & _plane(ev, cuts)[1]


@region("validation_hcal")
def validation_hcal(ev, cuts, steps):
    """Next to the box in E_HCAL: zero <= E_HCAL < zero + validation_hcal_width_gev, ECAL empty."""
    zero = need(cuts, "hcal_zero_gev")
    near = (ev.hcal_gev >= zero) & (ev.hcal_gev < zero + need(cuts, "validation_hcal_width_gev"))
    return steps.all() & near & _plane(ev, cuts)[0]


@region("calibration")
def calibration(ev, cuts, steps):
    """Prescaled unbiased calibration trigger (bit 1), any valid event."""
    return steps.valid & ((ev.trigger_bits & TRIGGER_CALIBRATION) != 0)


REGIONS = (box, sideband_ecal, sideband_hcal, validation_ecal, validation_hcal, calibration)

HISTS = (
    HistSpec("ecal_hcal", (Axis("ecal_gev", 150, 0, 150, "E_ECAL [GeV]"), Axis("hcal_gev", 400, 0, 100, "E_HCAL [GeV]")),
             lambda ev, cuts, steps: steps.all(), "after all cuts except the box"),
)

ANALYSIS = Analysis(name="na64h", setup="hadron", selection=SELECTION, box=BOX, regions=REGIONS,
                    hists=HISTS, derive=derive)
