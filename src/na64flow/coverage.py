"""Coverage study of the whole background method on independent seeds of the signal-free simulation.

``na64flow coverage -c C [--analysis A] [--seeds N]`` writes ``results/<tag>/coverage/summary.{json,md}``
and ``coverage/seeds.csv``. For every seed and every (analysis, run):

1. the run is re-simulated **in process** from the rate model of ``simulation.generator`` (built once
   per run; the pilot-derived rates are fixed, only the seed changes): the data stream (every process,
   trigger-conditioned, plus the calibration stream) *and* every simulated ``mc_<process>`` sample, so
   the simulation statistics that the estimate uses (transfer factors, box counts, normalisations) are
   fluctuated like the data;
2. the events are processed with the analysis processor (``NA64Processor.fill``: the same cuts,
   regions, histograms and blinding as ``na64flow process``; no files, no coffea runner) and the
   background step's estimator (``background.estimate_from_histograms``, the dimuon normalisation
   from the same histograms, as the ``normalisation`` step) predicts the box count b +- sigma from the
   blinded histograms;
3. the truth is read from the simulation: the observed box count n of the *same* seed's data stream
   (every cut passed, inside the box; split by the truth branch ``true_process``), and the expected
   box count mu = the mean over seeds of the simulated samples' box sum of weights (an unbiased estimate
   of the data stream's expectation, independent of the data; its error is reported).

Metrics per run and per analysis (runs summed: b and n added, sigma in quadrature):

* bias = mean over seeds of (b - mu), relative to the rms quoted total uncertainty sigma (target
  |bias| < 0.2); pull width = standard deviation of (b - mu) / sigma (target 0.8-1.2); the mean of the
  per-seed pulls and the stat-only versions are reported too. Systematics are part of the ensemble: per
  seed the true rate of every non-bulk process is multiplied by f_p ~ Gamma(mean 1, sd = its
  ``mc_norm_syst``) in the data stream (Latin-hypercube strata over the seeds), so a quoted
  normalisation systematic is tested against a true-rate spread of that size;
* p-value of the observed count given the prediction: N ~ Poisson(lambda), lambda ~ Gamma with mean b
  and standard deviation sigma (the estimate's uncertainty folded in: N is negative-binomial), randomised
  for discreteness, p = P(N > n) + U P(N = n) with U ~ U(0, 1) (exactly uniform when the prediction is
  right [lit: e.g. Brockwell, "Universal residuals", 2007]); Kolmogorov-Smirnov test of the p-values
  against U(0, 1) (target KS p > 0.05).

Cost (docs/background.md): per seed and run, generation and processing of the data stream and MC
samples plus the background fits; nothing is written to disk per seed.
"""

from __future__ import annotations

import argparse
import csv
import json
import logging
import time

import numpy as np
from scipy import stats

from . import background, config, events, paths, processing
from .selection import evaluate
from .simulation import generator, run_model

log = logging.getLogger(__name__)

DEFAULTS = {"n_seeds": 100, "seed_offset": 1_000_003, "draw_systematics": True, "fits": False,
            "targets": {"bias": 0.2, "width": [0.8, 1.2], "ks_p": 0.05}}
CODE_TO_PROCESS = {v: k for k, v in events.PROCESSES.items()}
KS_MIN_NONZERO = 0.1   # [est] KS of the p-values counted only if >= 10% of the seeds have a non-empty box


def settings(cfg: dict) -> dict:
    out = dict(DEFAULTS)
    out.update(config.section(cfg, "background").get("coverage") or {})
    return out


