"""The public pyhf workspace per mass, from an already-built limit problem (used by `publish`).

The signal is scaled to :data:`REF_SIGNAL_EVENTS` in total at mu = 1, i.e. coupling_ref^2 =
REF_SIGNAL_EVENTS / S(m) (``_coupling_ref``; for Br models the reference Br). Observations are the
problem's published/unblinded counts, else background-only Asimov data.

>>> from na64flow.stats.model import Channel, LimitProblem
>>> p = LimitProblem("a", "dark_photon", [Channel("a", "r", 0.5, 0.1)], np.array([0.01]), np.array([[40.0]]), [None])
>>> ws = build_workspace(p, 0)
>>> ws["channels"][0]["samples"][1]["data"], ws["_coupling_ref"]
([10.0], 0.5)
"""

from __future__ import annotations

import math

import numpy as np

from .. import NA64Error, registry
from .model import LimitProblem, pyhf_spec

# signal events at coupling_ref in each patch (choice of POI normalisation only; no physics) [est]
REF_SIGNAL_EVENTS = 10.0


def build_workspace(problem: LimitProblem, index: int, background_floor: float = 1e-6) -> dict:
    """Full pyhf workspace at ``problem.mass_gev[index]`` (channels, observations, POI mu)."""
    s = problem.signal_events[index]
    ref2 = REF_SIGNAL_EVENTS / s.sum()
    obs = problem.observed if problem.unblinded else None
    spec = pyhf_spec(problem.channels, s * ref2, background_floor, obs)
    br = registry.parse_model(problem.model)[0].poi == "br"
    spec["_coupling_ref"] = float(ref2 if br else math.sqrt(ref2))
    return spec


def mass_index(problem: LimitProblem, mass_gev: float) -> int:
    """Index of ``mass_gev`` among the problem's masses; NA64Error if there is no signal there."""
    i = int(np.argmin(np.abs(problem.mass_gev - mass_gev)))
    if not math.isclose(problem.mass_gev[i], mass_gev, rel_tol=1e-5):
        raise NA64Error(f"{problem.analysis}/{problem.model}: no signal at m = {mass_gev:g} GeV "
                        f"(masses {problem.mass_gev[0]:g}..{problem.mass_gev[-1]:g})")
    return i
