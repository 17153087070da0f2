"""pyhf public likelihoods: BkgOnly workspace + PatchSet (one patch per model and mass) per analysis.

``likelihoods/<analysis>/BkgOnly.json`` and ``patchset.json`` for every analysis and ``combined``: the
background-only pyhf workspace (one single-bin channel per run) and a pyhf PatchSet with one patch per
(model, mass) that adds the signal samples (POI ``mu = (coupling/coupling_ref)^2``, ``coupling_ref``
in each patch's metadata). The workspace per mass comes from
``na64flow.stats.build_workspace(problem, i)`` of the problem the limits use (``stats.build_problem``,
once per analysis and model of ``registry.public_models``) and is split into BkgOnly + patch by
:func:`split_workspace`. Blinded analyses publish background-only
Asimov observations (the background expectation) instead of box counts; the patchset says so. Its
description also states the method of the quoted limits (``stats.settings.method_text``: hybrid toys, not
pyhf's asymptotic formulae) and, for models with resonant annihilation on e-/e+ beams, the alpha_D,
m_A'/m_chi and chi kind of the signal (``inputs.ldm_assumption``, also each such patch's ``ldm`` metadata).
:func:`likelihood_archive` packs them into ``likelihoods.tar.gz`` (linked from the HEPData submission).

After unblinding, `na64flow unblind` passes the observed counts (``observed={(analysis, run): n}``) and
writes the same likelihoods with those observations under results/<tag>/unblinded/likelihoods/
(:func:`save_likelihoods` on ``paths.observed_view(cfg)``; the blinded files are not touched).
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

from .. import NA64Error, paths, registry, stats
from ..config import section
from ..stats import POI
from ..stats.settings import method_text
from .inputs import channels_of, ldm_assumption, ldm_text

log = logging.getLogger(__name__)

def workspaces(cfg: dict, analysis: str, model: str, observed: dict | None = None) -> list[tuple[float, dict]]:
    """(mass_gev, full workspace) at every mass with signal, from one built problem (the limits' model);
    ``observed`` ({(analysis, run): count}, from `unblind` only) sets the observations."""
    problem = stats.build_problem(cfg, analysis, model, observed)
    floor = stats.settings(cfg)["background_floor"]
    return [(float(f"{m:.6g}"), stats.build_workspace(problem, i, floor)) for i, m in enumerate(problem.mass_gev)]


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


def likelihoods(cfg: dict, analysis: str, observed: dict | None = None) -> tuple[dict, dict] | None:
    """(BkgOnly workspace, patchset) of one analysis, or None if it has no signal tables.

    One patch per (model, mass): it adds the signal samples of that workspace to the channels of the
    common BkgOnly (the union of all channels, :func:`_union_bkgonly`). ``observed``: the box counts
    (`unblind` only; module docstring).
    """
    import pyhf

    built, builder = [], "na64flow.stats.build_workspace"
    ldm = {model: ldm_assumption(cfg, analysis, model) for model in registry.public_models(cfg, analysis)}
    for model in ldm:
        built += [(model, mass_gev, ws) for mass_gev, ws in workspaces(cfg, analysis, model, observed)]
    if not built:
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
            c = registry.parse_model(model)[0].symbol
            meta.update(coupling_ref=coupling_ref,
                        poi_definition=f"{POI} = Br/coupling_ref" if c == "Br" else f"{POI} = ({c}/coupling_ref)^2")
        if ldm[model] is not None:
            meta["ldm"] = ldm[model]
        patches.append({"metadata": meta, "patch": ops})
    pyhf.Workspace(bkgonly)  # schema validation
    blinded = observed is None and any(stats.observed_of(cfg, a, r) is None for a, r in channels_of(cfg, analysis))
    description = (f"NA64 {analysis}: one signal patch per (model, mass_gev), {len(patches)} in all; "
                   f"workspaces from {builder}; channels = runs, those without signal for a model stay "
                   "background-only. "
                   + ("Observations are background-only Asimov (blinded or projection)." if blinded
                      else "Observations are the observed box counts.")
                   + "".join(f" Patches of {model} (metadata 'ldm'): {ldm_text(a)}" for model, a in ldm.items() if a)
                   + f" {method_text(cfg, observed=not blinded)}")
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


def save_likelihoods(cfg: dict, analysis: str, result: tuple[dict, dict]) -> list[Path]:
    """Write one analysis' (BkgOnly, patchset) to likelihoods/<analysis>/ of ``cfg``'s results folder."""
    outdir = paths.likelihood_dir(cfg, analysis)
    out = []
    for name, obj in zip(("BkgOnly.json", "patchset.json"), result, strict=True):
        with paths.atomic_output(outdir / name) as fh:
            json.dump(obj, fh, indent=1)
        out.append(outdir / name)
    log.info("wrote %s/{BkgOnly,patchset}.json (%d patches)", outdir, len(result[1]["patches"]))
    return out


def write_likelihoods(cfg: dict) -> list[str]:
    """Write BkgOnly.json + patchset.json per analysis (and combined); return the analyses written."""
    written = []
    for analysis in registry.likelihood_analyses(cfg):
        result = likelihoods(cfg, analysis)
        if result is None:
            log.warning("%s: no signal tables found, no likelihood written", analysis)
            continue
        save_likelihoods(cfg, analysis, result)
        written.append(analysis)
    return written


def likelihood_archive(cfg: dict) -> Path | None:
    """results/<tag>/likelihoods.tar.gz with every likelihoods/<analysis>/*.json (None if none exist),
    reproducible (``archive.write_tar_gz``)."""
    root = paths.results_dir(cfg) / "likelihoods"
    files = sorted(root.glob("*/*.json"))
    if not files:
        return None
    from .archive import write_tar_gz

    return write_tar_gz(paths.likelihood_archive_path(cfg),
                        [(f, f"likelihoods/{f.parent.name}/{f.name}") for f in files])
