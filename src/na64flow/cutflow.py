"""Write cut-flow tables (CSV, Markdown, LaTeX) of one analysis for every run, plus a summary across runs.

`na64flow cutflow -c C --analysis A` reads results/<tag>/histograms/A/<run>.pkl (made by
`na64flow process`) for every configured run and writes results/<tag>/cutflows/A/<run>.{csv,md,tex} and
results/<tag>/cutflows/A/summary.{csv,md,tex}.

CSV (docs/contracts.md, long format): per sample and step the events remaining (raw and weighted with
its uncertainty sqrt(sum w^2)), events removed by the step, relative efficiency (remaining / remaining
at the previous step) and cumulative efficiency (remaining / events read).

Markdown/LaTeX, one document per run, in the order a referee reads it:

1. **Data vs simulation**: at every cut the data, the sum of the simulated processes (weighted to the
   run's exposure, with its MC uncertainty) and data/simulation side by side;
2. **Simulated processes**: weighted events of each process at every cut; samples whose weights are
   not uniform (importance-sampled: the rare topology is generated more often and weighted down) are
   marked, with their effective number of MC events;
3. **Signal**: cumulative efficiency of every signal sample. Signal samples are generated inside the
   signal acceptance (mediator energy above the missing-energy threshold), so these are efficiencies
   *conditional on acceptance*; the acceptance is in the yields of ``signal/<a>/<model>_<run>.csv``.

Rows are rendered generically from the step names of the histogram file; a step whose data value is
None (blinded) reads "blinded". Blinded data (every `process` output): the table is the cut-flow of the
data events outside the blinded region, its first row included (na64flow.histograms). The `unblind`
step writes the observed tables with the same code under results/<tag>/unblinded/cutflows/.
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
SUMMARY_COLUMNS = ("run", "sample", "weighting", "read", "invalid", "after_cuts", "box", "eff_cuts", "eff_box",
                   "box_weighted", "box_weighted_err")
SUMMARY_NOTE = ("`read` = events read; `invalid` = removed as invalid values; `after_cuts` = after every cut before the box; `box` = signal-box "
                "candidates (raw MC events for simulation); `eff_cuts` = after_cuts/read and `eff_box` = box/read, "
                "both from the weighted events (the raw fraction of an importance-sampled sample means nothing); "
                "signal efficiencies are conditional on the signal acceptance (samples generated inside it); "
                "`box_weighted` = box events weighted to the run's exposure (simulation) with `box_weighted_err` = "
                "sqrt(sum w^2). `weighting`: data (unweighted counts), uniform (equal MC weights), "
                "importance-sampled (non-uniform MC weights), signal (weight 1, inside the acceptance).")
UNIFORM_TOLERANCE = 1e-6   # relative spread of n_eff = (sum w)^2/sum w^2 vs raw that still counts as uniform


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


def weighting_of(sample: str, cf: dict) -> str:
    """"data", "signal", "uniform" or "importance-sampled" (MC weights not all equal).

    Equal weights give n_eff = (sum w)^2 / sum w^2 = raw at every step; importance sampling gives
    n_eff < raw. Checked on the events read.
    """
    if sample == "data":
        return "data"
    if sample.startswith("signal_"):
        return "signal"
    n, w, w2 = cf["raw"][0], cf["weighted"][0], cf["sumw2"][0]
    if not n or not w2:
        return "uniform"
    n_eff = w * w / w2
    return "uniform" if abs(n_eff - n) <= UNIFORM_TOLERANCE * n + 1e-9 else "importance-sampled"


def _fmt(key: str, v, blinded: bool) -> str:
    if blinded and key not in ("sample", "step", "run", "weighting"):
        return H.BLINDED
    if v is None:
        return ""
    if isinstance(v, float):
        if key.startswith(("rel_eff", "cum_eff", "eff")):
            return f"{v:.5g}"
        return f"{v:.6g}"
    return str(v)


def _num(v: float | None, err: float | None = None) -> str:
    """A count (integer as is) or a weighted number with its error, rounded to the error's 2 significant digits."""
    if v is None:
        return H.BLINDED
    if err is None:
        return f"{v:.0f}" if float(v).is_integer() else f"{v:.4g}"
    if v == 0 and err == 0:
        return "0"
    if err <= 0 or not math.isfinite(err):
        return f"{v:.4g}"
    decimals = 1 - math.floor(math.log10(err))
    if 0 <= decimals <= 4 and abs(v) < 1e7:
        return f"{v:.{decimals}f} ± {err:.{decimals}f}"
    if decimals < 0 and abs(v) < 1e7:        # error >= 100: integers, rounded to the error's digits
        return f"{round(v, decimals):.0f} ± {round(err, decimals):.0f}"
    exp = math.floor(math.log10(abs(v))) if v else math.floor(math.log10(err))
    scale = 10.0 ** exp
    d = max(0, 1 - math.floor(math.log10(err / scale)))
    return f"({v / scale:.{d}f} ± {err / scale:.{d}f})e{exp:+d}"


