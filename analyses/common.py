"""Cuts, regions and histograms that several NA64 analyses share (same detector element, same meaning).

Each analysis' selection.py imports what it uses from here, so its cut list still reads in one screen
and nothing is implemented twice. Cut values come from the configuration (``need(cuts, key)``).
"""

from __future__ import annotations

import numpy as np

from na64flow.events import TRIGGER_CALIBRATION, TRIGGER_PHYSICS
from na64flow.selection import Axis, Below, Box, HistSpec, cut, need, region

HCAL_MODULES = ("hcal1_gev", "hcal2_gev", "hcal3_gev", "hcal4_gev")


def hcal_total_gev(cols) -> np.ndarray:
    """Sum of the four HCAL modules (GeV)."""
    return sum(cols[m].astype(np.float64) for m in HCAL_MODULES)


# ------------------------------------------------------------------------------------------- cuts


@cut(uses=("trigger_bits",), n1=Axis("trigger_bits", 4, 0, 4, "trigger bits"))
def physics_trigger(ev, cuts):
    """Physics trigger fired (bit 0: missing energy, deflected muon or disappearance, per setup)."""
    return (ev.trigger_bits & TRIGGER_PHYSICS) != 0


def beam_momentum_cut(p_min_gev: float, p_max_gev: float, name: str = "beam_momentum",
                      label: str = "p_beam [GeV]"):
    """The incoming-momentum window cut, with an N-1 axis from p_min_gev to p_max_gev."""

    @cut(uses=("beam_momentum_gev",), n1=Axis("beam_momentum_gev", 100, p_min_gev, p_max_gev, label), name=name)
    def beam_momentum(ev, cuts):
        """Incoming momentum inside the configured window (beam_momentum_window_gev)."""
        lo, hi = need(cuts, "beam_momentum_window_gev")
        return (ev.beam_momentum_gev > lo) & (ev.beam_momentum_gev < hi)

    return beam_momentum


@cut(uses=("beam_angle_mrad",), n1=Axis("beam_angle_mrad", 50, 0, 10, "angle [mrad]"))
def track_angle(ev, cuts):
    """Small incoming angle to the beam axis."""
    return ev.beam_angle_mrad < need(cuts, "max_angle_mrad")


@cut(uses=("n_tracks_up",), n1=Axis("n_tracks_up", 6, 0, 6, "upstream tracks"))
def single_track(ev, cuts):
    """Exactly one reconstructed upstream track."""
    return ev.n_tracks_up == 1


@cut(uses=("veto_mip",), n1=Axis("veto_mip", 60, 0, 6, "VETO [MIP]"))
def veto_empty(ev, cuts):
    """Nothing charged leaves the target: VETO below the MIP fraction veto_max_mip."""
    return ev.veto_mip < need(cuts, "veto_max_mip")


@cut(uses=("vhcal_gev",), n1=Axis("vhcal_gev", 100, 0, 20, "E_VHCAL [GeV]"), applies=lambda c: c.vhcal)
def vhcal_empty(ev, cuts):
    """Runs with a VHCAL (2023-): no upstream-interaction energy in it."""
    return ev.vhcal_gev < need(cuts, "vhcal_max_gev")


# ------------------------------------------------------------- the (E_ECAL, E_HCAL) box and its neighbours

ECAL_HCAL_BOX = Box(Below("ecal_gev", "ecal_max_gev", "E_ECAL [GeV]"),
                    Below("hcal_gev", "hcal_zero_gev", "E_HCAL [GeV]"))


PLANE = ("ecal_gev", "hcal_gev")   # the columns plane() reads


def plane(ev, cuts):
    """(E_ECAL below the box edge, E_HCAL zero) masks (reads PLANE)."""
    return ev.ecal_gev < need(cuts, "ecal_max_gev"), ev.hcal_gev < need(cuts, "hcal_zero_gev")


@region("box")
def box(ev, cuts, steps):
    """Signal box after all cuts (data: only when unblinded)."""
    return steps.in_box()


@region("validation_ecal", uses=("ecal_gev", "hcal_gev"))
def validation_ecal(ev, cuts, steps):
    """Next to the box in E_ECAL: edge <= E_ECAL < edge + validation_ecal_width_gev, E_HCAL zero."""
    edge = need(cuts, "ecal_max_gev")
    near = (ev.ecal_gev >= edge) & (ev.ecal_gev < edge + need(cuts, "validation_ecal_width_gev"))
    return steps.all() & near & plane(ev, cuts)[1]


@region("validation_hcal", uses=("ecal_gev", "hcal_gev"))
def validation_hcal(ev, cuts, steps):
    """Next to the box in E_HCAL: zero <= E_HCAL < zero + validation_hcal_width_gev, E_ECAL in the box."""
    zero = need(cuts, "hcal_zero_gev")
    near = (ev.hcal_gev >= zero) & (ev.hcal_gev < zero + need(cuts, "validation_hcal_width_gev"))
    return steps.all() & near & plane(ev, cuts)[0]


@region("calibration", uses=("trigger_bits",))
def calibration(ev, cuts, steps):
    """Prescaled unbiased calibration trigger (bit 1), any valid event."""
    return steps.valid & ((ev.trigger_bits & TRIGGER_CALIBRATION) != 0)


ECAL_HCAL_HIST = HistSpec(
    "ecal_hcal", (Axis("ecal_gev", 150, 0, 150, "E_ECAL [GeV]"), Axis("hcal_gev", 400, 0, 100, "E_HCAL [GeV]")),
    lambda ev, cuts, steps: steps.all(), "after all cuts except the box")
