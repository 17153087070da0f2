"""Physics triggers of the three setups and the reference (published) box selection used to derive rates.

Triggers [est, modelled on the NA64 trigger logic described in the seeds]:

* electron: missing-energy trigger, pre-shower E_PS > 0.3 GeV and E_ECAL < 0.8 E0;
* muon: deflected-muon trigger, outgoing momentum (MS2) < 0.625 E0 (100 GeV at 160 GeV) and the muon
  reaching the trigger counter behind the HCAL (geometry in ``muon_geometry``);
* hadron: low-energy trigger, E_HCAL < 0.3 E0 (the beam energy does not reach the HCAL: charge exchange
  in the ECAL, eta/eta' -> invisible, large leaks).

The reference box selection (:func:`reference_box`) is the published NA64 selection (physics.md §1-2,
values as in configs/default.yaml; one upstream track): it is only used to derive process rates from published box
backgrounds, so that changing the analysis cuts in a configuration does not change the simulated rates.
"""

from __future__ import annotations

import numpy as np

PS_TRIGGER_GEV = 0.3          # [est]
ECAL_TRIGGER_FRACTION = 0.8   # [est]
MUON_TRIGGER_FRACTION = 0.625  # [est]
HADRON_TRIGGER_FRACTION = 0.3  # [est]


def hcal_sum(cols) -> np.ndarray:
    return cols["hcal1_gev"] + cols["hcal2_gev"] + cols["hcal3_gev"] + cols["hcal4_gev"]


def physics_trigger(cols: dict, setup: str, e0_gev: float) -> np.ndarray:
    """Boolean mask of events firing the physics trigger of ``setup`` (module docstring)."""
    if setup == "electron":
        return (cols["ecal_ps_gev"] > PS_TRIGGER_GEV) & (cols["ecal_gev"] < ECAL_TRIGGER_FRACTION * e0_gev)
    if setup == "muon":
        # deflected muon: measured p_MS2 < 0.625 E0 (the counter's inner edge) and the muon reaches the
        # trigger counter behind the HCAL (simulation.muon_geometry; absent -> not modelled -> True)
        counter = cols.get("_mu_counter")
        ok = cols["ms2_momentum_gev"] < MUON_TRIGGER_FRACTION * e0_gev
        return ok if counter is None else ok & counter
    if setup == "hadron":
        return hcal_sum(cols) < HADRON_TRIGGER_FRACTION * e0_gev
    raise ValueError(setup)


def reference_box(cols: dict, setup: str, e0_gev: float, ecal_max_gev: float | None,
                  vhcal: bool = False) -> np.ndarray:
    """Events passing the published selection and inside the published signal box [paper/est values of
    configs/default.yaml]: electrons E_ECAL < ecal_max, E_HCAL < 1 GeV; muons p_out < 80 GeV."""
    trig = physics_trigger(cols, setup, e0_gev)
    if setup == "electron":
        p = cols["beam_momentum_gev"]
        srd = np.ones(len(p), bool)
        for k in (1, 2, 3):
            srd &= (cols[f"srd{k}_mev"] > 1.0) & (cols[f"srd{k}_mev"] < 120.0)
        ok = (np.abs(p - e0_gev) < 0.03 * e0_gev) & (cols["beam_angle_mrad"] < 3.0) & srd
        ok &= cols["n_tracks_up"] == 1
        ok &= (cols["ecal_ps_gev"] > 0.5) & (cols["ecal_chi2"] < 4.0) & (cols["veto_mip"] < 0.5)
        ok &= (np.abs(cols["ecal_time_ns"]) < 5.0) & (np.abs(cols["hcal_time_ns"]) < 5.0)
        if vhcal:
            ok &= cols["vhcal_gev"] < 1.0
        return trig & ok & (cols["ecal_gev"] < ecal_max_gev) & (hcal_sum(cols) < 1.0)
    if setup == "muon":
        ok = (cols["beam_momentum_gev"] > 135.0) & (cols["beam_momentum_gev"] < 185.0)
        ok &= (cols["max_hits_per_tracker"] <= 1) & (cols["ms2_chi2"] < 5.0)
        ok &= (cols["ecal_gev"] > 0.1) & (cols["ecal_gev"] < 1.5)
        for k in (1, 2, 3, 4):
            ok &= (cols[f"hcal{k}_gev"] > 0.3) & (cols[f"hcal{k}_gev"] < 4.0)
        ok &= (cols["veto_mip"] > 0.5) & (cols["veto_mip"] < 2.0)
        return trig & ok & (cols["ms2_momentum_gev"] < 80.0)
    raise ValueError(f"no reference box for setup {setup}")