def _csv(rows: list[dict], columns) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(columns)
    for r in rows:
        w.writerow([_fmt(c, r[c], r.get("_blinded", False)) for c in columns])
    return buf.getvalue()


# ------------------------------------------------------------------------------------------------
# one run: data vs simulation, processes, signal


OUTSIDE_BLINDED = "cutflow_outside_blinded_region"


def compared_simulation(content: dict) -> dict[str, dict] | None:
    """{simulated process: {"weighted", "sumw2"} per row}: what blinded data are compared with, or None.

    Blinded data count only events outside the blinded region; so does the simulation they are compared
    with: each process's events outside that region at every row but the box, whose row (no data there)
    keeps the whole expectation. None where the file is not blinded, has no data, or a simulated sample
    lacks that cut-flow (histogram files made before `process` wrote it): compare with the whole cut-flow.
    """
    samples = content["samples"]
    mc = [s for s in sorted(samples) if s.startswith("mc_")]
    if not (content.get("blinded") and "data" in samples and mc and all(OUTSIDE_BLINDED in samples[m] for m in mc)):
        return None
    return {m: {k: list(samples[m][OUTSIDE_BLINDED][k][:-1]) + [samples[m]["cutflow"][k][-1]]
                for k in ("weighted", "sumw2")} for m in mc}


def comparison_rows(content: dict) -> list[dict]:
    """Per step: data (count, None if blinded), simulation sum (weighted) with its error, ratio and its error."""
    samples = content["samples"]
    mc = [s for s in sorted(samples) if s.startswith("mc_")]
    data = samples.get("data", {}).get("cutflow")
    ref = data or (samples[mc[0]]["cutflow"] if mc else None)
    names = ref["names"] if ref else []
    compared = compared_simulation(content)
    sim = compared or {m: samples[m]["cutflow"] for m in mc}
    out = []
    for i, step in enumerate(names):
        d = data["weighted"][i] if data else None
        s = sum(float(sim[m]["weighted"][i]) for m in mc) if mc else None
        s_err = math.sqrt(sum(float(sim[m]["sumw2"][i]) for m in mc)) if mc else None
        ratio = _ratio(d, s)
        ratio_err = None
        if ratio is not None and d and d > 0:
            ratio_err = ratio * math.hypot(1 / math.sqrt(d), (s_err or 0.0) / s)
        out.append({"step": step, "data": d, "data_cum_eff": _ratio(d, data["weighted"][0]) if data else None,
                    "sim": s, "sim_err": s_err, "ratio": ratio, "ratio_err": ratio_err,
                    "_blinded": bool(data) and d is None, "_sim_outside": compared is not None})
    if compared is not None and out and out[-1]["step"] == H.CUTFLOW_BOX:
        # one population per column: outside the blinded region the box holds no event (the row above's
        # box efficiency is 0, not the whole expectation over a subset); the whole expectation its own row
        whole = dict(out[-1], step=BOX_ALL_SIMULATED)
        outside = [samples[m][OUTSIDE_BLINDED] for m in mc]
        out[-1] = dict(out[-1], sim=sum(float(o["weighted"][-1]) for o in outside),
                       sim_err=math.sqrt(sum(float(o["sumw2"][-1]) for o in outside)), ratio=None, ratio_err=None)
        out.append(whole)
    return out


BOX_ALL_SIMULATED = "box (all simulated events)"   # the blinded table's row of the whole simulated box expectation


def _withheld_note(content: dict) -> str:
    """" (x% of the data read were withheld)" from a withheld row of the data cut flow, if there is one."""
    cf = content["samples"].get("data", {}).get("cutflow")
    withheld = getattr(H, "CUTFLOW_WITHHELD", None)     # the row may be dropped by the blinding (issue 10)
    if not cf or withheld not in cf["names"]:
        return ""
    i = cf["names"].index(withheld)
    read, left = cf["raw"][0], cf["raw"][i]
    return f" ({(read - left) / read:.1%} of the data read were withheld)" if read and left is not None else ""


def _grid(content: dict, names: list[str], value) -> list[list[str]]:
    """Rows = steps, columns = ``names``: value(cutflow, i) per cell."""
    samples = content["samples"]
    steps = samples[names[0]]["cutflow"]["names"]
    return [[step] + [value(samples[n]["cutflow"], i) for n in names] for i, step in enumerate(steps)]


