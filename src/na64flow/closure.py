"""Closure tests of the side-band background method where the truth is known (simulation, validation regions).

``na64flow closure -c C --analysis A`` runs, for every run of analysis A with a side-band method
(background.<setup>.sideband):

1. **simulation, replaced process** (e.g. ``mc_upstream_interaction``): the method applied to the
   simulated side band of the process it replaces; truth = the simulated box count (simulation is
   not blinded), truth error sqrt(sum w^2);
2. **simulation, all processes**: the same on the sum of every ``mc_<process>`` sample (the expected
   "data", side band contaminated by the other processes); truth = the replaced processes' box count
   (the other processes are estimated by their own rows of the background table);
3. **toys**: ``background.closure.n_toys`` Poisson draws of the replaced processes' simulation scaled
   to an exposure with >= TOY_MIN_SIDEBAND expected side-band events (data-like integer counts;
   truth = the scaled box expectation, exact), central fit only; reported as the mean and width of
   the pulls (est - truth)/stat -- closure means mean ~ 0 and width ~ 1, a shape bias shows as a
   mean pull away from 0 (the central choice as used: the primary fit, or its transfer factor when
   the fit does not close on simulation);
4. **data validation region**: the box shifted next to itself (electron: thr <= E_ECAL < thr + w,
   E_HCAL < hcal_zero; muon: p_max <= p_out < p_max + w; w = the cut ``validation_ecal_width_gev`` /
   ``validation_p_out_width_gev`` of the analysis, i.e. the ``validation_*`` region of ``process``,
   else background.validation_width_gev), which lies outside the signal box and is unblinded by
   design; truth = the data count there, prediction = the side-band estimate plus every other simulated
   process in the ``validation_ecal`` / ``validation_p_out`` region.

Pull = (estimate - truth) / sqrt(stat^2 + truth_unc^2) (and with the systematic added); a row passes
when |pull with syst| < 2 [est criterion]; the toy row passes when the mean pull is compatible with 0
(|mean| < 3 sigma_mean + 0.2) and the width is in TOY_WIDTH = [0.8, 1.2] (errors neither under- nor
overestimated; the toys fluctuate the simulated sample too, whose statistics the transfer factor's stat
contains). Failed rows are marked in the table ("FAILED"), in the plot (red) and in the log. Writes ``results/<tag>/closure/A.{csv,md}`` and
``results/<tag>/plots/closure_A.{pdf,png}``.

Also provides ``toy_histogram_file``: a small simulation-like histogram file (docs/contracts.md
format) with known truth, used by the tests and for demonstrations.
"""

from __future__ import annotations

import argparse
import csv
import logging

import hist
import numpy as np
from rich.progress import track

from . import NA64Error, background, config, normalisation, paths, samples

log = logging.getLogger(__name__)

PULL_PASS = 2.0   # [est] closure criterion |pull| < 2
DEFAULT_TOYS = 50
TOY_WIDTH = (0.8, 1.2)    # [est] toy pull width: errors neither under- nor overestimated (far from 1 fails)
MIN_FACTORISATION_P = 0.01   # [est] the factorised transfer factor needs a factorising simulated shape
TOY_MIN_SIDEBAND = 400.0   # [est] expected side-band events of the toys (asymptotic regime for the pulls)


# ---------------------------------------------------------------------------------------------
# truth counts outside the signal box


def validation_truth(h, setup: str, cuts, width_gev: float) -> tuple[float, float]:
    """Count (and its error) in the validation pseudo-box next to the signal box, never inside it."""
    if setup in ("electron", "hadron"):
        ie = background._axis_index(h, "ecal", 0)
        e_edges, h_edges = h.axes[ie].edges, h.axes[1 - ie].edges
        thr, hz = float(cuts.ecal_max_gev), float(cuts.hcal_zero_gev)
        e_bins = background.bins_inside(e_edges, thr, thr + width_gev)
        h_stop = int(np.count_nonzero(h_edges[1:] <= hz + 1e-9))    # bins with upper edge <= hcal_zero
        assert e_bins.stop > e_bins.start and e_edges[e_bins.start] >= thr - 1e-9, \
            "validation region overlaps the signal box"
        sub_h = h[{ie: e_bins, 1 - ie: slice(0, h_stop)}]
    elif setup == "muon":
        p_max = float(cuts.p_out_max_gev)
        sub_h = h[background.bins_inside(h.axes[0].edges, p_max, p_max + width_gev)]
    else:
        raise NA64Error(f"no validation region for setup '{setup}'")
    sub, subv = (np.ascontiguousarray(a) for a in background.values_variances(sub_h))
    return float(sub.sum()), float(np.sqrt(max(subv.sum(), 1.0 if sub.sum() == 0 else 0.0)))


