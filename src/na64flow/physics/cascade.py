"""A small one-dimensional electromagnetic cascade in lead (numba), tabulating e+ and e- track lengths.

Physics (all lengths in X0, energies in GeV) [lit unless marked]:
* e+- bremsstrahlung, complete-screening Tsai cross section per X0: dN/dy = (4/3 (1 - y) + y^2)/y,
  y = k/E (PDG Passage of particles, eq. 34.29). Photons with k > ``k_min_gev`` are emitted
  explicitly; the radiative loss to softer photons, (4/3) k_min per X0, is deposited continuously.
* Ionisation: continuous loss of E_c = 7.43 MeV per X0 (Rossi's definition of the critical energy,
  PDG), deposited locally [lit/est: constant dE/dx].
* Pair production gamma -> e+ e-: mean free path 9/7 X0 at high energy times the ratio of the
  asymptotic to the energy-dependent attenuation coefficient of lead (NIST XCOM values, all photon
  interactions treated as pairs) [lit/est]; energy split dN/dx = 1 - 4/3 x (1 - x) (PDG eq. 34.31).
* One dimension: depth = path length along the beam (angles neglected) [est]; positron annihilation in
  flight neglected (its rate is ~1e-3 of the pair rate at these energies) [est].
* Cuts: charged particles below ``e_cut_gev`` and photons below ``k_cut_gev`` deposit their energy
  where they are; anything past the target depth leaks. Energy is conserved exactly:
  E0 = ionisation + soft radiation + cut deposits + leakage (checked by the tests).

Track lengths of e- and e+ are scored per (energy bin, depth bin). Because particles above an
energy E only come from particles above E, a second run with a high tracking cut (``e_split_gev``)
and many more primaries gives the high-energy part of the tables with far less variance; the
:func:`simulate_table` merges the two.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from .. import NA64Error
from .constants import PB_CRITICAL_E_GEV
from .tracklength import TrackLengthTable, default_depth_edges_x0, default_energy_edges_gev

# NIST XCOM total attenuation (no coherent) mu/rho of lead in cm^2/g [lit, NIST XCOM, rounded];
# the asymptotic pair value 7/9 / (X0 rho) = 0.1221 cm^2/g sets the high-energy limit.
_XCOM_E_GEV = np.array([0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 10.0, 1000.0])
_XCOM_MU_CM2_G = np.array([0.0461, 0.0427, 0.0497, 0.0614, 0.0810, 0.0934, 0.1030, 0.1120, 0.1160, 0.1210, 0.1221])


@njit(cache=True)
def _pair_mfp_x0(k, log_e, mu):
    """Photon mean free path in X0 at energy k: (9/7) x mu_inf / mu(k), interpolated in ln k."""
    lk = np.log(k)
    n = log_e.size
    if lk <= log_e[0]:
        m = mu[0]
    elif lk >= log_e[n - 1]:
        m = mu[n - 1]
    else:
        i = np.searchsorted(log_e, lk) - 1
        f = (lk - log_e[i]) / (log_e[i + 1] - log_e[i])
        m = mu[i] + f * (mu[i + 1] - mu[i])
    return 9.0 / 7.0 * mu[n - 1] / m


@njit(cache=True)
def _score(tl, e, t, length, log_e_lo, dlog_e, n_e, d_width, n_d):
    if length <= 0.0 or e <= 0.0:
        return
    ie = int((np.log(e) - log_e_lo) / dlog_e)
    if ie < 0 or ie >= n_e:
        if ie == n_e and e > 0.0:   # exactly E0 after rounding
            ie = n_e - 1
        else:
            return
    idp = int(t / d_width)
    if idp >= n_d:
        idp = n_d - 1
    tl[ie, idp] += length


@njit(cache=True)
def _run(e0, primary, n_primaries, seed, log_e_lo, dlog_e, n_e, depth_max, n_d, ec, k_min, e_cut, k_cut,
         log_xcom_e, xcom_mu, tl_e, tl_p, book):
    """primary: 0 e-, 1 e+. book: [ionisation, soft radiation, cut deposits, leakage, n_particles]."""
    np.random.seed(seed)
    d_width = depth_max / n_d
    cap = 200000
    st_e = np.empty(cap)
    st_t = np.empty(cap)
    st_k = np.empty(cap, dtype=np.int64)   # 0 e-, 1 e+, 2 gamma
    max_step = 0.2
    for _ in range(n_primaries):
        sp = 0
        st_e[0] = e0
        st_t[0] = 0.0
        st_k[0] = primary
        sp = 1
        while sp > 0:
            sp -= 1
            e = st_e[sp]
            t = st_t[sp]
            kind = st_k[sp]
            book[4] += 1.0
            if kind == 2:
                if e < k_cut:
                    book[2] += e
                    continue
                t += np.random.exponential(1.0) * _pair_mfp_x0(e, log_xcom_e, xcom_mu)
                if t >= depth_max:
                    book[3] += e
                    continue
                while True:
                    x = np.random.random()
                    if np.random.random() < 1.0 - 4.0 / 3.0 * x * (1.0 - x):
                        break
                if sp + 2 > cap:
                    book[2] += e   # stack full: deposit (never expected)
                    continue
                st_e[sp] = x * e
                st_t[sp] = t
                st_k[sp] = 0
                st_e[sp + 1] = (1.0 - x) * e
                st_t[sp + 1] = t
                st_k[sp + 1] = 1
                sp += 2
                continue
            tl = tl_e if kind == 0 else tl_p
            # charged: alternate continuous loss and discrete brem
            while True:
                if e < e_cut:
                    book[2] += e
                    break
                if t >= depth_max:
                    book[3] += e
                    break
                if e > k_min:
                    ymin = k_min / e
                    rate = 4.0 / 3.0 * (-np.log(ymin)) - 4.0 / 3.0 * (1.0 - ymin) + 0.5 * (1.0 - ymin * ymin)
                    soft = 4.0 / 3.0 * k_min
                else:
                    ymin = 1.0
                    rate = 0.0
                    soft = 4.0 / 3.0 * e
                s_brem = np.random.exponential(1.0) / rate if rate > 0.0 else 1e30
                step = min(s_brem, max_step, depth_max - t)
                dedx = ec + soft
                if e - dedx * step < e_cut:     # stops within the step
                    step = (e - e_cut) / dedx if e > e_cut else 0.0
                    _score(tl, e - 0.5 * dedx * step, t + 0.5 * step, step, log_e_lo, dlog_e, n_e, d_width, n_d)
                    book[0] += ec * step
                    book[1] += soft * step
                    e -= dedx * step
                    t += step
                    book[2] += e
                    break
                _score(tl, e - 0.5 * dedx * step, t + 0.5 * step, step, log_e_lo, dlog_e, n_e, d_width, n_d)
                book[0] += ec * step
                book[1] += soft * step
                e -= dedx * step
                t += step
                if step == s_brem and rate > 0.0 and e > k_min:
                    ymin = k_min / e
                    while True:   # y ~ 1/y on [ymin, 1], accept (4/3(1-y) + y^2)/(4/3)
                        y = ymin ** np.random.random()
                        if np.random.random() * 4.0 / 3.0 < 4.0 / 3.0 * (1.0 - y) + y * y:
                            break
                    k = y * e
                    e -= k
                    if k < k_cut:
                        book[2] += k
                    elif sp < cap:
                        st_e[sp] = k
                        st_t[sp] = t
                        st_k[sp] = 2
                        sp += 1
                    else:
                        book[2] += k


def simulate(beam: str, e0_gev: float, n_primaries: int, seed: int = 1, *, e_cut_gev: float = 0.001,
             k_cut_gev: float = 0.002, k_min_gev: float = 0.001, energy_edges_gev=None, depth_edges_x0=None):
    """Run ``n_primaries`` showers of a ``beam`` ('e-' or 'e+') of energy ``e0_gev`` in the 40 X0 lead
    target; return (TrackLengthTable per primary, bookkeeping dict per primary in GeV)."""
    edges = default_energy_edges_gev(e0_gev) if energy_edges_gev is None else np.asarray(energy_edges_gev, float)
    dedges = default_depth_edges_x0() if depth_edges_x0 is None else np.asarray(depth_edges_x0, float)
    log_e = np.log(edges)
    dlog = np.diff(log_e)
    if not np.allclose(dlog, dlog[0]) or not np.allclose(np.diff(dedges), dedges[1] - dedges[0]) or dedges[0] != 0:
        raise NA64Error("cascade: energy edges must be log-uniform and depth edges uniform from 0")
    n_e, n_d = len(edges) - 1, len(dedges) - 1
    tl_e = np.zeros((n_e, n_d))
    tl_p = np.zeros((n_e, n_d))
    book = np.zeros(5)
    _run(float(e0_gev), 0 if beam == "e-" else 1, int(n_primaries), int(seed), log_e[0], dlog[0], n_e,
         float(dedges[-1]), n_d, PB_CRITICAL_E_GEV, k_min_gev, e_cut_gev, k_cut_gev,
         np.log(_XCOM_E_GEV), _XCOM_MU_CM2_G, tl_e, tl_p, book)
    n = max(int(n_primaries), 1)
    table = TrackLengthTable(beam=beam, e0_gev=float(e0_gev), energy_edges_gev=edges, depth_edges_x0=dedges,
                             electron_x0=tl_e / n, positron_x0=tl_p / n, n_primaries=int(n_primaries),
                             source=f"cascade e_cut={e_cut_gev:g}", deposited_gev=float(book[:3].sum() / n))
    bookkeeping = {"ionisation_gev": book[0] / n, "soft_radiation_gev": book[1] / n, "cut_deposit_gev": book[2] / n,
                   "leakage_gev": book[3] / n, "particles_per_primary": book[4] / n}
    return table, bookkeeping


def simulate_table(beam: str, e0_gev: float, n_full: int = 200, n_high: int = 20000, e_split_gev: float = 1.0,
                   seed: int = 1, progress: bool = False, **kw) -> TrackLengthTable:
    """The merged table: a full shower (tracking cut 1 MeV, ``n_full`` primaries) below ``e_split_gev``
    and a high-cut run (charged and photon cuts = e_split, ``n_high`` primaries) at and above it,
    split at a bin edge. ``n_full = 0`` gives only the part above e_split (enough for the signal
    yields, whose thresholds are tens of GeV). Runs in chunks so that ``progress`` can show a rich bar."""
    if beam not in ("e-", "e+"):
        raise NA64Error(f"cascade: beam must be 'e-' or 'e+', got {beam!r}")
    edges = default_energy_edges_gev(e0_gev) if kw.get("energy_edges_gev") is None else np.asarray(kw["energy_edges_gev"])
    kw["energy_edges_gev"] = edges
    k_split = int(np.searchsorted(edges, e_split_gev))
    e_split = float(edges[k_split])

    def chunks(total, n_chunks=10):
        sizes = [total // n_chunks + (1 if i < total % n_chunks else 0) for i in range(n_chunks)]
        return [s for s in sizes if s > 0]

    jobs = [("full", s) for s in chunks(n_full)] + [("high", s) for s in chunks(n_high)]
    acc = {"full": [], "high": []}

    def do(i, job):
        kind, size = job
        cut = {} if kind == "full" else {"e_cut_gev": e_split, "k_cut_gev": e_split}
        tab, book = simulate(beam, e0_gev, size, seed=seed * 1000 + i, **cut, **kw)
        acc[kind].append((size, tab, book))

    if progress:
        from rich.progress import track

        for i, job in track(list(enumerate(jobs)), description=f"cascade {beam} {e0_gev:g} GeV"):
            do(i, job)
    else:
        for i, job in enumerate(jobs):
            do(i, job)

    def mean(kind, attr):
        tot = sum(s for s, _, _ in acc[kind])
        return sum(s * getattr(t, attr) for s, t, _ in acc[kind]) / tot

    out = {}
    for attr in ("electron_x0", "positron_x0"):
        high = mean("high", attr) if acc["high"] else None
        full = mean("full", attr) if acc["full"] else np.zeros_like(high)
        merged = full.copy()
        if high is not None:
            merged[k_split:] = high[k_split:]
        out[attr] = merged
    deposited = mean("full", "deposited_gev") if acc["full"] else float("nan")
    first = (acc["full"] or acc["high"])[0][1]
    return TrackLengthTable(beam=beam, e0_gev=float(e0_gev), energy_edges_gev=edges,
                            depth_edges_x0=first.depth_edges_x0, electron_x0=out["electron_x0"],
                            positron_x0=out["positron_x0"], n_primaries=int(n_full + n_high),
                            source=f"cascade n_full={n_full} n_high={n_high} e_split={e_split:.4g}",
                            deposited_gev=float(deposited))
