"""Toy closure of the central side-band method, and the central method it decides.

``toy_closure``: data-like toys of the replaced processes' simulation, pulls of the estimate against the exact
truth, the verdict and its reason (docs/background.md "Closure"). ``decide_central``: the configured method
is refused when its toys fail and the other one tested. The background step decides with it; the closure
step (``na64flow.closure``) shows the same rows, read back from the background record."""

from __future__ import annotations

import hist
import numpy as np
from rich.progress import track

from .. import config, samples
from .settings import settings
from .sideband import (
    column_homogeneity,
    ecal_axis,
    factorised_projection,
    interval_sum,
    region_count,
    sideband_estimate,
    simulation_projection,
    sum_hists,
)

TOY_WIDTH = (0.8, 1.2)    # [est] toy pull width: errors neither under- nor overestimated (far from 1 fails)
MIN_FACTORISATION_P = 0.01   # [est] the factorised transfer factor needs a factorising simulated shape
TOY_MIN_SIDEBAND = 400.0   # [est] expected side-band events of the toys (asymptotic regime for the pulls)


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
    column-reweighted E_HCAL shape, ``sideband.factorised_projection``), with variances =
    value x the simulated sample's weight per event there (the bin's sum w^2 / sum w, else the column's),
    so that ``_mc_like`` draws a sample of the simulation's size and weights around it. Without this the
    toys would take one importance-sampled sample, whose E_HCAL shape per column is the noise of a few
    heavy events, as the truth."""
    out = h.copy()
    ie = ecal_axis(h)
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


def toy_settings_hash(cfg: dict, analysis: str, run: str) -> str:
    """sha256 of what the toys of a run depend on besides its histograms, number of toys and seed: the
    background settings but their ``closure`` section (the closure step asks for its own toy count) and
    the run's cuts. The closure step reuses a record's toy rows only when it agrees."""
    bcfg = {k: v for k, v in settings(cfg).items() if k != "closure"}
    return config.stable_hash({"background": bcfg, "cuts": vars(config.cuts_for(cfg, analysis, run))})


def toy_seed(cfg: dict, analysis: str, run: str) -> int:
    """The toy seed of a run: the master seed plus the run's index among the analysis's runs (the background
    and closure steps both use it, so the closure step can show the background's toy rows)."""
    runs = [str(r) for r in config.runs_of(cfg, analysis)]
    return int(cfg["seed"]) + (runs.index(str(run)) if str(run) in runs else 0)


def toy_closure(cfg: dict, analysis: str, run: str, hfile: dict, n_toys: int, seed: int,
                central: str | None = None) -> dict:
    """Toy closure of the central side-band method (``central``: "transfer" or "fit"; default the configured
    ``sideband.central``): data-like Poisson draws of the replaced processes' simulation scaled to an
    exposure with >= TOY_MIN_SIDEBAND expected side-band events in the primary range, and a redraw of the
    simulated sample (``_mc_like``: the quoted stat of a transfer factor contains its simulation
    statistics); truth = the scaled box expectation (exact). Returns the toy row (kind "toys"): pull mean,
    its error, pull width, the verdict and its reason. Used by the closure step *and* by the background
    step, which refuses a central method whose toy verdict fails (``decide_central`` below)."""
    bcfg = settings(cfg)
    setup = config.analysis_config(cfg, analysis)["setup"]
    cuts = config.cuts_for(cfg, analysis, run)
    sb = bcfg[setup]["sideband"]
    name = sb["histogram"]
    replaced = [samples.mc_sample(p) for p in sb.get("replaces", []) if samples.mc_sample(p) in hfile["samples"]]
    central = central or sb.get("central", "transfer")
    boxes = [region_count(hfile, s, "box") for s in replaced]
    truth = sum(float(b["weighted"]) for b in boxes if b)
    h_rep = sum_hists(hfile, replaced, name)
    p_model, p_index = (sb.get("primary") or [bcfg["fit_models"][0], 0])
    p_range = sb["fit_ranges_gev"][p_index]
    factorised = setup != "muon" and sb.get("transfer_weighting", "columns") == "columns"
    p_fact = float("nan")
    if factorised:
        # the toy world satisfies the factorisation the transfer factor assumes; whether the simulation does
        # is tested on the simulated sample itself (column_homogeneity) and is part of the verdict
        strip = (0.0, float(cuts.ecal_max_gev))
        f_edges, _, _, f_cols = factorised_projection(h_rep, strip)
        p_fact = column_homogeneity(f_cols, f_edges, (float(f_edges[0]), float(cuts.hcal_zero_gev)),
                                    tuple(p_range))
        h_rep = _factorised_truth(h_rep, strip)
        t_edges, t_vals, t_var = simulation_projection(h_rep, setup, strip)
        truth, _ = interval_sum(t_edges, t_vals, t_var, float(t_edges[0]), float(cuts.hcal_zero_gev))
    # the central choice as used: the transfer factor needs no fit (fit_models empty: fast)
    primary_cfg = dict(bcfg, fit_models=[] if central == "transfer" else [p_model])
    primary_cfg[setup] = {"sideband": dict(sb, fit_ranges_gev=[p_range], primary=[p_model, 0], central=central)}
    m_edges, m_vals, m_var = simulation_projection(
        h_rep, setup, (0.0, float(cuts.ecal_max_gev)) if setup != "muon" else None)
    n_sb, _ = interval_sum(m_edges, m_vals, m_var, *p_range)
    factor = max(1.0, TOY_MIN_SIDEBAND / n_sb) if n_sb > 0 else float("nan")
    rng = np.random.default_rng(seed)
    pulls, centrals = [], []
    if np.isfinite(factor):
        h_exp = h_rep * factor
        for _ in track(range(n_toys), description=f"closure toys {analysis} {run} ({central})", transient=True):
            ex, _ = sideband_estimate(_poisson_like(h_exp, rng), setup, cuts, primary_cfg,
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
            "central_as_used": f"{used} {list(p_range)}", "n_toys": int(pulls.size), "n_toys_requested": int(n_toys),
            "seed": int(seed), "settings_hash": toy_settings_hash(cfg, analysis, run), "exposure_factor": factor,
            "pull_mean": mean, "pull_mean_err": err_mean, "pull_width": width, "pull_width_err": err_w,
            "width_min": TOY_WIDTH[0], "width_max": TOY_WIDTH[1],
            "factorisation_pvalue": p_fact if np.isfinite(p_fact) else None,
            "toy_truth": "factorised expectation of the simulation" if factorised else "the simulated sample",
            "passed": not reasons, "reason": "; ".join(reasons)}


def decide_central(cfg: dict, analysis: str, run: str, hfile: dict, seed: int | None = None) -> tuple[dict, list[dict], str]:
    """The central side-band method of this run, decided by its toy closure (a method that fails closure
    cannot be the central estimate, issue 11 item 4).

    The configured ``sideband.central`` is tested with ``toy_closure`` (``background.closure.n_toys``
    toys; ``closure.verdict: false`` or ``n_toys: 0`` skip the test, said in the record). Failing, it is
    refused and the other method ("transfer" <-> "fit") is tested; the first that passes becomes central.
    If none passes the configured one is kept and the source is marked CLOSURE FAILED. Returns (the
    background settings with the decided central, the toy rows, a sentence saying what was decided and why).
    The background record keeps the rows (``inputs.toy_closure``); the closure step shows them, or calls this
    function itself when they were run with other toy settings, so its toy table is the verdict used.
    """
    bcfg = settings(cfg)
    setup = config.analysis_config(cfg, analysis)["setup"]
    sb = (bcfg.get(setup) or {}).get("sideband")
    configured = sb.get("central", "transfer")
    ccfg = bcfg.get("closure") or {}
    n_toys = int(ccfg.get("n_toys", 50))
    replaced = [samples.mc_sample(p) for p in sb.get("replaces", []) if samples.mc_sample(p) in hfile["samples"]]
    if not ccfg.get("verdict", True) or n_toys <= 0 or not replaced:
        return bcfg, [], f"central '{configured}' as configured (toy closure not run: verdict off, no toys or no simulation)"
    if seed is None:   # the closure step's seed of this run: both steps show the same verdict
        seed = toy_seed(cfg, analysis, run)
    rows = [toy_closure(cfg, analysis, run, hfile, n_toys, seed, central=configured)]
    if not rows[0]["passed"]:
        alt = "fit" if configured == "transfer" else "transfer"
        rows.append(toy_closure(cfg, analysis, run, hfile, n_toys, seed, central=alt))
    chosen = central_of(rows)
    note = f"central '{configured}' as configured: toy closure passes"
    if len(rows) > 1 and chosen != configured:
        note = (f"configured central '{configured}' REFUSED: its toy closure fails ({rows[0]['reason']}); "
                f"replaced by '{chosen}' (toy closure passes)")
    elif len(rows) > 1:
        note = (f"CLOSURE FAILED: no method passes the toy closure ('{configured}': {rows[0]['reason']}; "
                f"'{rows[1]['method']}': {rows[1]['reason']}); '{configured}' kept")
    return with_central(bcfg, setup, chosen), rows, note


def central_of(toy_rows: list[dict]) -> str:
    """The central method decided by the toy rows of ``decide_central`` (the configured method first, the
    alternative second when the first fails): the first that passes, else the configured one."""
    return next((r["method"] for r in toy_rows if r["passed"]), toy_rows[0]["method"])


def with_central(bcfg: dict, setup: str, central: str) -> dict:
    """The background settings with the side-band method ``central`` of ``setup``."""
    out = dict(bcfg)
    out[setup] = dict(bcfg[setup], sideband=dict(bcfg[setup]["sideband"], central=central))
    return out


# toy-row keys the background record keeps in ``inputs.toy_closure``: the whole toy row but what the record
# says already (analysis, run), so the closure step shows the rows the verdict used without rerunning them
STORED_TOY_KEYS = ("method", "central_as_used", "n_toys", "n_toys_requested", "seed", "settings_hash", "exposure_factor",
                   "pull_mean", "pull_mean_err", "pull_width", "pull_width_err", "width_min", "width_max",
                   "factorisation_pvalue", "toy_truth", "passed", "reason")
