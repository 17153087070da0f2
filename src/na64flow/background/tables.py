"""Markdown and LaTeX rendering of a background record (docs/contracts.md, docs/background.md)."""

from __future__ import annotations

import numpy as np


def _fmt(x) -> str:
    if x is None:
        return "–"
    x = float(x)
    return f"{x:.3g}" if abs(x) >= 1e-3 or x == 0 else f"{x:.2e}"


def _upper_only(s: dict) -> bool:
    return bool(s.get("inputs", {}).get("upper_value_only"))


def statement_lines(rec: dict) -> list[str]:
    """The rate scale, the physical and published-exposure equivalents, closure failures (plain text)."""
    out = []
    rs = rec.get("rate_scale") or {}
    if rs:
        out.append("Rate scale used (simulation.rate_scale, a statistical device of the scaled-down default): "
                   + ", ".join(f"{p} x{v:g}" for p, v in rs.items())
                   + f". Total scaled back to physical rates: {_fmt(rec.get('total_physical'))} at n_ot = {rec['n_ot']:.3g}.")
    elif "total_physical" in rec:
        out.append(f"Physical rates (no rate scale): total {_fmt(rec['total_physical'])} at n_ot = {rec['n_ot']:.3g}.")
    if rec.get("total_published_exposure") is not None:
        pub = rec.get("published_total")
        out.append(f"At the published exposure n_ot = {rec['published_n_ot']:.3g}: {_fmt(rec['total_published_exposure'])}"
                   + (f"; published total {_fmt(pub)} ± {_fmt(rec.get('published_total_unc'))} "
                      f"[{rec.get('published_reference', '')}]" if pub is not None else "") + ".")
    for s in rec.get("sources", []):
        dec = (s.get("closure") or {}).get("decision", "")
        if "REFUSED" in dec or "CLOSURE FAILED" in dec:
            out.append(f"Central method of '{s['name']}': {dec} (closure/<analysis>.md).")
    for name in rec.get("closure_failed") or []:
        out.append(f"CLOSURE FAILED: the central method of '{name}' does not pass its closure (simulation or toys; "
                   "see inputs.candidates, inputs.toy_closure, closure/<analysis>.md).")
    return out


def markdown_table(rec: dict) -> str:
    lines = [f"# Expected background in the signal box: {rec['analysis']} {rec['run']}", "",
             f"Exposure n_ot = {rec['n_ot']:.3g}; blinded: {rec['blinded']}", ""]
    lines += [f"{s}  " for s in statement_lines(rec)]
    lines += ["", "| source | estimate | stat | syst | physical-rate estimate | how obtained | in the total as | method |",
              "|---|---|---|---|---|---|---|---|"]
    for s in rec["sources"]:
        how = s.get("inputs", {}).get("obtained", "")
        entry = (rec["total"].get("entries") or {}).get(s["name"], "as published")
        phys = _fmt(s.get("estimate_physical")) if "estimate_physical" in s else "–"
        if s.get("closure") and not s["closure"].get("central_closes", True):
            how += " — **CLOSURE FAILED**"
        if _upper_only(s):
            lines.append(f"| {s['label']} | < {_fmt(s['stat'])} ({s['inputs'].get('upper_value_reason', 'upper value')}) "
                         f"| – | – | – | {how} | {entry} | {s['method']} |")
            continue
        lt = "< " if s.get("inputs", {}).get("upper_limit") else ""
        lines.append(f"| {s['label']} | {lt}{_fmt(s['estimate'])} | {_fmt(s['stat'])} | {_fmt(s['syst'])} | {phys} "
                     f"| {how} | {entry} | {s['method']} |")
    t = rec["total"]
    lines.append(f"| **Total** | **{_fmt(t['estimate'])}** | {_fmt(t['stat'])} | {_fmt(t['syst'])} | "
                 f"{_fmt(rec.get('total_physical'))} | every source | central total (the likelihood's background) "
                 f"| ± {_fmt(t['uncertainty'])} (stat ⊕ syst) |")
    if t.get("upper_values"):
        lines.append(f"| Total (conservatively, NA64-table convention: upper values added) | "
                     f"{_fmt(t['estimate_with_upper_values'])} | | | | | + "
                     + ", ".join(f"{k} < {_fmt(v)}" for k, v in t["upper_values"].items()) + " | not used by the limits |")
    return "\n".join(lines) + "\n"


def _tex_escape(s: str) -> str:
    rep = {"&": r"\&", "%": r"\%", "_": r"\_", "#": r"\#", "γ": r"$\gamma$", "μ": r"$\mu$", "π": r"$\pi$",
           "→": r"$\to$", "ν": r"$\nu$", "η": r"$\eta$", "±": r"$\pm$", "⊕": r"$\oplus$", "x": "x", "—": "--"}
    return "".join(rep.get(c, c) for c in s)


def latex_table(rec: dict) -> str:
    lines = [r"\begin{tabular}{lcc}", r"\hline",
             r"Source of background & Events & How obtained \\", r"\hline"]
    for s in rec["sources"]:
        err = float(np.hypot(s["stat"], s["syst"]))
        how = _tex_escape(s.get("inputs", {}).get("obtained", ""))
        if s.get("closure") and not s["closure"].get("central_closes", True):
            how += r" \textbf{(closure failed)}"
        if _upper_only(s):
            lines.append(f"{_tex_escape(s['label'])} & $< {_fmt(s['stat'])}$ & {how} \\\\")
            continue
        if s.get("inputs", {}).get("upper_limit"):
            lines.append(f"{_tex_escape(s['label'])} & $< {_fmt(s['estimate'])}$ & {how} \\\\")
            continue
        lines.append(f"{_tex_escape(s['label'])} & ${_fmt(s['estimate'])} \\pm {_fmt(err)}$ & {how} \\\\")
    t = rec["total"]
    lines += [r"\hline", f"Total & ${_fmt(t['estimate'])} \\pm {_fmt(t['uncertainty'])}$ & every source; "
              "upper values enter as 0 \\\\"]
    if t.get("upper_values"):
        lines.append(f"Total (conservatively) & ${_fmt(t['estimate_with_upper_values'])}$ & upper values added "
                     "(NA64-table convention) \\\\")
    lines += [r"\hline", r"\end{tabular}"]
    notes = statement_lines(rec)
    if notes:
        lines += ["", "% " + "\n% ".join(notes)]
    return "\n".join(lines) + "\n"
