"""Inputs of the publish and plot steps: analyses, channels, background tables, limit and cut-flow CSVs.

One reader per file format (docs/contracts.md): :func:`read_limits` (limits CSV), :func:`read_cutflow`
(cut-flow CSV, long or wide), :func:`background_of` (background JSON or the published block of the
configuration). Background sources come back with ``upper_value``: the bound of a source that has only
an upper value (background step: ``inputs.upper_value_only``, bound = its stat; published tables:
``upper_limit: true``, bound = its estimate), else None.
"""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

from .. import NA64Error, paths, stats
from ..config import runs_of

ANALYSES = ("na64e", "na64e_plus", "na64mu", "na64h")


def analyses_of(cfg: dict) -> list[str]:
    return [a for a in ANALYSES if a in cfg["analyses"]]


def channels_of(cfg: dict, analysis: str) -> list[tuple[str, str]]:
    """(analysis, run) pairs of one analysis, or of all analyses for ``combined``."""
    if analysis == "combined":
        return [(a, r) for a in analyses_of(cfg) for r in runs_of(cfg, a)]
    return [(analysis, r) for r in runs_of(cfg, analysis)]


def channel_name(analysis: str, run: str) -> str:
    return f"{analysis}_{run}".replace("-", "_").replace(".", "p")


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
    path = paths.require_file(paths.background_path(cfg, analysis, run), "background estimate", "background")
    data = json.loads(path.read_text())
    try:
        total = data["total"]
        unc = total.get("uncertainty")
        if unc is None:
            unc = math.hypot(total.get("stat", 0.0), total.get("syst", 0.0))
        sources = []
        for s in data.get("sources", []):
            upper = bool((s.get("inputs") or {}).get("upper_value_only"))
            sources.append({**s, "upper_value": float(s["stat"]) if upper else None})
        return {"estimate": float(total["estimate"]), "uncertainty": float(unc), "stat": total.get("stat"),
                "syst": total.get("syst"), "sources": sources, "blinded": bool(data.get("blinded", True)),
                "upper_values_in_total": False}
    except (KeyError, TypeError) as exc:
        raise NA64Error(f"{path}: key {exc} missing (contract: total.estimate, total.uncertainty)") from exc


def masses_of(cfg: dict, analysis: str, model: str) -> list[float]:
    """Union of the signal-table masses of all channels of ``analysis`` for ``model``."""
    masses: set[float] = set()
    for a, r in channels_of(cfg, analysis):
        table = stats.read_signal_table(cfg, a, model, r)
        if table is not None:
            masses.update(float(f"{m:.6g}") for m in table["mass_gev"])
    return sorted(masses)


def read_limits(path: Path) -> list[dict]:
    """Rows of a limits CSV (contract columns); empty cells (blinded ``obs``) become None."""
    with open(path, newline="") as fh:
        rows = list(csv.DictReader(fh))
    out = []
    for r in rows:
        row = {}
        for k, v in r.items():
            if k is None:
                continue
            v = (v or "").strip()
            try:
                row[k] = float(v) if v != "" else None
            except ValueError:
                row[k] = v
        out.append(row)
    needed = {"exp", "exp_m2", "exp_m1", "exp_p1", "exp_p2"}
    if rows and not needed <= set(rows[0]):
        raise NA64Error(f"{path}: missing columns {sorted(needed - set(rows[0]))} "
                        "(contract: mass_gev,exp,exp_m2,exp_m1,exp_p1,exp_p2,obs)")
    return out


def _number_or_text(v: str):
    v = (v or "").strip()
    try:
        return float(v)
    except ValueError:
        return v if v else "-"


def read_cutflow(path: Path) -> tuple[list[str], dict[str, list], dict[str, list]]:
    """A cut-flow CSV as (cut names, {sample: events after each cut}, {sample: their errors}).

    Long format of the cutflow step (columns sample,step,raw,...,weighted,weighted_err,...): the
    weighted events (raw if there is no weighted column) per sample; wide format (first column = cut,
    one column per sample) as is. Text cells (e.g. "blinded") stay text; missing errors are None.
    """
    with open(path, newline="") as fh:
        rows = list(csv.DictReader(fh))
    if not rows:
        raise NA64Error(f"{path}: empty cut-flow table")
    header = list(rows[0])
    if "sample" in header and "step" in header:
        value_col = "weighted" if "weighted" in header else "raw"
        err_col = "weighted_err" if value_col == "weighted" and "weighted_err" in header else None
        steps: list[str] = []
        values: dict[str, list] = {}
        errors: dict[str, list] = {}
        for r in rows:
            if r["step"] not in steps:
                steps.append(r["step"])
        index = {st: i for i, st in enumerate(steps)}
        for r in rows:
            sample = r["sample"]
            values.setdefault(sample, ["-"] * len(steps))[index[r["step"]]] = _number_or_text(r[value_col])
            errors.setdefault(sample, [None] * len(steps))[index[r["step"]]] = (
                _number_or_text(r[err_col]) if err_col else None)
        return steps, values, errors
    first = header[0]
    steps = [r[first] for r in rows]
    values = {c: [_number_or_text(r[c]) for r in rows] for c in header[1:]}
    return steps, values, {c: [None] * len(steps) for c in header[1:]}


