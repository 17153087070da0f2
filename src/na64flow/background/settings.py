"""The background settings: the ``background`` section of the configuration over its defaults."""

from __future__ import annotations

from .. import config, fits

DEFAULTS = {
    "fit_models": list(fits.MODELS),
    "min_fit_pvalue": 0.01,          # [est] reasonable-fit criterion for the systematic envelope
    "power_law_offset_gev": 1.0,     # [est] c in (x + c)^-p
    "min_fit_events": 10.0,          # [est] fewer side-band events in a fit range: shape unconstrained
    "max_closure_pull": 2.0,         # [est] a fit choice must reproduce the simulated box within 2 sigma
    "syst_min_significance": 2.0,    # [lit: Barlow hep-ex/0207026] a range-choice check within 2 sigma adds no syst
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
    # NA64h: the simulated samples carry no calibration-trigger stream; the HCAL side band (the
    # normalisation step's cross-check) holds ~50 simulated pion showers (k +- 18%, MC statistics) and
    # measures pion showers, not the punch-through it would normalise: the simulation is normalised to
    # the exposure n_ot (coverage study, docs/background.md)
    "hadron": {"sideband": None, "mc_norm_region": None},
    # published totals per run at the published exposure, for the physical-equivalent statement
    # [paper, physics.md §1 / configs/published.yaml]; "<analysis>:<run>" -> {n_ot, total, total_unc, reference}
    "published_reference": {},
}


def settings(cfg: dict) -> dict:
    """The ``background`` section merged over DEFAULTS (dicts merged one level deep)."""
    return config.merged_section(cfg, "background", DEFAULTS)
