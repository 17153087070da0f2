"""Background sources of one run: the side-band source, simulation-based sources normalised to data, the total.

* the **side-band source** (``sideband.sideband_estimate``; electron: upstream interactions, muon: momentum
  mis-reconstruction) -- central value the simulation transfer factor x the data side band (the method that
  passes the coverage study, docs/background.md); when the data side band is empty the data-driven estimate
  is impossible and the source enters through its simulation estimate normalised to data, with its
  uncertainty (stated in ``inputs.obtained``);
* **simulation-based** sources: every other ``mc_<process>`` sample, its (unblinded) box count sum(w) with
  MC statistics sqrt(sum w^2), times a normalisation measured in data (dimuons: k of the ``normalisation``
  record; beam hadrons and beam-line decays: the hadron content in the SRD N-1 slice; others: data/simulation
  in ``mc_norm_region``), with a relative normalisation systematic per process (``mc_norm_syst``);
  a sample without a simulated box event gives only an upper value (1.14 x mean weight);
* the **total** (``total_of``) and the statement of the rate scale and of the physical / published-exposure
  equivalent (``physical_statement``). Published mode: the sources and total of ``runs.<run>.published``.
"""

from __future__ import annotations

import logging

import numpy as np

from .. import NA64Error, config, contracts, normalisation, paths, samples
from .settings import settings
from .sideband import (
    get_hist,
    interval_sum,
    region_count,
    replaced_simulation,
    sideband_estimate,
    values_variances,
)
from .toys import STORED_TOY_KEYS, decide_central

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

# 68% CL upper value of a Poisson mean with 0 observed: 1.14 [lit: Feldman & Cousins 1998, table]
ZERO_COUNT_68 = 1.14


def mc_norm_factor(hfile: dict, region: str, setup: str) -> tuple[float, float, str]:
    """Data / all-simulation in a control region (exposure check); (1, 0, note) if unavailable.

    ``region`` None: the simulation is normalised to the exposure n_ot alone (k = 1)."""
    if region is None:
        return 1.0, 0.0, "normalised to the exposure n_ot"
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


