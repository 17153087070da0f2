"""Write cut-flow tables (CSV, Markdown, LaTeX) of one analysis for every run, plus a summary across runs.

`na64flow cutflow -c C --analysis A` reads results/<tag>/histograms/A/<run>.pkl (made by
`na64flow process`) for every configured run and writes results/<tag>/cutflows/A/<run>.{csv,md,tex} and
results/<tag>/cutflows/A/summary.{csv,md,tex}.

Per sample and step: events remaining (raw and weighted with its uncertainty sqrt(sum w^2)), events
removed by the step, relative efficiency (remaining / remaining at the previous step) and cumulative
efficiency (remaining / events read). The row ``invalid values`` removes events with NaN/inf or
negative energies beyond noise. Blinded data (every `process` output): the table is the cut-flow of
the data events outside the blinded region, its first row included, and the ``box`` row reads
"blinded" (na64flow.histograms). The `unblind` step writes the observed tables with the same code
under results/<tag>/unblinded/cutflows/.
"""

from __future__ import annotations

import argparse
import csv
import io
import math

from . import NA64Error
from . import histograms as H
from .config import add_analysis_arguments, add_config_arguments, config_from_args, runs_of
from .paths import atomic_output, cutflow_path, histograms_path, require_file

COLUMNS = ("sample", "step", "raw", "removed", "rel_eff", "cum_eff", "weighted", "weighted_err",
           "rel_eff_weighted", "cum_eff_weighted")
SUMMARY_COLUMNS = ("run", "sample", "read", "invalid", "after_cuts", "box", "eff_cuts", "box_weighted",
                   "box_weighted_err")


def _ratio(a, b):
    if a is None or b is None or b == 0:
        return None
    return a / b


def rows_of(sample: str, cf: dict) -> list[dict]:
    """Table rows of one sample's cut-flow (values None where blinded)."""
    out = []
    raw, wsum, w2 = cf["raw"], cf["weighted"], cf["sumw2"]
    for i, step in enumerate(cf["names"]):
        prev = i - 1 if i > 0 else None
        blinded = raw[i] is None
        out.append({
            "sample": sample, "step": step, "raw": raw[i],
            "removed": None if blinded or prev is None else raw[prev] - raw[i],
            "rel_eff": None if prev is None else _ratio(raw[i], raw[prev]),
            "cum_eff": _ratio(raw[i], raw[0]),
            "weighted": wsum[i], "weighted_err": None if blinded else math.sqrt(w2[i]),
            "rel_eff_weighted": None if prev is None else _ratio(wsum[i], wsum[prev]),
            "cum_eff_weighted": _ratio(wsum[i], wsum[0]),
            "_blinded": blinded,
        })
    return out


def _fmt(key: str, v, blinded: bool) -> str:
    if blinded and key not in ("sample", "step", "run"):
        return H.BLINDED
    if v is None:
        return ""
    if isinstance(v, float):
        if key.startswith(("rel_eff", "cum_eff", "eff")):
            return f"{v:.5g}"
        return f"{v:.6g}"
    return str(v)


def _csv(rows: list[dict], columns) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(columns)
    for r in rows:
        w.writerow([_fmt(c, r[c], r.get("_blinded", False)) for c in columns])
    return buf.getvalue()


def _md_table(rows: list[dict], columns) -> list[str]:
    out = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    for r in rows:
        out.append("| " + " | ".join(_fmt(c, r[c], r.get("_blinded", False)) for c in columns) + " |")
    return out


def _tex_escape(s: str) -> str:
    return s.replace("\\", r"\textbackslash{}").replace("_", r"\_").replace("&", r"\&").replace("%", r"\%").replace("#", r"\#")


def _tex_table(rows: list[dict], columns, caption: str) -> list[str]:
    out = [r"\begin{table}[htbp]", r"\centering", rf"\caption{{{_tex_escape(caption)}}}",
           r"\begin{tabular}{ll" + "r" * (len(columns) - 2) + "}", r"\hline",
           " & ".join(_tex_escape(c) for c in columns) + r" \\", r"\hline"]
    for r in rows:
        out.append(" & ".join(_tex_escape(_fmt(c, r[c], r.get("_blinded", False))) for c in columns) + r" \\")
    out += [r"\hline", r"\end{tabular}", r"\end{table}"]
    return out