class RunSimulator:
    """One (analysis, run): the rate model built once, then histogram files for any seed, in memory."""

    def __init__(self, cfg: dict, analysis: str, run: str, draw_systematics: bool = True):
        self.cfg, self.analysis, self.run = cfg, analysis, str(run)
        self.model = run_model.build_model(cfg, analysis, run)
        self.draw_systematics = bool(draw_systematics)
        self.norm_syst = background.settings(cfg)["mc_norm_syst"]
        self.cuts = config.cuts_for(cfg, analysis, run)
        self.proc = processing.analysis_module(analysis).Processor(self.cuts, blind=True)

    def _sample(self, name: str, cols: dict, weight) -> tuple[dict, np.ndarray]:
        steps = evaluate(self.proc.analysis, cols, self.cuts)
        acc = self.proc.fill(name, cols, weight, steps)
        return processing.finalise(self.proc, name, acc, True), steps.in_box()

    def stratify(self, seeds: list[int]) -> None:
        """Latin-hypercube quantiles of the true-rate factors over ``seeds`` (one stratum per seed and
        process, randomly permuted): the N draws of each f_p then have the stated spread up to 1/N
        (plain draws of 60 seeds scatter their sd by +-9%, as large as the width target)."""
        rng = run_model.rng_for(seeds[0], "coverage-strata", self.analysis, self.run)
        n = len(seeds)
        self._quantiles = {}
        for name in self.model.rates:
            u = (rng.permutation(n) + rng.random(n)) / n
            self._quantiles[name] = dict(zip(seeds, u))

    def rate_factors(self, seed: int) -> dict[str, float]:
        """True-rate factors f_p of this seed: Gamma(mean 1, sd = mc_norm_syst of p) for every non-bulk process.

        The systematic the method quotes for a simulation-normalised source says the true rate may differ
        from the simulated one by that much; the study draws it (data stream only, the simulated samples
        stay nominal). Where the method measures a normalisation in data (side-band transfer factor,
        dimuon k, hadron content) the estimate follows f_p; elsewhere the quoted systematic must cover it.
        Quantiles from ``stratify`` when it was called, else independent draws.
        """
        rng = run_model.rng_for(seed, "coverage-rates", self.analysis, self.run)
        quant = getattr(self, "_quantiles", {})
        out = {}
        for name, r in self.model.rates.items():
            sd = float(self.norm_syst.get(name, self.norm_syst["default"]))
            u = quant.get(name, {}).get(seed, rng.random())
            out[name] = (float(stats.gamma.ppf(u, 1 / sd**2, scale=sd**2))
                         if (self.draw_systematics and not r.bulk and sd > 0) else 1.0)
        return out

    def histograms(self, seed: int) -> tuple[dict, dict[str, int], dict[str, float]]:
        """(blinded histogram file, observed data box count per true process, true-rate factors) of one seed."""
        self.model.seed = int(seed)
        factors = self.rate_factors(seed)
        nominal = {k: r.scale for k, r in self.model.rates.items()}
        try:
            for k, r in self.model.rates.items():
                r.scale = nominal[k] * factors[k]
            counts = generator.data_counts(self.model)
            cols = generator.data_chunk(self.model, counts, 0, 1)
        finally:
            for k, r in self.model.rates.items():
                r.scale = nominal[k]
        samples = {}
        samples["data"], in_box = self._sample("data", cols, None)
        codes, n = np.unique(cols["true_process"][in_box], return_counts=True)
        truth = {CODE_TO_PROCESS.get(int(c), str(c)): int(k) for c, k in zip(codes, n)}
        for name in self.model.rates:
            mc = generator.mc_chunk(self.model, name, 0, 1)
            samples[f"mc_{name}"], _ = self._sample(f"mc_{name}", mc, mc["weight"])
        hfile = {"schema_version": 1, "analysis": self.analysis, "run": self.run, "blinded": True,
                 "n_ot": self.model.n_ot, "box": self.proc.analysis.box.describe(self.cuts), "samples": samples}
        return hfile, truth, factors


def seed_row(cfg: dict, sim: RunSimulator, seed: int) -> dict:
    """Prediction and truth of one seed of one run."""
    hfile, truth, factors = sim.histograms(seed)
    rec = background.estimate_from_histograms(cfg, sim.analysis, sim.run, hfile)
    mc_box = {s[3:]: float(v["regions"]["box"]["weighted"]) for s, v in hfile["samples"].items()
              if s.startswith("mc_")}
    t = rec["total"]
    return {"analysis": sim.analysis, "run": sim.run, "seed": int(seed), "estimate": t["estimate"],
            "stat": t["stat"], "syst": t["syst"], "uncertainty": t["uncertainty"],
            "observed": int(sum(truth.values())), "mc_expected": float(sum(mc_box.values())),
            "observed_by_process": truth, "mc_box_by_process": mc_box, "rate_factors": factors,
            "sources": {s["name"]: s["estimate"] for s in rec["sources"]}}


