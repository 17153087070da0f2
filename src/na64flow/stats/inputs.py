"""The limit problem of (analysis, model) from the other steps' files (docs/contracts.md).

Per run of every analysis entering the likelihood (the analysis, or every analysis with a signal
table of the model for ``combined``; na64flow.registry): the signal table (signal step), the
background estimate (background step), the normalisation k (normalisation step), the exposure n_ot
(configuration) and, only when they may be used, the observed count (published counts, or those
written by `unblind`). Signal events at coupling 1: ``s_i(m) = n_ot x yield_per_ot x efficiency x k``,
interpolated log-log onto the union of the masses of all runs. Files are read through
na64flow.contracts only.

>>> _interp_loglog(np.array([0.5, 2.0, 8.0]), np.array([1.0, 4.0]), np.array([1.0, 16.0])).tolist()
[0.0, 4.0, 0.0]
"""

from __future__ import annotations

import numpy as np

from .. import NA64Error, contracts, paths, registry
from .model import Channel, LimitProblem, channel_name
from .settings import settings


def _published(cfg: dict, analysis: str, run: str) -> dict | None:
    return cfg["analyses"][analysis]["runs"][run].get("published")


def observed_of(cfg: dict, analysis: str, run: str) -> int | None:
    """Observed box count if it is public: the published count (input.source: published), else None.

    Blinded products never hold a data box count: the `limits` step (and publish/plot) always get None
    here for data; only `na64flow unblind` passes observed counts, explicitly (``build_problem(observed=...)``).
    """
    if cfg["input"]["source"] == "published":
        pub = _published(cfg, analysis, run) or {}
        return None if pub.get("observed") is None else int(pub["observed"])
    return None


def _interp_loglog(m_new: np.ndarray, m: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Log-log interpolation of a positive curve; 0 outside its mass range or where y is 0."""
    if len(m) == 1:
        return np.where(np.isclose(m_new, m[0], rtol=1e-6), y[0], 0.0)
    ly = np.log(np.clip(y, 1e-300, None))
    out = np.exp(np.interp(np.log(m_new), np.log(m), ly))
    out[(m_new < m[0] * (1 - 1e-9)) | (m_new > m[-1] * (1 + 1e-9)) | (out < 1e-290)] = 0.0
    return out


def channel_of(cfg: dict, analysis: str, run: str, k: contracts.Normalisation,
               observed: dict | None = None) -> Channel:
    """The channel of one run: background and its uncertainty, signal systematics, observation."""
    st = settings(cfg)
    bkg = contracts.read_background(paths.background_path(cfg, analysis, run))
    eff_rel = st["signal_eff_syst_rel"]
    pub = _published(cfg, analysis, run)
    if cfg["input"]["source"] == "published" and pub and "signal_efficiency_unc" in pub:
        eff_rel = float(pub["signal_efficiency_unc"])   # [paper]/[est] as cited in the config
    syst = {f"signal_eff_{analysis}": eff_rel,
            f"signal_norm_{channel_name(analysis, run)}": k.k_unc / k.k if k.k > 0 else 0.0,
            f"exposure_{channel_name(analysis, run)}": st["exposure_syst_rel"]}
    n_obs = observed[(analysis, run)] if observed is not None else observed_of(cfg, analysis, run)
    return Channel(analysis, run, bkg.estimate, bkg.uncertainty, syst, n_obs)


def signal_events(cfg: dict, analysis: str, model: str, run: str, k: float) -> tuple[np.ndarray, np.ndarray]:
    """(mass_gev, signal events at coupling 1 after selection): n_ot x yield_per_ot x efficiency x k."""
    table = contracts.read_signal(paths.signal_path(cfg, analysis, model, run))
    n_ot = float(cfg["analyses"][analysis]["runs"][run]["n_ot"])
    return table.mass_gev, table.per_ot() * n_ot * k


def signal_tables_of(cfg: dict, analysis: str, model: str) -> tuple[str, ...]:
    """The signal table each member analysis of (analysis, model) contributes
    (:func:`na64flow.registry.signal_table_model`): tables with the same tuple have the same likelihood and
    share one solve (a base model and its LDM tables at the signal's alpha_D), the others are solved apart."""
    return tuple(registry.signal_table_model(cfg, a, model) for a in registry.members(cfg, analysis, model))


def build_problem(cfg: dict, analysis: str, model: str, observed: dict[tuple[str, str], int] | None = None,
                  runs: list[str] | None = None) -> LimitProblem:
    """Read the signal, background and normalisation files of every run entering (analysis, model).

    ``observed`` ({(analysis, run): count}) overrides the observations (used by `unblind` before it
    writes the counts); otherwise :func:`observed_of` decides (None while blinded). ``runs`` restricts
    a single analysis to these runs (the per-run limit tables).
    """
    base = registry.parse_model(model)[0].name
    channels, curves = [], []
    for a in registry.members(cfg, analysis, model):
        for r in runs if runs is not None else registry.runs(cfg, a):
            k = contracts.read_normalisation(paths.normalisation_path(cfg, a, r))
            channels.append(channel_of(cfg, a, r, k, observed))
            curves.append(signal_events(cfg, a, registry.signal_table_model(cfg, a, model), r, k.k))
    if not channels:
        raise NA64Error(f"{analysis}/{model}: no run selected")
    masses = np.unique(np.round(np.concatenate([m for m, _ in curves]), 9))
    sig = np.column_stack([_interp_loglog(masses, m, y) for m, y in curves])
    keep = sig.sum(axis=1) > 0
    if not keep.any():
        raise NA64Error(f"model '{base}' of '{analysis}': zero signal at every mass")
    return LimitProblem(analysis, base, channels, masses[keep], sig[keep], [c.observed for c in channels])
