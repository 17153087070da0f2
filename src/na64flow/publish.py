"""Write the public files: pyhf likelihoods (BkgOnly + patchset per analysis) and a HEPData submission.

`na64flow publish -c C` writes, under results/<tag>/,

* ``likelihoods/<analysis>/BkgOnly.json`` and ``patchset.json`` for every analysis and ``combined``:
  the background-only pyhf workspace (one single-bin channel per run) and a pyhf PatchSet with one
  patch per (model, mass) that adds the signal samples (POI ``mu = (coupling/coupling_ref)^2``,
  ``coupling_ref`` in each patch's metadata), for the models of ``na64flow.registry.public_models``.
  The workspace per mass is ``na64flow.stats.build_workspace(problem, i)`` of the problem the limits use,
  built once per (analysis, model) by ``na64flow.stats.build_problem``, and is split into BkgOnly +
  patch by :func:`split_workspace`.
* ``hepdata/``: a HEPData submission (hepdata_lib, no images) with every limit curve found
  (expected median, +-1 and +-2 sigma bands, observed when unblinded), every cut-flow table and every
  background table; ``hepdata.tar.gz`` next to it is the archive to upload.

Blinded analyses publish background-only Asimov observations (the background expectation) instead
of box counts; the patchset description says so.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import logging
import math
import shutil
import tempfile
from pathlib import Path

import numpy as np

from . import NA64Error, contracts, paths, registry, stats
from .config import add_config_arguments, analysis_config, config_from_args, runs_of, section
from .stats import POI

log = logging.getLogger(__name__)


# ------------------------------------------------------------------------------------------------
# inputs


def analyses_of(cfg: dict) -> list[str]:
    return registry.analyses(cfg)


def channels_of(cfg: dict, analysis: str) -> list[tuple[str, str]]:
    """(analysis, run) pairs of one analysis, or of all analyses for ``combined``."""
    if analysis == registry.COMBINED:
        return registry.pairs(cfg)
    return [(analysis, r) for r in runs_of(cfg, analysis)]


def _published_block(cfg: dict, analysis: str, run: str) -> dict:
    block = cfg["analyses"][analysis]["runs"][run].get("published")
    if block is None:
        raise NA64Error(f"{cfg.get('_path', 'config')}: input.source is 'published' but "
                        f"analyses.{analysis}.runs.{run}.published is missing")
    return block


def background_of(cfg: dict, analysis: str, run: str) -> dict:
    """Expected background of one run: {"estimate", "uncertainty", "sources": [...], "blinded"}.

    Published mode: ``analyses.<a>.runs.<r>.published`` of the config; otherwise the background
    file results/<tag>/background/<a>/<r>.json (contract: "total" and "sources").
    """
    if cfg["input"]["source"] == "published":
        pub = _published_block(cfg, analysis, run)
        sources = [{"name": s["name"], "estimate": s["estimate"], "stat": None,
                    "syst": s.get("uncertainty"), "method": s.get("method", ""),
                    "upper_limit": s.get("upper_limit", False)} for s in pub.get("background_sources", [])]
        return {"estimate": float(pub["background"]), "uncertainty": float(pub.get("background_unc", 0.0)),
                "sources": sources, "blinded": "observed" not in pub}
    bkg = contracts.read_background(paths.background_path(cfg, analysis, run))
    return {"estimate": bkg.estimate, "uncertainty": bkg.uncertainty, "sources": list(bkg.sources),
            "blinded": bkg.blinded}


# ------------------------------------------------------------------------------------------------
# workspaces


def workspaces(cfg: dict, analysis: str, model: str) -> list[tuple[float, dict]]:
    """(mass_gev, full workspace) at every mass with signal, from one built problem (the limits' model)."""
    problem = stats.build_problem(cfg, analysis, model)
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


def likelihoods(cfg: dict, analysis: str) -> tuple[dict, dict] | None:
    """(BkgOnly workspace, patchset) of one analysis, or None if it has no signal tables.

    One patch per (model, mass): it adds the signal samples of that workspace to the channels of the
    common BkgOnly (the union of all channels, :func:`_union_bkgonly`).
    """
    import pyhf

    built, builder = [], "na64flow.stats.build_workspace"
    for model in registry.public_models(cfg, analysis):
        built += [(model, mass_gev, ws) for mass_gev, ws in workspaces(cfg, analysis, model)]
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
    for analysis in registry.likelihood_analyses(cfg):
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


# ------------------------------------------------------------------------------------------------
# HEPData


def read_limits(path: Path) -> list[dict]:
    """Rows of a limits CSV as {column: value} (contracts.read_limits; blinded ``obs`` is None)."""
    return contracts.read_limits(path).records()


def limit_table(path: Path, analysis: str, model: str):
    """hepdata_lib Table of one limits CSV: expected median with +-1/+-2 sigma bands, observed."""
    from hepdata_lib import Table, Uncertainty, Variable

    rows = read_limits(path)
    if not rows:
        return None
    first = next(iter(rows[0]))
    spec, alpha_d = registry.parse_model(model)
    if first == "meson":
        xname, xunits = "Meson", ""
    elif first == "m_chi_gev":
        xname, xunits = "$m_{\\chi}$", "GeV"
    else:
        xname, xunits = spec.mass_label, "GeV"
    if alpha_d is not None:
        what = f"y ($\\alpha_D$ = {model.split('_y_')[1]}, $m_{{A'}} = 3 m_\\chi$)"
    else:
        what = spec.coupling_label
    table = Table(f"Limits {analysis} {model}")
    table.description = (f"90% CL upper limits on {what} for the model '{model}' ({analysis}): expected "
                         "median with 68% and 95% bands (CLs)" + ("" if any(r.get("obs") is not None for r in rows)
                                                                  else "; blinded, no observed limit") + ".")
    table.location = f"results/limits/{analysis}/{path.name}"
    table.keywords["cmenergies"] = []
    table.keywords["observables"] = ["UL"]
    x = Variable(xname, is_independent=True, is_binned=False, units=xunits)
    x.values = [r[first] for r in rows]
    table.add_variable(x)
    exp = Variable(f"Expected upper limit on {what}", is_independent=False, is_binned=False)
    exp.values = [r["exp"] for r in rows]
    exp.add_qualifier("CL", "90%")
    for label, lo, hi in (("1 sigma", "exp_m1", "exp_p1"), ("2 sigma", "exp_m2", "exp_p2")):
        unc = Uncertainty(label, is_symmetric=False)
        unc.values = [(r[lo] - r["exp"], r[hi] - r["exp"]) for r in rows]
        exp.add_uncertainty(unc)
    table.add_variable(exp)
    if any(r.get("obs") is not None for r in rows):
        obs = Variable(f"Observed upper limit on {what}", is_independent=False, is_binned=False)
        obs.values = [r["obs"] if r.get("obs") is not None else "-" for r in rows]
        obs.add_qualifier("CL", "90%")
        table.add_variable(obs)
    return table


def read_cutflow(path: Path) -> tuple[list[str], dict[str, list], dict[str, list]]:
    """A cut-flow CSV as (cut names, {sample: events after each cut}, {sample: their errors})
    (contracts.read_cutflow: weighted events; text cells such as "blinded" stay text)."""
    table = contracts.read_cutflow(path)
    return table.steps, table.values, table.errors


def cutflow_table(path: Path, analysis: str):
    """hepdata_lib Table of one cut-flow CSV (:func:`read_cutflow`): cuts vs events per sample."""
    from hepdata_lib import Table, Uncertainty, Variable

    steps, values, errors = read_cutflow(path)
    table = Table(f"Cut flow {analysis} {path.stem}")
    table.description = (f"Cut flow of {analysis}, run {path.stem}: events after each cut for data and every "
                         "simulated sample (MC weighted to the run's exposure; the data box row is 'blinded' "
                         "until unblinding).")
    table.location = f"results/cutflows/{analysis}/{path.name}"
    table.keywords["observables"] = ["N"]
    x = Variable("Cut", is_independent=True, is_binned=False)
    x.values = steps
    table.add_variable(x)
    for sample, vals in values.items():
        y = Variable(f"Events ({sample})", is_independent=False, is_binned=False)
        y.values = vals
        errs = errors[sample]
        if any(isinstance(e, float) and e > 0 for e in errs):
            unc = Uncertainty("stat", is_symmetric=True)
            unc.values = [e if isinstance(e, float) and isinstance(v, float) else 0.0 for e, v in zip(errs, vals, strict=True)]
            y.add_uncertainty(unc)
        table.add_variable(y)
    return table


def background_table(cfg: dict, analysis: str, run: str):
    """hepdata_lib Table of the background sources of one run (estimate, uncertainty, method)."""
    from hepdata_lib import Table, Uncertainty, Variable

    bkg = background_of(cfg, analysis, run)
    sources = bkg["sources"]
    table = Table(f"Background {analysis} {run}")
    table.description = (f"Expected background in the signal box of {analysis}, run {run}, per source; "
                         f"total {bkg['estimate']:.3g} +- {bkg['uncertainty']:.2g} events. Methods: "
                         + "; ".join(f"{s['name']}: {s.get('method') or 'n/a'}" for s in sources) + ".")
    table.location = f"results/background/{analysis}/{run}"
    table.keywords["observables"] = ["N"]
    x = Variable("Source", is_independent=True, is_binned=False)
    x.values = [s["name"] for s in sources] + ["total"]
    table.add_variable(x)
    y = Variable("Expected events", is_independent=False, is_binned=False)
    y.values = [(f"< {s['estimate']:g}" if s.get("upper_limit") else float(s["estimate"])) for s in sources]
    y.values.append(bkg["estimate"])
    for label, key in (("stat", "stat"), ("syst", "syst")):
        if any(s.get(key) is not None for s in sources):
            unc = Uncertainty(label, is_symmetric=True)
            unc.values = [float(s.get(key) or 0.0) for s in sources] + [0.0]
            y.add_uncertainty(unc)
    total = Uncertainty("total", is_symmetric=True)
    total.values = [0.0] * len(sources) + [bkg["uncertainty"]]
    y.add_uncertainty(total)
    table.add_variable(y)
    return table


def likelihood_archive(cfg: dict) -> Path | None:
    """results/<tag>/likelihoods.tar.gz with every likelihoods/<analysis>/*.json (None if none exist)."""
    import tarfile

    root = paths.results_dir(cfg) / "likelihoods"
    files = sorted(root.glob("*/*.json"))
    if not files:
        return None
    out = paths.likelihood_archive_path(cfg)
    with paths.atomic_output(out, mode=None) as tmp:
        with tarfile.open(tmp, "w:gz") as tar:
            for f in files:
                tar.add(f, arcname=f"likelihoods/{f.parent.name}/{f.name}")
    return out


def hepdata_submission(cfg: dict):
    """The hepdata_lib Submission with every limit, cut-flow and background table that exists."""
    from hepdata_lib import Submission

    pub = section(cfg, "publish")
    sub = Submission()
    sub.comment = pub.get("hepdata", {}).get("comment", "NA64 results (na64flow)")
    archive = likelihood_archive(cfg)
    if archive is not None:
        sub.add_additional_resource("Full pyhf likelihoods: per analysis BkgOnly.json + patchset.json (one patch "
                                    "per model and mass)", str(archive), copy_file=True, file_type="HistFactory")
    n = {"limits": 0, "cutflows": 0, "background": 0}
    for analysis in analyses_of(cfg) + [registry.COMBINED]:
        # file-name order (as the tables have always been listed)
        for model in sorted(registry.limit_models(cfg, analysis), key=lambda m: f"{m}.csv"):
            path = paths.limits_path(cfg, analysis, model)
            if not path.exists():
                log.warning("%s: limit table missing (made by `na64flow limits`), not in the submission", path)
                continue
            table = limit_table(path, analysis, model)
            if table is not None:
                sub.add_table(table)
                n["limits"] += 1
    for analysis in analyses_of(cfg):
        for run in runs_of(cfg, analysis):
            path = paths.cutflow_path(cfg, analysis, run, "csv")
            if path.exists() and (table := cutflow_table(path, analysis)) is not None:
                sub.add_table(table)
                n["cutflows"] += 1
            has_bkg = (cfg["input"]["source"] == "published"
                       and analysis_config(cfg, analysis)["runs"][run].get("published", {}).get("background_sources")) \
                or paths.background_path(cfg, analysis, run).exists()
            if has_bkg:
                sub.add_table(background_table(cfg, analysis, run))
                n["background"] += 1
    return sub, n


def write_hepdata(cfg: dict) -> dict:
    """Write results/<tag>/hepdata/ (YAML tables + submission.yaml) and results/<tag>/hepdata.tar.gz."""
    sub, n = hepdata_submission(cfg)
    if not sub.tables:
        log.warning("no limit, cut-flow or background tables found: no HEPData submission written")
        return n
    out = paths.hepdata_dir(cfg)
    paths.ensure_writable(out.parent)
    tmp = Path(tempfile.mkdtemp(dir=out.parent, prefix=".hepdata-"))
    try:
        # hepdata_lib writes submission.tar.gz into the working directory: run it inside tmp
        chatter = io.StringIO()   # hepdata_lib prints notes on zero-uncertainty bins: keep them for debug
        with contextlib.chdir(tmp), contextlib.redirect_stdout(chatter):
            sub.create_files("hepdata", validate=False)
        log.debug("hepdata_lib: %s", chatter.getvalue())
        if out.exists():
            shutil.rmtree(out)
        (tmp / "hepdata").replace(out)
        (tmp / "submission.tar.gz").replace(paths.hepdata_archive_path(cfg))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    log.info("wrote %s: %s", out, ", ".join(f"{v} {k} tables" for k, v in n.items()))
    return n


def validate_hepdata(directory: Path) -> list[str]:
    """Validate a submission folder with hepdata-validator; return the error messages (empty = valid)."""
    from hepdata_validator.full_submission_validator import FullSubmissionValidator

    validator = FullSubmissionValidator()
    ok = validator.validate(directory=str(directory))
    if ok:
        return []
    return [f"{f}: {m.message}" for f, msgs in validator.get_messages().items() for m in msgs]


# ------------------------------------------------------------------------------------------------
# comparison with the published limits


def comparison_with_published(cfg: dict) -> list[dict]:
    """Our limits next to the published ones of ``publish.reference_limits``.

    For a mass range, ours is the strongest (smallest) limit inside the range; for a benchmark
    ``mass_gev`` ours interpolated log-log at that mass; for a meson model the row of that meson. With
    ``run``, the per-run table ``limits/<analysis>/<model>_<run>.csv`` is read instead of the combination.
    "ours" is the observed limit when there is one, else the expected median.
    ratio = ours / published (< 1: ours is stronger). A documentation of agreement, never an input.
    """
    rows = []
    for ref in section(cfg, "publish").get("reference_limits", []):
        path = paths.limits_path(cfg, ref["analysis"], ref["model"])
        if ref.get("run"):
            path = paths.run_limits_path(cfg, ref["analysis"], ref["model"], ref["run"])
        row = {**ref, "ours": None, "kind": None, "ratio": None, "file": str(path)}
        if path.exists():
            limits = read_limits(path)
            if "mass_range_gev" in ref:
                lo, hi = ref["mass_range_gev"]
                limits = [r for r in limits if lo <= r["mass_gev"] <= hi]
            elif "meson" in ref:
                limits = [r for r in limits if str(r.get("meson")) == ref["meson"]] or limits
            if limits:
                kind = "observed" if all(r.get("obs") is not None for r in limits) else "expected"
                vals = [r["obs"] if kind == "observed" else r["exp"] for r in limits]
                if "mass_gev" in ref:
                    pts = sorted((r["mass_gev"], v) for r, v in zip(limits, vals) if v and v > 0)
                    ours = (math.exp(float(np.interp(math.log(ref["mass_gev"]), [math.log(m) for m, _ in pts],
                                                     [math.log(v) for _, v in pts])))
                            if pts and pts[0][0] <= ref["mass_gev"] <= pts[-1][0] else None)
                else:
                    ours = min(vals)
                if ours is not None:
                    row.update(ours=ours, kind=kind, ratio=ours / ref["value"])
        rows.append(row)
    return rows


def write_comparison(cfg: dict) -> Path | None:
    """results/<tag>/published_comparison.md: the table of :func:`comparison_with_published`."""
    rows = comparison_with_published(cfg)
    if not rows:
        return None
    lines = ["# Our limits vs the published NA64 limits (90% CL)", "",
             "| analysis | model | where | published | ours | ours/published | source |",
             "|---|---|---|---|---|---|---|"]
    for r in rows:
        where = (f"{r['mass_range_gev'][0]:g}-{r['mass_range_gev'][1]:g} GeV" if "mass_range_gev" in r
                 else f"{r['mass_gev']:g} GeV" if "mass_gev" in r else r.get("meson", ""))
        if r.get("run"):
            where += f" (run {r['run']})"
        ours = f"{r['ours']:.3g} ({r['kind']})" if r["ours"] is not None else f"missing: {r['file']}"
        ratio = f"{r['ratio']:.2f}" if r["ratio"] is not None else "-"
        lines.append(f"| {r['analysis']} | {r['model']} | {where} | {r['value']:.3g} | {ours} | {ratio} | "
                     f"{r['reference']} |")
    out = paths.published_comparison_path(cfg)
    with paths.atomic_output(out) as fh:
        fh.write("\n".join(lines) + "\n")
    return out


# ------------------------------------------------------------------------------------------------
# the `publish` step


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_config_arguments(parser)
    parser.add_argument("--no-likelihoods", action="store_true", help="only write the HEPData submission")
    parser.add_argument("--no-hepdata", action="store_true", help="only write the pyhf likelihoods")
    parser.add_argument("--observed", action="store_true",
                        help="the observed HEPData from the products of `na64flow unblind` (results/<tag>/unblinded/; "
                             "no likelihoods)")


def run(args: argparse.Namespace) -> int:
    cfg = config_from_args(args)
    if getattr(args, "observed", False):   # read and write under results/<tag>/unblinded/ (paths.observed_view)
        cfg, args.no_likelihoods = paths.observed_view(cfg), True
    comparison = write_comparison(cfg)
    if comparison is not None:
        print(comparison.read_text())
    if not args.no_likelihoods:
        written = write_likelihoods(cfg)
        print(f"likelihoods: {', '.join(written) or 'none (no signal tables)'}")
    if not args.no_hepdata:
        n = write_hepdata(cfg)
        out = paths.hepdata_dir(cfg)
        if out.exists():
            errors = validate_hepdata(out)
            if errors:
                raise NA64Error(f"{out}: HEPData submission does not validate:\n  " + "\n  ".join(errors))
            print(f"hepdata: {out} valid ({n['limits']} limit, {n['cutflows']} cut-flow, "
                  f"{n['background']} background tables)")
    return 0