def _row(analysis, run, test, est, stat, syst, truth, truth_unc) -> dict:
    den = float(np.hypot(stat, truth_unc))
    den_s = float(np.sqrt(stat**2 + syst**2 + truth_unc**2))
    pull = (est - truth) / den if den > 0 else float("nan")
    pull_s = (est - truth) / den_s if den_s > 0 else float("nan")
    return {"kind": "truth", "analysis": analysis, "run": run, "test": test, "estimate": est, "stat": stat, "syst": syst,
            "truth": truth, "truth_unc": truth_unc, "pull": pull, "pull_with_syst": pull_s,
            "passed": bool(np.isfinite(pull_s) and abs(pull_s) < PULL_PASS)}


def _poisson_like(h, rng) -> hist.Hist:
    """A data-like histogram: integer Poisson draws of the expected bin contents of ``h``."""
    out = hist.Hist(*h.axes, storage=hist.storage.Weight())
    mu = np.clip(np.asarray(h.values(), float), 0, None)
    n = rng.poisson(mu).astype(float)
    out[...] = np.stack([n, n], axis=-1)      # (value, variance) per bin, flow bins stay empty
    return out


def _mc_like(h, rng) -> hist.Hist:
    """A simulated sample as another simulation of the same size would give: each bin a scaled Poisson
    draw, (var / value) x Poisson(value^2 / var) -- same mean and variance, never negative (a Gaussian
    clipped at 0 would shrink the spread of the many few-event bins of an importance-sampled sample)."""
    out = h.copy()
    val, var = np.asarray(out.values(), float), np.asarray(out.variances(), float)
    v = out.view(flow=False)    # in-place write of the values only: the storage view is hist's write access
    ok = (val > 0) & (var > 0)
    scale = np.where(ok, var / np.where(ok, val, 1.0), 0.0)
    n_eff = np.where(ok, val**2 / np.where(ok, var, 1.0), 0.0)
    v["value"] = np.where(ok, scale * rng.poisson(n_eff), val)
    return out


def _factorised_truth(h, ecal_range_gev):
    """The toy world of a factorised transfer factor: in the strip's E_ECAL columns the simulated histogram
    replaced by its expectation under the factorisation the method assumes (column total x the
    column-reweighted E_HCAL shape, ``background.sideband.factorised_projection``), with variances =
    value x the simulated sample's weight per event there (the bin's sum w^2 / sum w, else the column's),
    so that ``_mc_like`` draws a sample of the simulation's size and weights around it. Without this the
    toys would take one importance-sampled sample, whose E_HCAL shape per column is the noise of a few
    heavy events, as the truth."""
    from .background.sideband import _axis_index, factorised_projection

    out = h.copy()
    ie = _axis_index(h, "ecal", 0)
    e_edges = h.axes[ie].edges
    lo, hi = ecal_range_gev
    cols = np.flatnonzero((e_edges[:-1] >= lo - 1e-9) & (e_edges[1:] <= hi + 1e-9))
    _, shape, _, (vals, var) = factorised_projection(h, ecal_range_gev)
    if shape.sum() <= 0:
        return out
    shape = shape / shape.sum()
    col_w, col_w2 = vals.sum(1), var.sum(1)
    w_col = np.where(col_w > 0, col_w2 / np.where(col_w > 0, col_w, 1.0), 0.0)
    w_bin = np.where(vals > 0, var / np.where(vals > 0, vals, 1.0), w_col[:, None])
    true = col_w[:, None] * shape[None, :]
    v = out.view(flow=False)    # in-place write of the strip's columns: the storage view is hist's write access
    sl = (cols, slice(None)) if ie == 0 else (slice(None), cols)
    v["value"][sl] = true if ie == 0 else true.T
    v["variance"][sl] = (true * w_bin) if ie == 0 else (true * w_bin).T
    return out


