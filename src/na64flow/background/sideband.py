"""Side-band extrapolation into the signal box, with histogram access that cannot touch the data box.

electron/positron (NA64e, NA64e+): "lost neutrals (gamma, n, K0) from upstream interactions" [paper,
physics.md §1]. The data (E_ECAL, E_HCAL) histogram ``ecal_hcal`` is projected on E_HCAL in the strip
E_ECAL < E_ECAL,max (the ``sb_hcal`` side band: HCAL cut inverted) for E_HCAL >= hcal_zero only, and
extrapolated into E_HCAL < hcal_zero, which *is* the box. muon (NA64mu): the data ``p_out`` spectrum above
the cut is extrapolated below it. The box bins of the data histograms are never read: the arrays are
sliced to the side band before any use (box bins straddling an edge are excluded with the box).

Candidates (``fits.extrapolate``): the simulation transfer factor per fit range (central, docs/background.md
"coverage") and the NA64-style shape fits (4 shapes x the fit ranges), each also applied to the simulated
sample of the replaced process (closure on simulation).
"""

from __future__ import annotations

import numpy as np

from .. import NA64Error, fits, samples

# ---------------------------------------------------------------------------------------------
# histogram access that cannot touch the box


ECAL_AXIS = "ecal_gev"   # the E_ECAL axis of the (E_ECAL, E_HCAL) plane, named after its event column


def ecal_axis(h) -> int:
    """Index of the E_ECAL axis of a 2D (E_ECAL, E_HCAL) histogram: the axis named ``ecal_gev``."""
    names = [ax.name for ax in h.axes]
    if ECAL_AXIS not in names:
        raise NA64Error(f"histogram '{h.name or 'ecal_hcal'}': no axis named '{ECAL_AXIS}' (axes: {names})")
    return names.index(ECAL_AXIS)


def bins_inside(edges, lo: float, hi: float) -> slice:
    """Index range of the bins lying fully inside [lo, hi] (edges within 1e-9). Not ``hist.loc``, which
    picks the bin *containing* a value: a bin straddling lo or hi must stay out."""
    inside = np.flatnonzero((edges[:-1] >= lo - 1e-9) & (edges[1:] <= hi + 1e-9))
    return slice(int(inside[0]), int(inside[-1]) + 1) if len(inside) else slice(0, 0)


def values_variances(h):
    """(values, variances) of a histogram without flow bins; variances = values for unweighted storage."""
    values = np.asarray(h.values(), float)
    variances = h.variances()
    return values, (values if variances is None else np.asarray(variances, float))


def hcal_strip(h, ecal_range_gev: tuple[float, float], hcal_min_gev: float):
    """E_HCAL spectrum of the strip ecal_range (bins fully inside) for E_HCAL >= hcal_min_gev only.

    Returns (edges, values, variances) of the HCAL bins from the first bin edge >= hcal_min_gev upward.
    Bins below hcal_min_gev (the box for the signal strip) are sliced away before anything is read.
    """
    ie = ecal_axis(h)
    ih = 1 - ie
    h_edges = h.axes[ih].edges
    lo, hi = ecal_range_gev
    e_bins = bins_inside(h.axes[ie].edges, lo, hi)
    h_start = int(np.searchsorted(h_edges, hcal_min_gev - 1e-9))
    if e_bins.stop <= e_bins.start or h_start >= len(h_edges) - 1:
        raise NA64Error(f"histogram '{h.name or 'ecal_hcal'}': no bins for E_ECAL in [{lo}, {hi}] GeV and "
                        f"E_HCAL >= {hcal_min_gev} GeV")
    # side band only: box bins are sliced away (explicit bounds: no flow bin enters the sum)
    strip = h[{ie: slice(e_bins.start, e_bins.stop, sum), ih: slice(h_start, len(h_edges) - 1)}]
    values, variances = values_variances(strip)
    return h_edges[h_start:], values, variances


def spectrum_above(h, x_min_gev: float):
    """1D spectrum (edges, values, variances) restricted to bins with lower edge >= x_min_gev."""
    edges = h.axes[0].edges
    start = int(np.searchsorted(edges, x_min_gev - 1e-9))
    values, variances = values_variances(h[start:len(edges) - 1])
    return edges[start:], values, variances


