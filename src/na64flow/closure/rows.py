"""The closure rows of one analysis and run: the method on the simulated side bands against the simulated
box, the toy rows, and the data validation region next to the box (see the package doc, items 1-4)."""

from __future__ import annotations

import logging

import numpy as np

from .. import NA64Error, background, config, samples

log = logging.getLogger(__name__)

PULL_PASS = 2.0   # [est] closure criterion |pull| < 2


def validation_truth(h, setup: str, cuts, width_gev: float) -> tuple[float, float]:
    """Count (and its error) in the validation pseudo-box next to the signal box, never inside it."""
    if setup in ("electron", "hadron"):
        ie = background.ecal_axis(h)
        e_edges, h_edges = h.axes[ie].edges, h.axes[1 - ie].edges
        thr, hz = float(cuts.ecal_max_gev), float(cuts.hcal_zero_gev)
        e_bins = background.bins_inside(e_edges, thr, thr + width_gev)
        h_stop = int(np.count_nonzero(h_edges[1:] <= hz + 1e-9))    # bins with upper edge <= hcal_zero
        assert e_bins.stop > e_bins.start and e_edges[e_bins.start] >= thr - 1e-9, \
            "validation region overlaps the signal box"
        sub_h = h[{ie: e_bins, 1 - ie: slice(0, h_stop)}]
    elif setup == "muon":
        p_max = float(cuts.p_out_max_gev)
        sub_h = h[background.bins_inside(h.axes[0].edges, p_max, p_max + width_gev)]
    else:
        raise NA64Error(f"no validation region for setup '{setup}'")
    sub, subv = (np.ascontiguousarray(a) for a in background.values_variances(sub_h))
    return float(sub.sum()), float(np.sqrt(max(subv.sum(), 1.0 if sub.sum() == 0 else 0.0)))


def _row(analysis, run, test, est, stat, syst, truth, truth_unc) -> dict:
    den = float(np.hypot(stat, truth_unc))
    den_s = float(np.sqrt(stat**2 + syst**2 + truth_unc**2))
    pull = (est - truth) / den if den > 0 else float("nan")
    pull_s = (est - truth) / den_s if den_s > 0 else float("nan")
    return {"kind": "truth", "analysis": analysis, "run": run, "test": test, "estimate": est, "stat": stat, "syst": syst,
            "truth": truth, "truth_unc": truth_unc, "pull": pull, "pull_with_syst": pull_s,
            "passed": bool(np.isfinite(pull_s) and abs(pull_s) < PULL_PASS)}


def stored_toy_rows(record, cfg: dict, analysis: str, run: str, n_toys: int, seed: int) -> list[dict] | None:
    """The toy rows the background step decided its central method with (``inputs.toy_closure`` of its
    record, a :class:`contracts.BackgroundEstimate`), as closure rows; None when the record has none or they
    were run with other toy settings than the closure step's: number of toys, seed, or background settings
    and cuts (``background.toy_settings_hash``)."""
    if record is None:
        return None
    stored = next((s["inputs"]["toy_closure"] for s in record.sources if "toy_closure" in s.get("inputs", {})), None)
    settings_hash = background.toy_settings_hash(cfg, analysis, run)
    if not stored or any((r.get("n_toys_requested"), r.get("seed"), r.get("settings_hash")) != (n_toys, seed, settings_hash)
                         for r in stored):
        return None
    return [{"kind": "toys", "analysis": analysis, "run": run, **r} for r in stored]


def closure_rows(cfg: dict, analysis: str, run: str, hfile: dict, n_toys: int, seed: int,
                 background_record=None) -> list[dict]:
    """Every closure row of one analysis/run (see module doc). ``background_record``: the run's background
    record; its toy rows are reused when they were run with these toy settings (else the toys run here)."""
    bcfg = background.settings(cfg)
    setup = config.analysis_config(cfg, analysis)["setup"]
    cuts = config.cuts_for(cfg, analysis, run)
    sb = (bcfg.get(setup) or {}).get("sideband")
    if not sb:
        return []
    name = sb["histogram"]
    mc_all = sorted(s for s in hfile["samples"] if s.startswith("mc_"))
    rows = []

    def box_truth(names):
        boxes = [background.region_count(hfile, s, "box") for s in names]
        return (sum(float(b["weighted"]) for b in boxes if b), float(np.sqrt(sum(float(b["sumw2"]) for b in boxes if b))))

    replaced = [samples.mc_sample(p) for p in sb.get("replaces", []) if samples.mc_sample(p) in hfile["samples"]]
    sets = [(f"simulation {n}", [n]) for n in replaced]
    if replaced:   # contamination test: side band of every process, truth = the replaced processes' box
        sets.append(("simulation all processes (truth: " + ", ".join(replaced) + ")", mc_all))
    h_mc = background.replaced_simulation(hfile, sb)     # the method as used, transfer candidates included
    # the central method as the background step decides it (toy verdict; its toy rows are this table's)
    toy_rows = []
    if n_toys > 0 and replaced:
        toy_rows = stored_toy_rows(background_record, cfg, analysis, run, n_toys, seed)
        if toy_rows is not None:
            bcfg = background.with_central(bcfg, setup, background.central_of(toy_rows))
            log.info("closure %s %s: toy rows of the background record (%d toys, seed %d)", analysis, run, n_toys, seed)
        else:
            cfg_n = dict(cfg, background=dict(config.section(cfg, "background"),
                                              closure=dict(bcfg.get("closure") or {}, n_toys=n_toys, verdict=True)))
            bcfg, toy_rows, _ = background.decide_central(cfg_n, analysis, run, hfile, seed=seed)
    for label, names in sets:
        h = background.sum_hists(hfile, names, name)
        ex, _ = background.sideband_estimate(h, setup, cuts, bcfg, h_mc=h_mc)
        truth, truth_unc = box_truth(replaced)
        rows.append(_row(analysis, run, label, ex.estimate, ex.stat, ex.syst, truth, truth_unc))

    rows += toy_rows

    # data validation region next to the box (unblinded by design)
    key = "validation_p_out_width_gev" if setup == "muon" else "validation_ecal_width_gev"
    width = float(getattr(cuts, key, bcfg["validation_width_gev"]))   # same pseudo-box as `process`
    h_data = background.get_hist(hfile, samples.DATA, name)
    ex, _ = background.sideband_estimate(h_data, setup, cuts, bcfg, shift_gev=width, h_mc=h_mc)
    truth, truth_unc = validation_truth(h_data, setup, cuts, width)
    # prediction = side-band estimate (replaced processes) + every other simulated process in the region
    region = "validation_p_out" if setup == "muon" else "validation_ecal"
    others = [background.region_count(hfile, s, region) for s in mc_all if s not in replaced]
    others = [o for o in others if o is not None]
    n_other = sum(float(o["weighted"]) for o in others)
    var_other = sum(float(o["sumw2"]) for o in others)
    label = f"data validation region (+{width:g} GeV" + (f"; + simulation of other processes {n_other:.3g})" if others else ")")
    rows.append(_row(analysis, run, label, ex.estimate + n_other, float(np.hypot(ex.stat, np.sqrt(var_other))),
                     ex.syst, truth, truth_unc))
    return rows

