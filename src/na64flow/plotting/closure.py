"""Closure plot of the side-band method (written by the closure step, rows of na64flow.closure).

Top: estimate and truth per test row (errors never below zero events); bottom: pull (with the
systematic) of every row, the toy rows (kind "toys": pull_mean, pull_width) as the mean pull with the pull
width as its bar (expect 0 and 1).
Every row is drawn, toy rows included; failing rows are red crosses labelled "fails".
"""

from __future__ import annotations

import math
import textwrap

import numpy as np

from .. import paths

PASS_COLOR, FAIL_COLOR = "black", "#bd1f01"


def _short(test: str) -> str:
    test = test.replace("simulation all processes", "sim. all proc.").replace("simulation ", "sim. ")
    test = test.replace("data validation region", "data validation").replace("mc_", "")
    return "\n".join(textwrap.wrap(test, 24)[:4])


def plot_closure(rows: list[dict], out_base, analysis: str, pull_pass: float = 2.0, label_text: str = "Simulation",
                 formats=("pdf", "png")) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import mplhep

    plt.style.use(mplhep.style.ROOT)
    n = len(rows)
    fig, (ax, axp) = plt.subplots(2, 1, figsize=(max(10, 2.3 * n + 2), 9), sharex=True,
                                  gridspec_kw={"height_ratios": [2, 1.4], "hspace": 0.05})
    x = np.arange(n)
    toy = np.array([r.get("kind") == "toys" for r in rows], bool)
    passed = np.array([bool(r["passed"]) for r in rows], bool)
    if n:
        est = np.array([np.nan if t else r["estimate"] for r, t in zip(rows, toy, strict=True)], float)
        err = np.array([np.nan if t else math.hypot(r["stat"], r["syst"]) for r, t in zip(rows, toy, strict=True)], float)
        tru = np.array([np.nan if t else r["truth"] for r, t in zip(rows, toy, strict=True)], float)
        terr = np.array([np.nan if t else r["truth_unc"] for r, t in zip(rows, toy, strict=True)], float)
        m = ~toy
        if m.any():
            ax.errorbar(x[m] - 0.12, est[m], yerr=[np.minimum(err[m], np.clip(est[m], 0, None)), err[m]], fmt="o",
                        color="#3f90da", ms=8, capsize=3, label=r"side-band estimate (stat $\oplus$ syst)")
            ax.errorbar(x[m] + 0.12, tru[m], yerr=[np.minimum(terr[m], np.clip(tru[m], 0, None)), terr[m]], fmt="s",
                        color="#e76300", ms=8, capsize=3, label="truth")
            top = float(np.nanmax(np.concatenate([est[m] + err[m], tru[m] + terr[m]])))
            ax.set_ylim(0, 1.35 * top if top > 0 else 1)
        for i in np.flatnonzero(toy):
            ax.text(i, 0.5, "toys:\nsee pulls", transform=ax.get_xaxis_transform(), ha="center", va="center",
                    fontsize=11, color="0.4")
        pull = np.array([r["pull_mean"] if t else r["pull_with_syst"] for r, t in zip(rows, toy, strict=True)], float)
        perr = np.array([r["pull_width"] if t else 0.0 for r, t in zip(rows, toy, strict=True)], float)
        for ok, color, marker, lab in ((True, PASS_COLOR, "o", "passes"), (False, FAIL_COLOR, "X", "fails")):
            sel = passed == ok
            if sel.any():
                axp.errorbar(x[sel], np.nan_to_num(pull[sel]), yerr=np.nan_to_num(perr[sel]), fmt=marker, color=color,
                             ms=10, capsize=4, label=lab)
        for i, r in enumerate(rows):
            if toy[i]:
                axp.annotate(f"width {r['pull_width']:.2g}", (i, pull[i]), xytext=(8, 8), textcoords="offset points",
                             fontsize=10)
            if not passed[i]:
                ax.text(i, 0.92, "fails", transform=ax.get_xaxis_transform(), ha="center", color=FAIL_COLOR, fontsize=12)
        lim = max(3.0, float(np.nanmax(np.abs(pull) + perr)) * 1.2 if np.isfinite(pull).any() else 3.0)
        axp.set_ylim(-lim, lim)
        axp.set_xticks(x, [f"{r['run']}\n{_short(r['test'] if not t else 'toys ' + r['central_as_used'])}"
                           for r, t in zip(rows, toy, strict=True)], fontsize=10, rotation=0)
        axp.legend(fontsize=11, loc="lower right", ncol=2)
        ax.legend(fontsize=12, loc="upper left")
    else:
        ax.text(0.5, 0.5, "no side-band method for this analysis", transform=ax.transAxes, ha="center")
    axp.axhspan(-pull_pass, pull_pass, color="0.9", zorder=0)
    axp.axhline(0, color="0.5")
    axp.set_ylabel("pull (with syst)\ntoys: mean ± width", fontsize=14)
    ax.set_ylabel("events in the box")
    ax.set_xlim(-0.6, max(n, 1) - 0.4)
    runs = list(dict.fromkeys(str(r["run"]) for r in rows))
    mplhep.label.exp_label(exp="NA64", llabel=label_text, ax=ax, loc=0, fontsize=16,
                           rlabel=f"{analysis} closure, run{'s' if len(runs) > 1 else ''} {', '.join(runs)}")
    for ext in formats:
        with paths.atomic_output(f"{out_base}.{ext}", mode=None) as tmp:
            fig.savefig(tmp, format=ext, bbox_inches="tight")
    plt.close(fig)
