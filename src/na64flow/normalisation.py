"""Dimuon normalisation k = data / expected in the dimuon control region (beam cross-check for mu, pi).

Electron and positron analyses (NA64e, NA64e+): events of zone I (e Z -> e Z gamma, gamma -> mu mu,
two MIPs through the HCAL modules, ~1e-5 per EOT [paper, physics.md §2]) are counted in data in the
``dimuon`` region and compared with the yield expected from the QED cross section, i.e. the
``mc_dimuon`` sample whose weights are normalised to the run's exposure (docs/contracts.md):

    k = (N_data - N_other) / N_dimuon

with N_other the contribution of every other simulated process in the region (e+ beams: the SM
annihilation e+ e- -> mu mu, a third of the region). Uncertainty: Poisson of N_data, MC statistics of
N_dimuon and N_other (sqrt(sum w^2)), the normalisation uncertainty of each subtracted process
(``background.mc_norm_syst``) and a relative systematic
``normalisation.syst_frac`` (default 0.05 [est]: QED dimuon cross section and muon identification;
NA64 quotes ~10% for the whole signal-yield systematic from this comparison [paper]). k scales the
signal yield (docs/contracts.md) and its uncertainty becomes a nuisance parameter.

Muon and hadron analyses (NA64mu, NA64h) have no dimuon sample: their analogous cross-check compares
the data in a control region with the sum of all simulated processes there, whose weights are
normalised to the configured n_ot; k then checks the exposure (particles on target) the signal yield
is proportional to. NA64mu: the ``calibration`` region (prescaled unbiased trigger: MIP-like beam
muons). NA64h: the ``sideband_hcal`` region (all cuts, ECAL empty, HCAL above zero: ordinary pion
showers), because the simulated hadron samples carry no calibration-trigger stream. Region and the
set of "measured" processes are configurable (``normalisation.<setup>``).

Published mode (``input.source: published``): no events; k = 1 with k_unc = ``published_k_unc``
(default 0: the ~10% dimuon-comparison systematic of the NA64 papers [paper] is the run's
``published.signal_efficiency_unc``, which the likelihood already carries; a k uncertainty on top of it
counted the same systematic twice, 14% instead of 10%).

Blinding: only the control region counts are read, never the signal box.
"""

from __future__ import annotations

import argparse
import logging

import numpy as np

from . import NA64Error, config, contracts, paths, samples

log = logging.getLogger(__name__)

# defaults of the `normalisation:` section (configs/default.yaml may override each key)
DEFAULTS = {
    "syst_frac": 0.05,          # [est] QED cross section + muon ID for the dimuon comparison
    "published_k_unc": 0.0,     # published mode: the dimuon-comparison ~10% is published.signal_efficiency_unc
    "electron": {"region": "dimuon", "processes": ["dimuon"]},
    "muon": {"region": "calibration", "processes": None},     # None = every simulated process
    "hadron": {"region": "sideband_hcal", "processes": None},
}


def settings(cfg: dict) -> dict:
    """The ``normalisation`` section merged over DEFAULTS (one level deep)."""
    return config.merged_section(cfg, "normalisation", DEFAULTS)


def load_histograms(path) -> dict:
    """The histogram file of docs/contracts.md (``contracts.read_histograms``)."""
    return contracts.read_histograms(path)


def _region(hfile: dict, sample: str, region: str) -> dict:
    smp = hfile["samples"].get(sample)
    if smp is None:
        raise NA64Error(f"histogram file ({hfile.get('analysis')}/{hfile.get('run')}): no sample '{sample}'; "
                        f"samples: {', '.join(hfile['samples'])}")
    regions = smp.get("regions", {})
    if region not in regions:
        raise NA64Error(f"histogram file ({hfile.get('analysis')}/{hfile.get('run')}), sample '{sample}': "
                        f"no region '{region}'; regions: {', '.join(regions)}. "
                        f"Set normalisation.<setup>.region in the configuration")
    return regions[region]


