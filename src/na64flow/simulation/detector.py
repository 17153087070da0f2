"""Detector response of the fast simulation: true deposits -> reconstructed branches of the event schema.

Every process generator (``processes_<setup>.py``) returns a :class:`Truth` table of true quantities (incoming
momentum, synchrotron-radiation scale, e-m and hadronic energy in the ECAL, the four HCAL modules,
VETO/VHCAL deposits, times, truth labels). :func:`respond` turns it into the schema columns of
``na64flow.events`` with the resolutions, noise, inefficiencies and tails below.

Parameters and sources ([paper] = physics.md / seeds, [lit] = PDG / textbook, [est] = estimate):

* tracking: Delta p/p = 1% core [paper], 1% of tracks with a 5x wider core [est]; beam momentum
  spread sigma_p/p = 0.5% (spread < 1% [paper]); angle sigma = 0.4 mrad per projection [est];
* SRD: ~30 synchrotron photons of ~MeV per electron at 100 GeV in 3 modules [paper] -> Poisson(10) photons
  per module, exponential photon energy with mean 1.5 MeV x (E/100 GeV)^2 (critical energy ~ E^2 [lit]),
  plus Gaussian noise 0.1 MeV [est]; hadrons/muons emit no SR (rejection 1e-5..1e-6 [paper]) but a
  module fires on a knock-on delta/shower with probability 1e-2 [est] (=> 1e-6 for all three);
* ECAL: sigma/E = 10%/sqrt(E) (+) 2% [paper; constant term est within 1-3%], noise 0.05 GeV [est];
  hadronic energy in the ECAL at the e-m scale with e/h response 0.8 and 60%/sqrt(E) [est];
  pre-shower (first 4 X0) from a Gamma longitudinal profile, t_max = ln(E/E_c) - 0.5, E_c = 7.4 MeV,
  b = 0.5 [lit: PDG "Electromagnetic cascades"]; shower-shape chi2/ndf ~ chi2(20)/20 x chi2_scale;
* HCAL: 4 modules, sigma/E = 60%/sqrt(E) [paper] per module, noise 0.1 GeV per module [est]
  ("zero energy" < 1 GeV is noise-limited [paper]); a MIP gives 1.25 GeV per module
  (two muons ~ 10 GeV in 4 modules [paper]) with a Landau (Moyal) width of 0.12 GeV [est];
* VETO: MIP units, Moyal width 0.1 MIP, noise 0.03 MIP [est]; VHCAL sigma/E = 60%/sqrt(E), noise 0.1 GeV;
* timing: ECAL sigma_t = 0.8 ns, HCAL 1.2 ns [est]; pile-up particles are offset within +-25 ns;
* channel inefficiency: each HCAL module reads 0 with probability 1e-4 [est];
* pile-up overlay: an extra beam track in the trackers with probability 1 - exp(-R tau) = 0.099 for the
  H4 setups (R = 1e7 particles per 4.8 s spill [paper], tau = 50 ns window [est]; removed by the one-track
  cut: a signal inefficiency), 0.05 for the muon setup [est]; energetic pile-up in the calorimeters is the
  separate ``pileup`` process;
* upstream tracking (H4 setups): a track needs hits in >= 3 of 4 stations, each efficient with 0.95 [est,
  typical MM/GEM plane efficiency]; without a track the momentum is 0 (fails the momentum window).
  Muon setup: ``muon_geometry`` (MS1/MS2 stations, extra hits, apertures).
"""

from __future__ import annotations

import numpy as np
from scipy import special

from .. import events

