"""Estimate the expected background in the signal box, source by source (side bands + simulation).

Writes ``results/<tag>/background/<analysis>/<run>.{json,md,tex}`` (docs/contracts.md). Sources:

* **data-driven side-band extrapolation** (``fits.extrapolate``):
  - electron/positron (NA64e, NA64e+): "lost neutrals (gamma, n, K0) from upstream interactions"
    [paper, physics.md §1]. The data (E_ECAL, E_HCAL) histogram ``ecal_hcal`` is projected on E_HCAL
    in the strip E_ECAL < E_ECAL,max (the ``sb_hcal`` side band: HCAL cut inverted); the E_HCAL shape
    is fitted for E_HCAL >= hcal_zero and extrapolated into E_HCAL < hcal_zero, which *is* the box.
    Choice (factorised, documented in docs/background.md): N_box = n_sb x F(E_HCAL < 1)/F(fit range)
    from the fitted shape; the ABCD product with the E_ECAL side band is not used because E_ECAL and
    E_HCAL are strongly anti-correlated (E_ECAL + E_HCAL ~ E0 for hadronic events, zone II).
  - muon (NA64mu): momentum mis-reconstruction tails -- the data ``p_out`` spectrum above the cut
    (p_out >= p_out_max, the side band) is fitted and extrapolated below p_out_max.
  The box bins of the data histograms are never read: the arrays are sliced to the side band before
  any use (box bins straddling an edge are excluded with the box). Candidates: 4 shapes x the fit
  ranges, plus the simulation transfer factor per range; every fit choice is also applied to the
  simulated sample of the replaced process and must close there (|pull| <= max_closure_pull) to be
  central or enter the systematic envelope; otherwise the transfer factor is central.
* **simulation-based** sources: every other ``mc_<process>`` sample of the file, its (unblinded) box
  count sum(w) with MC statistics sqrt(sum w^2) (68% CL upper value 1.14 x mean weight when no MC
  event passes), times a normalisation factor measured in data (dimuons: k from the dimuon region,
  ``normalisation``; other processes: data/simulation in ``mc_norm_region``, the calibration stream),
  with a relative normalisation systematic per process (``mc_norm_syst``, [est] values below); beam
  hadrons and beam-line decays are normalised to the hadron content measured in data
  (``hadron_norm_factor``: the SRD N-1 distribution below ~2 MeV).

Sources with only an upper value (no simulated box event, or an empty data side band) are listed
with it but not added to the total (``total.not_included``). Published mode (``input.source:
published``): the sources and total of ``runs.<run>.published``, method "published".
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

import numpy as np

from . import NA64Error, config, contracts, fits, normalisation, paths, samples

log = logging.getLogger(__name__)

# Human-readable names like the published tables [paper, physics.md §1]
LABELS = {
    "upstream_interactions": "Lost neutrals (γ, n, K0) from upstream interactions",
    "dimuon": "Dimuon losses or decays in the target",
    "beamline_decay": "μ, π, K → e decays in the beam line",
    "punch_through": "Punch-through of leading n, K0_L",
    "hadron_contamination": "Beam hadrons mis-identified as electrons",
    "annihilation_sm": "e+e- annihilation into hadrons / μμ",
    "hadron_electroproduction": "Hadron electro-production (zone II) leaking into the box",
    "em_shower": "Ordinary e-m showers (ECAL leakage)",
    "pileup": "Pile-up",
    "momentum_misreco": "Momentum mis-reconstruction (MS1/MS2 tails)",
    "k_mu_nu": "K → μν in-flight decays",
    "non_hermetic": "Calorimeter non-hermeticity",
    "muon_brem_hard": "Hard bremsstrahlung / nuclear interactions of the muon",
    "muon_nominal": "Ordinary muons",
    "hadron_punch_through": "Punch-through of leading neutrals (all calorimeters)",
    "pion_shower": "Ordinary hadronic showers",
    "cex_pi0": "Charge exchange π- p → π0 n",
    "cex_eta_visible": "π- p → η n, η → visible",
    "cex_etaprime_visible": "π- p → η' n, η' → visible",
}

# Defaults of the `background:` section (configs/default.yaml may override; one level deep merge).
DEFAULTS = {
    "fit_models": list(fits.MODELS),
    "min_fit_pvalue": 0.01,          # [est] reasonable-fit criterion for the systematic envelope
    "power_law_offset_gev": 1.0,     # [est] c in (x + c)^-p
    "min_fit_events": 10.0,          # [est] fewer side-band events in a fit range: shape unconstrained
    "max_closure_pull": 2.0,         # [est] a fit choice must reproduce the simulated box within 2 sigma
    "validation_width_gev": 10.0,    # [est] pseudo-box thr < x < thr + width for closure on data
    "mc_norm_region": "calibration",
    "mc_norm_syst": {                # relative normalisation systematic of MC-based sources
        "default": 0.30,             # [est] generic simulation normalisation
        "dimuon": 0.10,              # [paper] ~10% from the dimuon comparison
        "beamline_decay": 0.17,      # [paper] 0.3 +- 0.05 in the NA64e table (hadron-contamination measurement)
        "k_mu_nu": 0.10,             # [paper] 0.010 +- 0.001 in the NA64mu table
        "punch_through": 0.50,       # [est] only an upper value is published (< 0.01)
        "non_hermetic": 0.50,        # [est] only an upper value is published (< 0.01)
    },
    "electron": {"hadron_norm": {"histogram": "n1_srd_tag", "range": [0.0, 2.0],
                                 "processes": ["hadron_contamination"],
                                 "applies_to": ["hadron_contamination", "beamline_decay"]},
                 "sideband": {"name": "upstream_interactions", "histogram": "ecal_hcal",
                              "fit_ranges_gev": [[1.0, 6.0], [1.0, 10.0], [1.0, 4.0]], "rebin": 2,
                              "primary": ["exponential", 0], "replaces": ["upstream_interaction"]}},
    "muon": {"sideband": {"name": "momentum_misreco", "histogram": "p_out",
                          "fit_ranges_gev": [[80.0, 100.0], [80.0, 96.0], [84.0, 100.0]], "rebin": 2,
                          "primary": ["exponential", 0], "replaces": ["momentum_misreco"]}},
    # NA64h: the simulated samples carry no calibration-trigger stream, so the exposure check uses the
    # HCAL side band (ECAL empty, HCAL above zero: ordinary pion showers), as the normalisation step does
    "hadron": {"sideband": None, "mc_norm_region": "sideband_hcal"},
}

# 68% CL upper value of a Poisson mean with 0 observed: 1.14 [lit: Feldman & Cousins 1998, table]
ZERO_COUNT_68 = 1.14


def settings(cfg: dict) -> dict:
    """The ``background`` section merged over DEFAULTS (dicts merged one level deep)."""
    return config.merged_section(cfg, "background", DEFAULTS)


# ---------------------------------------------------------------------------------------------
# histogram access that cannot touch the box


def _axis_index(h, key: str, default: int) -> int:
    for i, ax in enumerate(h.axes):
        if key in (ax.name or "").lower() or key in (ax.label or "").lower():
            return i
    return default


def hcal_strip(h, ecal_range_gev: tuple[float, float], hcal_min_gev: float):
    """E_HCAL spectrum of the strip ecal_range (bins fully inside) for E_HCAL >= hcal_min_gev only.

    Returns (edges, values, variances) of the HCAL bins from the first bin edge >= hcal_min_gev upward.
    Bins below hcal_min_gev (the box for the signal strip) are sliced away before anything is read.
    """
    ie = _axis_index(h, "ecal", 0)
    ih = 1 - ie
    e_edges = h.axes[ie].edges
    h_edges = h.axes[ih].edges
    lo, hi = ecal_range_gev
    e_sel = (e_edges[:-1] >= lo - 1e-9) & (e_edges[1:] <= hi + 1e-9)
    h_start = int(np.searchsorted(h_edges, hcal_min_gev - 1e-9))
    if not e_sel.any() or h_start >= len(h_edges) - 1:
        raise NA64Error(f"histogram '{h.name or 'ecal_hcal'}': no bins for E_ECAL in [{lo}, {hi}] GeV and "
                        f"E_HCAL >= {hcal_min_gev} GeV")
    sl = [slice(None), slice(None)]
    sl[ie] = np.flatnonzero(e_sel)
    sl[ih] = slice(h_start, None)
    view = h.view(flow=False)[tuple(sl)]     # side band only: box bins are not part of the view
    values = np.asarray(view["value"] if view.dtype.names else view, float)
    variances = np.asarray(view["variance"], float) if view.dtype.names and "variance" in view.dtype.names else values
    return h_edges[h_start:], values.sum(axis=ie), variances.sum(axis=ie)


def spectrum_above(h, x_min_gev: float):
    """1D spectrum (edges, values, variances) restricted to bins with lower edge >= x_min_gev."""
    edges = h.axes[0].edges
    start = int(np.searchsorted(edges, x_min_gev - 1e-9))
    view = h.view(flow=False)[start:]
    values = np.asarray(view["value"] if view.dtype.names else view, float)
    variances = np.asarray(view["variance"], float) if view.dtype.names and "variance" in view.dtype.names else values
    return edges[start:], values, variances


def rebin(edges, values, variances, factor: int):
    """Merge ``factor`` adjacent bins (dropping an incomplete last group)."""
    factor = max(int(factor), 1)
    n = (len(values) // factor) * factor
    if n == 0:
        return edges, values, variances
    return (edges[: n + 1: factor], values[:n].reshape(-1, factor).sum(1),
            variances[:n].reshape(-1, factor).sum(1))


def get_hist(hfile: dict, sample: str, name: str):
    smp = hfile["samples"].get(sample)
    if smp is None:
        raise NA64Error(f"histogram file ({hfile.get('analysis')}/{hfile.get('run')}): no sample '{sample}'")
    hists = smp.get("hists", {})
    if name not in hists:
        raise NA64Error(f"histogram file ({hfile.get('analysis')}/{hfile.get('run')}), sample '{sample}': no "
                        f"histogram '{name}'; found: {', '.join(hists)}")
    return hists[name]


def sum_hists(hfile: dict, sample_names: list[str], name: str):
    """Sum of histogram ``name`` over several (simulated) samples."""
    out = None
    for s in sample_names:
        h = get_hist(hfile, s, name)
        out = h.copy() if out is None else out + h
    return out


# ---------------------------------------------------------------------------------------------
# estimators


def _view_arrays(view):
    values = np.asarray(view["value"] if view.dtype.names else view, float)
    variances = np.asarray(view["variance"], float) if view.dtype.names and "variance" in view.dtype.names else values
    return values, variances


def simulation_projection(h_mc, setup: str, ecal_range_gev=None):
    """Full 1D projection (edges, values, variances) of a *simulated* histogram, box included.

    Only for ``mc_*`` samples (not blinded): the E_HCAL projection of the E_ECAL strip (electron,
    hadron) or the p_out spectrum (muon). Used for simulation transfer factors and closure truth.
    """
    if setup == "muon":
        vals, var = _view_arrays(h_mc.view(flow=False))
        return h_mc.axes[0].edges, vals, var
    ie = _axis_index(h_mc, "ecal", 0)
    e_edges = h_mc.axes[ie].edges
    lo, hi = ecal_range_gev
    e_sel = np.flatnonzero((e_edges[:-1] >= lo - 1e-9) & (e_edges[1:] <= hi + 1e-9))
    vals, var = _view_arrays(h_mc.view(flow=False))
    vals, var = np.take(vals, e_sel, axis=ie).sum(axis=ie), np.take(var, e_sel, axis=ie).sum(axis=ie)
    return h_mc.axes[1 - ie].edges, vals, var


def interval_sum(edges, values, variances, a: float, b: float) -> tuple[float, float]:
    """Sum of the bins lying entirely inside [a, b] and of their variances."""
    sel = (edges[:-1] >= a - 1e-9) & (edges[1:] <= b + 1e-9)
    return float(np.sum(values[sel])), float(np.sum(variances[sel]))


def sideband_estimate(h, setup: str, cuts, bcfg: dict, *, shift_gev: float | None = None,
                      h_mc=None) -> tuple[fits.Extrapolation, dict]:
    """Side-band extrapolation into the box (or, with ``shift_gev``, into a validation pseudo-box).

    electron/hadron: E_HCAL strip E_ECAL in [0, thr) (pseudo-box: [thr, thr + shift)), fit E_HCAL >=
    hcal_zero, extrapolate to [0, hcal_zero). muon: fit p_out >= p_max (pseudo-box: >= p_max + shift),
    extrapolate into [p_lo, p_max) (pseudo-box: [p_max, p_max + shift)). With ``h_mc`` (the simulated
    histogram of the process the method replaces) the simulation transfer-factor candidates are added
    (``fits.transfer_candidate``); they become central when the side band holds fewer than
    ``min_fit_events`` events for the primary fit.
    """
    sb = bcfg[setup]["sideband"]
    models = bcfg["fit_models"]
    primary = tuple(sb.get("primary") or (models[0], 0))
    common = dict(models=models, primary=primary, min_pvalue=float(bcfg["min_fit_pvalue"]),
                  offset_gev=float(bcfg["power_law_offset_gev"]), min_events=float(bcfg["min_fit_events"]))
    ecal_range = None
    if setup in ("electron", "hadron"):
        thr = float(cuts.ecal_max_gev)
        hz = float(cuts.hcal_zero_gev)
        ecal_range = (0.0, thr) if shift_gev is None else (thr, thr + shift_gev)
        edges, vals, var = hcal_strip(h, ecal_range, hz)
        target = (float(h.axes[1 - _axis_index(h, "ecal", 0)].edges[0]), hz)
        ranges = [tuple(r) for r in sb["fit_ranges_gev"]]
        inputs = {"histogram": sb["histogram"], "projection": "E_HCAL", "ecal_range_gev": list(ecal_range),
                  "fit_variable_min_gev": hz}
    elif setup == "muon":
        p_max = float(cuts.p_out_max_gev)
        lo_fit = p_max if shift_gev is None else p_max + shift_gev
        edges, vals, var = spectrum_above(h, lo_fit)
        target = (float(h.axes[0].edges[0]), p_max) if shift_gev is None else (p_max, p_max + shift_gev)
        d = lo_fit - p_max
        ranges = [(r[0] + d, r[1] + d) for r in sb["fit_ranges_gev"]]
        inputs = {"histogram": sb["histogram"], "projection": "p_out", "fit_variable_min_gev": lo_fit}
    else:
        raise NA64Error(f"no side-band method for setup '{setup}'")
    edges, vals, var = rebin(edges, vals, var, sb.get("rebin", 1))
    transfer = simulation = None
    if h_mc is not None:
        m_edges, m_vals, m_var = simulation_projection(h_mc, setup, ecal_range)
        t_num, t_num_var = interval_sum(m_edges, m_vals, m_var, *target)
        transfer = []
        for rng in ranges:
            t_den, t_den_var = interval_sum(m_edges, m_vals, m_var, *rng)
            n_sb, _ = interval_sum(edges, vals, var, *rng)
            transfer.append(fits.transfer_candidate(n_sb, t_num, t_num_var, t_den, t_den_var, rng))
        # the same fits on the simulated side band (same bins as the data fit) for the closure check
        start = int(np.searchsorted(m_edges, edges[0] - 1e-9))
        s_edges, s_vals, s_var = rebin(m_edges[start:], m_vals[start:], m_var[start:], sb.get("rebin", 1))
        simulation = (s_edges, s_vals, s_var, t_num, float(np.sqrt(t_num_var)))
    ex = fits.extrapolate(edges, vals, var, target=target, fit_ranges=ranges, transfer=transfer,
                          simulation=simulation, max_closure_pull=float(bcfg["max_closure_pull"]), **common)
    inputs["n_sideband"] = float(vals.sum())
    inputs.update(target_gev=list(target), fit_ranges_gev=[list(r) for r in ranges], models=list(models),
                  primary=list(primary), candidates=[c.as_dict() for c in ex.candidates])
    return ex, inputs


def replaced_simulation(hfile: dict, sb: dict):
    """Sum of the side-band histogram over the simulated samples the side-band method replaces (or None)."""
    names = [samples.mc_sample(p) for p in sb.get("replaces", []) if samples.mc_sample(p) in hfile["samples"]]
    names = [n for n in names if sb["histogram"] in hfile["samples"][n].get("hists", {})]
    return sum_hists(hfile, names, sb["histogram"]) if names else None


def region_count(hfile: dict, sample: str, region: str) -> dict | None:
    regions = hfile["samples"].get(sample, {}).get("regions", {})
    return regions.get(region)


def mc_norm_factor(hfile: dict, region: str, setup: str) -> tuple[float, float, str]:
    """Data / all-simulation in a control region (exposure check); (1, 0, note) if unavailable."""
    if region == "box":
        raise NA64Error("background.mc_norm_region must not be the signal box")
    data = region_count(hfile, samples.DATA, region)
    mc = [region_count(hfile, s, region) for s in hfile["samples"] if s.startswith("mc_")]
    mc = [r for r in mc if r is not None]
    n_mc = sum(float(r["weighted"]) for r in mc)
    if data is None or n_mc <= 0:
        return 1.0, 0.0, f"region '{region}' unavailable: k = 1"
    n_data = float(data["raw"])
    var_mc = sum(float(r["sumw2"]) for r in mc)
    k = n_data / n_mc
    k_unc = float(np.sqrt(max(n_data, 1.0) / n_mc**2 + k**2 * var_mc / n_mc**2))
    return float(k), k_unc, f"data/simulation in region '{region}'"


def hadron_norm_factor(hfile: dict, hn: dict) -> tuple[float, float, str] | None:
    """Measured hadron content of the beam: data / simulation in a hadron-enriched slice of a histogram.

    Default (electron setups): the N-1 distribution of the smallest SRD module energy (``n1_srd_tag``,
    all cuts but the SRD tag) below ~1-2 MeV, where beam hadrons, which emit no synchrotron radiation
    [paper, physics.md §2], sit. k_had = (N_data - N_other) / N_hadron with N_hadron the simulated
    ``processes`` (hadron_contamination) and N_other every other simulated process in the slice; it
    normalises the processes in ``applies_to`` (beam hadrons and their pi/K -> e decays in the beam
    line). Errors: Poisson(N_data) and simulation statistics. None when unavailable (histogram
    missing, no simulated hadron in the slice): the exposure check is used instead.
    """
    name = hn["histogram"]
    lo, hi = hn["range"]
    if name not in hfile["samples"].get(samples.DATA, {}).get("hists", {}):
        return None
    measured = [samples.mc_sample(p) for p in hn.get("processes", [])]

    def slice_sum(sample):
        h = hfile["samples"][sample]["hists"].get(name)
        if h is None:
            return 0.0, 0.0
        vals, var = _view_arrays(h.view(flow=False))
        return interval_sum(h.axes[0].edges, vals, var, lo, hi)

    n_data, _ = slice_sum(samples.DATA)
    n_meas = var_meas = n_other = var_other = 0.0
    for s in (s for s in hfile["samples"] if s.startswith("mc_")):
        w, w2 = slice_sum(s)
        if s in measured:
            n_meas, var_meas = n_meas + w, var_meas + w2
        else:
            n_other, var_other = n_other + w, var_other + w2
    if n_meas <= 0:
        return None
    k = (n_data - n_other) / n_meas
    k_unc = float(np.sqrt(max(n_data, 1.0) + var_other + k**2 * var_meas) / n_meas)
    return float(k), k_unc, (f"measured hadron content: data/simulation in {name} [{lo:g}, {hi:g}] "
                             f"= {k:.3f} +- {k_unc:.3f}")


def mc_source(hfile: dict, sample: str, k: float, k_unc: float, syst_frac: float, norm_note: str) -> dict:
    """Box count of a simulated process x normalisation k, with MC stat and normalisation syst."""
    box = region_count(hfile, sample, "box")
    if box is None:
        raise NA64Error(f"histogram file ({hfile.get('analysis')}/{hfile.get('run')}), sample '{sample}': "
                        "no 'box' region")
    w, w2, raw = float(box["weighted"]), float(box["sumw2"]), int(box["raw"])
    if raw > 0:
        stat_mc = np.sqrt(w2)
    else:
        cf = hfile["samples"][sample].get("cutflow", {})
        n_read = (cf.get("raw") or [0])[0] or 0
        mean_w = (cf.get("weighted") or [0.0])[0] / n_read if n_read else 0.0
        stat_mc = ZERO_COUNT_68 * mean_w
    est = k * w
    stat = k * stat_mc
    rel_k = k_unc / k if k > 0 else 0.0
    syst = est * float(np.hypot(syst_frac, rel_k)) if raw > 0 else 0.0
    return {"estimate": float(est), "stat": float(stat), "syst": float(syst),
            "method": f"simulation ({sample}) box count x k ({norm_note})",
            "inputs": {"sample": sample, "raw": raw, "weighted": w, "sumw2": w2, "k": k, "k_unc": k_unc,
                       "syst_frac": syst_frac, "upper_value_only": raw == 0,
                       **({"upper_value_reason": "no simulated event in the box"} if raw == 0 else {})}}


def _upper_only(s: dict) -> bool:
    return bool(s.get("inputs", {}).get("upper_value_only"))


def total_of(sources: list[dict]) -> dict:
    """Sum of the estimates; stat and syst added in quadrature (independent sources).

    Sources with only an upper value (``upper_value_only``: estimate 0, stat = 68% CL upper value) are
    not added: simulation-based sources without a single simulated box event (the upper value is set
    by the size of the simulated sample) and side-band estimates from an empty data side band (the
    upper value is 1.14 x the simulated box/side-band ratio) -- a 0 with such an error is no
    measurement. They are listed under ``not_included``
    with their upper values, and the tables show them as "< x".
    """
    used = [s for s in sources if not _upper_only(s)]
    est = sum(s["estimate"] for s in used)
    stat = float(np.sqrt(sum(s["stat"] ** 2 for s in used)))
    syst = float(np.sqrt(sum(s["syst"] ** 2 for s in used)))
    out = {"estimate": float(est), "stat": stat, "syst": syst, "uncertainty": float(np.hypot(stat, syst))}
    skipped = {s["name"]: s["stat"] for s in sources if _upper_only(s)}
    if skipped:
        out["not_included"] = skipped
    return out


def estimate_from_histograms(cfg: dict, analysis: str, run: str, hfile: dict) -> dict:
    """The background record (docs/contracts.md) of one analysis and run from its histogram file."""
    bcfg = settings(cfg)
    acfg = config.analysis_config(cfg, analysis)
    setup = acfg["setup"]
    cuts = config.cuts_for(cfg, analysis, run)
    sources: list[dict] = []
    replaced: list[str] = []
    sb = (bcfg.get(setup) or {}).get("sideband")
    if sb:
        h = get_hist(hfile, samples.DATA, sb["histogram"])
        h_mc = replaced_simulation(hfile, sb)
        ex, inputs = sideband_estimate(h, setup, cuts, bcfg, h_mc=h_mc)
        how = (f"simulation transfer factor x data side band {list(ex.central.fit_range)} GeV"
               if ex.central.model == "mc_transfer" else f"{ex.central.model} fit {list(ex.central.fit_range)} GeV")
        # an empty data side band (transfer candidate with n_sb = 0) gives only an upper value
        inputs["upper_value_only"] = bool(ex.central.model == "mc_transfer" and ex.estimate == 0.0)
        if inputs["upper_value_only"]:
            inputs["upper_value_reason"] = "empty data side band"
        sources.append({"name": sb["name"], "estimate": max(ex.estimate, 0.0), "stat": ex.stat, "syst": ex.syst,
                        "method": f"side-band extrapolation of data ({inputs['projection']} shape, {how}; "
                                  f"syst = envelope of {len(ex.candidates)} model x range choices)",
                        "inputs": inputs})
        replaced = list(sb.get("replaces", []))
    norm_region = (bcfg.get(setup) or {}).get("mc_norm_region", bcfg["mc_norm_region"])
    k_mc, k_mc_unc, note = mc_norm_factor(hfile, norm_region, setup)
    hn = (bcfg.get(setup) or {}).get("hadron_norm")
    k_had = hadron_norm_factor(hfile, hn) if hn else None
    k_dimu = None
    norm_syst = bcfg["mc_norm_syst"]
    for sample in sorted(s for s in hfile["samples"] if s.startswith("mc_")):
        process = sample[3:]
        if process in replaced:
            continue
        if process == "dimuon" and setup == "electron":
            if k_dimu is None:
                k_dimu = normalisation.normalisation_from_histograms(hfile, setup, normalisation.settings(cfg))
            # k_unc of the normalisation already carries its systematic; no extra syst fraction
            src = mc_source(hfile, sample, k_dimu["k"], k_dimu["k_unc"], 0.0,
                            f"dimuon normalisation k = {k_dimu['k']:.3f} +- {k_dimu['k_unc']:.3f}")
        elif k_had is not None and process in hn.get("applies_to", []):
            src = mc_source(hfile, sample, k_had[0], k_had[1], float(norm_syst.get(process, norm_syst["default"])),
                            k_had[2])
        else:
            src = mc_source(hfile, sample, k_mc, k_mc_unc, float(norm_syst.get(process, norm_syst["default"])), note)
        src["name"] = process
        sources.append(src)
    sources = [{"name": s["name"], "label": LABELS.get(s["name"], s["name"]), **{k: v for k, v in s.items() if k != "name"}}
               for s in sources]
    return {"analysis": analysis, "run": str(run), "n_ot": float(hfile.get("n_ot", cuts.n_ot)),
            "blinded": bool(hfile.get("blinded", True)), "sources": sources, "total": total_of(sources)}


def published_background(cfg: dict, analysis: str, run: str) -> dict:
    """Published mode: one source from runs.<run>.published {background, background_unc}."""
    rcfg = config.run_config(cfg, analysis, run)
    pub = rcfg.get("published") or {}
    for k in ("background", "background_unc"):
        if k not in pub:
            raise NA64Error(f"{cfg.get('_path', 'config')}: analyses.{analysis}.runs.{run}.published.{k} missing "
                            "(needed with input.source: published)")
    key = f"analyses.{analysis}.runs.{run}.published"
    sources = [{"name": s["name"], "label": LABELS.get(s["name"], s["name"]), "estimate": float(s["estimate"]),
                "stat": 0.0, "syst": float(s.get("uncertainty", 0.0)), "method": "published",
                "inputs": {"key": f"{key}.background_sources", "upper_limit": bool(s.get("upper_limit", False)),
                           "published_method": s.get("method", "")}}
               for s in pub.get("background_sources", [])]
    if not sources:
        sources = [{"name": "published_total", "label": "Total (published)", "estimate": float(pub["background"]),
                    "stat": 0.0, "syst": float(pub["background_unc"]), "method": "published", "inputs": {"key": key}}]
    # the published total (not a re-sum: the papers combine correlated sources their own way)
    total = {"estimate": float(pub["background"]), "stat": 0.0, "syst": float(pub["background_unc"]),
             "uncertainty": float(pub["background_unc"])}
    return {"analysis": analysis, "run": str(run), "n_ot": float(rcfg["n_ot"]), "blinded": True,
            "sources": sources, "total": total}


def compute(cfg: dict, analysis: str, run: str, hfile: dict | None = None) -> dict:
    config.run_config(cfg, analysis, run)
    if cfg.get("input", {}).get("source") == "published":
        return published_background(cfg, analysis, run)
    if hfile is None:
        hfile = contracts.read_histograms(paths.histograms_path(cfg, analysis, run))
    return estimate_from_histograms(cfg, analysis, run, hfile)


# ---------------------------------------------------------------------------------------------
# tables


def _fmt(x: float) -> str:
    return f"{x:.3g}" if abs(x) >= 1e-3 or x == 0 else f"{x:.2e}"


def markdown_table(rec: dict) -> str:
    lines = [f"# Expected background in the signal box: {rec['analysis']} {rec['run']}", "",
             f"Exposure n_ot = {rec['n_ot']:.3g}; blinded: {rec['blinded']}", "",
             "| source | estimate | stat | syst | method |", "|---|---|---|---|---|"]
    for s in rec["sources"]:
        if _upper_only(s):
            lines.append(f"| {s['label']} | < {_fmt(s['stat'])} ({s['inputs'].get('upper_value_reason', 'upper value')}) | – | – | "
                         f"{s['method']}; not in the total |")
            continue
        lt = "< " if s.get("inputs", {}).get("upper_limit") else ""
        lines.append(f"| {s['label']} | {lt}{_fmt(s['estimate'])} | {_fmt(s['stat'])} | {_fmt(s['syst'])} | {s['method']} |")
    t = rec["total"]
    lines.append(f"| **Total** | **{_fmt(t['estimate'])}** | {_fmt(t['stat'])} | {_fmt(t['syst'])} | "
                 f"± {_fmt(t['uncertainty'])} (stat ⊕ syst) |")
    return "\n".join(lines) + "\n"


def _tex_escape(s: str) -> str:
    rep = {"&": r"\&", "%": r"\%", "_": r"\_", "#": r"\#", "γ": r"$\gamma$", "μ": r"$\mu$", "π": r"$\pi$",
           "→": r"$\to$", "ν": r"$\nu$", "η": r"$\eta$", "±": r"$\pm$", "⊕": r"$\oplus$", "x": "x"}
    return "".join(rep.get(c, c) for c in s)


def latex_table(rec: dict) -> str:
    lines = [r"\begin{tabular}{lc}", r"\hline",
             r"Source of background & Events \\", r"\hline"]
    for s in rec["sources"]:
        err = float(np.hypot(s["stat"], s["syst"]))
        if _upper_only(s):
            lines.append(f"{_tex_escape(s['label'])} & $< {_fmt(s['stat'])}$ (not in total) \\\\")
            continue
        if s.get("inputs", {}).get("upper_limit"):
            lines.append(f"{_tex_escape(s['label'])} & $< {_fmt(s['estimate'])}$ \\\\")
            continue
        lines.append(f"{_tex_escape(s['label'])} & ${_fmt(s['estimate'])} \\pm {_fmt(err)}$ \\\\")
    t = rec["total"]
    lines += [r"\hline", f"Total & ${_fmt(t['estimate'])} \\pm {_fmt(t['uncertainty'])}$ \\\\", r"\hline",
              r"\end{tabular}"]
    return "\n".join(lines) + "\n"


def write_outputs(rec: dict, json_path: Path) -> None:
    json_path = Path(json_path)
    contracts.write_background(json_path, rec)
    with paths.atomic_output(json_path.with_suffix(".md")) as fh:
        fh.write(markdown_table(rec))
    with paths.atomic_output(json_path.with_suffix(".tex")) as fh:
        fh.write(latex_table(rec))


def add_arguments(parser: argparse.ArgumentParser) -> None:
    config.add_config_arguments(parser)
    config.add_analysis_arguments(parser)


def run(args: argparse.Namespace) -> int:
    cfg = config.config_from_args(args)
    rec = compute(cfg, args.analysis, args.run)
    out = paths.background_path(cfg, args.analysis, args.run)
    write_outputs(rec, out)
    t = rec["total"]
    log.info("%s %s: total background %.3g +- %.3g (stat) +- %.3g (syst) -> %s", args.analysis, args.run,
             t["estimate"], t["stat"], t["syst"], out)
    return 0
