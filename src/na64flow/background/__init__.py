"""Estimate the expected background in the signal box, source by source (side bands + simulation).

``na64flow background -c C --analysis A --run R`` writes ``results/<tag>/background/A/R.{json,md,tex}``
(docs/contracts.md, docs/background.md). Modules, one concern each:

* ``sideband``: histogram access that cannot touch the data box, and the side-band estimate
  (simulation transfer factor central; NA64-style shape fits with a function/range envelope kept as
  alternatives and as the option ``background.<setup>.sideband.central: fit``);
* ``settings``: the ``background`` section over its defaults;
* ``toys``: the toy closure of the central side-band method, and the central method its verdict decides;
* ``sources``: simulation-based sources normalised to data, the total, published mode, the statement
  of the rate scale and of the physical / published-exposure equivalent;
* ``tables``: markdown and LaTeX rendering;
* ``cli``: the step (reads histograms and ``normalisation/A/R.json``, writes the three files through
  one JSON writer, ``cli.write_json``).

The coverage study of the whole method is ``na64flow.coverage``.
"""

from .cli import add_arguments, run, write_outputs  # noqa: F401
from .settings import DEFAULTS, settings  # noqa: F401
from .sideband import (  # noqa: F401
    bins_inside,
    ecal_axis,
    get_hist,
    hcal_strip,
    interval_sum,
    rebin,
    region_count,
    replaced_simulation,
    sideband_estimate,
    simulation_projection,
    spectrum_above,
    sum_hists,
    values_variances,
)
from .sources import (  # noqa: F401
    LABELS,
    ZERO_COUNT_68,
    compute,
    estimate_from_histograms,
    hadron_norm_factor,
    mc_norm_factor,
    mc_source,
    published_background,
    total_of,
)
from .tables import latex_table, markdown_table  # noqa: F401
from .toys import (  # noqa: F401
    MIN_FACTORISATION_P,
    STORED_TOY_KEYS,
    TOY_MIN_SIDEBAND,
    TOY_WIDTH,
    central_of,
    decide_central,
    toy_closure,
    toy_seed,
    toy_settings_hash,
    with_central,
)