def toy_closure(cfg: dict, analysis: str, run: str, hfile: dict, n_toys: int, seed: int,
                central: str | None = None) -> dict:
    """Toy closure of the central side-band method (``central``: "transfer" or "fit"; default the configured
    ``sideband.central``): data-like Poisson draws of the replaced processes' simulation scaled to an
    exposure with >= TOY_MIN_SIDEBAND expected side-band events in the primary range, and a redraw of the
    simulated sample (``_mc_like``: the quoted stat of a transfer factor contains its simulation
    statistics); truth = the scaled box expectation (exact). Returns the toy row (kind "toys"): pull mean,
    its error, pull width, the verdict and its reason. Used by the closure step *and* by the background
    step, which refuses a central method whose toy verdict fails (background.sources)."""
    bcfg = background.settings(cfg)
    setup = config.analysis_config(cfg, analysis)["setup"]
    cuts = config.cuts_for(cfg, analysis, run)
    sb = bcfg[setup]["sideband"]
    name = sb["histogram"]
    replaced = [samples.mc_sample(p) for p in sb.get("replaces", []) if samples.mc_sample(p) in hfile["samples"]]
    central = central or sb.get("central", "transfer")
    boxes = [background.region_count(hfile, s, "box") for s in replaced]
    truth = sum(float(b["weighted"]) for b in boxes if b)
    h_rep = background.sum_hists(hfile, replaced, name)
    p_model, p_index = (sb.get("primary") or [bcfg["fit_models"][0], 0])
    p_range = sb["fit_ranges_gev"][p_index]
    factorised = setup != "muon" and sb.get("transfer_weighting", "columns") == "columns"
    p_fact = float("nan")
    if factorised:
        # the toy world satisfies the factorisation the transfer factor assumes; whether the simulation does
        # is tested on the simulated sample itself (column_homogeneity) and is part of the verdict
        strip = (0.0, float(cuts.ecal_max_gev))
        f_edges, _, _, f_cols = background.sideband.factorised_projection(h_rep, strip)
        p_fact = background.sideband.column_homogeneity(f_cols, f_edges, (float(f_edges[0]), float(cuts.hcal_zero_gev)),
                                                        tuple(p_range))
        h_rep = _factorised_truth(h_rep, strip)
        t_edges, t_vals, t_var = background.simulation_projection(h_rep, setup, strip)
        truth, _ = background.interval_sum(t_edges, t_vals, t_var, float(t_edges[0]), float(cuts.hcal_zero_gev))
    # the central choice as used: the transfer factor needs no fit (fit_models empty: fast)
    primary_cfg = dict(bcfg, fit_models=[] if central == "transfer" else [p_model])
    primary_cfg[setup] = {"sideband": dict(sb, fit_ranges_gev=[p_range], primary=[p_model, 0], central=central)}
    m_edges, m_vals, m_var = background.simulation_projection(
        h_rep, setup, (0.0, float(cuts.ecal_max_gev)) if setup != "muon" else None)
    n_sb, _ = background.interval_sum(m_edges, m_vals, m_var, *p_range)
    factor = max(1.0, TOY_MIN_SIDEBAND / n_sb) if n_sb > 0 else float("nan")
    rng = np.random.default_rng(seed)
    pulls, centrals = [], []
    if np.isfinite(factor):
        h_exp = h_rep * factor
        for _ in track(range(n_toys), description=f"closure toys {analysis} {run} ({central})", transient=True):
            ex, _ = background.sideband_estimate(_poisson_like(h_exp, rng), setup, cuts, primary_cfg,
                                                 h_mc=_mc_like(h_rep, rng))
            centrals.append(ex.central.model)
            if ex.stat > 0 and np.isfinite(ex.estimate):
                pulls.append((ex.estimate - truth * factor) / ex.stat)
    pulls = np.array(pulls)
    mean = float(pulls.mean()) if pulls.size else float("nan")
    width = float(pulls.std(ddof=1)) if pulls.size > 1 else float("nan")
    err_mean = float(width / np.sqrt(max(pulls.size, 1))) if pulls.size > 1 else float("nan")
    mean_ok = bool(np.isfinite(mean) and abs(mean) < 3 * err_mean + 0.2)
    # "far from 1": outside TOY_WIDTH by more than 2 x the statistical error of a sd of n values
    # (width / sqrt(2 (n - 1))), so that the verdict of a few toys is not a coin flip
    err_w = float(width / np.sqrt(2 * (pulls.size - 1))) if pulls.size > 1 else float("nan")
    width_ok = bool(np.isfinite(width) and TOY_WIDTH[0] - 2 * err_w <= width <= TOY_WIDTH[1] + 2 * err_w)
    reasons = ([] if mean_ok else [f"pull mean {mean:+.2f} +- {err_mean:.2f} (biased)"]) + \
              ([] if width_ok else [f"pull width {width:.2f} +- {err_w:.2f} outside {TOY_WIDTH[0]}-{TOY_WIDTH[1]}"]) + \
              ([] if pulls.size else ["no usable toy (empty simulated side band)"]) + \
              ([f"simulated E_HCAL shape depends on E_ECAL (factorisation p = {p_fact:.2g} < {MIN_FACTORISATION_P:g})"]
               if central == "transfer" and np.isfinite(p_fact) and p_fact < MIN_FACTORISATION_P else [])
    used = max(set(centrals), key=centrals.count) if centrals else ("mc_transfer" if central == "transfer" else p_model)
    return {"kind": "toys", "analysis": analysis, "run": run, "method": central,
            "central_as_used": f"{used} {list(p_range)}", "n_toys": int(pulls.size), "exposure_factor": factor,
            "pull_mean": mean, "pull_mean_err": err_mean, "pull_width": width, "pull_width_err": err_w,
            "width_min": TOY_WIDTH[0], "width_max": TOY_WIDTH[1],
            "factorisation_pvalue": p_fact if np.isfinite(p_fact) else None,
            "toy_truth": "factorised expectation of the simulation" if factorised else "the simulated sample",
            "passed": not reasons, "reason": "; ".join(reasons)}