def run_sections(content: dict) -> list[tuple[str, str, list[str], list[list[str]]]]:
    """(title, note, header, rows) of every table of one run (rendered to Markdown and LaTeX)."""
    samples = content["samples"]
    mc = [s for s in sorted(samples) if s.startswith("mc_")]
    signal = sorted((s for s in samples if s.startswith("signal_")), key=_signal_key)
    weighting = {s: weighting_of(s, v["cutflow"]) for s, v in samples.items()}
    sections = []
    comp = comparison_rows(content)
    if comp:
        rows = [[r["step"], _num(r["data"]) if "data" in samples else "–",
                 _fmt("eff", r["data_cum_eff"], r["_blinded"]) if "data" in samples else "–",
                 _num(r["sim"], r["sim_err"]) if mc else "–",
                 H.BLINDED if r["_blinded"] else ("" if r["ratio"] is None else _num(r["ratio"], r["ratio_err"]))]
                for r in comp]
        sections.append((
            "Data vs simulation",
            f"Data: events remaining after each step (unweighted counts, cumulative efficiency = fraction of the "
            f"events read). Simulation: sum of the {len(mc)} simulated processes weighted to the run's exposure, "
            "error = MC statistics sqrt(sum w^2). Ratio error: data Poisson and MC statistics."
            + ((" Blinded: the data box row is not computed, and the data count only events outside the blinded "
                "region (box observables outside the box, decided before any cut); the simulation column counts "
                "likewise only the simulated events outside that region, so data/simulation compares like with "
                "like (its box row is 0 by construction; the row 'box (all simulated events)' and the "
                "per-process table below count all simulated events)"
                if comp[0]["_sim_outside"] else
                " Blinded: the data box row is not computed, and the data count only events outside the blinded "
                "region (box observables outside the box, decided before any cut) while the simulation counts all "
                "events, so data/simulation is below 1 by the simulated fraction inside that region")
               + _withheld_note(content) + "." if content.get("blinded") else ""),
            ["cut", "data", "data cum. eff.", "simulation (sum)", "data / simulation"], rows))
    if mc:
        marked = [m for m in mc if weighting[m] == "importance-sampled"]
        header = ["cut"] + [m.removeprefix("mc_") + (" †" if m in marked else "") for m in mc]
        rows = _grid(content, mc, lambda cf, i: _num(cf["weighted"][i], math.sqrt(cf["sumw2"][i])))
        neff = "; ".join(f"{m.removeprefix('mc_')}: n_eff = {_neff(samples[m]['cutflow'], 0):.3g} of "
                         f"{samples[m]['cutflow']['raw'][0]} MC events read" for m in marked)
        sections.append((
            "Simulated processes (events weighted to the exposure)",
            "Each cell: weighted events ± MC statistics. † importance-sampled: the rare topology that can reach "
            "the box is generated more often and weighted down, so the weighted events (not the raw MC counts) "
            "are the physical expectation; a tiny weighted number next to many raw MC events is the rare topology "
            "resolved, not an error." + (f" Effective MC events (sum w)^2/sum w^2: {neff}." if neff else ""),
            header, rows))
        sections.append((
            "Simulated processes (raw MC events)", "Unweighted simulated events remaining after each step.",
            ["cut"] + [m.removeprefix("mc_") for m in mc], _grid(content, mc, lambda cf, i: str(cf["raw"][i]))))
    if signal:
        sections.append((
            "Signal: efficiency conditional on acceptance",
            "Cumulative efficiency (remaining / generated) of each signal sample. The samples are generated "
            "inside the signal acceptance (mediator energy above the missing-energy threshold, weight 1), so "
            "these efficiencies are conditional on acceptance: a mass whose yield is 0 (outside the kinematic "
            "range) can still show a high efficiency here. Acceptance x yield: signal/<analysis>/<model>_<run>.csv.",
            ["cut"] + [s.removeprefix("signal_") for s in signal],
            _grid(content, signal, lambda cf, i: f"{_ratio(cf['weighted'][i], cf['weighted'][0]) or 0:.4g}")))
    return sections


def _neff(cf: dict, i: int) -> float:
    return cf["weighted"][i] ** 2 / cf["sumw2"][i] if cf["sumw2"][i] else 0.0


def _signal_key(sample: str):
    from .samples import parse_signal
    parsed = parse_signal(sample)
    return (parsed[0], parsed[1]) if parsed else (sample, 0.0)


