"""Estimate the expected background in the signal box, source by source (side bands + simulation).

``na64flow background -c C --analysis A --run R`` writes ``results/<tag>/background/A/R.{json,md,tex}``
(docs/contracts.md, docs/background.md). Modules, one concern each:

* ``sideband``: histogram access that cannot touch the data box, and the side-band estimate
  (simulation transfer factor central; NA64-style shape fits with a function/range envelope kept as
  alternatives and as the option ``background.<setup>.sideband.central: fit``);
* ``sources``: simulation-based sources normalised to data, the total, published mode, the statement
  of the rate scale and of the physical / published-exposure equivalent;
* ``tables``: markdown and LaTeX rendering;
* ``cli``: the step (reads histograms and ``normalisation/A/R.json``, writes the three files through
  one JSON writer, ``cli.write_json``).

The coverage study of the whole method is ``na64flow.coverage``.
"""

from .cli import add_arguments, run, write_outputs  # noqa: F401
from .sideband import (  # noqa: F401
    _axis_index,
    bins_inside,
    get_hist,
    hcal_strip,
    interval_sum,
    rebin,
    replaced_simulation,
    sideband_estimate,
    simulation_projection,
    spectrum_above,
    sum_hists,
    values_variances,
)
from .sources import (  # noqa: F401
    DEFAULTS,
    LABELS,
    ZERO_COUNT_68,
    compute,
    decide_central,
    estimate_from_histograms,
    hadron_norm_factor,
    mc_norm_factor,
    mc_source,
    published_background,
    region_count,
    settings,
    total_of,
)
from .tables import latex_table, markdown_table  # noqa: F401
