"""Limit plots: eps/g vs mass with expected bands and observed, beams overlaid, LDM y, Br(eta/eta').

The (g-2)_mu band's physics (one-loop Z' contribution, the measured Delta a_mu) is
:mod:`na64flow.physics.g_minus_2`; this module only draws it.

Bands are drawn as steps centred on the computed masses (``where="mid"``): the limits exist at those
masses only. With a background of b events the pseudo-experiments observe n = 0 with probability e^-b;
when e^-b exceeds a quantile's probability (2.3% for -2 sigma, 15.9% for -1 sigma, 50% for the median)
that quantile *is* the n = 0 limit, so the -2/-1 sigma edges (and for tiny b the whole band) coincide:
the band is narrow because the counts are discrete, not because of a plotting error. Each caption
states e^-b for the analysis' background (:func:`discreteness_note`).
"""

from __future__ import annotations

import math

import numpy as np

from .. import NA64Error, registry
from ..config import runs_of, section
from ..physics import g_minus_2
from ..publish.inputs import analyses_of, background_of, read_limits
from ..stats.settings import cl_text
from .style import BAND_1SIGMA, BAND_2SIGMA, EXPECTED_COLOR, OBSERVED_COLOR, exposure_text

REFERENCE_COLOR = "#d01c8b"   # published limits (magenta: apart from the observed dark red)
QUANTILE_P = {"-2 sigma": 0.0228, "-1 sigma": 0.1587, "median": 0.5}


# ------------------------------------------------------------------------------------------------
# helpers


def total_background(cfg: dict, analysis: str) -> float | None:
    """Sum of the expected box backgrounds of the runs of one analysis; None if missing or for ``combined``."""
    if analysis == "combined":
        return None
    try:
        return sum(background_of(cfg, analysis, r)["estimate"] for r in runs_of(cfg, analysis))
    except NA64Error:
        return None


def discreteness_note(cfg: dict, analysis: str, rows: list[dict]) -> str:
    """Caption sentence: why bands are narrow (P(n=0) = e^-b against the quantile probabilities)."""
    text = " Bands drawn as steps at the computed masses."
    b = total_background(cfg, analysis)
    if b is None:
        return text + " Coinciding band edges come from the discrete (Poisson) counts."
    p0 = math.exp(-b)
    below = [k for k, p in QUANTILE_P.items() if p0 > p]
    text += f" Background b = {b:.3g} events, so P(n_obs = 0) = e^-b = {p0:.3g}"
    if below:
        return text + (f", more than the probability of the {', '.join(below)} quantile(s): those quantiles are "
                       "the n_obs = 0 limit (Poisson discreteness), so these band edges coincide.")
    return text + "; coinciding band edges come from the discrete counts."


def _steps(ax, x, y, **kw):
    return ax.step(x, y, where="mid", **kw)


def band_plot(ax, x, rows, *, color=EXPECTED_COLOR, label="", bands=True, observed=False):
    """Expected median (dashed, drawn above the observed), +-1/+-2 sigma bands as steps, observed (solid)."""
    x = np.asarray(x, float)
    col = {k: np.array([r[k] for r in rows], float) for k in ("exp", "exp_m2", "exp_m1", "exp_p1", "exp_p2")}
    if bands:
        ax.fill_between(x, col["exp_m2"], col["exp_p2"], step="mid", color=BAND_2SIGMA, lw=0,
                        label=r"expected $\pm 2\sigma$")
        ax.fill_between(x, col["exp_m1"], col["exp_p1"], step="mid", color=BAND_1SIGMA, lw=0,
                        label=r"expected $\pm 1\sigma$")
        for k in ("exp_m2", "exp_m1"):   # a zero-width edge stays visible as a thin line
            _steps(ax, x, col[k], color="#2b7a2b" if k == "exp_m1" else "#c9a227", lw=0.8)
    if observed:
        obs = np.array([np.nan if r.get("obs") is None else r["obs"] for r in rows], float)
        if np.isfinite(obs).any():
            _steps(ax, x, obs, color=OBSERVED_COLOR if color == EXPECTED_COLOR else color, lw=3.0, zorder=3,
                   label=f"{label} observed".strip())
    _steps(ax, x, col["exp"], ls="--", color=color, lw=2.0, zorder=4, label=f"{label} expected".strip())