def tables_for_run(content: dict) -> dict[str, str]:
    """{"csv": ..., "md": ..., "tex": ...} of one histogram file."""
    analysis, run = content["analysis"], content["run"]
    per_sample = {s: rows_of(s, v["cutflow"]) for s, v in sorted(content["samples"].items())}
    all_rows = [r for rows in per_sample.values() for r in rows]
    note = ("Data are blinded: the data rows count the events outside the blinded region (box observables "
            "inside the box, before any cut), the data box row is not computed." if content["blinded"]
            else "Unblinded (observed).")
    md = [f"# Cut-flow: {analysis}, run {run}", "",
          f"{note} Rows: events remaining after each step; `removed` = removed by the step; "
          "efficiencies relative to the previous step and to the events read.", ""]
    tex = [f"% Cut-flow: {analysis}, run {run}. {note}"]
    for s, rows in per_sample.items():
        md += [f"## {s}", ""] + _md_table(rows, COLUMNS[1:]) + [""]
        tex += _tex_table(rows, COLUMNS[1:], f"Cut-flow of {analysis}, run {run}, sample {s}") + [""]
    return {"csv": _csv(all_rows, COLUMNS), "md": "\n".join(md), "tex": "\n".join(tex)}


def summary_rows(contents: list[dict]) -> list[dict]:
    """One row per (run, sample): read, invalid, after all cuts, box (or blinded), efficiency of the cuts."""
    out = []
    for c in contents:
        for s, v in sorted(c["samples"].items()):
            cf = v["cutflow"]
            raw, w, w2 = cf["raw"], cf["weighted"], cf["sumw2"]
            blinded = raw[-1] is None
            out.append({"run": c["run"], "sample": s, "read": raw[0], "invalid": raw[0] - raw[1],
                        "after_cuts": raw[-2], "box": raw[-1], "eff_cuts": _ratio(raw[-2], raw[0]),
                        "box_weighted": w[-1], "box_weighted_err": None if blinded else math.sqrt(w2[-1]),
                        "_blinded_cols": blinded})
    return out


def _summary_fmt(r: dict, c: str) -> str:
    return _fmt(c, r[c], r["_blinded_cols"] and c.startswith("box"))


def write_tables(cfg: dict, analysis: str) -> list:
    """Write every run's tables and the summary; returns the paths written."""
    written, contents = [], []
    for run in runs_of(cfg, analysis):
        path = require_file(histograms_path(cfg, analysis, run), f"histogram file of {analysis} run {run}", "process")
        content = H.load(path)
        if content["analysis"] != analysis or str(content["run"]) != str(run):
            raise NA64Error(f"{path}: holds {content['analysis']} run {content['run']}, expected {analysis} run {run}")
        contents.append(content)
        for ext, text in tables_for_run(content).items():
            out = cutflow_path(cfg, analysis, run, ext)
            with atomic_output(out) as fh:
                fh.write(text if text.endswith("\n") else text + "\n")
            written.append(out)
    rows = summary_rows(contents)
    csv_lines = [",".join(SUMMARY_COLUMNS)] + [",".join(_summary_fmt(r, c) for c in SUMMARY_COLUMNS) for r in rows]
    md = [f"# Cut-flow summary: {analysis}", "", "| " + " | ".join(SUMMARY_COLUMNS) + " |",
          "|" + "---|" * len(SUMMARY_COLUMNS)]
    md += ["| " + " | ".join(_summary_fmt(r, c) for c in SUMMARY_COLUMNS) + " |" for r in rows]
    tex = [r"\begin{table}[htbp]", r"\centering", rf"\caption{{Cut-flow summary of {_tex_escape(analysis)}}}",
           r"\begin{tabular}{ll" + "r" * (len(SUMMARY_COLUMNS) - 2) + "}", r"\hline",
           " & ".join(_tex_escape(c) for c in SUMMARY_COLUMNS) + r" \\", r"\hline"]
    tex += [" & ".join(_tex_escape(_summary_fmt(r, c)) for c in SUMMARY_COLUMNS) + r" \\" for r in rows]
    tex += [r"\hline", r"\end{tabular}", r"\end{table}"]
    for ext, lines in (("csv", csv_lines), ("md", md), ("tex", tex)):
        out = cutflow_path(cfg, analysis, "summary", ext)
        with atomic_output(out) as fh:
            fh.write("\n".join(lines) + "\n")
        written.append(out)
    return written


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_config_arguments(parser)
    add_analysis_arguments(parser, run=False)


def run(args: argparse.Namespace) -> int:
    cfg = config_from_args(args)
    written = write_tables(cfg, args.analysis)
    print(f"cutflow {args.analysis}: wrote {len(written)} files under {written[0].parent}")
    return 0