def closure_rows(cfg: dict, analysis: str, run: str, hfile: dict, n_toys: int, seed: int) -> list[dict]:
    """Every closure row of one analysis/run (see module doc)."""
    bcfg = background.settings(cfg)
    setup = config.analysis_config(cfg, analysis)["setup"]
    cuts = config.cuts_for(cfg, analysis, run)
    sb = (bcfg.get(setup) or {}).get("sideband")
    if not sb:
        return []
    name = sb["histogram"]
    mc_all = sorted(s for s in hfile["samples"] if s.startswith("mc_"))
    rows = []

    def box_truth(names):
        boxes = [background.region_count(hfile, s, "box") for s in names]
        return (sum(float(b["weighted"]) for b in boxes if b), float(np.sqrt(sum(float(b["sumw2"]) for b in boxes if b))))

    replaced = [samples.mc_sample(p) for p in sb.get("replaces", []) if samples.mc_sample(p) in hfile["samples"]]
    sets = [(f"simulation {n}", [n]) for n in replaced]
    if replaced:   # contamination test: side band of every process, truth = the replaced processes' box
        sets.append(("simulation all processes (truth: " + ", ".join(replaced) + ")", mc_all))
    h_mc = background.replaced_simulation(hfile, sb)     # the method as used, transfer candidates included
    # the central method as the background step decides it (toy verdict; its toy rows are this table's)
    toy_rows = []
    if n_toys > 0 and replaced:
        cfg_n = dict(cfg, background=dict(config.section(cfg, "background"),
                                          closure=dict(bcfg.get("closure") or {}, n_toys=n_toys, verdict=True)))
        bcfg, toy_rows, _ = background.decide_central(cfg_n, analysis, run, hfile, seed=seed)
    for label, names in sets:
        h = background.sum_hists(hfile, names, name)
        ex, _ = background.sideband_estimate(h, setup, cuts, bcfg, h_mc=h_mc)
        truth, truth_unc = box_truth(replaced)
        rows.append(_row(analysis, run, label, ex.estimate, ex.stat, ex.syst, truth, truth_unc))

    rows += toy_rows

    # data validation region next to the box (unblinded by design)
    key = "validation_p_out_width_gev" if setup == "muon" else "validation_ecal_width_gev"
    width = float(getattr(cuts, key, bcfg["validation_width_gev"]))   # same pseudo-box as `process`
    h_data = background.get_hist(hfile, samples.DATA, name)
    ex, _ = background.sideband_estimate(h_data, setup, cuts, bcfg, shift_gev=width, h_mc=h_mc)
    truth, truth_unc = validation_truth(h_data, setup, cuts, width)
    # prediction = side-band estimate (replaced processes) + every other simulated process in the region
    region = "validation_p_out" if setup == "muon" else "validation_ecal"
    others = [background.region_count(hfile, s, region) for s in mc_all if s not in replaced]
    others = [o for o in others if o is not None]
    n_other = sum(float(o["weighted"]) for o in others)
    var_other = sum(float(o["sumw2"]) for o in others)
    label = f"data validation region (+{width:g} GeV" + (f"; + simulation of other processes {n_other:.3g})" if others else ")")
    rows.append(_row(analysis, run, label, ex.estimate + n_other, float(np.hypot(ex.stat, np.sqrt(var_other))),
                     ex.syst, truth, truth_unc))
    return rows