def pvalue_randomised(n_obs: np.ndarray, b: np.ndarray, sigma: np.ndarray, rng) -> np.ndarray:
    """p = P(N > n) + U P(N = n), N ~ Poisson(lambda), lambda ~ Gamma(mean b, sd sigma) (negative binomial)."""
    n_obs, b, sigma = (np.asarray(x, float) for x in (n_obs, b, sigma))
    u = rng.random(n_obs.shape)
    p_gt = np.zeros_like(b)
    p_eq = (n_obs == 0).astype(float)             # b <= 0: N = 0
    pois = (b > 0) & (sigma <= 1e-9 * b)
    p_gt[pois], p_eq[pois] = stats.poisson.sf(n_obs[pois], b[pois]), stats.poisson.pmf(n_obs[pois], b[pois])
    nb = (b > 0) & ~pois
    k, theta = (b[nb] / sigma[nb]) ** 2, sigma[nb] ** 2 / b[nb]
    p_gt[nb], p_eq[nb] = stats.nbinom.sf(n_obs[nb], k, 1 / (1 + theta)), stats.nbinom.pmf(n_obs[nb], k, 1 / (1 + theta))
    return p_gt + u * p_eq


def set_expected(rows: list[dict]) -> None:
    """Expected box count of each seed's data stream: sum_p f_p x mean over the seeds of the nominal
    simulated box count of p (decorrelated from the seed's own simulated samples, which the estimate uses)."""
    procs = sorted({p for r in rows for p in r["mc_box_by_process"]})
    mean = {p: float(np.mean([r["mc_box_by_process"].get(p, 0.0) for r in rows])) for p in procs}
    err2 = {p: float(np.var([r["mc_box_by_process"].get(p, 0.0) for r in rows], ddof=1) / len(rows))
            if len(rows) > 1 else 0.0 for p in procs}
    for r in rows:
        r["mc_expected"] = sum(r["rate_factors"].get(p, 1.0) * mean[p] for p in procs)
        r["mc_expected_err"] = float(np.sqrt(sum(err2.values())))


def summarise(rows: list[dict], targets: dict, seed: int = 0) -> dict:
    """Bias, pull width and KS p of one group of seed rows (one run or one analysis summed over runs)."""
    b = np.array([r["estimate"] for r in rows])
    sig = np.array([r["uncertainty"] for r in rows])
    stat = np.array([r["stat"] for r in rows])
    n = np.array([r["observed"] for r in rows])
    mu_i = np.array([r["mc_expected"] for r in rows])
    mu = float(mu_i.mean())
    mu_err = float(np.mean([r.get("mc_expected_err", 0.0) for r in rows]))
    with np.errstate(divide="ignore", invalid="ignore"):
        pull = np.where(sig > 0, (b - mu_i) / sig, np.nan)
        pull_stat = np.where(stat > 0, (b - mu_i) / stat, np.nan)
    ok = np.isfinite(pull)
    p = pvalue_randomised(n, b, sig, np.random.default_rng(seed))
    ks = stats.kstest(p, "uniform")
    # bias: mean of (estimate - truth) relative to the quoted uncertainty (rms over seeds). The mean of the
    # per-seed pulls is reported too: it is biased low by ~ -sigma/b for an unbiased estimate whose sigma
    # grows with it (low fluctuations get small errors), so it is not the bias criterion.
    rms_sig = float(np.sqrt(np.mean(sig[ok] ** 2))) if ok.any() else float("nan")
    bias = float(np.mean((b - mu_i)[ok]) / rms_sig) if ok.any() else float("nan")
    width = float(np.std(pull[ok], ddof=1)) if ok.sum() > 1 else float("nan")
    okst = np.isfinite(pull_stat)
    lo, hi = targets["width"]
    # the KS test of the p-values tests something only where the box is sometimes populated: with N = 0 in
    # (almost) every seed the randomised p is U x P(N = 0) + P(N > 0) ~ U, uniform whatever the prediction
    nonzero = float(np.mean(n > 0))
    ks_informative = bool(nonzero >= KS_MIN_NONZERO)
    passed = {"bias": bool(abs(bias) < targets["bias"]), "width": bool(lo <= width <= hi),
              "ks": bool(ks.pvalue > targets["ks_p"]) if ks_informative else None}
    return {"n_seeds": len(rows), "mean_estimate": float(b.mean()), "mean_uncertainty": float(sig.mean()),
            "expected_truth": mu, "expected_truth_err": mu_err, "mean_observed": float(n.mean()),
            "bias": bias, "bias_err": float(np.std((b - mu_i)[ok], ddof=1) / rms_sig / np.sqrt(ok.sum()))
            if ok.sum() > 1 else float("nan"),
            "mean_pull": float(np.mean(pull[ok])) if ok.any() else float("nan"),
            "pull_width": width,
            "bias_stat_only": float(np.mean(pull_stat[okst])) if okst.any() else float("nan"),
            "pull_width_stat_only": float(np.std(pull_stat[okst], ddof=1)) if okst.sum() > 1 else float("nan"),
            "ks_pvalue": float(ks.pvalue), "pvalue_histogram": np.histogram(p, 10, (0, 1))[0].tolist(),
            "nonzero_truth_fraction": nonzero, "ks_informative": ks_informative,
            "bias_err_with_truth": float(np.hypot(
                np.std((b - mu_i)[ok], ddof=1) / np.sqrt(ok.sum()) if ok.sum() > 1 else 0.0, mu_err) / rms_sig)
            if ok.any() else float("nan"),
            "passed": passed, "all_passed": all(v for v in passed.values() if v is not None)}


