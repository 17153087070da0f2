"""Signal yields per particle on target and selection efficiencies, per analysis, model, run and mass.

Writes ``results/<tag>/signal/<analysis>/<model>_<run>.csv`` (columns mass_gev,yield_per_ot,efficiency;
docs/contracts.md) for every model of the analysis:

* yield_per_ot: signal events per particle on target with the signal signature, at coupling 1
  (eps = 1 for A', g = 1 for Z', Br = 1 for eta/eta'), before selection, from na64flow.physics
  (docs/physics-implementation.md). Signature threshold: E_miss > E0 - cuts.ecal_max_gev (e-, e+),
  E_miss > E0 - cuts.p_out_max_gev (muons); for eta/eta' the charge-exchange probability P_M.
* efficiency: passing / generated of the signal samples ``signal_<mode>_m<mass>`` in the run's
  histogram file (final cut-flow row / first row, weighted), interpolated linearly in ln(mass)
  between simulated masses and constant beyond the first/last simulated mass. For models mixing two
  production modes (dark_photon = brem + annihilation) the efficiency is the yield-weighted mean.
  With ``input.source: published`` (no events) it is ``runs.<run>.published.signal_efficiency``
  [paper values in the config], or ``signal.published_efficiency_fallback`` if that is not given.

Shower track-length tables (electron and positron beams) are read from
``results/<tag>/cache/tracklength_<beam>_<E0>.npz`` (made by ``na64flow tracklengths``) and computed
and written there if missing or made with other cascade settings.
"""

from __future__ import annotations

import argparse
import logging
import math
from pathlib import Path

import numpy as np

from . import NA64Error, config, contracts, paths, registry, samples
from .physics import constants as const
from .physics import mesons, yields, zprime
from .physics.tracklength import TrackLengthTable
from .physics.tracklength import load as load_table
from .simulation import detector

log = logging.getLogger(__name__)

MESON_OF_MODEL = {name: m.meson for name, m in registry.MODELS.items() if m.meson}
COLUMNS = contracts.SIGNAL_COLUMNS

DEFAULTS = {
    "mass_grid": {"min_gev": 0.001, "max_gev": 1.0, "n_log": 60, "n_per_resonance_window": 20},
    "annihilation_width": "breit_wigner",
    "ldm": {"alpha_d": 0.1, "m_chi_ratio": 1.0 / 3.0, "chi_kind": "dirac"},
    "cascade": {"n_full": 200, "n_high": 50000, "e_split_gev": 1.0, "seed": 1},
    "muon_target_length_x0": 40.0,
    "positron_smoothing_bins": 4,
    "published_efficiency_fallback": None,
}


def settings(cfg: dict) -> dict:
    """The ``signal`` section with defaults filled in (the schema fills them too)."""
    sec = config.section(cfg, "signal")
    out = {}
    for key, default in DEFAULTS.items():
        if isinstance(default, dict):
            out[key] = {**default, **(sec.get(key) or {})}
        else:
            out[key] = sec.get(key, default)
    return out


def models_for(cfg: dict, analysis: str) -> tuple[str, ...]:
    """The models of the analysis's beam (na64flow.registry)."""
    return tuple(registry.signal_tables(cfg, analysis))


def threshold_gev(cfg: dict, analysis: str, run: str) -> float:
    """Missing-energy (momentum) threshold of the signal signature for this run."""
    cuts = config.cuts_for(cfg, analysis, run)
    e0 = float(cuts.beam_energy_gev)
    if cuts.setup == "electron":
        key = "ecal_max_gev"
    elif cuts.setup == "muon":
        key = "p_out_max_gev"
    else:
        key = "ecal_max_gev"
    if not hasattr(cuts, key):
        raise NA64Error(f"analyses.{analysis}.cuts.{key}: needed for the signal threshold of run {run}")
    return e0 - float(getattr(cuts, key))


