"""Closure tests of the side-band background method where the truth is known (simulation, validation regions).

``na64flow closure -c C --analysis A`` runs, for every run of analysis A with a side-band method
(background.<setup>.sideband):

1. **simulation, replaced process** (e.g. ``mc_upstream_interaction``): the method applied to the
   simulated side band of the process it replaces; truth = the simulated box count (simulation is
   not blinded), truth error sqrt(sum w^2);
2. **simulation, all processes**: the same on the sum of every ``mc_<process>`` sample (the expected
   "data", side band contaminated by the other processes); truth = the replaced processes' box count
   (the other processes are estimated by their own rows of the background table);
3. **toys**: ``background.closure.n_toys`` Poisson draws of the replaced processes' simulation scaled
   to an exposure with >= TOY_MIN_SIDEBAND expected side-band events (data-like integer counts;
   truth = the scaled box expectation, exact), central fit only; reported as the mean and width of
   the pulls (est - truth)/stat -- closure means mean ~ 0 and width ~ 1, a shape bias shows as a
   mean pull away from 0 (the central choice as used: the primary fit, or its transfer factor when
   the fit does not close on simulation);
4. **data validation region**: the box shifted next to itself (electron: thr <= E_ECAL < thr + w,
   E_HCAL < hcal_zero; muon: p_max <= p_out < p_max + w; w = the cut ``validation_ecal_width_gev`` /
   ``validation_p_out_width_gev`` of the analysis, i.e. the ``validation_*`` region of ``process``,
   else background.validation_width_gev), which lies outside the signal box and is unblinded by
   design; truth = the data count there, prediction = the side-band estimate plus every other simulated
   process in the ``validation_ecal`` / ``validation_p_out`` region.

Pull = (estimate - truth) / sqrt(stat^2 + truth_unc^2) (and with the systematic added); a row passes
when |pull with syst| < 2 [est criterion]; the toy row passes when the mean pull is compatible with 0
(|mean| < 3 sigma_mean + 0.2) and the width is in TOY_WIDTH = [0.8, 1.2] (errors neither under- nor
overestimated; the toys fluctuate the simulated sample too, whose statistics the transfer factor's stat
contains). Failed rows are marked in the table ("FAILED"), in the plot (red) and in the log. Writes ``results/<tag>/closure/A.{csv,md}`` and
``results/<tag>/plots/closure_A.{pdf,png}``.

Modules, one concern each: ``rows`` (the closure rows of a run: items 1, 2 and 4, and the toy rows of
item 3 reused from the background record when they were run with the same toy settings), ``tables`` (csv, Markdown,
LaTeX and the plot), ``toyfile`` (``toy_histogram_file``: a small simulation-like histogram file in the
docs/contracts.md format with known truth, used by the tests and for demonstrations) and ``cli``. The toy closure itself is ``na64flow.background.toys``: its verdict decides the background's
central method, so it belongs to (and is frozen with) the background step.
"""

from .cli import DEFAULT_TOYS, add_arguments, run  # noqa: F401
from .rows import PULL_PASS, closure_rows, stored_toy_rows, validation_truth  # noqa: F401
from .tables import COLUMNS, TOY_COLUMNS, plot, write_tables  # noqa: F401
from .toyfile import toy_histogram_file  # noqa: F401