# ------------------------------------------------------------------ parameters (see module docstring)
BEAM_SPREAD_REL = 0.005        # sigma_p/p of the beam [paper: < 1%]
TRACK_RES_REL = 0.01           # Delta p/p [paper]
TRACK_TAIL_FRACTION = 0.01     # [est]
TRACK_TAIL_FACTOR = 5.0        # [est]
ANGLE_SIGMA_MRAD = 0.4         # per projection [est]
SRD_PHOTONS_PER_MODULE = 10.0  # ~30 photons over 3 modules [paper]
SRD_PHOTON_MEAN_MEV_100 = 1.5  # ~MeV photons at 100 GeV [paper]
SRD_NOISE_MEV = 0.1            # [est]
SRD_FAKE_PROB = 1e-2           # per module for particles without SR [est]
ECAL_STOCH = 0.10              # 10%/sqrt(E) [paper]
ECAL_CONST = 0.02              # constant term [est, paper says 1-3%]
ECAL_NOISE_GEV = 0.05          # [est]
ECAL_HAD_RESPONSE = 0.8        # e/h response of hadronic energy in the ECAL [est]
HAD_STOCH = 0.60               # 60%/sqrt(E) [paper]
HCAL_NOISE_GEV = 0.1           # per module [est]
HCAL_DEAD_PROB = 1e-4          # [est]
MIP_HCAL_GEV = 1.25            # per module [paper: two muons ~ 10 GeV over 4 modules]
MIP_HCAL_WIDTH_GEV = 0.12      # [est]
MIP_ECAL_GEV = 0.35            # muon through 40 X0 of Pb/Sc at the e-m scale [est]
MIP_ECAL_WIDTH_GEV = 0.04      # [est]
MIP_PS_FRACTION = 0.1          # 4 of 40 X0 [geometry]
VETO_WIDTH_MIP = 0.1           # [est]
VETO_NOISE_MIP = 0.03          # [est]
VHCAL_NOISE_GEV = 0.1          # [est]
ECAL_TIME_SIGMA_NS = 0.8       # [est]
HCAL_TIME_SIGMA_NS = 1.2       # [est]
CHI2_NDF = 20                  # [est]
E_CRIT_PB_GEV = 0.0074         # critical energy of lead [lit PDG]
PROFILE_B = 0.5                # Gamma-profile slope [lit PDG]
MS_RES_REL = 0.02              # MS1/MS2 core Delta p/p for the muon setup [est]
PILEUP_TRACK_PROB = 0.05       # muon setup: an extra beam track in the tracker window: ~1e6 particles/s x 50 ns [est]
H4_RATE_PER_S = 1e7 / 4.8      # H4 beam: ~1e7 e-/spill of 4.8 s [paper, physics.md §2]
TRACKER_WINDOW_NS = 50.0       # upstream tracker (MM/GEM) coincidence window [est]
# H4 setups (e-, e+, pi-): P(another beam particle in the tracker window) = 1 - exp(-R tau) = 0.099
PILEUP_TRACK_PROB_H4 = 1.0 - float(np.exp(-H4_RATE_PER_S * TRACKER_WINDOW_NS * 1e-9))
UPSTREAM_STATIONS, UPSTREAM_STATIONS_NEEDED, UPSTREAM_STATION_EFF = 4, 3, 0.95   # [est] as muon_geometry


class Truth(dict):
    """Column table of true quantities (numpy arrays of equal length); see :func:`blank`."""

    @property
    def n(self) -> int:
        return len(self["p_true_gev"])


def blank(n: int, e0_gev: float) -> Truth:
    """All true quantities for ``n`` events with neutral defaults (nothing deposited anywhere)."""
    z = np.zeros(n)
    return Truth(
        p_true_gev=np.full(n, float(e0_gev)),   # incoming momentum at the target
        p_meas_true_gev=np.full(n, float(e0_gev)),  # momentum the upstream spectrometer sees (parent)
        sr_scale=z.copy(),          # SR energy scale (E/100 GeV)^2 x fraction of the magnet path; 0: no SR
        ecal_em_gev=z.copy(),       # e-m energy deposited in the ECAL
        em_start_x0=z.copy(),       # depth where the e-m shower starts
        ecal_had_gev=z.copy(),      # hadronic energy deposited in the ECAL (true, before e/h)
        had_start_x0=np.full(n, 100.0),  # depth of the first hadronic interaction (100: none in ECAL)
        ecal_mip=z.copy(),          # number of MIP-like tracks through the whole ECAL
        chi2_scale=np.ones(n),      # shower-shape chi2 scale (1: e-m template)
        hcal_gev=np.zeros((n, 4)),  # true hadronic/em energy per HCAL module
        hcal_mip=z.copy(),          # number of MIP tracks through the HCAL modules
        veto_mip_true=z.copy(),
        vhcal_gev=z.copy(),
        ecal_dt_ns=z.copy(),        # time offsets (pile-up)
        hcal_dt_ns=z.copy(),
        n_tracks=np.ones(n, dtype=np.int32),
        p_out_true_gev=z.copy(),    # muon setup: outgoing momentum
        ms2_tail=z.copy(),          # muon setup: relative MS2 mis-measurement (0 = core)
        ms2_chi2_scale=np.ones(n),
        max_hits=np.ones(n, dtype=np.int32),
        mu_theta_x_mrad=z.copy(),   # muon setup: outgoing muon angle from the interaction (projections)
        mu_theta_y_mrad=z.copy(),
        mu_scatter_x0=np.full(n, 40.0),  # muon setup: material after the interaction at p_out (X0)
        srd_fake_mode=np.zeros(n, dtype=np.int8),  # SRD fakes of non-radiating particles: 0 natural,
        # 1 all three modules fake (importance sampling), 2 natural conditioned on "not all three"
        true_e_miss_gev=z.copy(),
        true_mediator_e_gev=z.copy(),
        bias_weight=np.ones(n),     # importance-sampling weight (MC samples only)
    )