def normalisation_from_histograms(hfile: dict, setup: str, ncfg: dict, norm_syst: dict | None = None) -> dict:
    """k = (N_data - N_other) / N_measured in the configured control region (see module doc).

    ``norm_syst``: relative normalisation uncertainty of each subtracted simulated process
    (``background.mc_norm_syst``: {process or "default": fraction}); None: the background defaults."""
    if norm_syst is None:
        from .background.settings import DEFAULTS as BACKGROUND_DEFAULTS

        norm_syst = BACKGROUND_DEFAULTS["mc_norm_syst"]
    scfg = ncfg[setup]
    region = scfg["region"]
    if region == "box":
        raise NA64Error("normalisation region must not be the signal box ('box')")
    mc = [s for s in hfile["samples"] if s.startswith("mc_")]
    if not mc:
        raise NA64Error(f"histogram file ({hfile.get('analysis')}/{hfile.get('run')}): no simulated "
                        "mc_<process> samples to normalise against")
    wanted = scfg.get("processes")
    measured = [s for s in mc if wanted is None or s[3:] in wanted]
    if not measured:
        raise NA64Error(f"normalisation.{setup}.processes {wanted}: none of them in the histogram file "
                        f"(simulated: {', '.join(mc)})")
    n_data = float(_region(hfile, samples.DATA, region)["raw"])
    n_exp = sum(float(_region(hfile, s, region)["weighted"]) for s in measured)
    var_exp = sum(float(_region(hfile, s, region)["sumw2"]) for s in measured)
    others = [s for s in mc if s not in measured]
    n_other = sum(float(_region(hfile, s, region)["weighted"]) for s in others
                  if region in hfile["samples"][s].get("regions", {}))
    var_other = sum(float(_region(hfile, s, region)["sumw2"]) for s in others
                    if region in hfile["samples"][s].get("regions", {}))
    # the subtracted processes are known only to their normalisation uncertainty (mc_norm_syst)
    syst_other = float(np.sqrt(sum((float(norm_syst.get(s[3:], norm_syst["default"]))
                                    * float(_region(hfile, s, region)["weighted"])) ** 2
                                   for s in others if region in hfile["samples"][s].get("regions", {}))))
    if n_exp <= 0:
        raise NA64Error(f"normalisation: expected yield of {', '.join(measured)} in region '{region}' is "
                        f"{n_exp:g}; cannot form data/expected")
    k = (n_data - n_other) / n_exp
    k_stat_data = np.sqrt(max(n_data, 1.0)) / n_exp
    k_stat_mc = np.sqrt(var_other + k**2 * var_exp) / n_exp
    k_syst = abs(k) * float(ncfg["syst_frac"])
    k_syst_other = syst_other / n_exp
    k_unc = float(np.sqrt(k_stat_data**2 + k_stat_mc**2 + k_syst**2 + k_syst_other**2))
    what = ("data/QED-expected dimuons (mc_dimuon normalised to the exposure)" if setup == "electron"
            else f"beam cross-check: data/simulated yield in region '{region}' (weights normalised to n_ot)")
    return {"analysis": hfile.get("analysis"), "run": str(hfile.get("run")), "k": float(k), "k_unc": k_unc,
            "n_data": n_data, "n_expected": n_exp, "method": what, "region": region,
            "components": {"stat_data": float(k_stat_data), "stat_mc": float(k_stat_mc), "syst": float(k_syst),
                           "syst_frac": float(ncfg["syst_frac"]), "n_other_mc": n_other,
                           "syst_other": float(k_syst_other),
                           "measured_samples": measured}}


def published_normalisation(analysis: str, run: str, ncfg: dict) -> dict:
    """Published mode: k = 1 +- published_k_unc (no events)."""
    return {"analysis": analysis, "run": str(run), "k": 1.0, "k_unc": float(ncfg["published_k_unc"]),
            "n_data": None, "n_expected": None,
            "method": "published (k = 1; the ~10% dimuon-comparison systematic [paper] is the run's "
                      "published.signal_efficiency_unc)", "region": "dimuon"}


def compute(cfg: dict, analysis: str, run: str, hfile: dict | None = None) -> dict:
    """The normalisation record of one analysis and run (reads the histogram file unless given)."""
    ncfg = settings(cfg)
    acfg = config.analysis_config(cfg, analysis)
    config.run_config(cfg, analysis, run)
    if cfg.get("input", {}).get("source") == "published":
        return published_normalisation(analysis, run, ncfg)
    if hfile is None:
        hfile = load_histograms(paths.histograms_path(cfg, analysis, run))
    from .background.settings import settings as background_settings

    rec = normalisation_from_histograms(hfile, acfg["setup"], ncfg, background_settings(cfg)["mc_norm_syst"])
    rec.update(analysis=analysis, run=str(run))
    return rec


def add_arguments(parser: argparse.ArgumentParser) -> None:
    config.add_config_arguments(parser)
    config.add_analysis_arguments(parser)


def run(args: argparse.Namespace) -> int:
    cfg = config.config_from_args(args)
    rec = compute(cfg, args.analysis, args.run)
    out = paths.normalisation_path(cfg, args.analysis, args.run)
    contracts.write_normalisation(out, rec)
    log.info("k = %.3f +- %.3f (n_data %s, n_expected %s) -> %s", rec["k"], rec["k_unc"],
             rec["n_data"], rec["n_expected"], out)
    return 0
