"""The ``background`` step: read histograms and the normalisation record, estimate, write json/md/tex."""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

from .. import config, paths
from . import sources, tables

log = logging.getLogger("na64flow.background")


def write_json(rec: dict, json_path: Path) -> None:
    """The one JSON writer of the background record (docs/contracts.md)."""
    with paths.atomic_output(Path(json_path)) as fh:
        json.dump(rec, fh, indent=2)


def write_outputs(rec: dict, json_path: Path) -> None:
    json_path = Path(json_path)
    write_json(rec, json_path)
    with paths.atomic_output(json_path.with_suffix(".md")) as fh:
        fh.write(tables.markdown_table(rec))
    with paths.atomic_output(json_path.with_suffix(".tex")) as fh:
        fh.write(tables.latex_table(rec))


def add_arguments(parser: argparse.ArgumentParser) -> None:
    config.add_config_arguments(parser)
    config.add_analysis_arguments(parser)


def run(args: argparse.Namespace) -> int:
    cfg = config.config_from_args(args)
    rec = sources.compute(cfg, args.analysis, args.run)
    out = paths.background_path(cfg, args.analysis, args.run)
    write_outputs(rec, out)
    t = rec["total"]
    log.info("%s %s: total background %.3g +- %.3g (stat) +- %.3g (syst) -> %s", args.analysis, args.run,
             t["estimate"], t["stat"], t["syst"], out)
    for name in rec.get("closure_failed") or []:
        log.warning("%s %s: the central method of source '%s' FAILS closure on simulation", args.analysis,
                    args.run, name)
    return 0