def concat(parts: list[Truth]) -> Truth:
    keys = parts[0].keys()
    return Truth({k: np.concatenate([p[k] for p in parts]) for k in keys})


def take(t: Truth, idx) -> Truth:
    return Truth({k: v[idx] for k, v in t.items()})


def hadronic_split(rng: np.random.Generator, e_gev: np.ndarray, start_module: np.ndarray | None = None) -> np.ndarray:
    """Share hadronic energies ``e_gev`` over the 4 HCAL modules (~7.5 lambda each [paper]).

    Longitudinal fractions Dirichlet(8, 2, 0.5, 0.2)-distributed [est: ~80% contained in the first
    7.5 lambda], shifted to start in ``start_module`` (0 by default).
    """
    n = len(e_gev)
    frac = rng.dirichlet([8.0, 2.0, 0.5, 0.2], size=n)
    if start_module is not None:
        out = np.zeros_like(frac)
        for k in range(4):
            sel = start_module == k
            if np.any(sel):
                out[sel, k:] = frac[sel, : 4 - k]
                out[sel, 3] += frac[sel, 4 - k:].sum(axis=1)
        frac = out
    return frac * e_gev[:, None]


def ps_fraction(e_gev: np.ndarray, start_x0: np.ndarray) -> np.ndarray:
    """Fraction of an e-m shower of energy ``e_gev`` starting at ``start_x0`` deposited in the first 4 X0.

    Longitudinal profile dE/dt ~ (bt)^(a-1) e^(-bt), b = 0.5, t_max = (a-1)/b = ln(E/E_c) - 0.5 [lit PDG].
    """
    e = np.maximum(e_gev, 1e-3)
    tmax = np.maximum(np.log(e / E_CRIT_PB_GEV) - 0.5, 0.5)
    a = PROFILE_B * tmax + 1.0
    depth = np.clip(4.0 - start_x0, 0.0, None)
    return special.gammainc(a, PROFILE_B * depth)


def smear_hadronic(rng: np.random.Generator, e_gev: np.ndarray) -> np.ndarray:
    """Hadronic-calorimeter response to true energy ``e_gev``: mean e, variance (0.60^2 GeV) e, i.e.
    sigma/E = 60%/sqrt(E) [paper]; drawn from a Gamma distribution (shape e/0.36, scale 0.36 GeV) so that
    small deposits stay positive (a Gaussian would give unphysical negative energies)."""
    e = np.asarray(e_gev, float)
    pos = e > 0
    out = np.zeros_like(e)
    out[pos] = rng.gamma(e[pos] / HAD_STOCH**2, HAD_STOCH**2)
    return out


def _moyal(rng, mpv, width, size):
    """Landau-like energy loss (Moyal distribution, scipy.stats.moyal parametrisation) [lit]."""
    # Moyal variate: -ln(Z^2) with Z ~ N(0,1) has the standard Moyal distribution
    z = rng.standard_normal(size)
    return mpv + width * (-np.log(z * z + 1e-300))