def references(p, analysis: str, model: str) -> list[dict]:
    """Published limits to compare with (publish.reference_limits of the configuration)."""
    return [r for r in section(p.cfg, "publish").get("reference_limits", [])
            if r["analysis"] == analysis and r["model"] == model]


def _draw_reference_segments(ax, refs: list[dict]) -> None:
    for i, r in enumerate(refs):
        if "mass_range_gev" in r:
            lo, hi = r["mass_range_gev"]
            ax.hlines(r["value"], lo, hi, colors=REFERENCE_COLOR, lw=3, label="published" if i == 0 else None)


def limit_rows(path) -> list[dict]:
    rows = read_limits(path)
    if not rows:
        raise NA64Error(f"{path}: no rows")
    return rows


def _observed_note(p) -> str:
    return " Observed: solid." if p.observed else " Blinded: expected limits only."


def _draw_g_minus_2_band(p, ax, masses_gev: np.ndarray) -> str:
    """Fill the (g-2)_mu band (publish.g_minus_2) over the mass range; return its caption sentence."""
    gm2 = section(p.cfg, "publish").get("g_minus_2", {})
    delta = gm2.get("delta_a_mu", g_minus_2.DELTA_A_MU)
    unc, n = gm2.get("delta_a_mu_unc", g_minus_2.DELTA_A_MU_UNC), gm2.get("n_sigma", g_minus_2.N_SIGMA)
    grid = np.geomspace(masses_gev.min(), masses_gev.max(), 60)
    lo, hi = g_minus_2.g_minus_2_band(grid, delta, unc, n)
    ax.fill_between(grid, lo, hi, color="#92dadd", alpha=0.6, lw=0, label=rf"$(g-2)_\mu$ $\pm{n:g}\sigma$")
    return (f"Cyan: couplings explaining Delta a_mu = ({delta:.3g} +- {unc:.2g}) within +-{n:g} sigma "
            f"[{gm2.get('reference', g_minus_2.REFERENCE)}].")


# ------------------------------------------------------------------------------------------------
# the plots


def plot_coupling_limits(p, analysis: str, model: str) -> None:
    """eps vs m_A' (dark_photon) or g vs m_Z' (lmu_ltau, with the (g-2)_mu band)."""
    path = p.limits_path(analysis, model)
    if not p.need(path, f"limits --analysis {analysis} --model {model}"):
        return
    rows = limit_rows(path)
    x = np.array([r["mass_gev"] for r in rows], dtype=float)
    fig, ax = p.figure()
    gm2_caption = ""
    spec = registry.parse_model(model)[0]
    if spec.g_minus_2:
        gm2_caption = " " + _draw_g_minus_2_band(p, ax, x)
    xlabel, ylabel = f"{spec.mass_label} [GeV]", f"{spec.coupling_label} ({cl_text(p.cfg)} CL upper limit)"
    what = spec.description
    label = registry.label(p.cfg, analysis)
    band_plot(ax, x, rows, label=label, observed=p.observed)
    refs = references(p, analysis, model)
    _draw_reference_segments(ax, refs)
    ax.set(xscale="log", yscale="log", xlabel=xlabel, ylabel=ylabel)
    ax.legend(loc="upper left", fontsize=12, bbox_to_anchor=(0.0, 0.93))
    caption = (f"{cl_text(p.cfg)} CL upper limits on {what}, {label}, {exposure_text(p.cfg, analysis, model=model)}: "
               "expected median (dashed) with 68% and 95% bands." + _observed_note(p)
               + discreteness_note(p.cfg, analysis, rows))
    if refs:
        caption += " Magenta: published limits (" + "; ".join(r["reference"] for r in refs) + ")."
    p.save(fig, ax, analysis, f"{model}_limits", caption + gm2_caption,
           rlabel=exposure_text(p.cfg, analysis, model=model))