def mass_grid(cfg: dict) -> np.ndarray:
    """Mediator masses (GeV): ``n_log`` log-spaced points in [min_gev, max_gev] plus
    ``n_per_resonance_window`` linear points across every resonance window sqrt(2 m_e E_thr) -
    sqrt(2 m_e E0) of the e-/e+ runs in the configuration; rounded to 6 significant digits, unique."""
    g = settings(cfg)["mass_grid"]
    lo, hi = float(g["min_gev"]), float(g["max_gev"])
    if not 0 < lo < hi:
        raise NA64Error(f"signal.mass_grid: need 0 < min_gev < max_gev, got {lo}, {hi}")
    masses = [np.geomspace(lo, hi, int(g["n_log"]))]
    for name, acfg in cfg["analyses"].items():
        if acfg.get("setup") != "electron":
            continue
        for run in acfg["runs"]:
            e0 = float(acfg["runs"][run]["beam_energy_gev"])
            w_lo = np.sqrt(2 * const.M_E_GEV * threshold_gev(cfg, name, run))
            w_hi = np.sqrt(2 * const.M_E_GEV * e0)
            w_lo, w_hi = max(w_lo, lo), min(w_hi, hi)
            if w_hi > w_lo and int(g["n_per_resonance_window"]) > 0:
                masses.append(np.linspace(w_lo, w_hi, int(g["n_per_resonance_window"])))
    m = np.concatenate(masses)
    m = np.array([float(f"{x:.6g}") for x in m])
    return np.unique(m)


# --------------------------------------------------------------------------------------------------
# track-length tables


def _table_source(s: dict) -> str:
    c = s["cascade"]
    return f"cascade n_full={int(c['n_full'])} n_high={int(c['n_high'])} e_split={float(c['e_split_gev']):.4g}"


def tracklength_path(cfg: dict, beam: str, e0_gev: float) -> Path:
    return paths.tracklength_path(cfg, beam, float(e0_gev))


def compute_table(cfg: dict, beam: str, e0_gev: float, progress: bool = True) -> TrackLengthTable:
    from .physics.cascade import simulate_table

    c = settings(cfg)["cascade"]
    return simulate_table(beam, float(e0_gev), n_full=int(c["n_full"]), n_high=int(c["n_high"]),
                          e_split_gev=float(c["e_split_gev"]), seed=int(c["seed"]), progress=progress)


def get_table(cfg: dict, beam: str, e0_gev: float) -> TrackLengthTable:
    """The cached cascade table for (beam, E0); computed and written if missing or made with other
    cascade settings (a mismatch of the ``source`` string)."""
    path = tracklength_path(cfg, beam, e0_gev)
    want = _table_source(settings(cfg))
    if path.is_file():
        table = load_table(path)
        # the full run may have been split in chunks: compare the settings prefix
        if table.source.startswith(want.split(" e_split")[0]) and abs(table.e0_gev - e0_gev) < 1e-9:
            return table
        log.warning("%s: made with '%s', configuration wants '%s': recomputing", path, table.source, want)
    table = compute_table(cfg, beam, e0_gev)
    table.save(path)
    return table


# --------------------------------------------------------------------------------------------------
# yields


def model_yields(cfg: dict, analysis: str, run: str, model: str, masses_gev: np.ndarray,
                 table: TrackLengthTable | None = None, cache: dict | None = None) -> dict[str, np.ndarray]:
    """Yield per OT at coupling 1 split by production mode: {mode: array over masses}.

    An LDM model ``<model>_y_<alphaD>`` is its base model with the resonant annihilation computed at that
    alpha_D (the base models use ``signal.ldm.alpha_d``). ``cache`` (a dict, optional) keeps the A' brem
    and annihilation yields between the models of one run (dark_photon, dark_photon_brem,
    dark_photon_annihilation and lmu_ltau share them)."""
    cuts = config.cuts_for(cfg, analysis, run)
    s = settings(cfg)
    e0 = float(cuts.beam_energy_gev)
    thr = threshold_gev(cfg, analysis, run)
    m = np.asarray(masses_gev, dtype=float)
    ldm = s["ldm"]
    spec, alpha_d = registry.parse_model(model)
    model = spec.name
    alpha_d = float(ldm["alpha_d"]) if alpha_d is None else alpha_d
    if cuts.setup == "electron":
        key = (analysis, str(run), m.tobytes(), alpha_d)
        if cache is not None and key in cache:
            brem, ann, ann_narrow = cache[key]
        else:
            table = table or get_table(cfg, cuts.beam, e0)
            brem = yields.brem_yield_electron_beam(m, table, thr)
            smearing = dict(smooth_bins=int(s["positron_smoothing_bins"]) if cuts.beam == "e-" else 0,
                            beam_spread_rel=detector.BEAM_SPREAD_REL,
                            ecal_resolution=(detector.ECAL_STOCH, detector.ECAL_CONST))
            ann = yields.annihilation_yield(m, table, thr, e0, width=s["annihilation_width"],
                                            alpha_d=alpha_d, m_chi_ratio=float(ldm["m_chi_ratio"]),
                                            chi_kind=ldm["chi_kind"], **smearing)
            # the L_mu-L_tau Z' has no dark-matter decay: Gamma/m = g^2/12 pi ~ 1e-8 (g = 1e-3), a narrow line
            ann_narrow = yields.narrow_annihilation_yield(m, table, thr, e0, **smearing)
            if cache is not None:
                cache[key] = (brem, ann, ann_narrow)
        if model == "dark_photon":
            return {"brem": brem, "annihilation": ann}
        if model == "dark_photon_brem":
            return {"brem": brem}
        if model == "dark_photon_annihilation":
            return {"annihilation": ann}
        if model == "lmu_ltau":   # through the loop mixing eps = g/69, times BR(Z' -> nu nu); narrow resonance
            f = float(zprime.loop_mixing_eps(1.0)) ** 2 * zprime.branching_invisible(m)
            return {"brem": brem * f, "annihilation": ann_narrow * f}
    elif cuts.setup == "muon":
        length_cm = float(s["muon_target_length_x0"]) * const.PB_X0_CM
        if model == "lmu_ltau":
            return {"zprime": yields.lmu_ltau_muon_yield(m, e0, thr, length_cm=length_cm)}
        if model == "dark_photon":
            return {"brem": yields.muon_brem_yield(m, e0, thr, length_cm=length_cm)}
    elif cuts.setup == "hadron" and model in MESON_OF_MODEL:
        meson = MESON_OF_MODEL[model]
        return {meson: np.full(len(m), mesons.production_probability(meson, e0))}
    raise NA64Error(f"signal: model '{model}' is not defined for analysis '{analysis}' ({cuts.setup}, {cuts.beam})")


