"""Differential track lengths of electrons and positrons in the lead target, binned in energy and depth.

A :class:`TrackLengthTable` holds, per beam particle, the track length (in X0) that e- and e+ spend
in each (energy bin, depth bin) cell of the ECAL: T(E, t) dE dt. Yields are then sums
N/OT = n_atoms X0 sum_k T_k sigma(E_k) (physics.md §3), and signal sampling draws (E, depth) cells
with probability proportional to T sigma.

Two sources:
* :func:`tsai_primary_table`: the primary lepton alone, from Tsai's thick-target spectrum
  I_e(E0, E, t) dE = [ln(E0/E)]^(bt-1) / (E0 Gamma(bt)) dE, b = 4/3 [lit, Tsai Rev. Mod. Phys. 46 (1974)
  815, physics.md §3]. With u = ln(E0/E), u ~ Gamma(bt, 1) exactly, so a bin's track length is
  int dt [P(u_hi; bt) - P(u_lo; bt)] with P the regularised incomplete gamma function (scipy).
* :mod:`.cascade`: a Monte Carlo shower (primary + secondaries), saved with :meth:`save` / :func:`load`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy import special

from .. import NA64Error
from .constants import ECAL_DEPTH_X0, TSAI_B

TABLE_VERSION = 1


@dataclass
class TrackLengthTable:
    """Track lengths in X0 per beam particle, arrays of shape (n_energy_bins, n_depth_bins)."""

    beam: str
    e0_gev: float
    energy_edges_gev: np.ndarray
    depth_edges_x0: np.ndarray
    electron_x0: np.ndarray
    positron_x0: np.ndarray
    n_primaries: int = 0
    source: str = "tsai"
    deposited_gev: float = float("nan")   # mean energy deposited per primary (cascade only)

    @property
    def energy_centers_gev(self) -> np.ndarray:
        """Geometric bin centres (the bins are log spaced)."""
        e = self.energy_edges_gev
        return np.sqrt(e[:-1] * e[1:])

    def per_energy(self, particle: str) -> np.ndarray:
        """Track length per energy bin (X0), summed over depth; particle 'e-' or 'e+'."""
        return self.array(particle).sum(axis=1)

    def differential(self, particle: str) -> np.ndarray:
        """dT/dE in X0/GeV at the bin centres."""
        return self.per_energy(particle) / np.diff(self.energy_edges_gev)

    def array(self, particle: str) -> np.ndarray:
        if particle in ("e-", "electron"):
            return self.electron_x0
        if particle in ("e+", "positron"):
            return self.positron_x0
        raise NA64Error(f"track-length table: unknown particle '{particle}' (use 'e-' or 'e+')")

    def save(self, path: str | Path) -> None:
        """Write the table to ``path`` (.npz) atomically."""
        from ..paths import atomic_output

        with atomic_output(path, mode="wb") as fh:
            np.savez(fh, version=TABLE_VERSION, beam=self.beam, e0_gev=self.e0_gev,
                     energy_edges_gev=self.energy_edges_gev, depth_edges_x0=self.depth_edges_x0,
                     electron_x0=self.electron_x0, positron_x0=self.positron_x0,
                     n_primaries=self.n_primaries, source=self.source, deposited_gev=self.deposited_gev)


def load(path: str | Path) -> TrackLengthTable:
    """Read a table written by :meth:`TrackLengthTable.save`; NA64Error naming the file if invalid."""
    path = Path(path)
    if not path.is_file():
        raise NA64Error(f"{path}: track-length table not found (made by `na64flow tracklengths`)")
    try:
        with np.load(path, allow_pickle=False) as z:
            if int(z["version"]) != TABLE_VERSION:
                raise NA64Error(f"{path}: track-length table version {int(z['version'])}, expected {TABLE_VERSION}")
            return TrackLengthTable(beam=str(z["beam"]), e0_gev=float(z["e0_gev"]),
                                    energy_edges_gev=z["energy_edges_gev"], depth_edges_x0=z["depth_edges_x0"],
                                    electron_x0=z["electron_x0"], positron_x0=z["positron_x0"],
                                    n_primaries=int(z["n_primaries"]), source=str(z["source"]),
                                    deposited_gev=float(z["deposited_gev"]))
    except (KeyError, ValueError, OSError) as exc:
        raise NA64Error(f"{path}: not a valid track-length table: {exc}") from exc


def default_energy_edges_gev(e0_gev: float, e_min_gev: float = 0.001, n_bins: int = 1000) -> np.ndarray:
    """Log-spaced energy bin edges from ``e_min_gev`` to E0 (1000 bins: 1.2% wide, about the beam momentum
    spread, so the delta-like primary near E0 is not smeared further) [est]."""
    return np.geomspace(e_min_gev, e0_gev, n_bins + 1)


def default_depth_edges_x0(depth_x0: float = ECAL_DEPTH_X0, n_bins: int = 80) -> np.ndarray:
    return np.linspace(0.0, depth_x0, n_bins + 1)


def tsai_primary_table(beam: str, e0_gev: float, energy_edges_gev=None, depth_edges_x0=None,
                       n_sub: int = 64) -> TrackLengthTable:
    """Track length of the primary e-/e+ from Tsai's I_e (module docstring), per (E, depth) cell.

    Each depth bin is integrated with ``n_sub`` Gauss-Legendre nodes in t (in sqrt(t) for the first
    bin, where the spectrum is delta-like at E0). The primary is put in the e- or e+ array by ``beam``.
    """
    edges = default_energy_edges_gev(e0_gev) if energy_edges_gev is None else np.asarray(energy_edges_gev)
    dedges = default_depth_edges_x0() if depth_edges_x0 is None else np.asarray(depth_edges_x0)
    u_edges = np.log(e0_gev / edges)[::-1]          # increasing u; u=0 at E0
    gx, gw = np.polynomial.legendre.leggauss(n_sub)
    out = np.zeros((len(edges) - 1, len(dedges) - 1))
    for j, (t0, t1) in enumerate(zip(dedges[:-1], dedges[1:])):
        if t0 == 0.0:   # s = sqrt(t): dt = 2 s ds
            s = 0.5 * np.sqrt(t1) * (gx + 1.0)
            t, w = s * s, 0.5 * np.sqrt(t1) * gw * 2 * s
        else:
            t, w = 0.5 * (t1 - t0) * gx + 0.5 * (t1 + t0), 0.5 * (t1 - t0) * gw
        cdf = special.gammainc(TSAI_B * t[:, None], u_edges[None, :])   # (n_sub, n_edges)
        per_bin = np.diff(cdf, axis=1)                                     # in increasing u
        out[:, j] = (w[:, None] * per_bin).sum(axis=0)[::-1]               # back to increasing E
    zeros = np.zeros_like(out)
    e_arr, p_arr = (out, zeros) if beam in ("e-", "mu-", "mu+", "pi-") else (zeros, out)
    return TrackLengthTable(beam=beam, e0_gev=float(e0_gev), energy_edges_gev=edges, depth_edges_x0=dedges,
                            electron_x0=e_arr, positron_x0=p_arr, source="tsai")
