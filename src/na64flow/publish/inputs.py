"""Inputs of the publish and plot steps: analyses, channels, background tables, limit and cut-flow CSVs.

One reader per file format (docs/contracts.md): :func:`read_limits` (limits CSV), :func:`read_cutflow`
(cut-flow CSV, long or wide), :func:`background_of` (background JSON or the published block of the
configuration). Background sources come back with ``upper_value``: the bound of a source that has only
an upper value (background step: ``inputs.upper_value_only``, bound = its stat; published tables:
``upper_limit: true``, bound = its estimate), else None.
"""

from __future__ import annotations

from pathlib import Path

from .. import NA64Error, contracts, paths, registry
from ..config import runs_of

CHI_KIND_TEXT = {"dirac": "Dirac fermion", "scalar": "complex scalar"}   # signal.ldm.chi_kind


def analyses_of(cfg: dict) -> list[str]:
    return registry.analyses(cfg)


def channels_of(cfg: dict, analysis: str) -> list[tuple[str, str]]:
    """(analysis, run) pairs of one analysis, or of all analyses for ``combined``."""
    if analysis == registry.COMBINED:
        return registry.pairs(cfg)
    return [(analysis, r) for r in runs_of(cfg, analysis)]


def ldm_assumption(cfg: dict, analysis: str, model: str) -> dict | None:
    """alpha_D, m_A'/m_chi and the chi kind the signal of (analysis, model) assumes, or None where it does not
    depend on them: the resonant e+e- -> A' annihilation on e-/e+ beams (``Model.ldm_beams``) has the A'
    width of ``signal.ldm`` (an LDM table ``<model>_y_<alphaD>``: its own alpha_D); with
    ``signal.annihilation_width: narrow`` no width enters the yield, and None is returned."""
    spec, alpha_d = registry.parse_model(model)
    if not any(registry.beam(cfg, a) in spec.ldm_beams for a in registry.members(cfg, analysis, model)):
        return None
    from ..signal import settings as signal_settings  # not at import: the signal module pulls in the physics

    sig = signal_settings(cfg)
    if sig["annihilation_width"] == "narrow":   # delta-function line: no A' width enters
        return None
    ldm = sig["ldm"]
    return {"alpha_d": float(ldm["alpha_d"]) if alpha_d is None else alpha_d,
            "m_aprime_over_m_chi": float(f"{1.0 / float(ldm['m_chi_ratio']):.6g}"), "chi_kind": ldm["chi_kind"]}


def ldm_text(ldm: dict) -> str:
    """The sentence of :func:`ldm_assumption` in the public files."""
    kind = CHI_KIND_TEXT.get(ldm["chi_kind"], ldm["chi_kind"])
    return (f"The resonant-annihilation signal (e+ e- -> A' on the e-/e+ beams) is computed for alpha_D = "
            f"{ldm['alpha_d']:g}, m_A' = {ldm['m_aprime_over_m_chi']:g} m_chi and chi a {kind} (A' -> chi chi; "
            "signal.ldm): the A' width, hence this yield and the limit, depend on them.")


def _published_block(cfg: dict, analysis: str, run: str) -> dict:
    block = cfg["analyses"][analysis]["runs"][run].get("published")
    if block is None:
        raise NA64Error(f"{cfg.get('_path', 'config')}: input.source is 'published' but "
                        f"analyses.{analysis}.runs.{run}.published is missing")
    return block


def background_of(cfg: dict, analysis: str, run: str) -> dict:
    """Expected background of one run: {"estimate", "uncertainty", "sources": [...], "blinded"}.

    Published mode: ``analyses.<a>.runs.<r>.published`` of the config; otherwise the background
    file results/<tag>/background/<a>/<r>.json (contract: "total" and "sources"). Every source has
    ``upper_value`` (module doc); ``upper_values_in_total`` says whether such bounds are in the total
    (False for the background step, which leaves them out; None: unknown, a published total).
    """
    if cfg["input"]["source"] == "published":
        pub = _published_block(cfg, analysis, run)
        sources = [{"name": s["name"], "estimate": s["estimate"], "stat": None,
                    "syst": s.get("uncertainty"), "method": s.get("method", ""),
                    "upper_value": float(s["estimate"]) if s.get("upper_limit", False) else None}
                   for s in pub.get("background_sources", [])]
        return {"estimate": float(pub["background"]), "uncertainty": float(pub.get("background_unc", 0.0)),
                "stat": None, "syst": None, "sources": sources, "blinded": "observed" not in pub,
                "upper_values_in_total": None}
    bkg = contracts.read_background(paths.background_path(cfg, analysis, run))
    sources = [{**src, "upper_value": float(src["stat"]) if (src.get("inputs") or {}).get("upper_value_only") else None}
               for src in bkg.sources]
    return {"estimate": bkg.estimate, "uncertainty": bkg.uncertainty, "stat": bkg.total.get("stat"),
            "syst": bkg.total.get("syst"), "sources": sources, "blinded": bkg.blinded, "upper_values_in_total": False}


def read_limits(path: Path) -> list[dict]:
    """Rows of a limits CSV as {column: value} (contracts.read_limits; blinded ``obs`` is None)."""
    return contracts.read_limits(path).records()


def read_cutflow(path: Path) -> tuple[list[str], dict[str, list], dict[str, list]]:
    """A cut-flow CSV as (cut names, {sample: events after each cut}, {sample: their errors})
    (contracts.read_cutflow: weighted events; text cells such as "blinded" stay text)."""
    table = contracts.read_cutflow(path)
    return table.steps, table.values, table.errors
