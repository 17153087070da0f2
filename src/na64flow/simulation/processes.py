"""Physics processes of the fast simulation, per setup: what each leaves in the detector, and its rate.

Each generator ``gen(rng, n, ctx) -> detector.Truth`` draws ``n`` events of one process *unconditioned*
(the trigger is applied afterwards). ``ctx`` carries ``e0_gev``, ``beam``, ``setup``, ``vhcal``.

Rates per particle on target (``rate_per_ot``) have two origins:

* a physics estimate, written next to the process with its source tag;
* for the box backgrounds of the published tables (physics.md §1) the rate is *derived*: rate =
  B_published / (N_OT,published x A_box), where A_box is the fraction of the process' events that land in
  the published signal box after the published selection, measured on a fixed-seed pilot sample
  (``run_model.build_model``, pilot box acceptance). This makes the expected box background at the published exposure equal
  to the published one; nothing is tuned to a limit.

This module is the process table (registry); the generators live in processes_electron.py,
processes_muon.py and processes_hadron.py, their shared helpers in process_common.py.
All numbers are listed with their sources in docs/simulation.md.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from .processes_electron import (
    PS_INTERACTION_PROB,
    UPSTREAM_TAIL_PROB,
    annihilation_sm,
    beamline_decay,
    dimuon,
    em_shower,
    hadron_contamination,
    hadron_electroproduction,
    pileup,
    punch_through,
    upstream_interaction,
)
from .processes_hadron import (
    PION_BIG_LEAK_PROB,
    cex_eta_visible,
    cex_etaprime_visible,
    cex_pi0,
    hadron_punch_through,
    pion_shower,
)
from .processes_muon import (
    MS_TAIL_PROB,
    k_mu_nu,
    momentum_misreco,
    muon_brem_hard,
    muon_nominal,
    non_hermetic,
)


@dataclass(frozen=True)
class Published:
    """A published box background used to derive a rate: B events at N OT in the box E_ECAL < ecal_max."""
    background: float
    n_ot: float
    ecal_max_gev: float | None
    source: str


@dataclass(frozen=True)
class Process:
    name: str
    gen: Callable
    rate: float | None = None          # per particle on target; None: derived from `published`
    source: str = ""
    published: Published | None = None
    bulk: bool = False                 # takes the remainder 1 - sum(others) of the beam
    extra: dict = field(default_factory=dict)


E_PUB = 9.37e11   # NA64e 2016-2022 EOT [paper]

# processes whose modelled final state cannot reach the box (E_ECAL < ecal_max, E_HCAL < 1 GeV): their box
# topology is another simulated process, so an importance-sampled estimate would double count it
BOX_NONE = {
    "em_shower": "none in the model: E_ECAL is E0 with 10%/sqrt(E) (+) 2% resolution (the box edge is > 15 "
                 "sigma below); the physical box topologies of a beam electron are the upstream_interaction, "
                 "punch_through and dimuon-loss samples",
    "hadron_electroproduction": "none in the model: E_ECAL < ecal_max needs E0 - ecal_max (>= 28 GeV) of "
                                "hadronic energy in the HCAL; the escaping-hadron topology is the "
                                "punch_through sample",
    "pileup": "none in the model: the second beam particle leaves >= 0.2 E0 in the HCAL",
    "annihilation_sm": "none in the model: mu+ mu- cross the VETO and the HCAL as two MIPs (~10 GeV), "
                       "pi+ pi- shower in the HCAL",
}
MU_PUB = 1.98e10  # NA64mu 2022 MOT [paper]


def processes_for(setup: str, beam: str, e0_gev: float) -> list[Process]:
    """The processes simulated for a setup/beam/energy with their rates (see docs/simulation.md)."""
    if setup == "electron":
        positron = beam == "e+"
        if not positron:
            pub_up = Published(0.16, E_PUB, 50.0, "NA64e 2016-2022: upstream interactions 0.16 +- 0.12 [paper]")
            pub_dec = Published(0.30, E_PUB, 50.0, "NA64e 2016-2022: mu, pi, K -> e decays 0.3 +- 0.05 [paper]")
        elif e0_gev > 85:
            pub_up = Published(0.01, 1.01e10, 50.0, "NA64e+ 2022 total ~0.06, decays dominate: upstream share 0.01 [est split]")
            pub_dec = Published(0.05, 1.01e10, 50.0, "NA64e+ 2022: pi+/K+ -> e+ nu decays ~0.05 of 0.06 [paper, est split]")
        else:
            pub_up = Published(0.07, 1.6e10, 42.0, "NA64e+ 2023: ~0.09, upstream interactions dominate: 0.07 [paper, est split]")
            pub_dec = Published(0.02, 1.6e10, 42.0, "NA64e+ 2023: decays 0.02 of 0.09 [est split]")
        hadron_frac = 0.04 if positron else 0.004
        procs = [
            Process("em_shower", em_shower, None, "remainder of the beam", bulk=True,
                    extra={"box_topology": BOX_NONE["em_shower"]}),
            Process("hadron_contamination", hadron_contamination, hadron_frac,
                    "hadron contamination ~4% e+ / 0.3-0.5% e- [paper]",
                    extra={"trigger_component": ("ps", PS_INTERACTION_PROB),
                           "box_topology": "importance-sampled in the MC: leading neutral punching through the "
                                           "HCAL (5e-14 per interacting hadron) x SRD faked in all three modules (1e-6)"}),
            Process("hadron_electroproduction", hadron_electroproduction, 1e-4,
                    "[est] sigma(gamma A)/sigma(pair) ~ 3.5e-4 for Pb [lit PDG] x hard-photon fraction ~0.3",
                    extra={"box_topology": BOX_NONE["hadron_electroproduction"]}),
            Process("dimuon", dimuon, 1e-5, "zone I dimuons ~1e-5 per EOT [paper]",
                    extra={"loss": Published(0.04, E_PUB, 50.0, "dimuon losses/decays in target 0.04 +- 0.01 [paper]")}),
            Process("pileup", pileup, 2.5e-5,
                    "[est] P(second particle in +-25 ns) ~ 0.05 at ~1e6 e-/s [paper intensity] x P(trigger) ~5e-4",
                    extra={"box_topology": BOX_NONE["pileup"]}),
            Process("upstream_interaction", upstream_interaction, None, pub_up.source, published=pub_up,
                    extra={"trigger_component": ("tail", UPSTREAM_TAIL_PROB)}),
            Process("beamline_decay", beamline_decay, None, pub_dec.source, published=pub_dec),
            Process("punch_through", punch_through, None, "punch-through < 0.01 [paper]: 0.005 [est]",
                    published=Published(0.005, E_PUB, 50.0, "punch-through < 0.01 [paper], taken as 0.005 [est]")),
        ]
        if positron:
            procs.append(Process("annihilation_sm", annihilation_sm, 3e-6,
                                 "[lit] sigma(ee->mumu) = 86.8 nb/s[GeV^2] at s = 2 m_e E0, x n_e x 1 X0 (+30% pi pi) [est]",
                                 extra={"box_topology": BOX_NONE["annihilation_sm"]}))
        return procs
    if setup == "muon":
        return [
            Process("muon_nominal", muon_nominal, None, "remainder of the beam", bulk=True),
            Process("muon_brem_hard", muon_brem_hard, 1e-4,
                    "[est] muon brem + photo-nuclear in 40 X0 Pb with v > 0.05: b ~ 4e-6 cm^2/g [lit PDG] x 250 g/cm^2 x 0.1"),
            Process("momentum_misreco", momentum_misreco, None, "momentum mis-reconstruction 0.05 +- 0.03 [paper]",
                    published=Published(0.05, MU_PUB, None, "NA64mu 2022: momentum mis-reconstruction 0.05 [paper]"),
                    extra={"trigger_component": ("tail", MS_TAIL_PROB)}),
            Process("k_mu_nu", k_mu_nu, None, "K -> mu nu 0.010 +- 0.001 [paper]",
                    published=Published(0.010, MU_PUB, None, "NA64mu 2022: K -> mu nu in flight 0.010 [paper]")),
            Process("non_hermetic", non_hermetic, None, "non-hermeticity < 0.01 [paper]: 0.005 [est]",
                    published=Published(0.005, MU_PUB, None, "NA64mu 2022: non-hermeticity < 0.01 [paper], 0.005 [est]")),
        ]
    if setup == "hadron":
        return [
            Process("pion_shower", pion_shower, None, "remainder of the beam", bulk=True,
                    extra={"trigger_component": ("leak", PION_BIG_LEAK_PROB)}),
            Process("cex_pi0", cex_pi0, 1e-4,
                    "[est] sigma(pi- p -> pi0 n) ~ 20 ub at 50 GeV [lit GAMS] x 2.7e24 p/cm^3 x 22 cm, x 0.1 leading-meson/nuclear"),
            Process("cex_eta_visible", cex_eta_visible, 3e-5,
                    "[est] sigma(pi- p -> eta n) ~ 6 ub [lit GAMS/PROZA], same treatment as pi0, x Br(visible)"),
            Process("cex_etaprime_visible", cex_etaprime_visible, 1e-5,
                    "[est] sigma(pi- p -> eta' n) ~ 2 ub [lit GAMS], same treatment"),
            Process("hadron_punch_through", hadron_punch_through, 2.7e-15,
                    "[est] leading neutral (x > 0.9) 1e-2 x no ECAL interaction 0.27 x (1e-3 per HCAL module [paper])^4"),
        ]
    raise ValueError(f"unknown setup {setup}")
