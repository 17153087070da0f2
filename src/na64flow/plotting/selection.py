"""Selection plots: (E_ECAL, E_HCAL) plane, cut flow against the stacked simulation, background sources.

(E_ECAL, E_HCAL): data (blinded inside the box) next to the summed simulation, with the box drawn on a
symmetric-log axis (linear below 1 GeV, so a 1 GeV tall box is as tall as a decade) and the
simulated physics trigger edge drawn: NA64e E_ECAL < 0.8 E0 (80 GeV at 100 GeV), NA64h E_HCAL < 0.3 E0
(15 GeV at 50 GeV: the sharp edge of the hadron plane is this trigger, simulation.trigger).
"""

from __future__ import annotations

import math

import numpy as np

from .. import NA64Error, paths
from ..config import cuts_for
from ..publish.inputs import background_of, read_cutflow
from .style import DATA_COLOR, SIGNAL_COLORS, exposure_text, process_colors, process_label

SIM_MIN_EVENTS = 0.01   # expected events per bin below which the simulation panel leaves a bin white


def matplotlib_cmap(name: str):
    """A copy of a colour map whose values below the norm's minimum are not drawn."""
    import matplotlib

    return matplotlib.colormaps[name].with_extremes(under="none")


def events_inside_box(h, ecal_max_gev: float, hcal_max_gev: float) -> float:
    """Sum of the (E_ECAL, E_HCAL) histogram over the bins lying entirely inside the signal box
    (from the first bin up to the box edges; the box thresholds are bin edges of the plane)."""
    import hist

    ecal, hcal = h.axes[0].name, h.axes[1].name
    inside = h[{ecal: slice(0, hist.loc(ecal_max_gev), sum), hcal: slice(0, hist.loc(hcal_max_gev), sum)}]
    return float(inside.value)


def _load_histograms(path):
    from .. import histograms
    return histograms.load(path)


def trigger_edges(setup: str, e0_gev: float) -> dict[str, float]:
    """Physics-trigger edges of the simulation in the plane: {"ecal": x} or {"hcal": y} (simulation.trigger)."""
    from ..simulation import trigger
    if setup == "electron":
        return {"ecal": trigger.ECAL_TRIGGER_FRACTION * e0_gev}
    if setup == "hadron":
        return {"hcal": trigger.HADRON_TRIGGER_FRACTION * e0_gev}
    return {}


def _extent(values: np.ndarray, edges: np.ndarray, axis: int) -> float:
    """Upper edge of the last non-empty bin along ``axis`` (0 if empty)."""
    proj = values.sum(axis=1 - axis)
    nz = np.nonzero(proj > 0)[0]
    return float(edges[nz[-1] + 1]) if nz.size else 0.0


def _nice_up(x: float) -> float:
    step = 10.0 if x > 30 else 5.0 if x > 10 else 1.0
    return step * math.ceil(x / step + 1e-9)