def plot_beam_overlay(p, model: str = "dark_photon") -> None:
    """Expected (and observed) limits of every beam and the combination on one plot."""
    curves = []
    for analysis in analyses_of(p.cfg) + [registry.COMBINED]:
        path = p.limits_path(analysis, model)
        if model in registry.limit_models(p.cfg, analysis) and path.exists():
            curves.append((analysis, limit_rows(path)))
    if len(curves) < 2:
        return
    fig, ax = p.figure()
    caption_extra = ""
    spec = registry.parse_model(model)[0]
    if spec.g_minus_2:
        masses = np.array([r["mass_gev"] for _, rows in curves for r in rows], dtype=float)
        caption_extra = " " + _draw_g_minus_2_band(p, ax, masses)
    for analysis, rows in curves:
        x = np.array([r["mass_gev"] for r in rows], dtype=float)
        if analysis == registry.COMBINED:
            band_plot(ax, x, rows, label=registry.label(p.cfg, analysis), observed=p.observed)
        else:
            band_plot(ax, x, rows, color=registry.colour(p.cfg, analysis), label=registry.label(p.cfg, analysis),
                      bands=False, observed=p.observed)
    ax.set(xscale="log", yscale="log", xlabel=f"{spec.mass_label} [GeV]",
           ylabel=f"{spec.coupling_label} ({cl_text(p.cfg)} CL upper limit)")
    ax.legend(fontsize=11, loc="upper left", bbox_to_anchor=(0.0, 0.93))
    p.save(fig, ax, "combined", f"{model}_beams",
           f"{cl_text(p.cfg)} CL limits for '{model}' of each beam (dashed expected" + (", solid observed" if p.observed else "")
           + ") and of the combined likelihood with its 68%/95% expected bands; exposures: "
           + exposure_text(p.cfg, "combined", model=model) + "." + caption_extra, rlabel="all beams")


def plot_ldm_y(p, analysis: str | None = None) -> None:
    """y = eps^2 alpha_D (m_chi/m_A')^4 vs m_chi (m_A' = 3 m_chi) for each alpha_D file found (of one
    analysis if given)."""
    wanted = sorted((a, m) for a, m in registry.limit_targets(p.cfg)
                    if registry.parse_model(m)[1] is not None and analysis in (None, a))
    files = [(a, m, p.limits_path(a, m)) for a, m in wanted]
    files = [(a, m, f) for a, m, f in files if p.need(f, f"limits --analysis {a} --model {m}")]
    for analysis, name, path in files:
        model, alpha = name.split("_y_")
        rows = limit_rows(path)
        x = np.array([r["m_chi_gev"] for r in rows], dtype=float)
        fig, ax = p.figure()
        band_plot(ax, x, rows, label=registry.label(p.cfg, analysis), observed=p.observed)
        ax.set(xscale="log", yscale="log", xlabel=r"$m_\chi$ [GeV]",
               ylabel=r"$y = \epsilon^2 \alpha_D (m_\chi/m_{A'})^4$" + f" ({cl_text(p.cfg)} CL)")
        ax.text(0.97, 0.05, rf"$\alpha_D = {alpha}$, $m_{{A'}} = 3 m_\chi$", transform=ax.transAxes, ha="right")
        ax.legend(fontsize=12, loc="upper left", bbox_to_anchor=(0.0, 0.93))
        p.save(fig, ax, analysis, f"{model}_y_alphaD_{alpha.replace('.', 'p')}",
               f"{cl_text(p.cfg)} CL upper limits on the LDM parameter y vs m_chi for alpha_D = {alpha} and m_A' = 3 m_chi "
               f"({registry.label(p.cfg, analysis)}, {exposure_text(p.cfg, analysis, model=name)})." + _observed_note(p)
               + discreteness_note(p.cfg, analysis, rows), rlabel=exposure_text(p.cfg, analysis, model=name))


