"""NA64h selection (50 GeV pi-, eta/eta' -> invisible): beam, no SRD, timing, then full disappearance.

Published signature (physics.md §1-2 [paper]): the charge-exchange meson takes ~all the beam energy and
decays invisibly, so nothing is seen in the ECAL, HCAL, VETO or VHCAL. The VETO and VHCAL are cuts; the
box is E_ECAL < ecal_max_gev and E_HCAL < hcal_zero_gev. Values from ``config.cuts_for(cfg, "na64h", run)``.
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

from na64flow.selection import Analysis, Axis, Selection, cut, derived, need, region

beam_momentum = beam_momentum_cut(25, 75)       # window around 50 GeV [est], values from the config


@derived(uses=HCAL_MODULES + ("srd1_mev", "srd2_mev", "srd3_mev"), makes=("hcal_gev", "srd_max_mev"))
def derive(cols, cuts):
    """Derived columns: total HCAL energy, largest SRD module energy."""
    cols["hcal_gev"] = hcal_total_gev(cols)
    cols["srd_max_mev"] = np.maximum(np.maximum(cols["srd1_mev"], cols["srd2_mev"]), cols["srd3_mev"])
    return cols


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


SELECTION = Selection([physics_trigger, beam_momentum, track_angle, single_track, no_srd, in_time,
                       veto_empty, vhcal_empty])
BOX = ECAL_HCAL_BOX


@region("sideband_ecal", uses=PLANE)
def sideband_ecal(ev, cuts, steps):
    """Energy in the ECAL only."""
    low_ecal, zero_hcal = plane(ev, cuts)
    return steps.all() & ~low_ecal & zero_hcal


@region("sideband_hcal", uses=PLANE)
def sideband_hcal(ev, cuts, steps):
    """Energy in the HCAL only."""
    low_ecal, zero_hcal = plane(ev, cuts)
    return steps.all() & low_ecal & ~zero_hcal


REGIONS = (box, sideband_ecal, sideband_hcal, validation_ecal, validation_hcal, calibration)

HISTS = (ECAL_HCAL_HIST,)

ANALYSIS = Analysis(name="na64h", setup="hadron", selection=SELECTION, box=BOX, regions=REGIONS,
                    hists=HISTS, derive=derive)