def hadron_norm_factor(hfile: dict, hn: dict, norm_syst: dict) -> tuple[float, float, str] | None:
    """Measured hadron content of the beam: data / simulation in a hadron-enriched slice of a histogram.

    Default (electron setups): the N-1 distribution of the smallest SRD module energy (``n1_srd_tag``,
    all cuts but the SRD tag) below ~1-2 MeV, where beam hadrons, which emit no synchrotron radiation
    [paper, physics.md §2], sit. k_had = (N_data - N_other) / N_hadron with N_hadron the simulated
    ``processes`` (hadron_contamination) and N_other every other simulated process in the slice; it
    normalises the processes in ``applies_to`` (beam hadrons and their pi/K -> e decays in the beam
    line). Errors: Poisson(N_data), simulation statistics and the normalisation uncertainty of the
    subtracted processes (``norm_syst``, background.mc_norm_syst). None when unavailable (histogram
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
        vals, var = values_variances(h)
        return interval_sum(h.axes[0].edges, vals, var, lo, hi)

    n_data, _ = slice_sum(samples.DATA)
    n_meas = var_meas = n_other = var_other = syst_other = 0.0
    for s in (s for s in hfile["samples"] if s.startswith("mc_")):
        w, w2 = slice_sum(s)
        if s in measured:
            n_meas, var_meas = n_meas + w, var_meas + w2
        else:
            n_other, var_other = n_other + w, var_other + w2
            syst_other += (float(norm_syst.get(s[3:], norm_syst["default"])) * w) ** 2
    if n_meas <= 0:
        return None
    k = (n_data - n_other) / n_meas
    k_unc = float(np.sqrt(max(n_data, 1.0) + var_other + syst_other + k**2 * var_meas) / n_meas)
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


def total_entry(s: dict) -> str:
    """How one source entered the central total (printed per source in every table)."""
    if _upper_only(s):
        return (f"0 (no simulated box event; its 68% upper value < {s['stat']:.3g} is the sample's sensitivity, "
                "added only to the conservative NA64-convention total)")
    if s.get("inputs", {}).get("upper_limit"):
        return f"{s['estimate']:.3g} (published upper value, as published)"
    return f"{s['estimate']:.3g} +- {float(np.hypot(s['stat'], s['syst'])):.2g}"


def total_of(sources: list[dict]) -> dict:
    """The central total: every source enters, none is left out; stat and syst added in quadrature
    (independent sources).

    Measured sources (side-band estimates, simulation x normalisation measured in data, a side-band source
    with an empty data side band through its simulation) enter with their estimate and uncertainty. A
    simulated process with **no simulated box event** enters with its estimate, 0: the sample's 68% upper
    value (1.14 x mean weight) measures how large the sample is, not a background (e.g. NA64h pion
    showers < 2.26 from 20000 events of weight 1.8, for a model without a box topology for them), and for
    an exclusion limit the lower background is the conservative choice; the coverage study checks that the
    total is then unbiased. The NA64 tables also print a "Total (conservatively)" with the upper values
    added (NA64e 2016-2022: 0.04 + 0.3 + 0.16 + "< 0.01" -> 0.51 +- 0.13; NA64mu: 0.05 + 0.010 + "< 0.01"
    -> 0.07 +- 0.03 [paper, seeds/na64-bicoq-2026-talk.txt]): ``estimate_with_upper_values``, printed
    next to the central total. ``entries`` says for every source how it entered.
    """
    est = sum(0.0 if _upper_only(s) else s["estimate"] for s in sources)
    used = [s for s in sources if not _upper_only(s)]
    stat = float(np.sqrt(sum(s["stat"] ** 2 for s in used)))
    syst = float(np.sqrt(sum(s["syst"] ** 2 for s in used)))
    out = {"estimate": float(est), "stat": stat, "syst": syst, "uncertainty": float(np.hypot(stat, syst))}
    upper = {s["name"]: s["stat"] for s in sources if _upper_only(s)}
    out["upper_values"] = upper
    out["estimate_with_upper_values"] = float(est + sum(upper.values()))
    out["sources_in_estimate"] = [s["name"] for s in sources]
    out["entries"] = {s["name"]: total_entry(s) for s in sources}
    return out


def physical_statement(rec: dict, scales: dict[str, float], published: dict | None) -> dict:
    """Rate scale used, and the estimate scaled back to physical rates and to the published exposure.

    ``scales``: process -> simulation.rate_scale factor of this run (docs/simulation.md); a source's
    physical estimate is its estimate / the factor of the process it estimates. ``published``:
    ``background.published_reference.<analysis>:<run>`` ({n_ot, total, total_unc, reference}) or None.
    """
    phys = 0.0
    for s in rec["sources"]:
        procs = s.get("inputs", {}).get("replaces") or [s.get("inputs", {}).get("process", s["name"])]
        f = float(np.mean([scales.get(p, 1.0) for p in procs]))
        s["rate_scale"] = f
        s["estimate_physical"] = s["estimate"] / f
        phys += s["estimate_physical"]
    out = {"rate_scale": {p: float(v) for p, v in scales.items() if v != 1.0},
           "total_physical": float(phys)}
    if published:
        n_pub = float(published["n_ot"])
        out.update(published_n_ot=n_pub, total_published_exposure=float(phys * n_pub / rec["n_ot"]),
                   published_total=published.get("total"), published_total_unc=published.get("total_unc"),
                   published_reference=published.get("reference", ""))
    return out


def _run_scales(cfg: dict, analysis: str, run: str) -> dict[str, float]:
    sim = config.section(cfg, "simulation")
    scales = dict(sim.get("rate_scale") or {})
    scales.update((sim.get("run_rate_scale") or {}).get(f"{analysis}:{run}", {}))
    return {k: float(v) for k, v in scales.items()}


def estimate_from_histograms(cfg: dict, analysis: str, run: str, hfile: dict, norm: dict | None = None) -> dict:
    """The background record (docs/contracts.md) of one analysis and run from its histogram file.

    ``norm``: the normalisation record of the run (``normalisation/A/R.json``, read by the step); when
    None it is computed from the same histograms with ``normalisation.normalisation_from_histograms``
    (the function the normalisation step uses), e.g. in the coverage study.
    """
    bcfg = settings(cfg)
    acfg = config.analysis_config(cfg, analysis)
    setup = acfg["setup"]
    cuts = config.cuts_for(cfg, analysis, run)
    sources: list[dict] = []
    replaced: list[str] = []
    scfg = bcfg.get(setup) or {}
    norm_region = scfg["mc_norm_region"] if "mc_norm_region" in scfg else bcfg["mc_norm_region"]
    k_mc, k_mc_unc, note = mc_norm_factor(hfile, norm_region, setup)
    norm_syst = bcfg["mc_norm_syst"]
    sb = (bcfg.get(setup) or {}).get("sideband")
    if sb:
        h = get_hist(hfile, samples.DATA, sb["histogram"])
        h_mc = replaced_simulation(hfile, sb)
        bcfg_used, toy_rows, decision = decide_central(cfg, analysis, run, hfile)
        ex, inputs = sideband_estimate(h, setup, cuts, bcfg_used, h_mc=h_mc)
        toys_pass = bool(all(r["passed"] for r in toy_rows[-1:]))   # the verdict of the method now central
        inputs["central_decision"] = decision
        inputs["toy_closure"] = [{k: r[k] for k in STORED_TOY_KEYS} for r in toy_rows]
        inputs["replaces"] = list(sb.get("replaces", []))
        replaced = list(sb.get("replaces", []))
        empty = bool(ex.central.model == "mc_transfer" and ex.estimate == 0.0)
        if empty and h_mc is not None:
            # data-driven estimate impossible (no data side-band event): the simulation of the replaced
            # process normalised to data like every simulation-based source, with its uncertainty
            names = [samples.mc_sample(p) for p in replaced if samples.mc_sample(p) in hfile["samples"]]
            parts = [mc_source(hfile, n, k_mc, k_mc_unc, float(norm_syst.get(n[3:], norm_syst["default"])), note)
                     for n in names]
            src = {"estimate": sum(p["estimate"] for p in parts),
                   "stat": float(np.sqrt(sum(p["stat"] ** 2 for p in parts))),
                   "syst": float(np.sqrt(sum(p["syst"] ** 2 for p in parts))),
                   "method": (f"simulation ({', '.join(names)}) box count x k ({note}): data side band empty "
                              f"(0 events), data-driven estimate impossible"),
                   "inputs": {**inputs, "obtained": "simulation normalised to data (empty data side band)",
                              "simulation": [p["inputs"] for p in parts],
                              "upper_value_only": any(p["inputs"]["upper_value_only"] for p in parts)}}
        else:
            how = (f"simulation transfer factor x data side band {list(ex.central.fit_range)} GeV"
                   if ex.central.model == "mc_transfer" else
                   f"{ex.central.model} fit {list(ex.central.fit_range)} GeV")
            inputs["obtained"] = "data side band (" + how + ")"
            src = {"estimate": max(ex.estimate, 0.0), "stat": ex.stat, "syst": ex.syst,
                   "method": f"side-band extrapolation of data ({inputs['projection']} shape, {how}; "
                             f"syst = {inputs['syst_definition']})",
                   "inputs": inputs}
        side_band = {"central_closes": bool(ex.central.closes and toys_pass), "central_model": ex.central.model,
                     "simulation_closure_passes": bool(ex.central.closes), "toy_closure_passes": toys_pass,
                     "decision": decision,
                     "failed_candidates": [f"{c.model} {list(c.fit_range)}" for c in ex.candidates
                                           if not c.closes]}
        if empty and h_mc is not None:
            # the total holds the simulation x k, which no side-band closure tests: say so
            src["closure"] = {"central_model": "simulation", "applicable": False,
                              "verdict": "not applicable: the estimate in the total is the simulation normalised "
                                         "to data (empty data side band); the side-band method's closure "
                                         "(side_band_method) concerns a method whose estimate is not used",
                              "side_band_method": side_band}
        else:
            src["closure"] = side_band
        src["name"] = sb["name"]
        sources.append(src)
    hn = (bcfg.get(setup) or {}).get("hadron_norm")
    k_had = hadron_norm_factor(hfile, hn, norm_syst) if hn else None
    for sample in sorted(s for s in hfile["samples"] if s.startswith("mc_")):
        process = sample[3:]
        if process in replaced:
            continue
        if process == "dimuon" and setup == "electron":
            if norm is None:
                norm = normalisation.normalisation_from_histograms(hfile, setup, normalisation.settings(cfg),
                                                                   norm_syst)
            # k_unc of the normalisation already carries its systematic; no extra syst fraction
            src = mc_source(hfile, sample, norm["k"], norm["k_unc"], 0.0,
                            f"dimuon normalisation k = {norm['k']:.3f} +- {norm['k_unc']:.3f}, "
                            f"{norm.get('region', 'dimuon')} region")
        elif k_had is not None and process in hn.get("applies_to", []):
            src = mc_source(hfile, sample, k_had[0], k_had[1], float(norm_syst.get(process, norm_syst["default"])),
                            k_had[2])
        else:
            src = mc_source(hfile, sample, k_mc, k_mc_unc, float(norm_syst.get(process, norm_syst["default"])), note)
        src["name"] = process
        src["inputs"]["process"] = process
        src["inputs"]["obtained"] = ("simulation: no simulated event in the box (upper value only)"
                                     if src["inputs"]["upper_value_only"] else "simulation normalised to data")
        sources.append(src)
    sources = [{"name": s["name"], "label": LABELS.get(s["name"], s["name"]), **{k: v for k, v in s.items() if k != "name"}}
               for s in sources]
    rec = {"analysis": analysis, "run": str(run), "n_ot": float(hfile.get("n_ot", cuts.n_ot)),
           "blinded": bool(hfile.get("blinded", True)), "sources": sources, "total": total_of(sources)}
    pub = (bcfg.get("published_reference") or {}).get(f"{analysis}:{run}")
    present = {s[3:] for s in hfile["samples"] if s.startswith("mc_")} | set(replaced)
    scales = {p: f for p, f in _run_scales(cfg, analysis, run).items() if p in present}
    rec.update(physical_statement(rec, scales, pub))
    rec["closure_failed"] = [s["name"] for s in sources if not s.get("closure", {}).get("central_closes", True)]
    return rec


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


def compute(cfg: dict, analysis: str, run: str, hfile: dict | None = None, norm: dict | None = None) -> dict:
    """The background record of one run: reads the histogram file and (electron setups: the dimuon k)
    the normalisation record unless given."""
    config.run_config(cfg, analysis, run)
    if cfg.get("input", {}).get("source") == "published":
        return published_background(cfg, analysis, run)
    if hfile is None:
        hfile = normalisation.load_histograms(paths.histograms_path(cfg, analysis, run))
    if norm is None and config.analysis_config(cfg, analysis)["setup"] == "electron":
        # the one reader of the normalisation record (contracts); a missing or bad file names itself
        norm = contracts.read_normalisation(paths.normalisation_path(cfg, analysis, run)).to_dict()
    return estimate_from_histograms(cfg, analysis, run, hfile, norm=norm)
