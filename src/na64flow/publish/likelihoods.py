"""pyhf public likelihoods: BkgOnly workspace + PatchSet (one patch per model and mass) per analysis.

``likelihoods/<analysis>/BkgOnly.json`` and ``patchset.json`` for every analysis and ``combined``: the
background-only pyhf workspace (one single-bin channel per run) and a pyhf PatchSet with one patch per
(model, mass) that adds the signal samples (POI ``mu = (coupling/coupling_ref)^2``, ``coupling_ref``
in each patch's metadata). The workspace per mass comes from
``na64flow.stats.build_workspace(cfg, analysis, model, mass_gev)`` (the model the limits use) and is
split into BkgOnly + patch by :func:`split_workspace`. Blinded analyses publish background-only
Asimov observations (the background expectation) instead of box counts; the patchset says so.
"""

from __future__ import annotations

import json
import logging

from .. import NA64Error, paths, stats
from ..config import section
from .inputs import analyses_of, channels_of, masses_of

log = logging.getLogger(__name__)

# models whose likelihoods are published (docs/contracts.md "signal"); the LDM y limits are a
# reparametrisation of dark_photon and the brem/annihilation tables are its components
PUBLIC_MODELS = {
    "na64e": ("dark_photon", "lmu_ltau"),
    "na64e_plus": ("dark_photon",),
    "na64mu": ("dark_photon", "lmu_ltau"),
    "na64h": ("eta_invisible", "etaprime_invisible"),
    "combined": ("dark_photon", "lmu_ltau"),
}
COUPLING = {"dark_photon": "eps", "lmu_ltau": "g", "eta_invisible": "Br", "etaprime_invisible": "Br"}
# signal events at coupling_ref in each patch (choice of POI normalisation only; no physics) [est]
REF_SIGNAL_EVENTS = 10.0
BACKGROUND_FLOOR = 1e-6     # events; keeps the Poisson mean positive for background-free runs
POI = "mu"


def workspace_for(cfg: dict, analysis: str, model: str, mass_gev: float) -> tuple[dict, str]:
    """The full workspace at one mass (the model the limits use) and who built it."""
    return stats.build_workspace(cfg, analysis, model, mass_gev), "na64flow.stats.build_workspace"


def split_workspace(ws: dict, poi: str = POI) -> tuple[dict, list[dict]]:
    """Split a full workspace into (BkgOnly workspace, JSON-patch operations adding the signal).

    Signal samples are those carrying the POI normfactor; they are removed from BkgOnly and re-added
    by ``add`` operations at the end of their channel's sample list (channel index of BkgOnly).
    """
    bkg = {"channels": [], "observations": ws["observations"], "measurements": ws["measurements"],
           "version": ws.get("version", "1.0.0")}
    ops = []
    for i, ch in enumerate(ws["channels"]):
        keep = [s for s in ch["samples"] if not any(m["type"] == "normfactor" and m["name"] == poi
                                                    for m in s["modifiers"])]
        sig = [s for s in ch["samples"] if s not in keep]
        if not keep:
            raise NA64Error(f"workspace channel '{ch['name']}' has no background sample")
        bkg["channels"].append({"name": ch["name"], "samples": keep})
        ops += [{"op": "add", "path": f"/channels/{i}/samples/-", "value": s} for s in sig]
    return bkg, ops


def _union_bkgonly(parts: list[tuple[str, float, dict]], analysis: str) -> dict:
    """Background-only workspace with the union of the channels of all (model, mass) workspaces.

    A channel without signal for some model is then background-only in that model's patched
    workspace: it has its own nuisance parameters and does not depend on mu, so limits are unchanged.
    """
    channels, observations, measurements = {}, {}, None
    for model, mass_gev, bkg in parts:
        obs_by_name = {o["name"]: o for o in bkg["observations"]}
        for ch in bkg["channels"]:
            name = ch["name"]
            obs = obs_by_name[name]
            if name in channels and (channels[name] != ch or observations[name] != obs):
                raise NA64Error(f"{analysis}: background-only channel '{name}' of the workspace for {model} at "
                                f"m = {mass_gev:g} GeV differs from the same channel of another model/mass")
            channels[name], observations[name] = ch, obs
        if measurements is None:
            measurements = bkg["measurements"]
        elif bkg["measurements"] != measurements:
            raise NA64Error(f"{analysis}: measurement (POI, parameter bounds) for {model} at m = {mass_gev:g} GeV "
                            "differs from the other workspaces")
    names = sorted(channels)
    return {"channels": [channels[n] for n in names], "observations": [observations[n] for n in names],
            "measurements": measurements, "version": "1.0.0"}


