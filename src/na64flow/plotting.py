"""Make every plot the available results allow (limits, (E_ECAL, E_HCAL) plane, cut flows, backgrounds).

`na64flow plot -c C [--out-dir DIR]` writes PDF and PNG files (publish.formats) named
``<category>-<plot>.<ext>`` (no "-" inside <plot>; run 2016-2022 appears as 2016_2022) into results/<tag>/plots/ (or DIR), where <category> is an analysis
(na64e, na64e_plus, na64mu, na64h) or ``combined``, so the Snakemake report can sort them with the
pattern ``{category}-{name}.png``; ``index.json`` lists each plot with its caption. Inputs that do
not exist yet are named in the output (and in index.json under "missing"); the step fails only if
nothing at all can be plotted.

Plots: 90% CL upper limits with expected +-1/+-2 sigma bands and observed: eps vs m_A' per beam and
combined (and an overlay of the beams), y vs m_chi for each alpha_D, g vs m_Z' (Lmu-Ltau) with the
(g-2)_mu band (one-loop Z' contribution, :func:`delta_a_mu_zprime`), Br(eta/eta' -> invisible);
the (E_ECAL, E_HCAL) plane of the data with the signal box drawn (the histogram file is already
blinded inside the box); cut flows; background sources per run.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
from pathlib import Path

import numpy as np

from . import NA64Error, paths
from .config import add_config_arguments, config_from_args, cuts_for, runs_of, section
from .publish import analyses_of, background_of, read_cutflow, read_limits

log = logging.getLogger(__name__)

M_MU_GEV = 0.10566  # [lit] physics.md header
MESON_LABEL = {"eta": r"$\eta$", "etaprime": r"$\eta'$", "eta_prime": r"$\eta'$"}
BEAM_LABEL = {"na64e": r"NA64e ($e^-$)", "na64e_plus": r"NA64e ($e^+$)", "na64mu": r"NA64$\mu$",
              "na64h": "NA64h", "combined": "combined"}
BEAM_COLOR = {"na64e": "tab:blue", "na64e_plus": "tab:red", "na64mu": "tab:purple", "combined": "black"}


# ------------------------------------------------------------------------------------------------
# physics of the (g-2)_mu band


def delta_a_mu_zprime(g: float | np.ndarray, mass_gev: float | np.ndarray) -> np.ndarray:
    """One-loop contribution of a vector Z' with coupling g to the muon to a_mu = (g-2)_mu/2.

    Delta a_mu = g^2/(4 pi^2) * Int_0^1 dz m_mu^2 z (1-z)^2 / (m_mu^2 (1-z)^2 + m_Z'^2 z)
    [lit: Leveille, Nucl. Phys. B137 (1978) 63; Pospelov, PRD 80 (2009) 095002, eq. 4 with
    alpha eps^2 -> g^2/(4 pi)]. Limits: g^2/(8 pi^2) for m_Z' -> 0 (Schwinger term of a light
    vector), g^2 m_mu^2/(12 pi^2 m_Z'^2) for m_Z' >> m_mu. Vectorised over g and mass_gev.
    """
    from scipy.integrate import quad

    g = np.asarray(g, dtype=float)
    masses = np.atleast_1d(np.asarray(mass_gev, dtype=float))
    m2 = M_MU_GEV ** 2
    integral = np.array([quad(lambda z, mz=mz: m2 * z * (1 - z) ** 2 / (m2 * (1 - z) ** 2 + mz ** 2 * z),
                              0.0, 1.0, epsabs=0, epsrel=1e-9)[0] for mz in masses.ravel()])
    integral = integral.reshape(masses.shape)
    if np.ndim(mass_gev) == 0:
        integral = integral[0]
    return g ** 2 / (4 * math.pi ** 2) * integral


def g_minus_2_band(mass_gev: np.ndarray, delta_a_mu: float, delta_a_mu_unc: float,
                   n_sigma: float = 2.0) -> tuple[np.ndarray, np.ndarray]:
    """(g_low, g_high) explaining Delta a_mu within +-n_sigma: g = sqrt(Delta a_mu / Delta a_mu(g=1))."""
    unit = delta_a_mu_zprime(1.0, mass_gev)
    lo = max(delta_a_mu - n_sigma * delta_a_mu_unc, 0.0)
    hi = delta_a_mu + n_sigma * delta_a_mu_unc
    return np.sqrt(lo / unit), np.sqrt(hi / unit)


# ------------------------------------------------------------------------------------------------
# drawing helpers


class Plotter:
    """Saves figures in every configured format, labels them with mplhep, records captions."""

    def __init__(self, cfg: dict, out_dir: Path):
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        import mplhep

        self.plt, self.hep = plt, mplhep
        self.cfg = cfg
        pub = section(cfg, "publish")
        self.formats = pub.get("formats", ["pdf", "png"])
        self.dpi = pub.get("dpi", 150)
        self.label = pub.get("experiment_label", "NA64")
        self.text = pub.get("label_text", "Simulation")
        self.out_dir = paths.ensure_writable(out_dir)
        self.made: list[dict] = []
        self.missing: list[str] = []
        plt.style.use(mplhep.style.ROOT)

    def figure(self, **kw):
        return self.plt.subplots(figsize=kw.pop("figsize", (8, 6)), **kw)

    def save(self, fig, ax, category: str, name: str, caption: str, rlabel: str = "") -> None:
        self.hep.label.exp_label(exp=self.label, llabel=self.text, rlabel=rlabel or self.cfg["tag"], ax=ax,
                                 loc=0, fontsize=18)
        name = name.replace("-", "_")   # "-" only separates category and name ({category}-{name}.png)
        stem = f"{category}-{name}"
        files = []
        for ext in self.formats:
            target = self.out_dir / f"{stem}.{ext}"
            with paths.atomic_output(target, mode=None) as tmp:
                fig.savefig(tmp, format=ext, dpi=self.dpi, bbox_inches="tight")
            files.append(target.name)
        self.plt.close(fig)
        self.made.append({"category": category, "name": name, "files": files, "caption": caption})
        log.info("plot %s", stem)

    def need(self, path: Path, made_by: str) -> bool:
        if path.exists():
            return True
        self.missing.append(f"{path} (made by `na64flow {made_by}`)")
        return False


def _band_plot(ax, x, rows, color="black", label="", bands=True, obs=True):
    """Expected median (dashed), +-1 sigma (green) and +-2 sigma (yellow) bands, observed (solid)."""
    exp = np.array([r["exp"] for r in rows], dtype=float)
    if bands:
        ax.fill_between(x, [r["exp_m2"] for r in rows], [r["exp_p2"] for r in rows], color="#FFDF7F",
                        label=r"expected $\pm 2\sigma$", lw=0)
        ax.fill_between(x, [r["exp_m1"] for r in rows], [r["exp_p1"] for r in rows], color="#7FD17F", label=r"expected $\pm 1\sigma$", lw=0)
    ax.plot(x, exp, ls="--", color=color, label=f"{label} expected".strip())
    observed = [r.get("obs") for r in rows]
    if obs and any(o is not None for o in observed):
        ax.plot(x, [np.nan if o is None else o for o in observed], ls="-", color=color,
                label=f"{label} observed".strip())


def _references(p: Plotter, analysis: str, model: str) -> list[dict]:
    """Published limits to compare with (publish.reference_limits of the configuration)."""
    return [r for r in section(p.cfg, "publish").get("reference_limits", [])
            if r["analysis"] == analysis and r["model"] == model]


def _draw_reference_segments(ax, refs: list[dict]) -> None:
    for i, r in enumerate(refs):
        if "mass_range_gev" in r:
            lo, hi = r["mass_range_gev"]
            ax.hlines(r["value"], lo, hi, colors="red", lw=3, label="published" if i == 0 else None)


def _limit_rows(path: Path) -> list[dict]:
    rows = read_limits(path)
    if not rows:
        raise NA64Error(f"{path}: no rows")
    return rows


# ------------------------------------------------------------------------------------------------
# the individual plots


def _draw_g_minus_2_band(p: Plotter, ax, masses_gev: np.ndarray) -> str:
    """Fill the (g-2)_mu band (publish.g_minus_2) over the mass range; return its caption sentence."""
    gm2 = section(p.cfg, "publish").get("g_minus_2", {})
    delta, unc, n = gm2.get("delta_a_mu", 2.51e-9), gm2.get("delta_a_mu_unc", 5.9e-10), gm2.get("n_sigma", 2.0)
    grid = np.geomspace(masses_gev.min(), masses_gev.max(), 60)
    lo, hi = g_minus_2_band(grid, delta, unc, n)
    ax.fill_between(grid, lo, hi, color="tab:green", alpha=0.35, lw=0, label=rf"$(g-2)_\mu$ $\pm{n:g}\sigma$")
    return (f"Green: couplings explaining Delta a_mu = ({delta:.3g} +- {unc:.2g}) within +-{n:g} sigma "
            f"[{gm2.get('reference', 'see config publish.g_minus_2')}].")


def plot_coupling_limits(p: Plotter, analysis: str, model: str) -> None:
    """eps vs m_A' (dark_photon) or g vs m_Z' (lmu_ltau, with the (g-2)_mu band)."""
    path = paths.limits_path(p.cfg, analysis, model)
    if not p.need(path, f"limits --analysis {analysis} --model {model}"):
        return
    rows = _limit_rows(path)
    x = np.array([r["mass_gev"] for r in rows], dtype=float)
    fig, ax = p.figure()
    if model == "lmu_ltau":
        gm2_caption = _draw_g_minus_2_band(p, ax, x)
        xlabel, ylabel = r"$m_{Z'}$ [GeV]", r"$g_{Z'}$ (90% CL upper limit)"
        what = "g of the L_mu-L_tau Z' vs m_Z'"
    else:
        xlabel, ylabel = r"$m_{A'}$ [GeV]", r"$\epsilon$ (90% CL upper limit)"
        what = "the kinetic mixing eps vs m_A' (A' -> invisible)"
    _band_plot(ax, x, rows, label=BEAM_LABEL.get(analysis, analysis))
    refs = _references(p, analysis, model)
    _draw_reference_segments(ax, refs)
    ax.set(xscale="log", yscale="log", xlabel=xlabel, ylabel=ylabel)
    ax.legend(loc="upper left", fontsize=13, bbox_to_anchor=(0.0, 0.92))
    caption = f"90% CL upper limits on {what}, {BEAM_LABEL.get(analysis, analysis)}: expected median with 68% and 95% bands, observed when unblinded."
    if refs:
        caption += " Red: published limits (" + "; ".join(r["reference"] for r in refs) + ")."
    if model == "lmu_ltau":
        caption += " " + gm2_caption
    p.save(fig, ax, analysis, f"{model}_limits", caption)


def plot_beam_overlay(p: Plotter, model: str = "dark_photon") -> None:
    """Expected (and observed) limits of every beam and the combination on one plot."""
    curves = []
    for analysis in analyses_of(p.cfg) + ["combined"]:
        path = paths.limits_path(p.cfg, analysis, model)
        if path.exists():
            curves.append((analysis, _limit_rows(path)))
    if len(curves) < 2:
        return
    fig, ax = p.figure()
    caption_extra = ""
    if model == "lmu_ltau":
        masses = np.array([r["mass_gev"] for _, rows in curves for r in rows], dtype=float)
        caption_extra = " " + _draw_g_minus_2_band(p, ax, masses)
    for analysis, rows in curves:
        x = np.array([r["mass_gev"] for r in rows], dtype=float)
        if analysis == "combined":
            _band_plot(ax, x, rows, label="combined")
        else:
            _band_plot(ax, x, rows, color=BEAM_COLOR.get(analysis, "grey"), label=BEAM_LABEL[analysis], bands=False)
    ax.set(xscale="log", yscale="log", xlabel=r"$m_{A'}$ [GeV]" if model == "dark_photon" else r"$m_{Z'}$ [GeV]",
           ylabel=r"$\epsilon$ (90% CL)" if model == "dark_photon" else r"$g_{Z'}$ (90% CL)")
    ax.legend(fontsize=12, loc="upper left", bbox_to_anchor=(0.0, 0.92))
    p.save(fig, ax, "combined", f"{model}_beams",
           f"90% CL limits for '{model}' of each beam (dashed expected, solid observed) and of the combined likelihood with its 68%/95% expected bands." + caption_extra)


def plot_ldm_y(p: Plotter) -> None:
    """y = eps^2 alpha_D (m_chi/m_A')^4 vs m_chi (m_A' = 3 m_chi) for each alpha_D file found."""
    root = paths.results_dir(p.cfg) / "limits"
    files = sorted(f for f in root.glob("*/*_y_*.csv") if not f.stem.endswith("_asymptotic"))
    if not files:
        p.missing.append(f"{root}/<analysis>/dark_photon_y_<alphaD>.csv (made by `na64flow limits`)")
        return
    for path in files:
        analysis, (model, alpha) = path.parent.name, path.stem.split("_y_")
        rows = _limit_rows(path)
        x = np.array([r["m_chi_gev"] for r in rows], dtype=float)
        fig, ax = p.figure()
        _band_plot(ax, x, rows, label=BEAM_LABEL.get(analysis, analysis))
        ax.set(xscale="log", yscale="log", xlabel=r"$m_\chi$ [GeV]",
               ylabel=r"$y = \epsilon^2 \alpha_D (m_\chi/m_{A'})^4$")
        ax.text(0.97, 0.05, rf"$\alpha_D = {alpha}$, $m_{{A'}} = 3 m_\chi$", transform=ax.transAxes, ha="right")
        ax.legend(fontsize=13, loc="upper left", bbox_to_anchor=(0.0, 0.92))
        p.save(fig, ax, analysis, f"{model}_y_alphaD_{alpha.replace('.', 'p')}",
               f"90% CL upper limits on the LDM parameter y vs m_chi for alpha_D = {alpha} and m_A' = 3 m_chi ({BEAM_LABEL.get(analysis, analysis)}).")


def plot_meson_br(p: Plotter) -> None:
    """Br(eta -> invisible), Br(eta' -> invisible): expected with bands and observed, per meson."""
    paths_ = [paths.limits_path(p.cfg, "na64h", m) for m in ("eta_invisible", "etaprime_invisible")]
    present = [q for q in paths_ if p.need(q, "limits --analysis na64h")]
    if not present:
        return
    rows = [r for q in present for r in _limit_rows(q)]
    fig, ax = p.figure()
    pos = np.arange(len(rows))
    refs_drawn: list[str] = []
    for i, r in enumerate(rows):
        ax.fill_between([i - 0.3, i + 0.3], r["exp_m2"], r["exp_p2"], color="#FFDF7F", lw=0,
                        label=r"expected $\pm 2\sigma$" if i == 0 else None)
        ax.fill_between([i - 0.3, i + 0.3], r["exp_m1"], r["exp_p1"], color="#7FD17F", lw=0,
                        label=r"expected $\pm 1\sigma$" if i == 0 else None)
        ax.hlines(r["exp"], i - 0.3, i + 0.3, colors="black", linestyles="--", label="expected" if i == 0 else None)
        if r.get("obs") is not None:
            ax.hlines(r["obs"], i - 0.3, i + 0.3, colors="black", label="observed" if i == 0 else None)
        model = "etaprime_invisible" if "prime" in str(r.get("meson")) else "eta_invisible"
        for ref in _references(p, "na64h", model):
            ax.plot([i], [ref["value"]], marker="*", ms=16, color="red", ls="none",
                    label="published" if not refs_drawn else None)
            refs_drawn.append(ref["reference"])
    ax.set_xticks(pos, [MESON_LABEL.get(str(r.get("meson")), str(r.get("meson"))) + r" $\to$ invisible" for r in rows])
    ax.set(yscale="log", ylabel="Br (90% CL upper limit)", xlim=(-0.7, len(rows) - 0.3))
    ax.legend(fontsize=13, loc="upper left", bbox_to_anchor=(0.0, 0.92))
    caption = ("90% CL upper limits on Br(eta -> invisible) and Br(eta' -> invisible) from NA64h: expected with "
               "68%/95% bands, observed when unblinded.")
    if refs_drawn:
        caption += " Red stars: published limits (" + "; ".join(sorted(set(refs_drawn))) + ")."
    p.save(fig, ax, "na64h", "meson_br_limits", caption)


def events_inside_box(h, ecal_max_gev: float, hcal_max_gev: float) -> float:
    """Sum of the (E_ECAL, E_HCAL) histogram over the bins lying entirely inside the signal box."""
    ex, hx = h.axes[0].edges, h.axes[1].edges
    in_e = ex[1:] <= ecal_max_gev + 1e-9
    in_h = hx[1:] <= hcal_max_gev + 1e-9
    return float(h.values()[np.ix_(in_e, in_h)].sum())


def _load_histograms(path: Path) -> dict:
    from . import histograms
    return histograms.load(path)


def plot_ecal_hcal(p: Plotter, analysis: str, run: str) -> None:
    """The (E_ECAL, E_HCAL) plane of the data (histogram ``ecal_hcal``) with the signal box drawn."""
    if p.cfg["input"]["source"] == "published":
        return
    path = paths.histograms_path(p.cfg, analysis, run)
    if not p.need(path, f"process --analysis {analysis} --run {run}"):
        return
    content = _load_histograms(path)
    sample = content.get("samples", {}).get("data", {})
    h = sample.get("hists", {}).get("ecal_hcal")
    if h is None:
        p.missing.append(f"{path}: no data histogram 'ecal_hcal'")
        return
    from matplotlib.colors import LogNorm
    from matplotlib.patches import Rectangle

    cuts = cuts_for(p.cfg, analysis, run)
    ecal_max = getattr(cuts, "ecal_max_gev", 50.0)
    hcal_max = getattr(cuts, "hcal_zero_gev", 1.0)
    blinded = content.get("blinded", True)
    if blinded and (n_in_box := events_inside_box(h, ecal_max, hcal_max)) > 0:
        raise NA64Error(f"{path}: blinded histogram 'ecal_hcal' of data has {n_in_box:g} entries inside the signal "
                        f"box (E_ECAL < {ecal_max:g}, E_HCAL < {hcal_max:g} GeV); refusing to plot it (blinding)")
    fig, ax = p.figure(figsize=(9, 6))
    values = h.values()
    vmax = max(float(values.max()), 1.0)
    p.hep.hist2dplot(h, ax=ax, norm=LogNorm(vmin=0.5, vmax=vmax), cmap="viridis", flow=None)
    ax.add_patch(Rectangle((0, 0), ecal_max, hcal_max, fill=False, ec="red", lw=2,
                           label=f"signal box (blinded): $E_{{ECAL}}<{ecal_max:g}$, $E_{{HCAL}}<{hcal_max:g}$ GeV"))
    ax.set(xlabel=r"$E_{ECAL}$ [GeV]", ylabel=r"$E_{HCAL}$ [GeV]")
    ax.legend(fontsize=12, loc="upper right")
    p.save(fig, ax, analysis, f"ecal_hcal_{run}",
           f"Data in the (E_ECAL, E_HCAL) plane, {analysis} run {run}, after all cuts except the box; red: the signal box"
           + (" (blinded: no data inside are stored)." if blinded else "."), rlabel=f"{run}")


def plot_cutflow(p: Plotter, analysis: str, run: str) -> None:
    """Events after each cut relative to the first row, for data, every MC process and up to three
    signal samples (first, middle and last in the table) of the cut-flow CSV (publish.read_cutflow)."""
    if p.cfg["input"]["source"] == "published":
        return
    path = paths.cutflow_path(p.cfg, analysis, run, "csv")
    if not p.need(path, f"cutflow --analysis {analysis}"):
        return
    steps, values, _ = read_cutflow(path)
    signal = [s for s in values if s.startswith("signal_")]
    keep_signal = {signal[i] for i in sorted({0, len(signal) // 2, len(signal) - 1})} if signal else set()
    fig, ax = p.figure(figsize=(10, 6))
    plotted = 0
    for sample, vals in values.items():
        if sample.startswith("signal_") and sample not in keep_signal:
            continue
        if any(w in sample.lower() for w in ("eff", "unc", "err", "frac")):
            continue
        y = np.array([v if isinstance(v, float) else np.nan for v in vals])
        if not np.isfinite(y[0]) or y[0] <= 0:
            continue
        ax.step(np.arange(len(steps)), y / y[0], where="mid", label=sample,
                ls="--" if sample.startswith("signal_") else "-", lw=2.5 if sample == "data" else 1.5)
        plotted += 1
    if not plotted:
        p.plt.close(fig)
        p.missing.append(f"{path}: no numeric sample column")
        return
    ax.set_xticks(np.arange(len(steps)), steps, rotation=60, ha="right", fontsize=12)
    ax.set(yscale="log", ylabel="fraction of events read")
    ax.legend(fontsize=10, ncol=2, loc="lower left")
    p.save(fig, ax, analysis, f"cutflow_{run}",
           f"Cut flow of {analysis}, run {run}: fraction of events left after each cut, for data, each simulated "
           "process and three signal samples (dashed); the data box row is blinded.", rlabel=run)


def plot_background(p: Plotter, analysis: str, run: str) -> None:
    """Background sources of one run with their uncertainties (horizontal bars)."""
    if p.cfg["input"]["source"] != "published" and not p.need(
            paths.background_path(p.cfg, analysis, run), f"background --analysis {analysis} --run {run}"):
        return
    bkg = background_of(p.cfg, analysis, run)
    sources = bkg["sources"]
    if not sources:
        return
    names = [s["name"] for s in sources] + ["total"]
    est = [float(s["estimate"]) for s in sources] + [bkg["estimate"]]
    unc = [math.hypot(float(s.get("stat") or 0), float(s.get("syst") or 0)) for s in sources] + [bkg["uncertainty"]]
    fig, ax = p.figure(figsize=(10, 1.5 + 0.7 * len(names)))
    y = np.arange(len(names))[::-1]
    colors = ["tab:blue"] * len(sources) + ["black"]
    bars = ax.barh(y, est, xerr=unc, color=colors, alpha=0.7, capsize=4)
    for bar, s in zip(bars, sources, strict=False):
        if s.get("upper_limit"):   # published "< x": hatched bar ending at the bound
            bar.set_hatch("//")
            bar.set_facecolor("white")
            bar.set_edgecolor("tab:blue")
    labels = [n.replace("_", " ") + (f" (< {s['estimate']:g})" if s.get("upper_limit") else "")
              for n, s in zip(names, sources + [{}], strict=True)]
    ax.set_yticks(y, labels, fontsize=12)
    ax.set(xlabel="expected events in the signal box")
    ax.set_ylim(-0.8, len(names) + 0.3)
    p.save(fig, ax, analysis, f"background_{run}",
           f"Expected background in the signal box of {analysis}, run {run}, per source (bars: estimate, lines: uncertainty); total {bkg['estimate']:.3g} +- {bkg['uncertainty']:.2g}.",
           rlabel=run)


# ------------------------------------------------------------------------------------------------
# the `plot` step


def make_all(cfg: dict, out_dir: Path | None = None) -> Plotter:
    """Make every plot the existing inputs allow; return the Plotter (made, missing)."""
    p = Plotter(cfg, Path(out_dir) if out_dir else paths.plots_dir(cfg))
    analyses = analyses_of(cfg)
    jobs = []
    for a in [a for a in analyses if a != "na64h"] + ["combined"]:
        models = ("dark_photon", "lmu_ltau") if a in ("na64e", "na64mu", "combined") else ("dark_photon",)
        jobs += [(plot_coupling_limits, (p, a, m)) for m in models]
    jobs += [(plot_beam_overlay, (p, "dark_photon")), (plot_beam_overlay, (p, "lmu_ltau"))]
    jobs.append((plot_ldm_y, (p,)))
    if "na64h" in analyses:
        jobs.append((plot_meson_br, (p,)))
    for a in analyses:
        for r in runs_of(cfg, a):
            if cfg["analyses"][a]["setup"] in ("electron", "hadron"):
                jobs.append((plot_ecal_hcal, (p, a, r)))
            jobs.append((plot_cutflow, (p, a, r)))
            jobs.append((plot_background, (p, a, r)))
    from rich.progress import track

    for func, fargs in track(jobs, description="plots", transient=True):
        func(*fargs)
    index = {"tag": cfg["tag"], "plots": p.made, "missing": p.missing}
    with paths.atomic_output(p.out_dir / "index.json") as fh:
        json.dump(index, fh, indent=1)
    return p


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_config_arguments(parser)
    parser.add_argument("--out-dir", default=None, help="output folder (default results/<tag>/plots)")
    parser.add_argument("--observed", action="store_true",
                        help="plot the products of `na64flow unblind` (results/<tag>/unblinded/)")


def run(args: argparse.Namespace) -> int:
    cfg = config_from_args(args)
    if getattr(args, "observed", False):   # read and write under results/<tag>/unblinded/ (paths.observed_view)
        cfg = paths.observed_view(cfg)
    p = make_all(cfg, args.out_dir)
    print(f"plots: {len(p.made)} written to {p.out_dir}")
    for m in p.missing:
        print(f"  not plotted, input missing: {m}")
    if not p.made:
        raise NA64Error("no plot could be made: every input is missing (run the limits/cutflow/background steps first)")
    return 0
