"""The one list of analyses, runs and models: who makes which signal table, limit, likelihood and plot.

Analyses and runs are those of the configuration (``analyses.<name>.runs``); each analysis's code is
the package ``analyses/<name>/`` (``na64flow_analyses.<name>``), whose ``__init__.py`` may set the
presentation ``LABEL`` and ``COLOUR`` (defaults: the name, and a colour of :data:`FALLBACK_COLOURS`).
Models are :data:`MODELS`, in their canonical order; a model applies to an analysis when the
analysis's beam is one of the model's ``beams``. Everything else is derived here, once:

* signal tables: ``signal/<a>/<model>_<run>.csv`` for every model of the analysis's beam, and for each
  LDM table whose alpha_D is not the signal's ``signal.ldm.alpha_d`` on a beam with resonant
  annihilation (its yield depends on alpha_D: :func:`signal_table_model`);
* limits: every model with ``limits=True``, plus the LDM reparametrisations ``<model>_y_<alphaD>`` for
  the beams in ``ldm_beams``; ``combined`` sets a limit on each limit model that at least two analyses
  share, from every analysis that has a signal table of its base model;
* likelihoods (publish): the limit models with ``public=True`` (not the LDM reparametrisations);
* plots and HEPData: the same lists, with the labels of the model and the analysis.

The Snakemake rules (workflow/rules/common.smk), ``signal``, ``limits`` (na64flow.stats),
``publish`` and ``plot`` all take their lists from here.

>>> cfg = {"analyses": {"na64e": {"setup": "electron", "beam": "e-", "runs": {"2023": {}}},
...                     "na64mu": {"setup": "muon", "beam": "mu-", "runs": {"2022": {}}}}}
>>> limit_models(cfg, "na64e")
['dark_photon', 'dark_photon_y_0.1', 'dark_photon_y_0.5', 'lmu_ltau']
>>> combined_models(cfg), combined_members(cfg, "dark_photon_y_0.1")
(['dark_photon', 'lmu_ltau'], ['na64e', 'na64mu'])
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from functools import cache

from . import NA64Error

COMBINED = "combined"
BEAMS = ("e-", "e+", "mu-", "mu+", "pi-")


@dataclass(frozen=True)
class Model:
    """One signal model: where its signal table comes from and how its limit is stated."""

    name: str
    beams: tuple[str, ...]             # beams whose `signal` step writes signal/<a>/<name>_<run>.csv
    poi: str                           # "coupling": signal ~ coupling^2, limit sqrt(mu); "br": limit = mu
    symbol: str                        # eps, g, Br (patchset POI definition)
    coupling_label: str                # LaTeX of the limited quantity (plots, HEPData)
    mass_label: str = "mass"           # LaTeX of the mediator mass
    description: str = ""              # what the limit is on (plot captions)
    limits: bool = True                # a limit is set (False: a component of another model)
    public: bool = True                # its likelihood is published
    ldm_alpha_d: tuple[float, ...] = ()  # LDM y limits <name>_y_<alphaD> ...
    ldm_beams: tuple[str, ...] = ()      # ... on these beams
    meson: str | None = None           # Br models: the meson (one signal row at its mass)
    meson_label: str = ""
    g_minus_2: bool = False            # plots show the (g-2)_mu band


_EPS = dict(poi="coupling", symbol="eps", coupling_label="$\\epsilon$", mass_label="$m_{A'}$",
            description="the kinetic mixing eps vs m_A' (A' -> invisible)")
MODELS: dict[str, Model] = {m.name: m for m in (
    Model("dark_photon", ("e-", "e+", "mu-", "mu+"), **_EPS,
          ldm_alpha_d=(0.1, 0.5), ldm_beams=("e-", "e+")),
    Model("dark_photon_brem", ("e-", "e+"), **_EPS, limits=False, public=False),
    Model("dark_photon_annihilation", ("e-", "e+"), **_EPS, limits=False, public=False),
    Model("lmu_ltau", ("e-", "mu-", "mu+"), poi="coupling", symbol="g", coupling_label="$g_{Z'}$",
          mass_label="$m_{Z'}$", description="g of the L_mu-L_tau Z' vs m_Z'", g_minus_2=True),
    Model("eta_invisible", ("pi-",), poi="br", symbol="Br", coupling_label="Br", meson="eta",
          meson_label="$\\eta$", description="Br(eta -> invisible)"),
    Model("etaprime_invisible", ("pi-",), poi="br", symbol="Br", coupling_label="Br", meson="etaprime",
          meson_label="$\\eta'$", description="Br(eta' -> invisible)"),
)}

# presentation of analyses whose package sets no LABEL/COLOUR, and of the combination
FALLBACK_COLOURS = ("tab:green", "tab:orange", "tab:brown", "tab:pink", "tab:olive", "tab:cyan")
COMBINED_LABEL, COMBINED_COLOUR = "combined", "black"


# ------------------------------------------------------------------------------------------------
# models


def parse_model(name: str) -> tuple[Model, float | None]:
    """'dark_photon_y_0.1' -> (MODELS['dark_photon'], 0.1); 'lmu_ltau' -> (MODELS['lmu_ltau'], None)."""
    base, alpha = name, None
    if "_y_" in name:
        base, text = name.rsplit("_y_", 1)
        try:
            alpha = float(text)
        except ValueError:
            raise NA64Error(f"model '{name}': LDM models are <model>_y_<alphaD>, e.g. dark_photon_y_0.1") from None
    if base not in MODELS:
        raise NA64Error(f"unknown model '{base}'; models: {', '.join(MODELS)} (na64flow.registry.MODELS)")
    model = MODELS[base]
    if alpha is not None and alpha not in model.ldm_alpha_d:
        raise NA64Error(f"model '{name}': {base} has LDM limits for alpha_D in {list(model.ldm_alpha_d)}")
    return model, alpha


def ldm_name(model: Model, alpha_d: float) -> str:
    return f"{model.name}_y_{alpha_d:g}"


# ------------------------------------------------------------------------------------------------
# analyses and runs


def analyses(cfg: dict) -> list[str]:
    """The configured analyses in beam order (:data:`BEAMS`: e-, e+, mu-, mu+, pi-), then configuration
    order: a fixed order for tables, likelihood channels and plots whatever the order of the YAML keys
    (the rules hand the steps a key-sorted copy of the configuration)."""
    names = list(cfg["analyses"])
    rank = {b: i for i, b in enumerate(BEAMS)}
    return sorted(names, key=lambda a: (rank.get(cfg["analyses"][a].get("beam"), len(BEAMS)), names.index(a)))


def runs(cfg: dict, analysis: str) -> list[str]:
    return [str(r) for r in _analysis(cfg, analysis)["runs"]]


def pairs(cfg: dict) -> list[tuple[str, str]]:
    """Every (analysis, run)."""
    return [(a, r) for a in analyses(cfg) for r in runs(cfg, a)]


def _analysis(cfg: dict, analysis: str) -> dict:
    if analysis not in cfg["analyses"]:
        raise NA64Error(f"unknown analysis '{analysis}'; configured: {', '.join(cfg['analyses'])}")
    return cfg["analyses"][analysis]


def beam(cfg: dict, analysis: str) -> str:
    return _analysis(cfg, analysis)["beam"]


def check_analysis(cfg: dict, analysis: str, combined: bool = True) -> str:
    """``analysis`` if configured (or ``combined`` when allowed); NA64Error listing the choices otherwise."""
    if combined and analysis == COMBINED:
        return analysis
    _analysis(cfg, analysis)
    return analysis


@cache
def _package_meta(analysis: str) -> tuple[str | None, str | None]:
    name = f"na64flow_analyses.{analysis}"
    try:
        mod = importlib.import_module(name)
    except ModuleNotFoundError as exc:   # no analyses/<name>/ package (e.g. a published-only analysis)
        if exc.name != name:
            raise                        # the package exists but fails to import: not hidden
        return None, None
    return getattr(mod, "LABEL", None), getattr(mod, "COLOUR", None)


def label(cfg: dict, analysis: str) -> str:
    """Plot label of an analysis (``LABEL`` of its package), or 'combined'."""
    if analysis == COMBINED:
        return COMBINED_LABEL
    return _package_meta(analysis)[0] or analysis


def colour(cfg: dict, analysis: str) -> str:
    if analysis == COMBINED:
        return COMBINED_COLOUR
    own = _package_meta(analysis)[1]
    if own:
        return own
    names = analyses(cfg)
    return FALLBACK_COLOURS[names.index(analysis) % len(FALLBACK_COLOURS)] if analysis in names else "grey"


# ------------------------------------------------------------------------------------------------
# what each analysis makes


def signal_models(cfg: dict, analysis: str) -> list[str]:
    """Models whose signal table the `signal` step writes for this analysis (its beam's models)."""
    b = beam(cfg, analysis)
    out = [m.name for m in MODELS.values() if b in m.beams]
    if not out:
        raise NA64Error(f"analyses.{analysis}: no signal model for beam '{b}' (na64flow.registry.MODELS)")
    return out


def signal_alpha_d(cfg: dict) -> float:
    """alpha_D of the signal tables of the base models (``signal.ldm.alpha_d``; the schema's default 0.1)."""
    return float(((cfg.get("signal") or {}).get("ldm") or {}).get("alpha_d", 0.1))


def signal_table_model(cfg: dict, analysis: str, model: str) -> str:
    """The signal table a limit on ``model`` in ``analysis`` rests on: its base model's, except an LDM
    table ``<model>_y_<alphaD>`` with another alpha_D than the signal's on a beam of ``ldm_beams`` (e-,
    e+): the resonant-annihilation yield depends on alpha_D (the A' width), so that table has its own
    signal table, computed with its alpha_D. Elsewhere (e.g. muon bremsstrahlung) the yield does not
    depend on alpha_D and the base table serves every y table."""
    spec, alpha = parse_model(model)
    if alpha is None or alpha == signal_alpha_d(cfg) or beam(cfg, analysis) not in spec.ldm_beams:
        return spec.name
    return model


def signal_tables(cfg: dict, analysis: str) -> list[str]:
    """Every signal table the `signal` step writes for this analysis: :func:`signal_models`, then the LDM
    tables that need their own (:func:`signal_table_model`)."""
    own = [m for m in limit_models(cfg, analysis) if signal_table_model(cfg, analysis, m) == m and "_y_" in m]
    return signal_models(cfg, analysis) + own


def limit_models(cfg: dict, analysis: str) -> list[str]:
    """Limit tables of one analysis (or of ``combined``): base models, then their LDM variants."""
    if analysis == COMBINED:
        return combined_models(cfg)
    b = beam(cfg, analysis)
    out = []
    for name in signal_models(cfg, analysis):
        m = MODELS[name]
        if not m.limits:
            continue
        out.append(name)
        if b in m.ldm_beams:
            out += [ldm_name(m, a) for a in m.ldm_alpha_d]
    return out


def combined_models(cfg: dict) -> list[str]:
    """Limit models that at least two analyses share (the combination's models)."""
    names = [m for a in analyses(cfg) for m in limit_models(cfg, a)]
    return [m for m in dict.fromkeys(names) if names.count(m) >= 2]


def combined_members(cfg: dict, model: str) -> list[str]:
    """Analyses entering the combined likelihood of ``model``: those with a signal table of its base."""
    base, _ = parse_model(model)
    return [a for a in analyses(cfg) if base.name in signal_models(cfg, a)]


def combined_analyses(cfg: dict, model: str | None = None) -> list[str]:
    """Analyses in ``model``'s combined likelihood (:func:`combined_members`), or with ``model`` None in
    any combination; in the order of :func:`analyses`."""
    models = [model] if model else combined_models(cfg)
    return [a for a in analyses(cfg) if any(a in combined_members(cfg, m) for m in models)]


def members(cfg: dict, analysis: str, model: str) -> list[str]:
    """Analyses whose runs enter the likelihood of (analysis, model)."""
    if analysis == COMBINED:
        if model not in combined_models(cfg):
            raise NA64Error(f"no combination for model '{model}'; combined models: {', '.join(combined_models(cfg))}")
        return combined_members(cfg, model)
    check_analysis(cfg, analysis, combined=False)
    if model not in limit_models(cfg, analysis):
        raise NA64Error(f"analysis '{analysis}' sets no limit on '{model}'; its models: "
                        f"{', '.join(limit_models(cfg, analysis))}")
    return [analysis]


def public_models(cfg: dict, analysis: str) -> list[str]:
    """Models whose likelihoods `publish` writes for an analysis (or ``combined``)."""
    return [m for m in limit_models(cfg, analysis) if "_y_" not in m and MODELS[m].public]


def limit_targets(cfg: dict) -> list[tuple[str, str]]:
    """Every (analysis, model) limit table, the combination's last."""
    out = [(a, m) for a in analyses(cfg) for m in limit_models(cfg, a)]
    return out + [(COMBINED, m) for m in combined_models(cfg)]


def run_limit_targets(cfg: dict) -> list[tuple[str, str, str]]:
    """Every per-run limit table (analysis, model, run)."""
    return [(a, m, r) for a in analyses(cfg) for m in limit_models(cfg, a) for r in runs(cfg, a)]


def likelihood_analyses(cfg: dict) -> list[str]:
    """Analyses with published likelihoods: every analysis, and ``combined`` when analyses share a public model."""
    return analyses(cfg) + ([COMBINED] if public_models(cfg, COMBINED) else [])


def all_models() -> list[str]:
    """Every model and LDM reparametrisation name (for command-line help and wildcard constraints)."""
    out = []
    for m in MODELS.values():
        out.append(m.name)
        out += [ldm_name(m, a) for a in m.ldm_alpha_d]
    return out