def rebin(edges, values, variances, factor: int):
    """Merge ``factor`` adjacent bins (dropping an incomplete last group)."""
    factor = max(int(factor), 1)
    n = (len(values) // factor) * factor
    if n == 0:
        return edges, values, variances
    return (edges[: n + 1: factor], values[:n].reshape(-1, factor).sum(1),
            variances[:n].reshape(-1, factor).sum(1))


def get_hist(hfile: dict, sample: str, name: str):
    smp = hfile["samples"].get(sample)
    if smp is None:
        raise NA64Error(f"histogram file ({hfile.get('analysis')}/{hfile.get('run')}): no sample '{sample}'")
    hists = smp.get("hists", {})
    if name not in hists:
        raise NA64Error(f"histogram file ({hfile.get('analysis')}/{hfile.get('run')}), sample '{sample}': no "
                        f"histogram '{name}'; found: {', '.join(hists)}")
    return hists[name]


def sum_hists(hfile: dict, sample_names: list[str], name: str):
    """Sum of histogram ``name`` over several (simulated) samples."""
    out = None
    for s in sample_names:
        h = get_hist(hfile, s, name)
        out = h.copy() if out is None else out + h
    return out


# ---------------------------------------------------------------------------------------------
# estimators


def simulation_projection(h_mc, setup: str, ecal_range_gev=None):
    """Full 1D projection (edges, values, variances) of a *simulated* histogram, box included.

    Only for ``mc_*`` samples (not blinded): the E_HCAL projection of the E_ECAL strip (electron,
    hadron) or the p_out spectrum (muon). Used for simulation transfer factors and closure truth.
    """
    if setup == "muon":
        vals, var = values_variances(h_mc)
        return h_mc.axes[0].edges, vals, var
    ie = ecal_axis(h_mc)
    e_bins = bins_inside(h_mc.axes[ie].edges, *ecal_range_gev)
    vals, var = values_variances(h_mc[{ie: slice(e_bins.start, e_bins.stop, sum)}])
    return h_mc.axes[1 - ie].edges, vals, var


def factorised_projection(h_mc, ecal_range_gev):
    """E_HCAL projection of a *simulated* (E_ECAL, E_HCAL) histogram with the E_ECAL dependence of the
    importance weights divided out: column c (one E_ECAL bin of the strip) enters with the factor
    a_c = sum w / sum w^2 of the column (the inverse of its effective mean weight), values sum_c a_c T_c,
    variances sum_c a_c^2 V_c.

    Why: the weighted upstream-interaction sample draws E_ECAL flat while the true density falls by
    e^(-17.5 u) (u the lost ECAL fraction), so the weights of the strip's columns differ by orders of
    magnitude and the box sum is carried by the 1-3 events nearest the E_ECAL edge (effective number
    ~2 in the 2023 box, docs/background.md "Coverage"): sum w and its sqrt(sum w^2) then scatter far more
    than sqrt(sum w^2) says. The transfer factor needs only the E_HCAL *shape* (box / side band), which
    the method assumes independent of E_ECAL within the strip (the factorisation the side-band
    extrapolation rests on; checked by ``column_homogeneity``): with the column weights divided out every
    simulated event counts about equally and the ratio rests on all box events of the sample.
    """
    ie = ecal_axis(h_mc)
    e_bins = bins_inside(h_mc.axes[ie].edges, *ecal_range_gev)
    # contiguous copies: numpy sums a contiguous row pairwise, a strided view of the storage in order (1 ulp)
    vals, var = (np.ascontiguousarray(a) for a in values_variances(h_mc[{ie: e_bins}]))
    if ie == 1:
        vals, var = vals.T, var.T                 # rows: E_ECAL columns
    col_w, col_w2 = vals.sum(axis=1), var.sum(axis=1)
    a = np.where(col_w2 > 0, col_w / np.where(col_w2 > 0, col_w2, 1.0), 0.0)
    return h_mc.axes[1 - ie].edges, (a[:, None] * vals).sum(0), (a[:, None] ** 2 * var).sum(0), (vals, var)


def column_homogeneity(cols, edges, box: tuple[float, float], sb: tuple[float, float], n_groups: int = 5) -> float:
    """p-value of "the box / side-band ratio of the simulated E_HCAL spectrum is the same in every E_ECAL
    slice" (the factorisation ``factorised_projection`` assumes): the strip's columns merged into
    ``n_groups`` slices of equal effective size, chi2 of the slice ratios around their weighted mean."""
    vals, var = cols
    sel_b = (edges[:-1] >= box[0] - 1e-9) & (edges[1:] <= box[1] + 1e-9)
    sel_s = (edges[:-1] >= sb[0] - 1e-9) & (edges[1:] <= sb[1] + 1e-9)
    n_eff = np.where(var.sum(1) > 0, vals.sum(1) ** 2 / np.where(var.sum(1) > 0, var.sum(1), 1.0), 0.0)
    cum = np.cumsum(n_eff) / max(n_eff.sum(), 1e-300)
    group = np.minimum((cum * n_groups).astype(int), n_groups - 1)
    r, r_var = [], []
    for g in range(n_groups):
        m = group == g
        tb, vb = vals[m][:, sel_b].sum(), var[m][:, sel_b].sum()
        ts, vs = vals[m][:, sel_s].sum(), var[m][:, sel_s].sum()
        if ts > 0 and tb > 0:
            r.append(tb / ts)
            r_var.append((tb / ts) ** 2 * (vb / tb**2 + vs / ts**2))
    if len(r) < 2:
        return float("nan")
    r, w = np.array(r), 1.0 / np.array(r_var)
    mean = float(np.sum(w * r) / np.sum(w))
    from scipy import stats

    return float(stats.chi2.sf(float(np.sum(w * (r - mean) ** 2)), len(r) - 1))


def interval_sum(edges, values, variances, a: float, b: float) -> tuple[float, float]:
    """Sum of the bins lying entirely inside [a, b] and of their variances."""
    sel = (edges[:-1] >= a - 1e-9) & (edges[1:] <= b + 1e-9)
    return float(np.sum(values[sel])), float(np.sum(variances[sel]))


def sideband_estimate(h, setup: str, cuts, bcfg: dict, *, shift_gev: float | None = None,
                      h_mc=None) -> tuple[fits.Extrapolation, dict]:
    """Side-band extrapolation into the box (or, with ``shift_gev``, into a validation pseudo-box).

    electron/hadron: E_HCAL strip E_ECAL in [0, thr) (pseudo-box: [thr, thr + shift)), fit E_HCAL >=
    hcal_zero, extrapolate to [0, hcal_zero). muon: fit p_out >= p_max (pseudo-box: >= p_max + shift),
    extrapolate into [p_lo, p_max) (pseudo-box: [p_max, p_max + shift)). With ``h_mc`` (the simulated
    histogram of the process the method replaces) the simulation transfer-factor candidates are added
    (``fits.transfer_candidate``); the primary range's one is central (``sideband.central: transfer``,
    default) or replaces the primary fit when that is not usable (``central: fit``, the NA64 option).
    ``bcfg["fit_models"]`` empty: no shape fit (the central value and uncertainty of ``central:
    transfer`` with ``syst: transfer_ranges`` do not depend on the fits; the coverage study uses this).
    """
    sb = bcfg[setup]["sideband"]
    models = list(bcfg["fit_models"])
    primary = tuple(sb.get("primary") or ((models or ["exponential"])[0], 0))
    common = dict(models=models, primary=primary, min_pvalue=float(bcfg["min_fit_pvalue"]),
                  offset_gev=float(bcfg["power_law_offset_gev"]), min_events=float(bcfg["min_fit_events"]))
    ecal_range = None
    if setup in ("electron", "hadron"):
        thr = float(cuts.ecal_max_gev)
        hz = float(cuts.hcal_zero_gev)
        ecal_range = (0.0, thr) if shift_gev is None else (thr, thr + shift_gev)
        edges, vals, var = hcal_strip(h, ecal_range, hz)
        target = (float(h.axes[1 - ecal_axis(h)].edges[0]), hz)
        ranges = [tuple(r) for r in sb["fit_ranges_gev"]]
        inputs = {"histogram": sb["histogram"], "projection": "E_HCAL", "ecal_range_gev": list(ecal_range),
                  "fit_variable_min_gev": hz}
    elif setup == "muon":
        p_max = float(cuts.p_out_max_gev)
        lo_fit = p_max if shift_gev is None else p_max + shift_gev
        edges, vals, var = spectrum_above(h, lo_fit)
        target = (float(h.axes[0].edges[0]), p_max) if shift_gev is None else (p_max, p_max + shift_gev)
        d = lo_fit - p_max
        ranges = [(r[0] + d, r[1] + d) for r in sb["fit_ranges_gev"]]
        inputs = {"histogram": sb["histogram"], "projection": "p_out", "fit_variable_min_gev": lo_fit}
    else:
        raise NA64Error(f"no side-band method for setup '{setup}'")
    edges, vals, var = rebin(edges, vals, var, sb.get("rebin", 1))
    transfer = simulation = None
    if h_mc is not None:
        m_edges, m_vals, m_var = simulation_projection(h_mc, setup, ecal_range)
        t_num, t_num_var = interval_sum(m_edges, m_vals, m_var, *target)
        # the transfer factor's shape: column-reweighted E_HCAL projection (``factorised_projection``)
        f_edges, f_vals, f_var = m_edges, m_vals, m_var
        if setup in ("electron", "hadron") and sb.get("transfer_weighting", "columns") == "columns":
            f_edges, f_vals, f_var, cols = factorised_projection(h_mc, ecal_range)
            inputs["transfer_weighting"] = "E_ECAL columns reweighted to equal effective weight (factorised)"
            p_fact = column_homogeneity(cols, f_edges, target, ranges[primary[1]])
            inputs["factorisation_pvalue"] = p_fact if np.isfinite(p_fact) else None
        f_num, f_num_var = interval_sum(f_edges, f_vals, f_var, *target)
        # the same fits on the simulated side band (same bins as the data fit) for the closure check
        start = int(np.searchsorted(m_edges, edges[0] - 1e-9))
        s_edges, s_vals, s_var = rebin(m_edges[start:], m_vals[start:], m_var[start:], sb.get("rebin", 1))
        simulation = (s_edges, s_vals, s_var, t_num, float(np.sqrt(t_num_var)))
        transfer = []
        used: dict[tuple, tuple[float, float]] = {}   # fit range -> (data side-band count, transfer factor)
        max_pull = float(bcfg["max_closure_pull"])
        for rng in ranges:
            t_den, t_den_var = interval_sum(f_edges, f_vals, f_var, *rng)
            n_sb, n_sb_var = interval_sum(edges, vals, var, *rng)
            # the side band's own variance: n_sb for data (unit weights), sum w^2 for simulated pseudo-data
            cand = fits.transfer_candidate(n_sb, f_num, f_num_var, t_den, t_den_var, rng, n_sb_var)
            if t_den > 0:
                used[tuple(rng)] = (n_sb, f_num / t_den)
            # closure on simulation: the same method on the simulated side band against the simulated
            # target count. Not an identity: the factor's shape is the column-reweighted projection
            # (factorisation assumed), the truth the plain one; it also checks the method's own
            # arithmetic. Estimate and truth share events, so the pull (errors added as independent)
            # is conservative; the independent test is the toy closure (closure.py).
            s_sb, s_sb_var = interval_sum(s_edges, s_vals, s_var, *rng)
            sim = fits.transfer_candidate(s_sb, f_num, f_num_var, t_den, t_den_var, rng, s_sb_var)
            den = float(np.hypot(sim.stat, np.sqrt(t_num_var)))
            if sim.valid and np.isfinite(sim.estimate) and den > 0:
                cand.closure_pull = (sim.estimate - t_num) / den
                cand.closes = bool(abs(cand.closure_pull) <= max_pull)
            transfer.append(cand)
    central = sb.get("central", "transfer")
    syst_from = sb.get("syst", "transfer_ranges")
    ex = fits.extrapolate(edges, vals, var, target=target, fit_ranges=ranges, transfer=transfer,
                          simulation=simulation, max_closure_pull=float(bcfg["max_closure_pull"]),
                          central=central, syst_from=syst_from,
                          min_significance=float(bcfg.get("syst_min_significance", 2.0)), **common)
    inputs["central_policy"] = central
    inputs["syst_definition"] = ("Barlow-net spread of the transfer factors of the other fit ranges, counted when "
                                 f"> {float(bcfg.get('syst_min_significance', 2.0)):g} sigma of their statistical difference"
                                 if syst_from == "transfer_ranges" else
                                 f"envelope of {len(ex.candidates)} model x range choices (NA64 style)")
    # the whole strip, and the count and factor the central value is made of (n_sideband x transfer_factor)
    inputs["n_sideband_strip"] = float(vals.sum())
    if transfer is not None and ex.central.model == "mc_transfer" and tuple(ex.central.fit_range) in used:
        n_sb, factor = used[tuple(ex.central.fit_range)]
        inputs.update(n_sideband=n_sb, transfer_factor=float(factor),
                      sideband_range_gev=list(ex.central.fit_range))
    else:
        n_sb = interval_sum(edges, vals, var, *ex.central.fit_range)[0]
        inputs.update(n_sideband=n_sb, transfer_factor=None, sideband_range_gev=list(ex.central.fit_range))
    inputs.update(target_gev=list(target), fit_ranges_gev=[list(r) for r in ranges], models=list(models),
                  primary=list(primary), candidates=[c.as_dict() for c in ex.candidates])
    return ex, inputs


def replaced_simulation(hfile: dict, sb: dict):
    """Sum of the side-band histogram over the simulated samples the side-band method replaces (or None)."""
    names = [samples.mc_sample(p) for p in sb.get("replaces", []) if samples.mc_sample(p) in hfile["samples"]]
    names = [n for n in names if sb["histogram"] in hfile["samples"][n].get("hists", {})]
    return sum_hists(hfile, names, sb["histogram"]) if names else None


def region_count(hfile: dict, sample: str, region: str) -> dict | None:
    regions = hfile["samples"].get(sample, {}).get("regions", {})
    return regions.get(region)