def plot_ecal_hcal(p, analysis: str, run: str) -> None:
    """Data (blinded inside the box) and summed simulation in the (E_ECAL, E_HCAL) plane, box drawn."""
    if p.cfg["input"]["source"] == "published":
        return
    path = paths.histograms_path(p.cfg, analysis, run)
    if not p.need(path, f"process --analysis {analysis} --run {run}"):
        return
    content = _load_histograms(path)
    samples = content.get("samples", {})
    h = samples.get("data", {}).get("hists", {}).get("ecal_hcal")
    if h is None:
        p.missing.append(f"{path}: no data histogram 'ecal_hcal'")
        return
    from matplotlib.colors import LogNorm
    from matplotlib.patches import Rectangle

    cuts = cuts_for(p.cfg, analysis, run)
    missing = [k for k in ("ecal_max_gev", "hcal_zero_gev") if not hasattr(cuts, k)]
    if missing:
        raise NA64Error(f"analyses.{analysis}.cuts: {', '.join(missing)} needed to draw the signal box of run {run}")
    ecal_max, hcal_max = float(cuts.ecal_max_gev), float(cuts.hcal_zero_gev)
    blinded = content.get("blinded", True)
    if blinded and (n_in_box := events_inside_box(h, ecal_max, hcal_max)) > 0:
        raise NA64Error(f"{path}: blinded histogram 'ecal_hcal' of data has {n_in_box:g} entries inside the signal "
                        f"box (E_ECAL < {ecal_max:g}, E_HCAL < {hcal_max:g} GeV); refusing to plot it (blinding)")
    mc = [s for s in sorted(samples) if s.startswith("mc_") and "ecal_hcal" in samples[s].get("hists", {})]
    h_mc = None
    for s in mc:
        h_mc = samples[s]["hists"]["ecal_hcal"] if h_mc is None else h_mc + samples[s]["hists"]["ecal_hcal"]
    panels = [("data" + (" (box blinded)" if blinded else ""), h)] + ([("simulation (sum of processes)", h_mc)]
                                                                       if h_mc is not None else [])
    ex, hx = h.axes[0].edges, h.axes[1].edges
    x_hi = _nice_up(max(_extent(h.values(), ex, 0), 1.2 * ecal_max))
    y_hi = _nice_up(max(1.8 * _extent(h.values(), hx, 1), 3.0 * hcal_max))   # headroom for the panel title
    edges = trigger_edges(getattr(cuts, "setup", ""), float(getattr(cuts, "beam_energy_gev", 0.0)))
    fig, axes = p.figure(ncols=len(panels), figsize=(9.5 * len(panels), 7.5), squeeze=False)
    axes = axes[0]
    fig.subplots_adjust(wspace=0.42)
    x_log = ecal_max < 0.05 * x_hi
    for ax, (title, hh) in zip(axes, panels, strict=True):
        is_data = title.startswith("data")
        vals = hh.values()
        vmax = max(float(vals.max()), 1.0)
        vmin = SIM_MIN_EVENTS if not is_data else 0.5
        cmap = matplotlib_cmap("viridis")
        art = p.hep.hist2dplot(hh, ax=ax, norm=LogNorm(vmin=vmin, vmax=max(vmax, 10 * vmin)), cmap=cmap, flow=None,
                               cbar=True)
        # the bins as one image in vector formats (PDF), not ~1e5 separate paths: 10x smaller and faster
        # to write and to open; PNG is unchanged, axes, box and text stay vectors
        art.pcolormesh.set_rasterized(True)
        art.cbar.set_label("data events per bin" if is_data else "expected events per bin (weighted MC)",
                           fontsize=16)
        ax.add_patch(Rectangle((0, 0), ecal_max, hcal_max, fill=blinded and is_data, fc="white",
                               hatch="//" if blinded and is_data else None, ec="red", lw=2.5, zorder=5,
                               label=f"signal box: $E_{{ECAL}}<{ecal_max:g}$, $E_{{HCAL}}<{hcal_max:g}$ GeV"
                               + (" (blinded)" if blinded else "")))
        for axis_name, v in edges.items():
            line = ax.axvline if axis_name == "ecal" else ax.axhline
            line(v, color="#e76300", ls=":", lw=2.5,
                 label=f"physics trigger of the simulation: $E_{{{axis_name.upper()}}}<{v:g}$ GeV")
        ax.set_yscale("symlog", linthresh=1.0, linscale=1.0)
        if x_log:
            ax.set_xscale("symlog", linthresh=1.0, linscale=1.0)
        ax.set(xlim=(0, x_hi), ylim=(0, y_hi), xlabel=r"$E_{ECAL}$ [GeV]", ylabel=r"$E_{HCAL}$ [GeV]")
        ax.text(0.03, 0.97, title, transform=ax.transAxes, va="top", fontsize=16)
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="upper center", bbox_to_anchor=(0.45, 0.0), ncol=2, fontsize=14, frameon=False)
    trig = "; dotted: the physics trigger of the simulation (" + ", ".join(
        f"E_{k.upper()} < {v:g} GeV" for k, v in edges.items()) + "), which makes the sharp edge of the data" if edges else ""
    p.save(fig, axes[0], analysis, f"ecal_hcal_{run}",
           f"(E_ECAL, E_HCAL) after all cuts except the box, {analysis} run {run} ({exposure_text(p.cfg, analysis, run)}): "
           "data (left) and the sum of the simulated processes weighted to the exposure (right; bins below "
           f"{SIM_MIN_EVENTS:g} expected events are left white); E_HCAL (and E_ECAL "
           "when the box is narrow) on a symmetric-log axis, linear below 1 GeV, so the box is visible; red: the "
           "signal box" + (" (blinded: no data inside are stored, hatched)" if blinded else "") + trig + ".",
           rlabel=exposure_text(p.cfg, analysis, run))


