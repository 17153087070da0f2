"""The closure outputs: the table of rows with a known truth, the toy table (csv, Markdown, LaTeX) and the
closure plot."""

from __future__ import annotations

import csv

from .. import paths
from ..background.toys import TOY_WIDTH
from .rows import PULL_PASS

COLUMNS = ["analysis", "run", "test", "estimate", "stat", "syst", "truth", "truth_unc", "pull",
           "pull_with_syst", "passed"]
# toy closure: its own table, explicit names (not the truth rows' columns with other meanings)
TOY_COLUMNS = ["analysis", "run", "method", "central_as_used", "n_toys", "exposure_factor", "pull_mean",
               "pull_mean_err", "pull_width", "pull_width_err", "width_min", "width_max", "passed", "reason"]


def _cell(v) -> str:
    return f"{v:.3g}" if isinstance(v, float) else str(v)


def write_tables(rows: list[dict], csv_path, md_path, analysis: str, tex_path=None, toys_csv_path=None) -> None:
    """Closure tables: rows with a known truth (``COLUMNS``) and toy rows (``TOY_COLUMNS``), never mixed.

    csv: ``closure/A.csv`` (truth rows) and ``closure/A_toys.csv`` (toys); md and tex: both tables."""
    truth = [r for r in rows if r.get("kind", "truth") == "truth"]
    toys = [r for r in rows if r.get("kind") == "toys"]
    with paths.atomic_output(csv_path) as fh:
        w = csv.DictWriter(fh, fieldnames=COLUMNS, extrasaction="ignore")
        w.writeheader()
        for r in truth:
            w.writerow({k: (f"{v:.6g}" if isinstance(v, float) else v) for k, v in r.items()})
    if toys_csv_path is None:
        toys_csv_path = str(csv_path).replace(".csv", "_toys.csv")
    with paths.atomic_output(toys_csv_path) as fh:
        w = csv.DictWriter(fh, fieldnames=TOY_COLUMNS, extrasaction="ignore")
        w.writeheader()
        for r in toys:
            w.writerow({k: (f"{v:.6g}" if isinstance(v, float) else v) for k, v in r.items()})
    lines = [f"# Closure of the side-band background method: {analysis}", "",
             "## Tests against a known truth", "",
             "pull = (estimate - truth) / sqrt(stat^2 + truth_unc^2); passes when |pull with syst| < "
             f"{PULL_PASS:g}.", "",
             "| run | test | estimate | stat | syst | truth | truth unc | pull | pull (with syst) | passed |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for r in truth:
        cells = [_cell(r[c]) for c in COLUMNS[1:-1]] + ["yes" if r["passed"] else "**FAILED**"]
        lines.append("| " + " | ".join(cells) + " |")
    if not rows:
        lines.append("| – | no side-band method for this analysis (simulation-based sources only) | | | | | | | | |")
    lines += ["", "## Toy closure of the central method", "",
              "Pulls (estimate - true expectation) / quoted stat over toys; passes when the pull mean is "
              "compatible with 0 (|mean| < 3 x its error + 0.2) and the pull width is in "
              f"[{TOY_WIDTH[0]}, {TOY_WIDTH[1]}] within 2 x its statistical error. A method failing here cannot be the central background "
              "estimate (the background step refuses it: docs/background.md).", "",
              "| run | method | central as used | toys | exposure factor | pull mean | ± | pull width | passed | reason |",
              "|---|---|---|---|---|---|---|---|---|---|"]
    for r in toys:
        lines.append("| " + " | ".join(_cell(r[c]) for c in ("run", "method", "central_as_used", "n_toys",
                                                                 "exposure_factor", "pull_mean", "pull_mean_err",
                                                                 "pull_width"))
                     + f" | {'yes' if r['passed'] else '**FAILED**'} | {r['reason']} |")
    if not toys:
        lines.append("| – | no toy closure (no side-band method or n_toys = 0) | | | | | | | | |")
    with paths.atomic_output(md_path) as fh:
        fh.write("\n".join(lines) + "\n")
    if tex_path is not None:
        def esc(x):
            return _cell(x).replace("_", r"\_").replace("%", r"\%").replace("#", r"\#")
        tex = [r"\begin{tabular}{llcccccc}", r"\hline",
               r"Run & Test & Estimate & Stat & Syst & Truth & Pull (with syst) & Passed \\", r"\hline"]
        for r in truth:
            tex.append(" & ".join(esc(r[c]) for c in ("run", "test", "estimate", "stat", "syst", "truth",
                                                      "pull_with_syst")) + f" & {'yes' if r['passed'] else 'FAILED'} \\\\")
        tex += [r"\hline", r"\end{tabular}", "", r"\begin{tabular}{llcccc}", r"\hline",
                r"Run & Method & Toys & Pull mean & Pull width & Passed \\", r"\hline"]
        for r in toys:
            tex.append(" & ".join(esc(r[c]) for c in ("run", "central_as_used", "n_toys")) +
                       f" & ${_cell(r['pull_mean'])} \\pm {_cell(r['pull_mean_err'])}$ & {_cell(r['pull_width'])} & "
                       f"{'yes' if r['passed'] else 'FAILED'} \\\\")
        tex += [r"\hline", r"\end{tabular}"]
        with paths.atomic_output(tex_path) as fh:
            fh.write("\n".join(tex) + "\n")


def plot(rows: list[dict], out_base, analysis: str) -> None:
    """Closure plot of every row, toys and failing rows included (drawn by na64flow.plotting.closure)."""
    from ..plotting.closure import plot_closure

    plot_closure(rows, out_base, analysis, pull_pass=PULL_PASS)