def respond(rng: np.random.Generator, t: Truth, *, setup: str, run_number: int, vhcal: bool) -> dict[str, np.ndarray]:
    """Reconstructed schema columns (na64flow.events, setup ``setup``, truth branches included) from ``t``."""
    n = t.n
    cols: dict[str, np.ndarray] = {}
    cols["run_number"] = np.full(n, run_number, dtype=np.int32)
    cols["spill_time_s"] = rng.uniform(0.0, 4.8, n)   # 4.8 s spill [paper]
    # --- tracking
    res = np.where(rng.random(n) < TRACK_TAIL_FRACTION, TRACK_TAIL_FACTOR, 1.0)
    rel = TRACK_RES_REL if setup != "muon" else MS_RES_REL
    cols["beam_momentum_gev"] = t["p_meas_true_gev"] * (1.0 + rel * res * rng.standard_normal(n))
    ax, ay = rng.standard_normal((2, n)) * ANGLE_SIGMA_MRAD
    cols["beam_angle_mrad"] = np.hypot(ax, ay)
    p_pile = PILEUP_TRACK_PROB if setup == "muon" else PILEUP_TRACK_PROB_H4
    extra = rng.random(n) < p_pile   # pile-up overlay in the trackers (removed by the 1-track cuts)
    cols["n_tracks_up"] = (t["n_tracks"] + extra).astype(np.int32)
    if setup != "muon":   # upstream spectrometer: a track needs >= 3 of 4 stations; none -> no momentum (0)
        seen = rng.binomial(UPSTREAM_STATIONS, UPSTREAM_STATION_EFF, n) >= UPSTREAM_STATIONS_NEEDED
        cols["beam_momentum_gev"] = np.where(seen, cols["beam_momentum_gev"], 0.0)
    # --- SRD
    mode = t["srd_fake_mode"]
    no_sr = t["sr_scale"] <= 0
    srd_e, fakes, fake_e, noise = [], [], [], []
    for _k in (1, 2, 3):
        nph = rng.poisson(SRD_PHOTONS_PER_MODULE * (t["sr_scale"] > 0))
        mean = SRD_PHOTON_MEAN_MEV_100 * t["sr_scale"]
        # sum of nph exponentials = Gamma(nph, mean)
        srd_e.append(np.where(nph > 0, rng.gamma(np.maximum(nph, 1), np.maximum(mean, 1e-12)), 0.0))
        fakes.append(no_sr & ((rng.random(n) < SRD_FAKE_PROB) | (mode == 1)))
        fake_e.append(rng.exponential(5.0, n))
        noise.append(SRD_NOISE_MEV * rng.standard_normal(n))
    fakes = np.stack(fakes, axis=1)
    redo = np.flatnonzero((mode == 2) & fakes.all(axis=1))
    while len(redo):   # exact conditioning on "not all three fake" (rare: 1e-6 of these rows)
        fakes[redo] = rng.random((len(redo), 3)) < SRD_FAKE_PROB
        redo = redo[fakes[redo].all(axis=1)]
    for k in (1, 2, 3):
        cols[f"srd{k}_mev"] = srd_e[k - 1] + np.where(fakes[:, k - 1], fake_e[k - 1], 0.0) + noise[k - 1]
    # --- ECAL
    em = t["ecal_em_gev"]
    sig_em = np.sqrt(ECAL_STOCH**2 * np.maximum(em, 1e-6) + (ECAL_CONST * em) ** 2)
    em_reco = em + sig_em * rng.standard_normal(n)
    had = t["ecal_had_gev"] * ECAL_HAD_RESPONSE
    had_reco = smear_hadronic(rng, had)
    mip = t["ecal_mip"]
    mip_reco = np.where(mip > 0, _moyal(rng, MIP_ECAL_GEV, MIP_ECAL_WIDTH_GEV, n) * mip, 0.0)
    cols["ecal_gev"] = em_reco + had_reco + mip_reco + ECAL_NOISE_GEV * rng.standard_normal(n)
    ps = em * ps_fraction(em, t["em_start_x0"])
    ps = ps * (1.0 + ECAL_STOCH / np.sqrt(np.maximum(ps, 1e-3)) * 0.5 * rng.standard_normal(n))
    had_in_ps = np.where(t["had_start_x0"] < 4.0, had * rng.uniform(0.05, 0.4, n), 0.0)
    cols["ecal_ps_gev"] = np.clip(ps, 0.0, None) + had_in_ps + MIP_PS_FRACTION * mip_reco \
        + 0.3 * ECAL_NOISE_GEV * rng.standard_normal(n)
    cols["ecal_chi2"] = rng.chisquare(CHI2_NDF, n) / CHI2_NDF * t["chi2_scale"]
    cols["ecal_time_ns"] = t["ecal_dt_ns"] + ECAL_TIME_SIGMA_NS * rng.standard_normal(n)
    # --- VETO, VHCAL
    vm = t["veto_mip_true"]
    cols["veto_mip"] = np.where(vm > 0, vm + VETO_WIDTH_MIP * (-np.log(rng.standard_normal(n) ** 2 + 1e-300)) * np.sqrt(vm), 0.0) \
        + VETO_NOISE_MIP * rng.standard_normal(n)
    if vhcal:
        vh = t["vhcal_gev"]
        cols["vhcal_gev"] = smear_hadronic(rng, vh) + VHCAL_NOISE_GEV * rng.standard_normal(n)
    else:
        cols["vhcal_gev"] = np.zeros(n)
    # --- muon setup: downstream acceptance of the outgoing muon (muon_geometry)
    geom = None
    if setup == "muon":
        from . import muon_geometry

        geom = muon_geometry.downstream(rng, t["p_out_true_gev"], t["mu_theta_x_mrad"], t["mu_theta_y_mrad"],
                                        t["mu_scatter_x0"], t["p_true_gev"])
    # --- HCAL
    h = t["hcal_gev"]
    h_reco = smear_hadronic(rng, h)
    nmip = t["hcal_mip"][:, None]
    if geom is not None:   # the outgoing muon is a MIP only in the modules it crosses
        nmip = nmip * geom["hcal_module"]
    h_reco = h_reco + np.where(nmip > 0, _moyal(rng, MIP_HCAL_GEV, MIP_HCAL_WIDTH_GEV, (n, 4)) * nmip, 0.0)
    h_reco = h_reco + HCAL_NOISE_GEV * rng.standard_normal((n, 4))
    h_reco = np.where(rng.random((n, 4)) < HCAL_DEAD_PROB, 0.0, h_reco)
    for k in range(4):
        cols[f"hcal{k + 1}_gev"] = h_reco[:, k]
    cols["hcal_time_ns"] = t["hcal_dt_ns"] + HCAL_TIME_SIGMA_NS * rng.standard_normal(n)
    # --- muon setup
    if setup == "muon":
        core = MS_RES_REL * rng.standard_normal(n)
        cols["ms2_momentum_gev"] = t["p_out_true_gev"] * (1.0 + core + t["ms2_tail"])
        cols["ms2_chi2"] = rng.chisquare(8, n) / 8.0 * t["ms2_chi2_scale"]
        # no MS2 track (too few stations, or outside the magnet aperture): the fit fails (chi2 = 999)
        cols["ms2_chi2"] = np.where(geom["ms2_ok"], cols["ms2_chi2"], 999.0)
        # no MS1 track: no incoming momentum (0, outside any MS1 window)
        cols["beam_momentum_gev"] = np.where(geom["ms1_ok"], cols["beam_momentum_gev"], 0.0)
        cols["max_hits_per_tracker"] = (t["max_hits"] + extra + (geom["extra_hits"] > 0)).astype(np.int32)
        fired = (h_reco > 0.3).sum(axis=1) > 1
        spread = np.abs(rng.standard_normal(n)) * HCAL_TIME_SIGMA_NS * 1.4
        cols["hcal_time_spread_ns"] = np.where(fired, spread, 0.0) + np.abs(t["hcal_dt_ns"])
    # --- truth
    cols["true_e_miss_gev"] = t["true_e_miss_gev"]
    cols["true_mediator_e_gev"] = t["true_mediator_e_gev"]
    types = events.numpy_types(setup, truth=True)
    out = {k: np.asarray(v, dtype=types[k]) for k, v in cols.items() if k in types}
    if geom is not None:   # not a schema branch: used by trigger.physics_trigger, never written
        out["_mu_counter"] = geom["counter"]
    return out