def likelihoods(cfg: dict, analysis: str) -> tuple[dict, dict] | None:
    """(BkgOnly workspace, patchset) of one analysis, or None if it has no signal tables.

    One patch per (model, mass): it adds the signal samples of that workspace to the channels of the
    common BkgOnly (the union of all channels, :func:`_union_bkgonly`).
    """
    import pyhf

    built, builder, errors = [], "", []
    for model in PUBLIC_MODELS[analysis]:
        for mass_gev in masses_of(cfg, analysis, model):
            try:
                ws, builder = workspace_for(cfg, analysis, model, mass_gev)
            except NA64Error as exc:
                log.warning("%s/%s m=%g: %s", analysis, model, mass_gev, exc)
                errors.append(str(exc))
                continue
            built.append((model, mass_gev, ws))
    if not built:
        if errors:
            raise NA64Error(f"{analysis}: no workspace could be built; first error: {errors[0]}")
        return None
    bkgonly = _union_bkgonly([(m, x, split_workspace(dict(ws))[0]) for m, x, ws in built], analysis)
    index = {ch["name"]: i for i, ch in enumerate(bkgonly["channels"])}
    patches = []
    for model, mass_gev, ws in built:
        coupling_ref = ws.get("_coupling_ref")
        ops = []
        for ch in ws["channels"]:
            _, sig_ops = split_workspace({"channels": [ch], "observations": [], "measurements": []})
            ops += [{**op, "path": f"/channels/{index[ch['name']]}/samples/-"} for op in sig_ops]
        name = f"{model}_m{mass_gev:.6g}".replace(".", "p").replace("-", "m").replace("+", "")
        meta = {"name": name, "values": [model, mass_gev]}
        if coupling_ref is not None:
            c = COUPLING.get(model, "coupling")
            meta.update(coupling_ref=coupling_ref,
                        poi_definition=f"{POI} = Br/coupling_ref" if c == "Br" else f"{POI} = ({c}/coupling_ref)^2")
        patches.append({"metadata": meta, "patch": ops})
    pyhf.Workspace(bkgonly)  # schema validation
    blinded = any(stats.observed_of(cfg, a, r) is None for a, r in channels_of(cfg, analysis))
    description = (f"NA64 {analysis}: one signal patch per (model, mass_gev), {len(patches)} in all; "
                   f"workspaces from {builder}; channels = runs, those without signal for a model stay "
                   "background-only. "
                   + ("Observations are background-only Asimov (blinded or projection)." if blinded
                      else "Observations are the observed box counts."))
    patchset = {
        "metadata": {
            "description": description,
            "digests": {"sha256": pyhf.utils.digest(bkgonly, algorithm="sha256")},
            "labels": ["model", "mass_gev"],
            "references": {"hepdata": section(cfg, "publish").get("inspire_id", "ins0000000")},
        },
        "patches": patches,
        "version": "1.0.0",
    }
    pyhf.PatchSet(patchset)  # schema validation
    return bkgonly, patchset


def write_likelihoods(cfg: dict) -> list[str]:
    """Write BkgOnly.json + patchset.json per analysis (and combined); return the analyses written."""
    written = []
    targets = analyses_of(cfg) + (["combined"] if len(analyses_of(cfg)) > 1 else [])
    for analysis in targets:
        result = likelihoods(cfg, analysis)
        if result is None:
            log.warning("%s: no signal tables found, no likelihood written", analysis)
            continue
        outdir = paths.likelihood_dir(cfg, analysis)
        for name, obj in zip(("BkgOnly.json", "patchset.json"), result, strict=True):
            with paths.atomic_output(outdir / name) as fh:
                json.dump(obj, fh, indent=1)
        written.append(analysis)
        log.info("wrote %s/{BkgOnly,patchset}.json (%d patches)", outdir, len(result[1]["patches"]))
    return written


