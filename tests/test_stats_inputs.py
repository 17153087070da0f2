"""Hand-made inputs of the `limits` step (contracts.md formats) shared by the statistics tests.

``make_config(tmp_path)`` loads configs/default.yaml with results under tmp_path; ``write_inputs``
writes signal/background/normalisation files for every configured analysis and run. The signal
curves are smooth toy shapes [est], not physics: the tests check the statistics, not the yields.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from na64flow import contracts, paths, registry
from na64flow.config import load_config

REPO = Path(__file__).resolve().parents[1]
DEFAULT_CONFIG = REPO / "configs" / "default.yaml"

MODELS = {
    "na64e": ["dark_photon", "lmu_ltau"],
    "na64e_plus": ["dark_photon"],
    "na64mu": ["dark_photon", "lmu_ltau"],
    "na64h": ["eta_invisible", "etaprime_invisible"],
}
MESON_MASS_GEV = {"eta_invisible": 0.547862, "etaprime_invisible": 0.95778}  # [lit, PDG]


def make_config(tmp_path: Path, **overrides) -> dict:
    """configs/default.yaml with results_root = tmp_path (plus dotted overrides)."""
    over = {"results_root": str(tmp_path)}
    over.update(overrides)
    return load_config(DEFAULT_CONFIG, over)


def _write_csv(path: Path, masses, yields, effs) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = ["mass_gev,yield_per_ot,efficiency"]
    lines += [f"{m:.6g},{y:.6g},{e:.6g}" for m, y, e in zip(masses, yields, effs)]
    path.write_text("\n".join(lines) + "\n")


def write_inputs(cfg: dict, n_masses: int = 12, background: float = 0.5, background_unc: float = 0.13,
                 k: float = 0.95, k_unc: float = 0.05, yield_scale: float = 1.0,
                 run_slope: dict | None = None) -> None:
    """Signal tables for MODELS, a background of ``background`` +- ``background_unc`` and k +- k_unc per run.

    yield_per_ot = 1e-6 * yield_scale * (0.01/m)^slope: slope 1 by default, ``run_slope[(a, r)]`` to
    give runs different mass dependences (so the combination's channel weights vary with mass).
    """
    masses = np.geomspace(0.002, 0.5, n_masses)
    for a, acfg in cfg["analyses"].items():
        for r in acfg["runs"]:
            slope = (run_slope or {}).get((a, r), 1.0)
            for model in MODELS[a]:
                if model in MESON_MASS_GEV:
                    m = [MESON_MASS_GEV[model]]
                    _write_csv(paths.signal_path(cfg, a, model, r), m, [1e-7 * yield_scale], [0.5])
                else:
                    y = 1e-6 * yield_scale * (0.01 / masses) ** slope
                    _write_csv(paths.signal_path(cfg, a, model, r), masses, y, np.full(n_masses, 0.5))
            # LDM tables at another alpha_D than the signal's have their own table (its resonant
            # annihilation depends on alpha_D): hand-made as about twice the base yield (0.5% more per
            # run index, so that the runs' shares differ from the base model's a little)
            for model in registry.signal_tables(cfg, a):
                if "_y_" in model and registry.parse_model(model)[0].name in MODELS[a]:
                    y = 2e-6 * (1 + 0.005 * list(acfg["runs"]).index(r)) * yield_scale * (0.01 / masses) ** slope
                    _write_csv(paths.signal_path(cfg, a, model, r), masses, y, np.full(n_masses, 0.5))
            bpath = paths.background_path(cfg, a, r)
            bpath.parent.mkdir(parents=True, exist_ok=True)
            bpath.write_text(json.dumps({
                "analysis": a, "run": r, "n_ot": acfg["runs"][r]["n_ot"], "blinded": True,
                "sources": [{"name": "toy source", "estimate": background, "stat": 0.0, "syst": background_unc,
                             "method": "hand-made test input"}],
                "total": {"estimate": background, "stat": 0.0, "syst": background_unc,
                          "uncertainty": background_unc}}))
            npath = paths.normalisation_path(cfg, a, r)
            npath.parent.mkdir(parents=True, exist_ok=True)
            npath.write_text(json.dumps({"analysis": a, "run": r, "k": k, "k_unc": k_unc, "n_data": 100,
                                         "n_expected": 105, "method": "hand-made", "region": "dimuon"}))


def test_hand_made_inputs_follow_the_contract(tmp_path):
    cfg = make_config(tmp_path)
    write_inputs(cfg, n_masses=5)
    table = contracts.read_signal(paths.signal_path(cfg, "na64e", "dark_photon", "2023"))
    assert len(table.mass_gev) == 5 and np.all(np.diff(table.mass_gev) > 0)
    bkg = contracts.read_background(paths.background_path(cfg, "na64mu", "2022"))
    assert (bkg.estimate, bkg.uncertainty) == (0.5, 0.13)
    k = contracts.read_normalisation(paths.normalisation_path(cfg, "na64h", "2022"))
    assert (k.k, k.k_unc) == (0.95, 0.05)
