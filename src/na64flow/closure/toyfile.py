"""A small simulation-like histogram file (docs/contracts.md format) with known truth, used by the tests and
for demonstrations."""

from __future__ import annotations

import hist
import numpy as np

from .. import samples


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
        h = hist.Hist(hist.axis.Regular(150, 0, 150, name="ecal_gev", label="E_ECAL [GeV]"),
                      hist.axis.Regular(400, 0, 100, name="hcal_gev", label="E_HCAL [GeV]"),
                      storage=hist.storage.Weight())
        h.fill(ecal_gev=e, hcal_gev=hc, weight=w)
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

