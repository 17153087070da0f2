"""The statistical model: one single-bin channel per run, and its pyhf specification.

Expected events ``nu_i = mu * s_i * F_s,i(theta) + b_i * F_b,i(theta)`` with normsys modifiers
(pyhf code-1 interpolation, ``F = (1 +- delta)^|theta|``, theta ~ N(0, 1)); see docs/statistics.md.

>>> ch = Channel("na64mu", "2022", background=0.5, background_unc=0.1, signal_syst={"signal_eff_na64mu": 0.1})
>>> ch.name
'na64mu_2022'
>>> spec = pyhf_spec([ch], np.array([10.0]))
>>> [s["name"] for s in spec["channels"][0]["samples"]], spec["observations"][0]["data"]
(['background', 'signal'], [0.5])
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .settings import POI


def channel_name(analysis: str, run: str) -> str:
    """pyhf channel name of one run: ``<analysis>_<run>`` with '-' -> '_' and '.' -> 'p'."""
    return f"{analysis}_{run}".replace("-", "_").replace(".", "p")


@dataclass
class Channel:
    """One run = one single-bin channel: background, its uncertainty, systematics, observation."""

    analysis: str
    run: str
    background: float
    background_unc: float = 0.0
    signal_syst: dict[str, float] = field(default_factory=dict)   # modifier name -> relative 1 sigma
    observed: int | None = None

    @property
    def name(self) -> str:
        return channel_name(self.analysis, self.run)


@dataclass
class LimitProblem:
    """Everything a mass scan needs: channels, masses and signal events at coupling 1 (masses x channels)."""

    analysis: str
    model: str
    channels: list[Channel]
    mass_gev: np.ndarray
    signal_events: np.ndarray
    observed: list[int | None]

    @property
    def unblinded(self) -> bool:
        return all(o is not None for o in self.observed)

    def select(self, index) -> LimitProblem:
        """The same problem at a subset of the masses (index array)."""
        return LimitProblem(self.analysis, self.model, self.channels, self.mass_gev[index],
                            self.signal_events[index], self.observed)


def _normsys(rel: float) -> dict:
    """pyhf normsys data for a symmetric relative uncertainty (lo floored at 1% to stay positive)."""
    return {"hi": 1.0 + rel, "lo": max(1.0 - rel, 0.01)}


def pyhf_spec(channels: list[Channel], signal_events: np.ndarray, background_floor: float = 1e-6,
              observed: list[int] | None = None, poi_max: float = 100.0) -> dict:
    """pyhf workspace: one channel per run, ``signal`` (normfactor mu, normsys) and ``background``.

    ``signal_events[i]`` = expected signal events of channel i at mu = 1. Observations are the given
    counts, else the background expectation (background-only Asimov data; never box counts).
    """
    chans, obs = [], []
    for i, ch in enumerate(channels):
        b = max(ch.background, background_floor)
        rel_b = min(ch.background_unc / b, 0.999) if ch.background > 0 else 0.0
        bmods = [{"name": f"bkg_{ch.name}", "type": "normsys", "data": _normsys(rel_b)}] if rel_b > 0 else []
        samples = [{"name": "background", "data": [b], "modifiers": bmods}]
        if signal_events[i] > 0:
            smods = [{"name": POI, "type": "normfactor", "data": None}]
            smods += [{"name": n, "type": "normsys", "data": _normsys(r)} for n, r in ch.signal_syst.items() if r > 0]
            samples.append({"name": "signal", "data": [float(signal_events[i])], "modifiers": smods})
        chans.append({"name": ch.name, "samples": samples})
        n_obs = b if observed is None or observed[i] is None else float(observed[i])
        obs.append({"name": ch.name, "data": [n_obs]})
    return {"channels": chans, "observations": obs, "version": "1.0.0",
            "measurements": [{"name": "NormalMeasurement", "config": {
                "poi": POI, "parameters": [{"name": POI, "bounds": [[0.0, float(poi_max)]]}]}}]}
