"""Sample names shared by simulation, processing, signal and background steps.

* ``data``: the data stream (Poisson draw of every process for the run's exposure, after the trigger);
* ``mc_<process>``: weighted simulated sample of one process (events.PROCESSES);
* ``signal_<mode>_m<mass_gev>``: signal sample of one production mode at one mediator mass, e.g.
  ``signal_brem_m0.0167`` (modes: brem, annihilation, zprime, eta, etaprime).
"""

from __future__ import annotations

import re

DATA = "data"
SIGNAL_MODES = ("brem", "annihilation", "zprime", "eta", "etaprime")
_SIGNAL_RE = re.compile(r"^signal_(?P<mode>[a-z]+)_m(?P<mass>[0-9.eE+-]+)$")


def mc_sample(process: str) -> str:
    return f"mc_{process}"


def signal_sample(mode: str, mass_gev: float) -> str:
    if mode not in SIGNAL_MODES:
        raise ValueError(f"unknown signal mode '{mode}'; known: {', '.join(SIGNAL_MODES)}")
    return f"signal_{mode}_m{mass_gev:.6g}"


def parse_signal(sample: str) -> tuple[str, float] | None:
    """``signal_brem_m0.0167`` -> ("brem", 0.0167); None for non-signal samples."""
    m = _SIGNAL_RE.match(sample)
    return (m["mode"], float(m["mass"])) if m else None


def is_data(sample: str) -> bool:
    return sample == DATA