def plot_meson_br(p, analysis: str) -> None:
    """Br(meson -> invisible) of every Br model of the analysis (e.g. eta, eta'): expected with its band,
    observed, the asymptotic cross-check and the published values."""
    models = [m for m in registry.public_models(p.cfg, analysis) if registry.MODELS[m].poi == "br"]
    present = [(m, q) for m in models if p.need(q := p.limits_path(analysis, m), f"limits --analysis {analysis}")]
    if not present:
        return
    rows = [(m, r) for m, q in present for r in limit_rows(q)]
    fig, ax = p.figure()
    refs_drawn: list[str] = []
    for i, (model, r) in enumerate(rows):
        ax.bar(i, r["exp_p2"] - r["exp_m2"], bottom=r["exp_m2"], width=0.5, color=BAND_2SIGMA,
               label=r"expected $\pm 2\sigma$" if i == 0 else None)
        ax.bar(i, r["exp_p1"] - r["exp_m1"], bottom=r["exp_m1"], width=0.5, color=BAND_1SIGMA,
               label=r"expected $\pm 1\sigma$" if i == 0 else None)
        ax.hlines(r["exp"], i - 0.25, i + 0.25, colors=EXPECTED_COLOR, linestyles="--", lw=2.5, zorder=4,
                  label="expected median" if i == 0 else None)
        ax.annotate(f"{r['exp']:.2g}", (i + 0.28, r["exp"]), va="center", fontsize=13)
        if r["exp_m2"] == r["exp_p2"]:
            ax.annotate("bands of zero width:\nevery quantile is $n_{obs} = 0$", (i + 0.28, r["exp"]), xytext=(0, -14),
                        textcoords="offset points", ha="left", va="top", fontsize=10)
        asym = p.limits_path(analysis, f"{model}_asymptotic")
        if asym.exists():
            a = next(iter(read_limits(asym)), None)
            if a is not None:
                ax.errorbar([i - 0.15], [a["exp"]], yerr=[[a["exp"] - a["exp_m1"]], [a["exp_p1"] - a["exp"]]], fmt="D",
                            mfc="none", color="0.35", ms=8, capsize=3,
                            label=r"asymptotic cross-check ($\pm 1\sigma$)" if i == 0 else None)
        if p.observed and r.get("obs") is not None:
            ax.plot([i], [r["obs"]], "o", color=OBSERVED_COLOR, ms=10, zorder=5, label="observed" if i == 0 else None)
        for ref in references(p, analysis, model):
            ax.plot([i + 0.1], [ref["value"]], marker="*", ms=18, color=REFERENCE_COLOR, ls="none",
                    label="published NA64 (90% CL)" if not refs_drawn else None)
            ax.annotate(f"{ref['value']:.2g}", (i + 0.2, ref["value"]), va="center", fontsize=13, color=REFERENCE_COLOR)
            refs_drawn.append(ref["reference"])
    ax.set_xticks(np.arange(len(rows)), [registry.MODELS[m].meson_label + r" $\to$ invisible" for m, _ in rows])
    values = [v for _, r in rows for v in (r["exp_m2"], r["exp_p2"])] + [
        ref["value"] for m, _ in present for ref in references(p, analysis, m)]
    ax.set(yscale="log", ylabel=f"Br ({cl_text(p.cfg)} CL upper limit)", xlim=(-0.6, len(rows) - 0.1),
           ylim=(min(values) / 4, max(values) * 8))
    ax.legend(fontsize=12, loc="upper left")
    label = registry.label(p.cfg, analysis)
    caption = (f"{cl_text(p.cfg)} CL upper limits on {' and '.join(registry.MODELS[m].description for m, _ in present)}, {label}, "
               f"{exposure_text(p.cfg, analysis)}: expected median (dashed) with 68%/95% bands (boxes)."
               + _observed_note(p) + discreteness_note(p.cfg, analysis, [r for _, r in rows])
               + " Grey diamonds: the asymptotic (continuous) approximation, a cross-check not used for the limit.")
    if refs_drawn:
        caption += " Magenta stars: published limits (" + "; ".join(sorted(set(refs_drawn))) + ")."
    p.save(fig, ax, analysis, "meson_br_limits", caption, rlabel=exposure_text(p.cfg, analysis))