def combine_runs(rows: list[dict]) -> list[dict]:
    """Per seed, the sum over the runs of one analysis (b, n, mu added; uncertainties in quadrature)."""
    by_seed: dict[int, list[dict]] = {}
    for r in rows:
        by_seed.setdefault(r["seed"], []).append(r)
    out = []
    for s, rs in sorted(by_seed.items()):
        out.append({"seed": s, "estimate": sum(r["estimate"] for r in rs),
                    "stat": float(np.sqrt(sum(r["stat"] ** 2 for r in rs))),
                    "uncertainty": float(np.sqrt(sum(r["uncertainty"] ** 2 for r in rs))),
                    "observed": sum(r["observed"] for r in rs), "mc_expected": sum(r["mc_expected"] for r in rs),
                    "mc_expected_err": float(np.sqrt(sum(r["mc_expected_err"] ** 2 for r in rs)))})
    return out


def study(cfg: dict, pairs: list[tuple[str, str]], n_seeds: int) -> tuple[list[dict], dict]:
    """Run the study over (analysis, run) pairs; returns (seed rows, summary)."""
    cset = settings(cfg)
    base = int(cfg["seed"]) + int(cset["seed_offset"])
    rows: list[dict] = []
    timing: dict[str, float] = {}
    if not cset["fits"]:   # central value and uncertainty do not use the shape fits (tests/test_coverage.py)
        cfg = dict(cfg, background=dict(config.section(cfg, "background"), fit_models=[]))
    # the toy-closure verdict of the background step (which method is central) is not re-run per seed (cost:
    # n_toys side-band estimates per seed); the study tests the configured central method, whose verdict on
    # the default histograms is in closure/<analysis>.md and in every background record (inputs.central_decision)
    bsec = config.section(cfg, "background")
    cfg = dict(cfg, background=dict(bsec, closure=dict(bsec.get("closure") or {}, verdict=False)))
    for analysis, run in pairs:
        t0 = time.process_time()
        sim = RunSimulator(cfg, analysis, run, cset["draw_systematics"])
        seeds = [base + i for i in range(n_seeds)]
        sim.stratify(seeds)
        t1 = time.process_time()
        for seed in seeds:
            rows.append(seed_row(cfg, sim, seed))
        timing[f"{analysis}:{run}"] = {"model_cpu_s": t1 - t0, "seeds_cpu_s": time.process_time() - t1}
        log.info("coverage %s %s: %d seeds, %.1f s CPU", analysis, run, n_seeds, time.process_time() - t0)
    summary = {"n_seeds": n_seeds, "seeds": [base, base + n_seeds - 1], "targets": cset["targets"],
               "timing": timing, "runs": {}, "analyses": {}}
    for analysis, run in pairs:
        rs = [r for r in rows if r["analysis"] == analysis and r["run"] == run]
        set_expected(rs)
        summary["runs"][f"{analysis}:{run}"] = summarise(rs, cset["targets"], seed=base)
    for analysis in dict.fromkeys(a for a, _ in pairs):
        rs = combine_runs([r for r in rows if r["analysis"] == analysis])
        summary["analyses"][analysis] = summarise(rs, cset["targets"], seed=base + 1)
    summary["all_passed"] = all(v["all_passed"] for v in summary["analyses"].values())
    return rows, summary