# --------------------------------------------------------------------------------------------------
# efficiencies


def efficiencies_from_histograms(content: dict, where: str = "histograms") -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """{mode: (masses, efficiencies)} from the signal samples of a histogram dict: efficiency =
    last cut-flow row (weighted) / first row. Sorted by mass."""
    out: dict[str, list] = {}
    for name, sample in content.get("samples", {}).items():
        parsed = samples.parse_signal(name)
        if parsed is None:
            continue
        mode, mass = parsed
        try:
            w = sample["cutflow"]["weighted"]
            first, last = float(w[0]), w[-1]
        except (KeyError, IndexError, TypeError) as exc:
            raise NA64Error(f"{where}: samples.{name}.cutflow.weighted missing or empty") from exc
        if last is None:
            raise NA64Error(f"{where}: samples.{name}: last cut-flow row is blinded; signal samples must not be")
        if first <= 0:
            raise NA64Error(f"{where}: samples.{name}: no events read (cut-flow row 0 is {first})")
        out.setdefault(mode, []).append((mass, float(last) / first))
    return {mode: (np.array([p[0] for p in sorted(v)]), np.array([p[1] for p in sorted(v)])) for mode, v in out.items()}


def interpolate_efficiency(sim_masses_gev, sim_eff, masses_gev):
    """Linear in ln(mass) between simulated masses, constant beyond the ends (np.interp)."""
    return np.interp(np.log(masses_gev), np.log(sim_masses_gev), sim_eff)


# which simulated mode gives the efficiency of a production mode, in order of preference
_EFF_MODES = {"brem": ("brem", "zprime"), "zprime": ("zprime", "brem"), "annihilation": ("annihilation",),
              "eta": ("eta",), "etaprime": ("etaprime",)}


def model_efficiency(parts: dict[str, np.ndarray], effs: dict, masses_gev, where: str) -> np.ndarray:
    """Yield-weighted efficiency over the production modes of a model."""
    total = np.zeros(len(masses_gev))
    weight = np.zeros(len(masses_gev))
    for mode, y in parts.items():
        src = next((mm for mm in _EFF_MODES[mode] if mm in effs), None)
        if src is None:
            if not np.any(y > 0):
                continue
            raise NA64Error(f"{where}: no signal samples 'signal_{mode}_m<mass>' for the {mode} production mode "
                            f"(found modes: {', '.join(sorted(effs)) or 'none'})")
        e = interpolate_efficiency(*effs[src], masses_gev)
        total += y * e
        weight += y
    with np.errstate(invalid="ignore", divide="ignore"):
        out = np.where(weight > 0, total / np.where(weight > 0, weight, 1.0), np.nan)
    if np.all(np.isnan(out)):
        return np.zeros(len(masses_gev))
    # masses where the model has no yield at all: take the efficiency of the first available mode
    if np.any(np.isnan(out)):
        first = next(m for m in parts if any(mm in effs for mm in _EFF_MODES[m]))
        src = next(mm for mm in _EFF_MODES[first] if mm in effs)
        out = np.where(np.isnan(out), interpolate_efficiency(*effs[src], masses_gev), out)
    return out