def _md(title: str, note: str, header: list[str], rows: list[list[str]]) -> list[str]:
    return ([f"## {title}", "", note, "", "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
            + ["| " + " | ".join(r) + " |" for r in rows] + [""])


def _tex_escape(s: str) -> str:
    return (s.replace("\\", r"\textbackslash{}").replace("_", r"\_").replace("&", r"\&").replace("%", r"\%")
            .replace("#", r"\#").replace("±", r"$\pm$").replace("†", r"$^\dagger$").replace("–", "--"))


def _tex(caption: str, header: list[str], rows: list[list[str]]) -> list[str]:
    return ([r"\begin{table}[htbp]", r"\centering", r"\small", rf"\caption{{{_tex_escape(caption)}}}",
             r"\begin{tabular}{l" + "r" * (len(header) - 1) + "}", r"\hline",
             " & ".join(_tex_escape(c) for c in header) + r" \\", r"\hline"]
            + [" & ".join(_tex_escape(c) for c in r) + r" \\" for r in rows]
            + [r"\hline", r"\end{tabular}", r"\end{table}", ""])


def tables_for_run(content: dict) -> dict[str, str]:
    """{"csv": ..., "md": ..., "tex": ...} of one histogram file."""
    analysis, run = content["analysis"], content["run"]
    per_sample = {s: rows_of(s, v["cutflow"]) for s, v in sorted(content["samples"].items())}
    all_rows = [r for rows in per_sample.values() for r in rows]
    exposure = f"{content['n_ot']:.3g} particles on target" if content.get("n_ot") else "exposure not recorded"
    md = [f"# Cut flow: {analysis}, run {run} ({exposure})", "",
          ("Data are blinded: the data rows count the events outside the blinded region (box observables inside "
           "the box, before any cut), the data box row is not computed." if content.get("blinded")
           else "Unblinded (observed).")
          + " Rows: events remaining after each step, in the order the steps are applied. The full numbers of "
          f"every sample (raw, weighted, removed, efficiencies) are in `{run}.csv`.", ""]
    tex = [f"% Cut flow: {analysis}, run {run} ({exposure})"]
    for title, note, header, rows in run_sections(content):
        md += _md(title, note, header, rows)
        tex += _tex(f"{title}: {analysis}, run {run}. {note}", header, rows)
    return {"csv": _csv(all_rows, COLUMNS), "md": "\n".join(md), "tex": "\n".join(tex)}


# ------------------------------------------------------------------------------------------------
# summary over runs


def summary_rows(contents: list[dict]) -> list[dict]:
    """One row per (run, sample): read, after the cuts, box (or blinded), efficiencies up to and including the box."""
    out = []
    for c in contents:
        for s, v in sorted(c["samples"].items()):
            cf = v["cutflow"]
            names, raw, w, w2 = cf["names"], cf["raw"], cf["weighted"], cf["sumw2"]
            i_box = names.index(H.CUTFLOW_BOX) if H.CUTFLOW_BOX in names else len(names) - 1
            blinded = raw[i_box] is None
            i_inv = names.index(H.CUTFLOW_INVALID) if H.CUTFLOW_INVALID in names else None
            invalid = None if not i_inv or raw[i_inv] is None else raw[i_inv - 1] - raw[i_inv]
            out.append({"run": c["run"], "sample": s, "weighting": weighting_of(s, cf), "read": raw[0],
                        "invalid": invalid, "after_cuts": raw[i_box - 1], "box": raw[i_box],
                        "eff_cuts": _ratio(w[i_box - 1], w[0]), "eff_box": _ratio(w[i_box], w[0]),
                        "box_weighted": w[i_box], "box_weighted_err": None if blinded else math.sqrt(w2[i_box]),
                        "_blinded_cols": blinded})
    return out


def _summary_fmt(r: dict, c: str) -> str:
    return _fmt(c, r[c], r["_blinded_cols"] and c in ("box", "eff_box", "box_weighted", "box_weighted_err"))


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
    cells = [[_summary_fmt(r, c) for c in SUMMARY_COLUMNS] for r in rows]
    csv_lines = [",".join(SUMMARY_COLUMNS)] + [",".join(c) for c in cells]
    md = [f"# Cut-flow summary: {analysis}", "", SUMMARY_NOTE, "", "| " + " | ".join(SUMMARY_COLUMNS) + " |",
          "|" + "---|" * len(SUMMARY_COLUMNS)] + ["| " + " | ".join(c) + " |" for c in cells]
    tex = _tex(f"Cut-flow summary of {analysis}. " + SUMMARY_NOTE.replace("`", ""), list(SUMMARY_COLUMNS), cells)
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
