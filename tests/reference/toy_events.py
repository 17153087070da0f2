"""Seeded toy events in the na64flow event schema, for processing tests, reference cut-flows and the benchmark.

Not a physics simulation (that is `na64flow simulate`): a mixture of populations chosen so that every cut
of every analysis removes some events, a few events fall in each region, and a few have invalid values
(NaN, inf, negative energies). Shapes are [est] placeholders: only determinism and coverage matter here.
"""

from __future__ import annotations

import numpy as np

from na64flow.events import TRIGGER_CALIBRATION, TRIGGER_PHYSICS, branch_names, numpy_types


def _base(rng, n, setup, e0):
    cols = {
        "run_number": np.full(n, 1, np.int32),
        "event_number": np.arange(n, dtype=np.int64),
        "trigger_bits": np.where(rng.random(n) < 0.03, TRIGGER_CALIBRATION, TRIGGER_PHYSICS).astype(np.uint32),
        "spill_time_s": rng.uniform(0, 4.8, n),
        "beam_momentum_gev": rng.normal(e0, 0.02 * e0, n),
        "beam_angle_mrad": rng.exponential(1.2, n),
        "n_tracks_up": np.where(rng.random(n) < 0.93, 1, rng.integers(0, 4, n)),
        "srd1_mev": rng.gamma(4.0, 10.0, n),
        "srd2_mev": rng.gamma(4.0, 10.0, n),
        "srd3_mev": rng.gamma(4.0, 10.0, n),
        "ecal_ps_gev": rng.gamma(3.0, 2.0, n),
        "ecal_gev": rng.normal(e0, 0.03 * e0, n),
        "ecal_chi2": rng.gamma(2.0, 0.8, n),
        "ecal_time_ns": rng.normal(0, 1.8, n),
        "veto_mip": np.abs(rng.normal(0.0, 0.12, n)),
        "vhcal_gev": np.abs(rng.normal(0.0, 0.3, n)),
        "hcal_time_ns": rng.normal(0, 2.0, n),
    }
    for i in range(1, 5):
        cols[f"hcal{i}_gev"] = np.abs(rng.normal(0.0, 0.08, n))
    return cols


def _mix(rng, n, fractions):
    return rng.choice(len(fractions), size=n, p=np.asarray(fractions) / np.sum(fractions))


def electron(n, seed, e0=100.0):
    """e-/e+ beam: showers, hadron electro-production, dimuons, pile-up, box-like events, hadrons."""
    rng = np.random.default_rng(seed)
    c = _base(rng, n, "electron", e0)
    kind = _mix(rng, n, [0.80, 0.07, 0.03, 0.03, 0.04, 0.03])
    # 1 hadron electro-production: E_ECAL + E_HCAL ~ E0
    k = kind == 1
    frac = rng.uniform(0.05, 0.95, k.sum())
    c["ecal_gev"][k] = e0 * frac
    for i in range(1, 5):
        c[f"hcal{i}_gev"][k] = e0 * (1 - frac) / 4
    # 2 dimuons: two MIPs everywhere downstream
    k = kind == 2
    c["ecal_gev"][k] = rng.uniform(20, 90, k.sum())
    for i in range(1, 5):
        c[f"hcal{i}_gev"][k] = rng.normal(2.5, 0.5, k.sum())
    c["veto_mip"][k] = rng.normal(2.0, 0.3, k.sum())
    # 3 pile-up: late second particle
    k = kind == 3
    c["ecal_time_ns"][k] = rng.normal(0, 12, k.sum())
    c["hcal1_gev"][k] = rng.uniform(0, 40, k.sum())
    # 4 missing-energy-like: low ECAL, empty HCAL
    k = kind == 4
    c["ecal_gev"][k] = rng.uniform(2, 80, k.sum())
    # 5 hadron contamination: no SRD, no pre-shower, wide shower
    k = kind == 5
    c["srd1_mev"][k] = rng.uniform(0, 2, k.sum())
    c["ecal_ps_gev"][k] = rng.uniform(0, 1, k.sum())
    c["ecal_chi2"][k] = rng.uniform(0, 30, k.sum())
    c["veto_mip"][k] = rng.uniform(0, 3, k.sum())
    _invalid(rng, c, "ecal_gev")
    return _finish(c, "electron", rng)


def muon(n, seed, e0=160.0):
    """mu beam: MIP muons, mis-reconstructed momenta, visible interactions, low-p_out candidates."""
    rng = np.random.default_rng(seed)
    c = _base(rng, n, "muon", e0)
    c["ecal_gev"] = np.abs(rng.normal(0.5, 0.2, n))
    for i in range(1, 5):
        c[f"hcal{i}_gev"] = np.abs(rng.normal(1.5, 0.6, n))
    c["veto_mip"] = np.abs(rng.normal(1.0, 0.25, n))
    c["beam_momentum_gev"] = rng.normal(e0, 12, n)
    c["ms2_momentum_gev"] = np.where(rng.random(n) < 0.9, rng.normal(e0, 8, n), rng.uniform(10, e0, n))
    c["ms2_chi2"] = rng.gamma(2.0, 1.0, n)
    c["max_hits_per_tracker"] = np.where(rng.random(n) < 0.9, 1, rng.integers(2, 5, n)).astype(np.int32)
    c["hcal_time_spread_ns"] = rng.exponential(1.5, n)
    k = rng.random(n) < 0.05   # visible interactions
    c["hcal2_gev"][k] = rng.uniform(5, 60, k.sum())
    _invalid(rng, c, "ms2_momentum_gev")
    return _finish(c, "muon", rng)