def published_efficiency(cfg: dict, analysis: str, run: str) -> float:
    """The run's total signal efficiency in published mode.

    ``published.signal_efficiency_factors`` (a list of {name, value, source}): their product, every factor
    cited where it is written (docs/physics-implementation.md); with ``published.signal_efficiency`` as well
    the two must agree (1e-6), else NA64Error. Otherwise ``published.signal_efficiency``, else
    ``signal.published_efficiency_fallback``, else NA64Error naming the missing key."""
    rcfg = config.run_config(cfg, analysis, run)
    pub = rcfg.get("published") or {}
    where = f"{cfg.get('_path', 'config')}: analyses.{analysis}.runs.{run}.published"
    eff = pub.get("signal_efficiency")
    factors = pub.get("signal_efficiency_factors")
    if factors:
        product = float(np.prod([float(f["value"]) for f in factors]))
        if eff is not None and not math.isclose(float(eff), product, rel_tol=1e-6):
            names = " x ".join(f"{f['name']} {f['value']}" for f in factors)
            raise NA64Error(f"{where}: signal_efficiency = {eff} but the product of signal_efficiency_factors "
                            f"({names}) is {product:.6g}; give one, or make them agree")
        eff = product
    if eff is None:
        eff = settings(cfg)["published_efficiency_fallback"]
    if eff is None:
        raise NA64Error(f"{cfg.get('_path', 'config')}: input.source is 'published' but neither "
                        f"analyses.{analysis}.runs.{run}.published.signal_efficiency nor "
                        "signal.published_efficiency_fallback is set")
    return float(eff)


# --------------------------------------------------------------------------------------------------
# files


def write_yields(path: str | Path, masses_gev, yield_per_ot, efficiency) -> None:
    contracts.write_signal(path, contracts.SignalTable(np.asarray(masses_gev), np.asarray(yield_per_ot),
                                                       np.asarray(efficiency)))


def compute(cfg: dict, analysis: str, run: str, histograms: dict | None = None) -> dict[str, tuple]:
    """{model: (masses, yield_per_ot, efficiency)} for every model of the analysis in this run."""
    acfg = config.analysis_config(cfg, analysis)
    config.run_config(cfg, analysis, run)
    published = cfg.get("input", {}).get("source") == "published"
    where = "histograms"
    if not published and histograms is None:
        from . import histograms as hmod

        hpath = paths.histograms_path(cfg, analysis, run)
        histograms = hmod.load(hpath)
        where = str(hpath)
    effs = None if published else efficiencies_from_histograms(histograms, where)
    out = {}
    cache: dict = {}
    grid = mass_grid(cfg)
    for model in models_for(cfg, analysis):
        if acfg["setup"] == "hadron":
            meson = MESON_OF_MODEL[model]
            masses = np.array([mesons.MESON_MASS_GEV[meson]])
        else:
            masses = grid
        parts = model_yields(cfg, analysis, run, model, masses, cache=cache)
        total = sum(parts.values())
        if published:
            eff = np.full(len(masses), published_efficiency(cfg, analysis, run))
        else:
            eff = model_efficiency(parts, effs, masses, where)
        out[model] = (masses, total, eff)
    return out


def add_arguments(parser: argparse.ArgumentParser) -> None:
    config.add_config_arguments(parser)
    config.add_analysis_arguments(parser)


def run(args: argparse.Namespace) -> int:
    cfg = config.config_from_args(args)
    results = compute(cfg, args.analysis, str(args.run))
    for model, (m, y, e) in results.items():
        path = paths.signal_path(cfg, args.analysis, model, str(args.run))
        write_yields(path, m, y, e)
        i = int(np.argmax(y)) if len(y) else 0
        print(f"{path}: {len(m)} masses; max yield/OT {y[i]:.3g} at m = {m[i]:.4g} GeV; "
              f"efficiency {np.min(e):.3f}-{np.max(e):.3f}")
    return 0
