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


def make_all(cfg: dict, out_dir: Path | None = None, *, observed: bool | None = None,
             limits_dir: Path | None = None) -> Plotter:
    """Make every plot the existing inputs allow; return the Plotter (made, missing).

    ``observed``: draw observed limits (default: only for published configurations, whose counts are public);
    ``limits_dir``: where the limit CSVs are (default results/<tag>/limits).
    """
    observed = default_observed(cfg) if observed is None else observed
    p = Plotter(cfg, Path(out_dir) if out_dir else paths.plots_dir(cfg), observed=observed, limits_dir=limits_dir)
    analyses = analyses_of(cfg)
    jobs = []
    def coupling_models(a):
        return [m for m in registry.public_models(cfg, a) if registry.MODELS[m].poi == "coupling"]

    for a in analyses + [registry.COMBINED]:
        jobs += [(plot_coupling_limits, (p, a, m)) for m in coupling_models(a)]
    overlay = dict.fromkeys(m for a in analyses + [registry.COMBINED] for m in coupling_models(a))
    jobs += [(plot_beam_overlay, (p, m)) for m in overlay]
    jobs.append((plot_ldm_y, (p,)))
    for a in analyses:
        if any(registry.MODELS[m].poi == "br" for m in registry.public_models(cfg, a)):
            jobs.append((plot_meson_br, (p, a)))
    for a in analyses:
        for r in runs_of(cfg, a):
            if cfg["analyses"][a]["setup"] in ("electron", "hadron"):
                jobs.append((plot_ecal_hcal, (p, a, r)))
            jobs.append((plot_cutflow, (p, a, r)))
            jobs.append((plot_background, (p, a, r)))
    from rich.progress import track

    for func, fargs in track(jobs, description="plots", transient=True):
        func(*fargs)
    index = {"tag": cfg["tag"], "observed": observed, "plots": p.made, "missing": p.missing}
    with paths.atomic_output(p.out_dir / "index.json") as fh:
        json.dump(index, fh, indent=1)
    return p


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_config_arguments(parser)
    parser.add_argument("--out-dir", default=None, help="output folder (default results/<tag>/plots)")
    parser.add_argument("--observed", action="store_true",
                        help="plot the products of `na64flow unblind` (results/<tag>/unblinded/), observed limits drawn")


def run(args: argparse.Namespace) -> int:
    cfg = config_from_args(args)
    observed = bool(getattr(args, "observed", False))
    if observed:   # read and write under results/<tag>/unblinded/ (paths.observed_view)
        cfg = paths.observed_view(cfg)
    p = make_all(cfg, args.out_dir, observed=True if observed else None)
    print(f"plots: {len(p.made)} written to {p.out_dir}")
    for m in p.missing:
        print(f"  not plotted, input missing: {m}")
    if not p.made:
        raise NA64Error("no plot could be made: every input is missing (run the limits/cutflow/background steps first)")
    return 0