def hadron(n, seed, e0=50.0):
    """pi- beam: hadronic showers, charge exchange to visible neutrals, disappearance-like events."""
    rng = np.random.default_rng(seed)
    c = _base(rng, n, "hadron", e0)
    for s in ("srd1_mev", "srd2_mev", "srd3_mev"):
        c[s] = np.where(rng.random(n) < 0.97, rng.uniform(0, 0.8, n), rng.gamma(4, 10, n))
    frac = rng.uniform(0, 1, n)
    c["ecal_gev"] = e0 * frac * (rng.random(n) < 0.9)
    for i in range(1, 5):
        c[f"hcal{i}_gev"] = e0 * (1 - frac) / 4
    k = rng.random(n) < 0.03   # disappearance-like
    c["ecal_gev"][k] = np.abs(rng.normal(0, 0.5, k.sum()))
    for i in range(1, 5):
        c[f"hcal{i}_gev"][k] = np.abs(rng.normal(0, 0.15, k.sum()))
    c["veto_mip"] = np.where(rng.random(n) < 0.8, np.abs(rng.normal(0, 0.1, n)), rng.uniform(0, 3, n))
    _invalid(rng, c, "hcal3_gev")
    return _finish(c, "hadron", rng)


def _invalid(rng, c, column):
    n = len(c["event_number"])
    idx = rng.choice(n, size=max(3, n // 500), replace=False)
    third = len(idx) // 3
    c[column][idx[:third]] = np.nan
    c["veto_mip"][idx[third:2 * third]] = np.inf
    c["ecal_ps_gev"][idx[2 * third:]] = -5.0


def _finish(c, setup, rng, weight=None):
    n = len(c["event_number"])
    c["true_process"] = np.zeros(n, np.int32)
    c["true_e_miss_gev"] = np.zeros(n, np.float32)
    c["true_mediator_e_gev"] = np.zeros(n, np.float32)
    c["weight"] = np.ones(n) if weight is None else weight
    types = numpy_types(setup, truth=True)
    return {k: np.asarray(c[k]).astype(types[k]) for k in branch_names(setup, truth=True)}


GENERATORS = {"electron": electron, "muon": muon, "hadron": hadron}


SETUP_OF = {"na64e": "electron", "na64e_plus": "electron", "na64mu": "muon", "na64h": "hadron"}
E0_OF = {"na64e": 100.0, "na64e_plus": 100.0, "na64mu": 160.0, "na64h": 50.0}


def write_run(cfg: dict, analysis: str, run: str, n: int, seed: int, n_files: int = 2,
              extra_data: dict | None = None) -> dict:
    """Write toy ntuples (data in ``n_files`` files, one weighted MC sample) and the manifest of a run.

    ``extra_data`` (columns) is appended to the data stream (e.g. a planted box event). Returns the manifest.
    """
    import json

    from na64flow.events import write_events
    from na64flow.paths import manifest_path, ntuple_dir

    setup = SETUP_OF[analysis]
    gen = GENERATORS[setup]
    e0 = float(cfg["analyses"][analysis]["runs"][run]["beam_energy_gev"])
    base = ntuple_dir(cfg, analysis, run)
    data = gen(n, seed, e0)
    if extra_data:
        data = {k: np.concatenate([data[k], np.asarray(extra_data[k], dtype=data[k].dtype)]) for k in data}
    data["weight"][:] = 1.0
    files = []
    edges = np.linspace(0, len(data["event_number"]), n_files + 1).astype(int)
    for i in range(n_files):
        rel = f"data/chunk_{i:04d}.root"
        write_events(base / rel, {k: v[edges[i]:edges[i + 1]] for k, v in data.items()}, setup, truth=True)
        files.append(rel)
    mc = gen(n // 2, seed + 1, e0)
    mc["weight"] = np.random.default_rng(seed + 2).uniform(0.5, 1.5, len(mc["weight"]))
    write_events(base / "mc/bulk/chunk_0000.root", mc, setup, truth=True)
    manifest = {"schema_version": "1.0", "analysis": analysis, "run": run, "setup": setup,
                "beam_energy_gev": e0, "n_ot": float(cfg["analyses"][analysis]["runs"][run]["n_ot"]),
                "seed": seed,
                "samples": {"data": {"kind": "data", "files": files, "n_events": int(len(data["event_number"]))},
                            "mc_bulk": {"kind": "mc", "process": "bulk", "files": ["mc/bulk/chunk_0000.root"],
                                        "n_events": int(len(mc["weight"])), "sum_weights": float(mc["weight"].sum())}}}
    manifest_path(cfg, analysis, run).write_text(json.dumps(manifest))
    return manifest


_DEFAULT_CACHE: dict = {}


def make_config(tmp_path, repo_root, sets: dict | None = None):
    """Copy configs/default.yaml with results under tmp_path (small chunks) and ``sets`` applied;
    returns (path, validated cfg)."""
    import copy

    import yaml

    from na64flow.config import _set_dotted, load_config

    key = str(repo_root)
    if key not in _DEFAULT_CACHE:   # read once per session: other steps may edit default.yaml meanwhile
        _DEFAULT_CACHE[key] = yaml.safe_load((repo_root / "configs" / "default.yaml").read_text())
    raw = copy.deepcopy(_DEFAULT_CACHE[key])
    raw["results_root"] = str(tmp_path / "results")
    raw.setdefault("execution", {})["chunksize"] = 1500
    for k, v in (sets or {}).items():
        _set_dotted(raw, k, v)
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path, load_config(path)
