"""Statistical models and 90% CL CLs upper limits for the NA64 single-bin ("multibin") searches.

One concern per module, after pyhf's layout (docs/statistics.md has the full description):

* :mod:`.settings` -- the ``stats`` configuration section and its defaults;
* :mod:`.model` -- channels (one single-bin channel per run), the limit problem, the pyhf spec;
* :mod:`.oracles` -- closed-form CLs of one Poisson bin (what the calculators are tested against);
* :mod:`.toys` -- the hybrid-toy CLs calculator (the reference; numba kernel);
* :mod:`.asymptotic` -- the pyhf q~_mu cross-check (pyhf's asymptotic calculator and toms748 scan);
* :mod:`.inputs` -- the problem of (analysis, model) from the signal/background/normalisation files;
* :mod:`.scan` -- mass scans (one solve per distinct signal shape) and the conversion to couplings;
* :mod:`.workspace` -- the public workspace per mass from a built problem (`publish`).

File formats are those of na64flow.contracts; the lists of analyses and models are na64flow.registry's.

>>> from na64flow import stats
>>> round(stats.zero_observed_limit_events(0.9), 3)
2.303
"""

from .asymptotic import asymptotic_limit_events
from .inputs import build_problem, observed_of, signal_tables_of
from .model import Channel, LimitProblem, channel_name, pyhf_spec
from .oracles import counting_cls, counting_limit_events, zero_observed_limit_events
from .scan import (
    compute_limits,
    initial_signal_range,
    scan_limits,
    seed_of,
    solve,
    subsample,
    to_coupling_limits,
)
from .settings import BAND_COLUMNS, DEFAULTS, LIMIT_COLUMNS, NORMAL_PERCENTILES, POI, settings
from .toys import ToyCLs, ToyRangeError, toy_limit_events
from .workspace import REF_SIGNAL_EVENTS, build_workspace, mass_index

__all__ = [
    "BAND_COLUMNS", "DEFAULTS", "LIMIT_COLUMNS", "NORMAL_PERCENTILES", "POI", "REF_SIGNAL_EVENTS", "Channel",
    "LimitProblem", "ToyCLs", "ToyRangeError", "asymptotic_limit_events", "build_problem", "channel_name", "signal_tables_of",
    "compute_limits", "counting_cls", "counting_limit_events", "initial_signal_range", "mass_index",
    "observed_of", "pyhf_spec", "scan_limits", "seed_of", "settings", "solve", "subsample",
    "to_coupling_limits", "toy_limit_events", "build_workspace", "zero_observed_limit_events",
]