# ---------------------------------------------------------------------------------------------
# outputs

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
    from .plotting.closure import plot_closure

    plot_closure(rows, out_base, analysis, pull_pass=PULL_PASS)


# ---------------------------------------------------------------------------------------------
# a simulation-like toy histogram file with known truth


def toy_histogram_file(seed: int = 1, *, analysis: str = "na64e", run: str = "2016-2022", n_ot: float = 2e9,
                       n_upstream: float = 400.0, hcal_slope_gev: float = 3.0, n_dimuon: float = 2000.0,
                       data_dimuon_scale: float = 1.0, n_beamline_box: float = 0.3, mc_factor: float = 20.0,
                       ecal_max_gev: float = 50.0, hcal_zero_gev: float = 1.0, blinded: bool = True) -> dict:
    """A histogram file (docs/contracts.md) of a toy electron-setup run with known truth.

    Processes [toy, not physics]: ``upstream_interaction`` (E_ECAL uniform 0-100 GeV, E_HCAL
    exponential with ``hcal_slope_gev``, ``n_upstream`` expected events), ``dimuon`` (E_ECAL ~ N(80, 8),
    E_HCAL ~ N(10, 1.5) GeV, ``n_dimuon`` expected; data drawn with ``data_dimuon_scale`` x that rate),
    ``beamline_decay`` (``n_beamline_box`` expected, all in the box). MC samples have ``mc_factor`` x
    more events with weights 1/mc_factor. The data box is left unfilled when ``blinded``.
    """
    rng = np.random.default_rng(seed)

    def upstream(n):
        return rng.uniform(0, 100, n), rng.exponential(hcal_slope_gev, n)

    def dimuon(n):
        return rng.normal(80, 8, n).clip(0, 149), rng.normal(10, 1.5, n).clip(0, 99)

    def beamline(n):
        return rng.uniform(0, ecal_max_gev, n), rng.uniform(0, 0.5, n)

    gens = {"upstream_interaction": (upstream, n_upstream), "dimuon": (dimuon, n_dimuon),
            "beamline_decay": (beamline, n_beamline_box)}

    def regions(e, hc, w, with_box=True):
        masks = {"box": (e < ecal_max_gev) & (hc < hcal_zero_gev),
                 "sb_hcal": (e < ecal_max_gev) & (hc >= hcal_zero_gev),
                 "sb_ecal": (e >= ecal_max_gev) & (hc < hcal_zero_gev),
                 "dimuon": (hc > 5) & (hc < 15) & (e > 50),
                 "calibration": np.zeros(e.size, bool)}
        return {r: {"raw": int(m.sum()), "weighted": float(w[m].sum()), "sumw2": float((w[m] ** 2).sum())}
                for r, m in masks.items() if with_box or r != "box"}

    def histo(e, hc, w):
        h = hist.Hist(hist.axis.Regular(150, 0, 150, name="ecal", label="E_ECAL [GeV]"),
                      hist.axis.Regular(400, 0, 100, name="hcal", label="E_HCAL [GeV]"),
                      storage=hist.storage.Weight())
        h.fill(ecal=e, hcal=hc, weight=w)
        return h

    out = {"schema_version": 1, "analysis": analysis, "run": run, "blinded": blinded, "n_ot": n_ot,
           "box": {"ecal_max_gev": ecal_max_gev, "hcal_max_gev": hcal_zero_gev}, "samples": {}}
    de, dh = [], []
    for proc, (gen, n_exp) in gens.items():
        n_mc = rng.poisson(n_exp * mc_factor)
        e, hc = gen(n_mc)
        w = np.full(n_mc, 1.0 / mc_factor)
        out["samples"][f"mc_{proc}"] = {
            "cutflow": {"names": ["read"], "raw": [int(n_mc)], "weighted": [float(w.sum())], "sumw2": [float((w**2).sum())]},
            "regions": regions(e, hc, w), "hists": {"ecal_hcal": histo(e, hc, w)}}
        scale = data_dimuon_scale if proc == "dimuon" else 1.0
        e, hc = gen(rng.poisson(n_exp * scale))
        de.append(e)
        dh.append(hc)
    e, hc = np.concatenate(de), np.concatenate(dh)
    w = np.ones(e.size)
    keep = ~((e < ecal_max_gev) & (hc < hcal_zero_gev)) if blinded else np.ones(e.size, bool)
    out["samples"][samples.DATA] = {
        "cutflow": {"names": ["read"], "raw": [int(e.size)], "weighted": [float(e.size)], "sumw2": [float(e.size)]},
        "regions": regions(e[keep], hc[keep], w[keep], with_box=not blinded),
        "hists": {"ecal_hcal": histo(e[keep], hc[keep], w[keep])}}
    return out