def markdown(summary: dict) -> str:
    t = summary["targets"]
    lines = ["# Coverage of the background method (signal-free simulation, independent seeds)", "",
             f"{summary['n_seeds']} seeds ({summary['seeds'][0]}..{summary['seeds'][1]}); targets |bias| < "
             f"{t['bias']}, pull width {t['width'][0]}-{t['width'][1]}, KS p > {t['ks_p']}. "
             "bias: mean(estimate - expected truth) / rms(quoted total uncertainty); mean pull, width: mean and sd "
             "of (estimate - expected truth) / quoted uncertainty per seed; p: randomised p-value of the "
             "observed box count given the prediction (Poisson x Gamma(estimate, uncertainty)).", "",
             f"KS p is counted only where at least {KS_MIN_NONZERO:.0%} of the seeds have a non-empty box (else "
             "'n/a': with an always-empty box the p-values are uniform whatever the prediction, and only bias and "
             "width test the method). bias ± (with the error of the expected truth, itself a mean of weighted "
             "simulated box counts).", "",
             "| group | mean estimate | mean unc. | expected truth | mean observed | seeds with box > 0 | bias | "
             "mean pull | width | mean pull (stat) | width (stat) | KS p | p histogram (10 bins) | passed |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for kind in ("analyses", "runs"):
        for name, s in summary[kind].items():
            lines.append(f"| {name} | {s['mean_estimate']:.3g} | {s['mean_uncertainty']:.3g} | "
                         f"{s['expected_truth']:.3g} ± {s['expected_truth_err']:.2g} | {s['mean_observed']:.3g} | "
                         f"{s['nonzero_truth_fraction']:.0%} | "
                         f"{s['bias']:+.2f} ± {s['bias_err_with_truth']:.2f} | {s['mean_pull']:+.2f} | {s['pull_width']:.2f} | "
                         f"{s['bias_stat_only']:+.2f} | {s['pull_width_stat_only']:.2f} | "
                         + (f"{s['ks_pvalue']:.3f}" if s["ks_informative"] else f"n/a ({s['ks_pvalue']:.2f}: box empty "
                            f"in {1 - s['nonzero_truth_fraction']:.0%} of seeds)")
                         + f" | {s['pvalue_histogram']} | "
                         f"{'yes' if s['all_passed'] else 'NO ' + str([k for k, v in s['passed'].items() if v is False])}"
                         + (" (bias, width; KS n/a)" if s["all_passed"] and s["passed"]["ks"] is None else "") + " |")
    lines += ["", "CPU time (process time, s): " + ", ".join(
        f"{k} model {v['model_cpu_s']:.1f} + seeds {v['seeds_cpu_s']:.1f}" for k, v in summary["timing"].items())]
    return "\n".join(lines) + "\n"


def write_outputs(rows: list[dict], summary: dict, out_dir) -> None:
    out_dir = paths.Path(out_dir) if hasattr(paths, "Path") else out_dir
    from pathlib import Path

    out_dir = Path(out_dir)
    with paths.atomic_output(out_dir / "summary.json") as fh:
        json.dump(summary, fh, indent=2)
    with paths.atomic_output(out_dir / "summary.md") as fh:
        fh.write(markdown(summary))
    cols = ["analysis", "run", "seed", "estimate", "stat", "syst", "uncertainty", "observed", "mc_expected"]
    with paths.atomic_output(out_dir / "seeds.csv") as fh:
        w = csv.DictWriter(fh, fieldnames=cols + ["observed_by_process"], extrasaction="ignore")
        w.writeheader()
        for r in rows:
            w.writerow({**{k: r[k] for k in cols}, "observed_by_process": json.dumps(r["observed_by_process"])})


def add_arguments(parser: argparse.ArgumentParser) -> None:
    config.add_config_arguments(parser)
    parser.add_argument("--analysis", action="append", help="analysis to study (repeatable; default: all)")
    parser.add_argument("--seeds", type=int, help="number of seeds (default background.coverage.n_seeds)")


def run(args: argparse.Namespace) -> int:
    cfg = config.config_from_args(args)
    analyses = args.analysis or list(cfg["analyses"])
    pairs = [(a, r) for a in analyses for r in config.runs_of(cfg, a)]
    n = int(args.seeds or settings(cfg)["n_seeds"])
    rows, summary = study(cfg, pairs, n)
    out = paths.results_dir(cfg) / "coverage"
    write_outputs(rows, summary, out)
    log.info("coverage: %s -> %s", "all analyses pass" if summary["all_passed"] else "TARGETS MISSED", out)
    return 0
