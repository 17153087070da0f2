"""Signal physics: cross sections, shower track lengths and signal sampling for the NA64 searches.

Modules: :mod:`.constants`, :mod:`.formfactors` (photon flux chi), :mod:`.brem` (A'-strahlung),
:mod:`.annihilation` (resonant e+e- -> A'), :mod:`.zprime` (L_mu - L_tau), :mod:`.mesons` (eta, eta'
charge exchange), :mod:`.tracklength` / :mod:`.cascade` (thick-target e+- track lengths),
:mod:`.yields` (yield per particle on target) and :mod:`.sampling` (signal events for the simulation).
"""

from __future__ import annotations

import numpy as np

from .. import NA64Error

INVISIBLE_MODELS = ("dark_photon", "lmu_ltau")


def invisible_branching_ratio(model: str, mass_gev, alpha_d: float = 0.1, m_chi_gev=None, chi_kind: str = "dirac"):
    """Invisible branching ratio of the mediator of ``model`` at ``mass_gev``.

    * ``dark_photon``: BR(A' -> chi chi) with Gamma_ee at eps = 1e-4 (BR ~ 1 for alpha_D >> alpha eps^2);
      ``m_chi_gev`` default m/3 (LDM benchmark m_A' = 3 m_chi) [lit, physics.md §3].
    * ``lmu_ltau``: Gamma(Z' -> nu nu) / (Gamma(nu nu) + Gamma(mu mu)) (g cancels; no dark matter) [lit].
    """
    from . import annihilation, zprime

    m = np.asarray(mass_gev, dtype=float)
    if model.startswith("dark_photon"):
        m_chi = m / 3.0 if m_chi_gev is None else m_chi_gev
        return annihilation.branching_invisible(m, alpha_d, m_chi, chi_kind)
    if model == "lmu_ltau":
        return zprime.branching_invisible(m)
    raise NA64Error(f"invisible_branching_ratio: unknown model '{model}'; known: {', '.join(INVISIBLE_MODELS)}")
