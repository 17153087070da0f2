"""The landing page of `snakemake --report`: which steps completed, and the headline numbers.

A report that looks normal when half the workflow never ran misleads its reader. The Snakefile hands
:func:`landing_page` the files every step is expected to write (from the same helpers that build the
DAG); the page lists each step as complete or not (with the first missing files), then the background
per run, the observed counts once unblinded, the limits at a few benchmark masses, and links to the
HEPData archive and the public likelihoods.

Example::

    >>> text = landing_page(cfg, {"limits": ["results/default/limits/na64e/dark_photon.csv"]})
    >>> "limits" in text
    True
"""

from __future__ import annotations

import math
from pathlib import Path

from . import contracts, paths, registry
from .config import runs_of
from .stats.settings import cl_text

BENCHMARK_MASSES_GEV = (0.001, 0.01, 0.1, 1.0)


def _exists(path: str | Path) -> bool:
    p = Path(path)
    return p.is_file() or (p.is_dir() and any(p.iterdir()))


def step_status(expected: dict[str, list[str]]) -> list[tuple[str, int, int, list[str]]]:
    """[(step, files expected, files present, first missing files)] in the given step order."""
    out = []
    for step, files in expected.items():
        missing = [f for f in files if not _exists(f)]
        out.append((step, len(files), len(files) - len(missing), missing[:3]))
    return out


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    """An rst list-table (robust to cell widths)."""
    lines = [".. list-table::", "   :header-rows: 1", ""]
    for row in [header, *rows]:
        lines.append(f"   * - {row[0]}")
        lines += [f"     - {c}" for c in row[1:]]
    return lines + [""]


def _short(cfg: dict, path: str) -> str:
    """A path relative to results/<tag>/ (the folder the reader knows)."""
    p, res = Path(path).absolute(), paths.results_dir(cfg)
    return str(p.relative_to(res)) if p.is_relative_to(res) else str(path)


def _fmt(x) -> str:
    return "-" if x is None or x == "" else f"{float(x):.3g}"


def background_rows(cfg: dict) -> list[list[str]]:
    rows = []
    for a in cfg["analyses"]:
        for r in runs_of(cfg, a):
            bpath = paths.background_path(cfg, a, r)
            if not bpath.is_file():
                rows.append([a, r, "missing", "-"])
                continue
            bkg = contracts.read_background(bpath)
            est, unc = bkg.estimate, bkg.uncertainty
            cand = paths.unblinded_path(cfg, a, r)
            obs = str(contracts.read_observed(cand).observed) if cand.is_file() else "blinded"
            rows.append([a, r, f"{_fmt(est)} ± {_fmt(unc)}", obs])
    return rows


def limit_rows(cfg: dict) -> list[list[str]]:
    """Expected (and observed) limits (at stats.cl) at the benchmark masses nearest to BENCHMARK_MASSES_GEV."""
    rows = []
    for analysis, name in sorted(registry.limit_targets(cfg)):
        path = paths.limits_path(cfg, analysis, name)
        if "_y_" in name or not path.is_file():
            continue
        data = contracts.read_limits(path).records()
        if not data:
            continue
        if "meson" in data[0]:
            for d in data:
                rows.append([path.parent.name, name, d["meson"], _fmt(d.get("exp")), _fmt(d.get("obs"))])
            continue
        masses = [float(d["mass_gev"]) for d in data]
        for m in BENCHMARK_MASSES_GEV:
            if not masses or m < min(masses) / 2 or m > max(masses) * 2:
                continue
            i = min(range(len(masses)), key=lambda k: abs(math.log(masses[k] / m)))
            rows.append([path.parent.name, name, f"{masses[i]:.3g} GeV", _fmt(data[i].get("exp")),
                         _fmt(data[i].get("obs"))])
    return rows


def comparison_rows(cfg: dict) -> list[list[str]]:
    """The rows of publish.comparison_with_published (publish.reference_limits of the configuration)."""
    from .publish import comparison_with_published

    out = []
    for r in comparison_with_published(cfg):
        where = (f"{r['mass_range_gev'][0]:g}-{r['mass_range_gev'][1]:g} GeV" if "mass_range_gev" in r
                 else f"{r['mass_gev']:g} GeV" if "mass_gev" in r else r.get("meson", ""))
        if r.get("run"):
            where += f" (run {r['run']})"
        ours = f"{r['ours']:.3g} ({r['kind']})" if r["ours"] is not None else "missing"
        out.append([r["analysis"], r["model"], where, _fmt(r["value"]), ours,
                    f"{r['ratio']:.2f}" if r["ratio"] is not None else "-", r["reference"]])
    return out


def landing_page(cfg: dict, expected: dict[str, list[str]], intro: str = "") -> str:
    """The rst of the report's landing page (see the module docstring)."""
    status = step_status(expected)
    incomplete = [s for s, n, k, _ in status if k < n]
    lines = [intro.rstrip(), ""] if intro else []
    if incomplete:
        lines += [f"**INCOMPLETE RUN**: {', '.join(incomplete)} did not complete; the numbers below are partial.",
                  ""]
    else:
        lines += ["**Complete run**: every step wrote all its outputs.", ""]
    lines += ["Steps", "-----", ""]
    lines += _table(["step", "outputs present", "status", "first missing"],
                    [[s, f"{k} / {n}", "complete" if k == n else "INCOMPLETE",
                      ", ".join(_short(cfg, m) for m in miss) or "-"] for s, n, k, miss in status])
    lines += ["Background and observed events per run", "---------------------------------------", ""]
    lines += _table(["analysis", "run", "background (box)", "observed"], background_rows(cfg))
    lrows = limit_rows(cfg)
    if lrows:
        title = f"Limits at benchmark masses ({cl_text(cfg)} CL)"
        lines += [title, "-" * len(title), ""]
        lines += _table(["analysis", "model", "mass", "expected", "observed"], lrows)
    crows = comparison_rows(cfg)
    if crows:
        title = f"Ours ({cl_text(cfg)} CL) vs published NA64 limits (90% CL; agreement check, never an input)"
        lines += [title, "-" * len(title), ""]
        lines += _table(["analysis", "model", "where", "published", "ours", "ours/published", "source"], crows)
    res = paths.results_dir(cfg)
    links = []
    if (res / "hepdata.tar.gz").is_file():
        links.append("HEPData submission: hepdata.tar.gz_ (validated with hepdata-validator)")
    if (res / "likelihoods.tar.gz").is_file():
        links.append("pyhf public likelihoods (BkgOnly + patchset per analysis): likelihoods.tar.gz_")
    if links:
        lines += ["Public files", "------------", ""] + [f"* {x}" for x in links] + [""]
    return "\n".join(lines) + "\n"