def plot_cutflow(p, analysis: str, run: str) -> None:
    """Data against the stacked simulation at every cut, data/simulation ratio, signal efficiencies."""
    if p.cfg["input"]["source"] == "published":
        return
    path = paths.cutflow_path(p.cfg, analysis, run, "csv")
    if not p.need(path, f"cutflow --analysis {analysis}"):
        return
    steps, values, errors = read_cutflow(path)

    def arr(v):
        return np.array([x if isinstance(x, float) else np.nan for x in v], float)

    mc = [s for s in values if s.startswith("mc_")]
    signal = [s for s in values if s.startswith("signal_")]
    keep_signal = [signal[i] for i in sorted({0, len(signal) // 2, len(signal) - 1})] if signal else []
    if not mc and "data" not in values:
        p.missing.append(f"{path}: no data or simulated sample")
        return
    n = len(steps)
    x = np.arange(n)
    edges = np.arange(n + 1) - 0.5
    mc_vals = {s: np.nan_to_num(arr(values[s])) for s in mc}
    total = sum(mc_vals.values()) if mc else np.zeros(n)
    total_err = np.sqrt(sum(np.nan_to_num(arr(errors[s])) ** 2 for s in mc)) if mc else np.zeros(n)
    # blinded data count only events outside the blinded region: the simulation drawn against them is the
    # simulated events outside it too (box row: the whole expectation), the run table's numbers
    compared = None
    hpath = paths.histograms_path(p.cfg, analysis, run)
    if mc and hpath.is_file():
        from ..cutflow import compared_simulation

        compared = compared_simulation(_load_histograms(hpath))
        if compared is not None and all(s in compared and len(compared[s]["weighted"]) == n for s in mc):
            mc_vals = {s: np.asarray(compared[s]["weighted"], float) for s in mc}
            total = sum(mc_vals.values())
            total_err = np.sqrt(sum(np.asarray(compared[s]["sumw2"], float) for s in mc))
        else:
            compared = None
    like_with_like = compared is not None
    order = sorted(mc, key=lambda s: mc_vals[s][-2] if n > 1 else mc_vals[s][-1])   # largest before the box on top
    colors = process_colors(mc)
    nrows = 3 if keep_signal else 2
    fig, axes = p.figure(nrows=nrows, sharex=True, figsize=(12, 11 if keep_signal else 9),
                         gridspec_kw={"height_ratios": [3, 1, 1.2][:nrows], "hspace": 0.06})
    ax, axr = axes[0], axes[1]
    if mc:
        p.hep.histplot([mc_vals[s] for s in order], bins=edges, stack=True, histtype="fill",
                       color=[colors[s] for s in order], label=[process_label(s) for s in order], ax=ax)
        ax.bar(x, 2 * total_err, bottom=total - total_err, width=1.0, fill=False, hatch="////", lw=0,
               ec="0.3", label="MC stat. unc.")
    data = arr(values["data"]) if "data" in values else None
    if data is not None:
        ok = np.isfinite(data)
        ax.errorbar(x[ok], data[ok], yerr=np.sqrt(data[ok]), fmt="o", color=DATA_COLOR, ms=6, label="data", zorder=5)
        for i in np.flatnonzero(~ok):
            ax.text(i, total[i] * 3 if total[i] > 0 else 1, "blinded", rotation=90, ha="center", va="bottom",
                    fontsize=12)
    positive = np.concatenate([total[total > 0], data[np.isfinite(data) & (data > 0)] if data is not None else []])
    lo, hi = (float(positive.min()), float(positive.max())) if positive.size else (0.1, 1.0)
    ax.set(yscale="log", ylabel="events after the cut", ylim=(10 ** math.floor(math.log10(lo) - 0.5),
                                                                10 ** math.ceil(math.log10(hi) + 2.5)))
    ax.legend(fontsize=11, ncol=3, loc="upper right")
    if data is not None and mc:
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = np.where(total > 0, data / total, np.nan)
            r_err = ratio * np.sqrt(1 / np.where(data > 0, data, np.nan) + (total_err / np.where(total > 0, total, 1)) ** 2)
        axr.errorbar(x, ratio, yerr=r_err, fmt="o", color=DATA_COLOR, ms=5)
        axr.axhline(1.0, color="0.5", ls="--")
        finite = ratio[np.isfinite(ratio)]
        dev = float(np.max(np.abs(finite - 1))) if finite.size else 0.2
        axr.set_ylim(1 - max(0.25, 1.3 * dev), 1 + max(0.25, 1.3 * dev))
    axr.set_ylabel("data / sim.", fontsize=16)
    if keep_signal:
        axs = axes[2]
        for s, c in zip(keep_signal, SIGNAL_COLORS, strict=False):
            v = arr(values[s])
            axs.step(x, v / v[0], where="mid", color=c, ls="--", lw=2, label=s.removeprefix("signal_"))
        axs.set(ylim=(0, 1.1))
        axs.set_ylabel("signal eff.\n(in acceptance)", fontsize=14)
        axs.legend(fontsize=11, ncol=3, loc="lower left")
    axes[-1].set_xticks(x, steps, rotation=45, ha="right", fontsize=12)
    axes[-1].set_xlim(-0.5, n - 0.5)
    p.save(fig, ax, analysis, f"cutflow_{run}",
           f"Cut flow of {analysis}, run {run} ({exposure_text(p.cfg, analysis, run)}): data (points, Poisson errors) "
           "against the simulated processes stacked and weighted to the exposure (hatched: MC statistics); middle: "
           "data/simulation; bottom: cumulative efficiency of three signal samples generated inside the signal "
           "acceptance (conditional on acceptance). "
           + ("While blinded the data box row is not shown and the data count only events outside the blinded region "
              "(decided before any cut), and so does the simulation drawn against them (its box row: the whole "
              "simulated expectation)." if like_with_like else
              "While blinded the data box row is not shown and the data count only events outside the blinded region "
              "(decided before any cut) while the simulation counts all, so data/simulation falls below 1 by the "
              "simulated fraction inside that region." if data is None or not np.isfinite(data).all() else
              "Observed products: every data event is counted, the data box row is the observed count."),
           rlabel=exposure_text(p.cfg, analysis, run))


def _source_rows(bkg: dict) -> list[dict]:
    """(label, estimate, error, upper) per source plus the total: ``upper`` = bound of an upper-value source."""
    rows = []
    for s in bkg["sources"]:
        upper = s.get("upper_value")
        err = math.hypot(float(s.get("stat") or 0), float(s.get("syst") or 0))
        rows.append({"label": s["name"].replace("_", " "), "estimate": None if upper is not None else float(s["estimate"]),
                     "error": None if upper is not None else err, "upper": upper})
    rows.append({"label": "total", "estimate": bkg["estimate"], "error": bkg["uncertainty"], "upper": None})
    return rows


def plot_background(p, analysis: str, run: str) -> None:
    """Background sources of one run: estimates with uncertainties, upper values as arrows, log axis."""
    if p.cfg["input"]["source"] != "published" and not p.need(
            paths.background_path(p.cfg, analysis, run), f"background --analysis {analysis} --run {run}"):
        return
    bkg = background_of(p.cfg, analysis, run)
    if not bkg["sources"]:
        return
    rows = _source_rows(bkg)
    y = np.arange(len(rows))[::-1]
    numbers = [v for r in rows for v in (r["estimate"], r["upper"]) if v]
    top = max(numbers) if numbers else 1.0
    lo = max(10 ** math.floor(math.log10(min(numbers)) - 1), top * 1e-7) if numbers else 1e-3
    hi = 10 ** math.ceil(math.log10(top) + 0.3)
    fig, ax = p.figure(figsize=(11, 1.8 + 0.7 * len(rows)))
    from matplotlib.transforms import blended_transform_factory

    right = blended_transform_factory(ax.transAxes, ax.transData)
    for yi, r in zip(y, rows, strict=True):
        color = "black" if r["label"] == "total" else "#3f90da"
        if r["upper"] is not None:
            ax.errorbar([r["upper"]], [yi], xerr=[[r["upper"] * 0.6], [0]], xuplims=True, fmt="|", ms=14, mew=2.5,
                        color="#bd1f01", capsize=0, lw=2)
            text = f"< {r['upper']:.2g}"
        elif r["estimate"] and r["estimate"] >= lo:
            e, err = r["estimate"], r["error"] or 0.0
            ax.errorbar([e], [yi], xerr=[[min(err, e - lo * 1.01)], [err]], fmt="s" if r["label"] == "total" else "o",
                        color=color, ms=9, capsize=4, lw=2)
            text = f"{e:.2g} ± {err:.2g}"
        elif r["estimate"]:   # far below the axis: a marker at the left edge, the value in the text
            ax.plot([lo * 1.3], [yi], marker="<", ms=11, color=color)
            text = f"{r['estimate']:.2g} ± {r['error'] or 0:.2g}"
        else:
            text = "0"
        ax.text(1.02, yi, text, transform=right, ha="left", va="center", fontsize=13)
    ax.errorbar([], [], xerr=[], xuplims=True, fmt="|", color="#bd1f01", label="upper value only")
    ax.errorbar([], [], xerr=[], fmt="o", color="#3f90da", label=r"estimate ± (stat $\oplus$ syst)")
    if any(r["estimate"] and r["upper"] is None and r["estimate"] < lo for r in rows):
        ax.plot([], [], "<", color="#3f90da", label=f"below {lo:.0e} (value on the right)")
    ax.set_yticks(y, [r["label"] for r in rows], fontsize=13)
    ax.set(xscale="log", xlim=(lo, hi), ylim=(-0.8, len(rows) - 0.2), xlabel="expected events in the signal box")
    ax.axhline(0.5, color="0.6", lw=1)
    from matplotlib.transforms import offset_copy

    ax.legend(loc="upper center", bbox_to_anchor=(0.5, 0.0), ncol=3, fontsize=12, frameon=False,
              bbox_transform=offset_copy(ax.transAxes, fig=fig, y=-70, units="points"))
    not_added = [r["label"] for r in rows if r["upper"] is not None]
    p.save(fig, ax, analysis, f"background_{run}",
           f"Expected background in the signal box of {analysis}, run {run} ({exposure_text(p.cfg, analysis, run)}), "
           f"per source: estimate with stat and syst in quadrature; arrows: sources with only an upper value"
           + (f" ({', '.join(not_added)}" + ("; not added to the total)" if bkg.get("upper_values_in_total") is False
                                            else ")") if not_added else "")
           + f"; total {bkg['estimate']:.3g} +- {bkg['uncertainty']:.2g}.", rlabel=exposure_text(p.cfg, analysis, run))
