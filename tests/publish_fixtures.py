"""Hand-made results trees (limits, signal, background, cut-flow files per docs/contracts.md) for the
publish and plot tests; no other step needs to have run."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np

from na64flow.config import load_config

ROOT = Path(__file__).resolve().parents[1]
MASSES_GEV = [0.001, 0.01, 0.1, 0.5]
K_NORM = 0.97   # dimuon normalisation in the hand-made normalisation files
# cut-flow CSV in the long format of the cutflow step (one row per sample and cut)
CUTFLOW_HEADER = ["sample", "step", "raw", "removed", "rel_eff", "cum_eff", "weighted", "weighted_err",
                  "rel_eff_weighted", "cum_eff_weighted"]
CUTFLOW_ROWS = [
    ["data", "read", 100000, "", "", 1, 100000, 316.2, "", 1],
    ["data", "srd_tag", 90000, 10000, 0.9, 0.9, 90000, 300.0, 0.9, 0.9],
    ["data", "box", "blinded", "blinded", "blinded", "blinded", "blinded", "blinded", "blinded", "blinded"],
    ["mc_dimuon", "read", 2000, "", "", 1, 5000.5, 111.8, "", 1],
    ["mc_dimuon", "srd_tag", 1600, 400, 0.8, 0.8, 4000.25, 100.0, 0.8, 0.8],
    ["mc_dimuon", "box", 1, 1599, 0.000625, 0.0005, 0.04, 0.04, 1e-5, 8e-6],
    ["signal_brem_m0.01", "read", 1000, "", "", 1, 1000, 31.6, "", 1],
    ["signal_brem_m0.01", "srd_tag", 950, 50, 0.95, 0.95, 950, 30.8, 0.95, 0.95],
    ["signal_brem_m0.01", "box", 600, 350, 0.63, 0.6, 600, 24.5, 0.63, 0.6],
]


def write_csv(path: Path, header: list[str], rows: list[list]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(header)
        w.writerows(rows)
    return path


def limit_rows(masses, scale=1e-5, observed=False):
    """Limits growing with mass, bands ordered exp_m2 < exp_m1 < exp < exp_p1 < exp_p2."""
    rows = []
    for m in masses:
        e = scale * (1 + 10 * m)
        rows.append([m, e, 0.6 * e, 0.8 * e, 1.3 * e, 1.7 * e, (1.1 * e) if observed else ""])
    return rows


LIMIT_HEADER = ["mass_gev", "exp", "exp_m2", "exp_m1", "exp_p1", "exp_p2", "obs"]


def make_config(tmp_path: Path, name: str = "default.yaml"):
    return load_config(ROOT / "configs" / name, {"results_root": str(tmp_path / "results")})


def populate(cfg: dict, observed: bool = False) -> Path:
    """Write signal, background, cut-flow and limit files for every analysis/run of ``cfg``."""
    res = Path(cfg["results_root"]) / cfg["tag"]
    models = {"na64e": ["dark_photon", "lmu_ltau"], "na64e_plus": ["dark_photon"],
              "na64mu": ["dark_photon", "lmu_ltau"]}
    for analysis, acfg in cfg["analyses"].items():
        for run in acfg["runs"]:
            if analysis == "na64h":
                write_csv(res / "signal" / analysis / f"eta_invisible_{run}.csv",
                          ["mass_gev", "yield_per_ot", "efficiency"], [[0.547862, 2e-6, 0.5]])
                write_csv(res / "signal" / analysis / f"etaprime_invisible_{run}.csv",
                          ["mass_gev", "yield_per_ot", "efficiency"], [[0.95778, 1e-6, 0.5]])
            for model in models.get(analysis, []):
                write_csv(res / "signal" / analysis / f"{model}_{run}.csv",
                          ["mass_gev", "yield_per_ot", "efficiency"],
                          [[m, 1e-3 / (1 + 100 * m) ** 2, 0.5] for m in MASSES_GEV])
            bkg = {"analysis": analysis, "run": run, "n_ot": acfg["runs"][run]["n_ot"], "blinded": True,
                   "sources": [{"name": "upstream_interactions", "estimate": 0.16, "stat": 0.05, "syst": 0.1,
                                "method": "side-band extrapolation", "inputs": {}},
                               {"name": "decays_in_flight", "estimate": 0.3, "stat": 0.02, "syst": 0.05,
                                "method": "simulation", "inputs": {}}],
                   "total": {"estimate": 0.46, "stat": 0.054, "syst": 0.11, "uncertainty": 0.12}}
            (res / "background" / analysis).mkdir(parents=True, exist_ok=True)
            (res / "background" / analysis / f"{run}.json").write_text(json.dumps(bkg))
            (res / "normalisation" / analysis).mkdir(parents=True, exist_ok=True)
            (res / "normalisation" / analysis / f"{run}.json").write_text(json.dumps(
                {"analysis": analysis, "run": run, "k": K_NORM, "k_unc": 0.05, "n_data": 970, "n_expected": 1000,
                 "method": "hand-made", "region": "dimuon"}))
            write_csv(res / "cutflows" / analysis / f"{run}.csv", CUTFLOW_HEADER, CUTFLOW_ROWS)
            if observed:
                (res / "unblinded" / analysis).mkdir(parents=True, exist_ok=True)
                (res / "unblinded" / analysis / f"{run}.json").write_text(json.dumps({"observed": 0}))
        for model in models.get(analysis, []):
            write_csv(res / "limits" / analysis / f"{model}.csv", LIMIT_HEADER,
                      limit_rows(MASSES_GEV, observed=observed))
    for model in ("dark_photon", "lmu_ltau"):
        write_csv(res / "limits" / "combined" / f"{model}.csv", LIMIT_HEADER,
                  limit_rows(MASSES_GEV, scale=5e-6, observed=observed))
    for alpha in ("0.1", "0.5"):
        rows = [[m / 3, *r[1:]] for m, r in zip(MASSES_GEV, limit_rows(MASSES_GEV, scale=1e-12), strict=True)]
        write_csv(res / "limits" / "combined" / f"dark_photon_y_{alpha}.csv",
                  ["m_chi_gev"] + LIMIT_HEADER[1:], rows)
    write_csv(res / "limits" / "na64h" / "eta_invisible.csv", ["meson"] + LIMIT_HEADER,
              [["eta", 0.547862, 1.1e-4, 0.7e-4, 0.9e-4, 1.4e-4, 1.9e-4, 1.0e-4 if observed else ""]])
    write_csv(res / "limits" / "na64h" / "etaprime_invisible.csv", ["meson"] + LIMIT_HEADER,
              [["etaprime", 0.95778, 2.1e-4, 1.4e-4, 1.7e-4, 2.8e-4, 3.6e-4, 2.0e-4 if observed else ""]])
    return res


def ecal_hcal_hist():
    """An (E_ECAL, E_HCAL) histogram with the contract binning, filled outside the box only."""
    import hist

    h = hist.Hist(hist.axis.Regular(150, 0, 150, name="ecal_e_gev"), hist.axis.Regular(400, 0, 100, name="hcal_e_gev"),
                  storage=hist.storage.Weight())
    rng = np.random.default_rng(1)
    e = rng.normal(100, 3, 5000)
    h.fill(e, np.full_like(e, 0.2))
    h.fill(rng.uniform(0, 100, 500), rng.uniform(5, 15, 500))
    return h