# ---------------------------------------------------------------------------------------------
# CLI


def add_arguments(parser: argparse.ArgumentParser) -> None:
    config.add_config_arguments(parser)
    config.add_analysis_arguments(parser, run=False)


def run(args: argparse.Namespace) -> int:
    cfg = config.config_from_args(args)
    analysis = args.analysis
    ccfg = config.section(cfg, "background").get("closure", {}) or {}
    n_toys = int(ccfg.get("n_toys", DEFAULT_TOYS))
    rows: list[dict] = []
    if cfg.get("input", {}).get("source") == "published":
        raise NA64Error("closure needs histograms; input.source is 'published' (no events)")
    for i, r in enumerate(config.runs_of(cfg, analysis)):
        hfile = normalisation.load_histograms(paths.histograms_path(cfg, analysis, r))
        rows += closure_rows(cfg, analysis, r, hfile, n_toys, seed=int(cfg["seed"]) + i)
    base = paths.results_dir(cfg) / "closure" / analysis
    write_tables(rows, f"{base}.csv", f"{base}.md", analysis, tex_path=f"{base}.tex",
                 toys_csv_path=f"{base}_toys.csv")
    plot(rows, paths.plots_dir(cfg) / f"closure_{analysis}", analysis)
    n_pass = sum(r["passed"] for r in rows)
    log.info("closure %s: %d/%d rows pass (|pull| < %g) -> %s.{csv,md}", analysis, n_pass, len(rows), PULL_PASS, base)
    for r in rows:
        if not r["passed"]:
            log.warning("  closure FAILED: %s %s %s", r["run"], r.get("test", r.get("central_as_used")), r.get("reason", ""))
    for r in rows:
        if r.get("kind") == "toys":
            log.info("  %-45s toys %d: pull mean %.2f +- %.2f, width %.2f", f"{r['run']} {r['central_as_used']}",
                     r["n_toys"], r["pull_mean"], r["pull_mean_err"], r["pull_width"])
        else:
            log.info("  %-45s est %.4g +- %.2g +- %.2g  truth %.4g +- %.2g  pull %.2f", f"{r['run']} {r['test']}",
                     r["estimate"], r["stat"], r["syst"], r["truth"], r["truth_unc"], r["pull_with_syst"])
    return 0

