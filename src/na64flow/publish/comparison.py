"""Our limits next to the published NA64 limits (``publish.reference_limits`` of the configuration).

A published comparison documents agreement; it is never an input. Writes
results/<tag>/published_comparison.md.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from .. import paths
from ..config import section
from ..stats.settings import cl_text
from .inputs import read_limits


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
    lines = [f"# Our limits ({cl_text(cfg)} CL) vs the published NA64 limits (90% CL)", "",
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
