"""The `publish` step: pyhf likelihoods, the HEPData submission and the comparison with published limits.

`na64flow publish -c C` writes, under results/<tag>/,

* ``likelihoods/<analysis>/{BkgOnly,patchset}.json`` (:mod:`.likelihoods`);
* ``hepdata/`` and ``hepdata.tar.gz``, validated (:mod:`.hepdata`, conventions in its docstring);
* ``published_comparison.md`` when the configuration lists published limits (:mod:`.comparison`).

Inputs are read by :mod:`.inputs` (one reader per file format). ``--observed``: the observed HEPData
from the products of `na64flow unblind`, read from and written to results/<tag>/unblinded/
(``paths.observed_view``; no likelihoods); published configurations always show their public observed
numbers. ``--hepdata-dir`` writes the submission elsewhere.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from .. import paths
from ..config import add_config_arguments, config_from_args
from .comparison import comparison_with_published, write_comparison
from .hepdata import (
    background_table,
    cutflow_table,
    hepdata_submission,
    limit_table,
    validate_hepdata,
    write_hepdata,
)
from .inputs import analyses_of, background_of, channels_of, read_cutflow, read_limits
from .likelihoods import (
    likelihood_archive,
    likelihoods,
    save_likelihoods,
    split_workspace,
    workspaces,
    write_likelihoods,
)

__all__ = ["analyses_of", "background_of", "background_table", "channels_of",
           "comparison_with_published", "cutflow_table", "hepdata_submission", "likelihood_archive", "likelihoods",
           "limit_table", "read_cutflow", "read_limits", "save_likelihoods", "split_workspace", "validate_hepdata", "workspaces",
           "write_comparison", "write_hepdata", "write_likelihoods"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_config_arguments(parser)
    parser.add_argument("--no-likelihoods", action="store_true", help="only write the HEPData submission")
    parser.add_argument("--no-hepdata", action="store_true", help="only write the pyhf likelihoods")
    parser.add_argument("--hepdata-dir", default=None, help="HEPData output folder (default results/<tag>/hepdata)")
    parser.add_argument("--observed", action="store_true",
                        help="the observed HEPData from the products of `na64flow unblind` (results/<tag>/unblinded/; "
                             "no likelihoods)")


def run(args: argparse.Namespace) -> int:
    cfg = config_from_args(args)
    observed = bool(getattr(args, "observed", False))
    if observed:   # read and write under results/<tag>/unblinded/ (paths.observed_view)
        cfg, args.no_likelihoods = paths.observed_view(cfg), True
    comparison = write_comparison(cfg)
    if comparison is not None:
        print(comparison.read_text())
    if not args.no_likelihoods:
        written = write_likelihoods(cfg)
        print(f"likelihoods: {', '.join(written) or 'none (no signal tables)'}")
    if not args.no_hepdata:
        out = Path(args.hepdata_dir) if getattr(args, "hepdata_dir", None) else paths.hepdata_dir(cfg)
        n = write_hepdata(cfg, out, observed=True if observed else None, validate=True)
        if out.exists():
            print(f"hepdata: {out} valid ({n['limits']} limit, {n['cutflows']} cut-flow, "
                  f"{n['background']} background tables)")
    return 0
