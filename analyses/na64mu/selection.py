"""NA64mu selection (160 GeV mu, missing momentum): cuts, box p_out < p_out_max_gev, regions, histograms.

Published cut-flow (physics.md §2 [paper]): HCAL modules in time; single hit per tracker; MS1 momentum
in [135, 185] GeV; chi2 quality of MS2; ECAL, HCAL and VETO energies compatible with a MIP; signal box
p_out < 80 GeV. Values from ``config.cuts_for(cfg, "na64mu", run)``.
"""

from __future__ import annotations

from na64flow_analyses.common import HCAL_MODULES, box, calibration, hcal_total_gev, physics_trigger

from na64flow.selection import Analysis, Axis, Below, Box, HistSpec, Selection, cut, derived, need, region


@derived(uses=HCAL_MODULES + ("ms2_momentum_gev",), makes=("hcal_gev", "p_out_gev"))
def derive(cols, cuts):
    """Derived columns: total HCAL energy, p_out = MS2 momentum."""
    cols["hcal_gev"] = hcal_total_gev(cols)
    cols["p_out_gev"] = cols["ms2_momentum_gev"]
    return cols


@cut(uses=("hcal_time_spread_ns",), n1=Axis("hcal_time_spread_ns", 60, 0, 30, "HCAL time spread [ns]"))
def hcal_in_time(ev, cuts):
    """HCAL modules in time with each other (no pile-up)."""
    return ev.hcal_time_spread_ns < need(cuts, "time_window_ns")


@cut(uses=("max_hits_per_tracker",), n1=Axis("max_hits_per_tracker", 6, 0, 6, "max hits per tracker"))
def single_hit(ev, cuts):
    """At most max_hits_per_tracker hits in every tracker station."""
    return ev.max_hits_per_tracker <= need(cuts, "max_hits_per_tracker")


@cut(uses=("beam_momentum_gev",), n1=Axis("beam_momentum_gev", 120, 100, 220, "p_MS1 [GeV]"))
def ms1_momentum(ev, cuts):
    """Incoming momentum (MS1) inside the window [135, 185] GeV [paper]."""
    lo, hi = need(cuts, "ms1_window_gev")
    return (ev.beam_momentum_gev > lo) & (ev.beam_momentum_gev < hi)


@cut(uses=("ms2_chi2",), n1=Axis("ms2_chi2", 100, 0, 20, "MS2 chi2/ndf"))
def ms2_quality(ev, cuts):
    """Good outgoing track fit in MS2."""
    return ev.ms2_chi2 < need(cuts, "ms2_chi2_max")


@cut(uses=("ecal_gev",), n1=Axis("ecal_gev", 100, 0, 10, "E_ECAL [GeV]"))
def ecal_mip(ev, cuts):
    """ECAL energy compatible with a MIP."""
    lo, hi = need(cuts, "ecal_mip_window_gev")
    return (ev.ecal_gev > lo) & (ev.ecal_gev < hi)


@cut(uses=HCAL_MODULES, n1=Axis("hcal_gev", 100, 0, 20, "E_HCAL [GeV]"))
def hcal_mip(ev, cuts):
    """Every HCAL module energy compatible with a MIP."""
    lo, hi = need(cuts, "hcal_mip_window_gev")
    return ((ev.hcal1_gev > lo) & (ev.hcal1_gev < hi) & (ev.hcal2_gev > lo) & (ev.hcal2_gev < hi)
            & (ev.hcal3_gev > lo) & (ev.hcal3_gev < hi) & (ev.hcal4_gev > lo) & (ev.hcal4_gev < hi))


@cut(uses=("veto_mip",), n1=Axis("veto_mip", 60, 0, 6, "VETO [MIP]"))
def veto_mip(ev, cuts):
    """One MIP in the VETO."""
    lo, hi = need(cuts, "veto_mip_window")
    return (ev.veto_mip > lo) & (ev.veto_mip < hi)


SELECTION = Selection([physics_trigger, hcal_in_time, single_hit, ms1_momentum, ms2_quality, ecal_mip,
                       hcal_mip, veto_mip])
BOX = Box(Below("p_out_gev", "p_out_max_gev", "p_out [GeV]"))


@region("sideband_p_out", uses=("p_out_gev",))
def sideband_p_out(ev, cuts, steps):
    """All cuts, p_out_max_gev <= p_out < sideband_p_out_max_gev (momentum mis-reconstruction tail)."""
    p = ev.p_out_gev
    return steps.all() & (p >= need(cuts, "p_out_max_gev")) & (p < need(cuts, "sideband_p_out_max_gev"))


@region("sideband_calorimeter", uses=("p_out_gev",))
def sideband_calorimeter(ev, cuts, steps):
    """p_out in the box but calorimeters/VETO not MIP-like (non-hermeticity, visible interactions)."""
    not_mip = ~(steps.cuts["ecal_mip"] & steps.cuts["hcal_mip"] & steps.cuts["veto_mip"])
    low_p = ev.p_out_gev < need(cuts, "p_out_max_gev")
    return steps.all_but("ecal_mip", "hcal_mip", "veto_mip") & not_mip & low_p


@region("validation_p_out", uses=("p_out_gev",))
def validation_p_out(ev, cuts, steps):
    """Next to the box: p_out_max_gev <= p_out < p_out_max_gev + validation_p_out_width_gev."""
    edge = need(cuts, "p_out_max_gev")
    p = ev.p_out_gev
    return steps.all() & (p >= edge) & (p < edge + need(cuts, "validation_p_out_width_gev"))


REGIONS = (box, sideband_p_out, sideband_calorimeter, validation_p_out, calibration)

HISTS = (
    HistSpec("p_out", (Axis("p_out_gev", 200, 0, 200, "p_out [GeV]"),),
             lambda ev, cuts, steps: steps.all(), "after all cuts except p_out"),
    HistSpec("ms1", (Axis("beam_momentum_gev", 120, 100, 220, "p_MS1 [GeV]"),),
             lambda ev, cuts, steps: steps.all(), "after all cuts except p_out"),
)

ANALYSIS = Analysis(name="na64mu", setup="muon", selection=SELECTION, box=BOX, regions=REGIONS,
                    hists=HISTS, derive=derive)
