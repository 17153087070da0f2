"""The `plot` step: every plot the available results allow (limits, (E_ECAL, E_HCAL), cut flows, backgrounds).

`na64flow plot -c C [--out-dir DIR] [--observed]` writes PDF and PNG files
(publish.formats) named ``<category>-<plot>.<ext>`` (no "-" inside <plot>; run 2016-2022 appears as
2016_2022) into results/<tag>/plots/ (or DIR), where <category> is an analysis (na64e, na64e_plus,
na64mu, na64h) or ``combined``, so the Snakemake report can sort them with the pattern
``{category}-{name}.png``; ``index.json`` lists each plot with its caption. Inputs that do not exist
yet are named in the output (and in index.json under "missing"); the step fails only if nothing at
all can be plotted.

Modules: :mod:`.style` (fixed colour-blind-safe palette per process, labels with exposure and run, the
Plotter), :mod:`.limits` (limits with bands drawn as steps, the (g-2)_mu band of
:mod:`na64flow.physics.g_minus_2`, Br(eta/eta')),
:mod:`.selection` ((E_ECAL, E_HCAL) plane, cut flow vs stacked simulation with ratio, background
sources with upper values as arrows), :mod:`.closure` (the closure plot of the closure step).
:func:`make_all` takes the output folder and ``observed`` (draw observed limits), so the blinded and
the unblinded plot sets are one call each.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
from pathlib import Path

from .. import NA64Error, paths, registry
from ..config import add_config_arguments, config_from_args, runs_of
from ..publish.hepdata import default_observed
from ..publish.inputs import analyses_of
from .limits import plot_beam_overlay, plot_coupling_limits, plot_ldm_y, plot_meson_br
from .selection import events_inside_box, plot_background, plot_cutflow, plot_ecal_hcal
from .style import PROCESS_COLOR, Plotter, process_colors

__all__ = ["PROCESS_COLOR", "Plotter", "events_inside_box", "make_all", "paths", "plot_background", "plot_beam_overlay", "plot_coupling_limits", "plot_cutflow",
           "plot_ecal_hcal", "plot_ldm_y", "plot_meson_br", "process_colors"]


def plot_jobs(cfg: dict) -> list[tuple[str, object, tuple]]:
    """Every plot the configuration asks for, as (category, function, arguments after the Plotter)."""
    analyses = analyses_of(cfg)
    jobs = []

    def coupling_models(a):
        return [m for m in registry.public_models(cfg, a) if registry.MODELS[m].poi == "coupling"]

    for a in analyses + [registry.COMBINED]:
        jobs += [(a, plot_coupling_limits, (a, m)) for m in coupling_models(a)]
    overlay = dict.fromkeys(m for a in analyses + [registry.COMBINED] for m in coupling_models(a))
    jobs += [(registry.COMBINED, plot_beam_overlay, (m,)) for m in overlay]
    ldm = sorted({a for a, m in registry.limit_targets(cfg) if registry.parse_model(m)[1] is not None})
    jobs += [(a, plot_ldm_y, (a,)) for a in analyses + [registry.COMBINED] if a in ldm]
    for a in analyses:
        if any(registry.MODELS[m].poi == "br" for m in registry.public_models(cfg, a)):
            jobs.append((a, plot_meson_br, (a,)))
    for a in analyses:
        for r in runs_of(cfg, a):
            if cfg["analyses"][a]["setup"] in ("electron", "hadron"):
                jobs.append((a, plot_ecal_hcal, (a, r)))
            jobs.append((a, plot_cutflow, (a, r)))
            jobs.append((a, plot_background, (a, r)))
    return jobs


def categories(cfg: dict) -> list[str]:
    """The plot categories (one `plot` job each in the workflow): the analyses, then ``combined``."""
    return analyses_of(cfg) + [registry.COMBINED]


def make_all(cfg: dict, out_dir: Path | None = None, *, observed: bool | None = None,
             limits_dir: Path | None = None, category: str | None = None) -> Plotter:
    """Make every plot the existing inputs allow (of one ``category`` only if given); return the Plotter.

    ``observed``: draw observed limits (default: only for published configurations, whose counts are public);
    ``limits_dir``: where the limit CSVs are (default results/<tag>/limits).
    """
    observed = default_observed(cfg) if observed is None else observed
    if category is not None and category not in categories(cfg):
        raise NA64Error(f"plot category '{category}': use one of {', '.join(categories(cfg))}")
    from rich.progress import track

    final = paths.ensure_writable(Path(out_dir) if out_dir else paths.plots_dir(cfg))
    # every plot of this call is drawn into a staging folder next to ``final`` and moved into place only
    # when all succeeded: a failing plot leaves ``final`` as it was (no half-replaced set of plots)
    stage = Path(tempfile.mkdtemp(dir=final.parent, prefix=f".{final.name}-"))
    try:
        p = Plotter(cfg, stage, observed=observed, limits_dir=limits_dir)
        jobs = [(func, fargs) for cat, func, fargs in plot_jobs(cfg) if category in (None, cat)]
        for func, fargs in track(jobs, description="plots", transient=True):
            func(p, *fargs)
        for f in sorted(stage.iterdir()):
            os.replace(f, final / f.name)
        p.out_dir = final
        write_index(final, {"tag": cfg["tag"], "observed": observed, "plots": p.made, "missing": p.missing})
    finally:
        shutil.rmtree(stage, ignore_errors=True)
    return p


def write_index(out_dir: Path, index: dict) -> None:
    with paths.atomic_output(Path(out_dir) / "index.json") as fh:
        json.dump(index, fh, indent=1)


def gather(part_dirs: list[Path], out_dir: Path) -> dict:
    """Join the folders of the per-category `plot` jobs into one (hard links, else copies; one index.json).

    Raises NA64Error if a folder has no index.json (its job did not finish) or if no plot was made at all.
    """
    out_dir = paths.ensure_writable(Path(out_dir))
    index: dict = {"plots": [], "missing": []}
    for d in map(Path, part_dirs):
        f = d / "index.json"
        if not f.is_file():
            raise NA64Error(f"{f}: missing (made by `na64flow plot --category {d.name}`)")
        part = json.loads(f.read_text())
        index.setdefault("tag", part["tag"])
        index.setdefault("observed", part["observed"])
        index["plots"] += part["plots"]
        index["missing"] += part["missing"]
        for plot in part["plots"]:
            for name in plot["files"]:
                target = out_dir / name
                target.unlink(missing_ok=True)
                try:
                    target.hardlink_to(d / name)
                except OSError:   # another file system
                    shutil.copy2(d / name, target)
    index = {"tag": index.get("tag"), "observed": index.get("observed"), "plots": index["plots"],
             "missing": index["missing"]}
    write_index(out_dir, index)
    return index


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_config_arguments(parser)
    parser.add_argument("--out-dir", default=None, help="output folder (default results/<tag>/plots)")
    parser.add_argument("--observed", action="store_true",
                        help="plot the products of `na64flow unblind` (results/<tag>/unblinded/), observed limits drawn")
    parser.add_argument("--category", default=None,
                        help="only the plots of this category (an analysis or combined); one job each in the workflow")
    parser.add_argument("--gather", nargs="+", default=None, metavar="DIR",
                        help="join the folders of `--category` runs into --out-dir (no plotting)")


def run(args: argparse.Namespace) -> int:
    cfg = config_from_args(args)
    observed = bool(getattr(args, "observed", False))
    if observed:   # read and write under results/<tag>/unblinded/ (paths.observed_view)
        cfg = paths.observed_view(cfg)
    gather_dirs, category = getattr(args, "gather", None), getattr(args, "category", None)
    if gather_dirs:
        if not args.out_dir:
            raise NA64Error("--gather needs --out-dir (the joined folder)")
        index = gather(gather_dirs, args.out_dir)
        made, missing, out = index["plots"], index["missing"], args.out_dir
    else:
        p = make_all(cfg, args.out_dir, observed=True if observed else None, category=category)
        made, missing, out = p.made, p.missing, p.out_dir
    print(f"plots: {len(made)} written to {out}")
    for m in missing:
        print(f"  not plotted, input missing: {m}")
    if not made and not category:
        raise NA64Error("no plot could be made: every input is missing (run the limits/cutflow/background steps first)")
    return 0
