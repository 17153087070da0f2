"""Sampling helpers shared by the process generators of several setups: the Pb material constants of the
ECAL, the bremsstrahlung photon spectrum and the ordinary e-m shower deposit."""

from __future__ import annotations

import numpy as np

from .detector import Truth

LAMBDA_I_X0 = 17.59 / 0.5612   # Pb nuclear interaction length in X0 (31.3) [lit PDG]
ECAL_DEPTH_X0 = 40.0           # [paper]


def brem_fraction(rng, n, x_min=0.02, x_max=1.0):
    """Photon energy fraction x from the bremsstrahlung spectrum dN/dx ~ (4/3 (1-x) + x^2)/x [lit, Tsai]."""
    out = np.empty(0)
    while len(out) < n:
        m = max(2 * (n - len(out)), 64)
        x = x_min * (x_max / x_min) ** rng.random(m)          # ~ 1/x
        keep = rng.random(m) * 4.0 / 3.0 < (4.0 / 3.0 * (1 - x) + x * x)
        out = np.concatenate([out, x[keep]])
    return out[:n]


def em_deposit(t: Truth, rng, e_gev, start_x0=None):
    """Ordinary e-m shower of energy e_gev in the ECAL; SR of an electron of that energy."""
    t["ecal_em_gev"] = np.asarray(e_gev, float).copy()
    t["em_start_x0"] = rng.exponential(0.3, len(e_gev)) if start_x0 is None else start_x0
