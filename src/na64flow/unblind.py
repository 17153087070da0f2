"""Unblind: read the observed box counts, fill the observed limits and write an audit record.

`na64flow unblind -c C --set unblind=true` (Snakemake: `--config unblind=true`) runs only when
(1) the configuration asks for it (top-level `unblind: true`) and (2) the analysis hash recomputed
now equals the one in results/<tag>/freeze.json (`na64flow freeze`). Otherwise it stops with a
message saying what is missing or what changed, and writes nothing.

When allowed it takes the data events in the box of every run from
`na64flow.processing.box_events(cfg, analysis, run)` (published configurations: the public
`runs.<run>.published.observed`), computes the observed limits of every frozen limit table with
the same statistics as the expected ones, and then writes
results/<tag>/unblinded/<analysis>/<run>.json (observed counts), the `obs` column of
results/<tag>/limits/*/*.csv (expected columns untouched), and the audit record
results/<tag>/audit/unblind-<UTC time>.json (who, when, hash, counts), copied to
results/<tag>/unblinded/audit.json.
"""

from __future__ import annotations

import argparse
import datetime as dt
import getpass
import json
import logging
import math
import socket
import sys

from . import NA64Error, __version__, contracts, paths
from .blinding import analysis_state, differences, limit_files, read_freeze, state_hash, unblinded_dir
from .config import add_config_arguments, config_from_args, runs_of
from .stats import compute_limits

log = logging.getLogger(__name__)


def check_allowed(cfg: dict) -> dict:
    """The freeze record if unblinding is allowed; NA64Error saying why not otherwise (nothing written)."""
    if not cfg.get("unblind", False):
        raise NA64Error(f"{cfg.get('_path', 'config')}: unblinding not requested (unblind: false); "
                        "ask explicitly with --set unblind=true (Snakemake: --config unblind=true). Nothing written.")
    frozen = read_freeze(cfg)
    current = analysis_state(cfg)
    if state_hash(current) != frozen["hash"]:
        diff = differences(frozen["state"], current)
        listing = "\n  ".join(diff) if diff else "(hash differs)"
        raise NA64Error(f"{paths.freeze_path(cfg)}: the analysis changed since the freeze of "
                        f"{frozen.get('created_utc')}; refusing to unblind, nothing written. Differences:\n  {listing}\n"
                        "Revert the change, or re-run the blinded chain and `na64flow freeze` before unblinding.")
    return frozen


def observed_counts(cfg: dict) -> dict[tuple[str, str], int]:
    """Observed events in the box of every run: published counts, or len(processing.box_events(...))."""
    counts = {}
    if cfg["input"]["source"] == "published":
        for a in cfg["analyses"]:
            for r in runs_of(cfg, a):
                pub = cfg["analyses"][a]["runs"][r].get("published") or {}
                if pub.get("observed") is None:
                    raise NA64Error(f"{cfg.get('_path')}: analyses.{a}.runs.{r}.published.observed missing "
                                    "(a projection has no observation to unblind)")
                counts[(a, r)] = int(pub["observed"])
        return counts
    from . import processing  # coffea: imported only when box events are read

    for a in cfg["analyses"]:
        for r in runs_of(cfg, a):
            events = processing.box_events(cfg, a, r)
            lengths = {len(v) for v in events.values()}
            if len(lengths) > 1:
                raise NA64Error(f"processing.box_events({a}, {r}): columns of different lengths {sorted(lengths)}")
            counts[(a, r)] = lengths.pop() if lengths else 0
    return counts


def observed_limit_tables(cfg: dict, counts: dict) -> dict:
    """{limit file: (header, rows)} with `obs` filled; expected columns kept from the frozen tables."""
    out = {}
    for name, path in limit_files(cfg).items():
        analysis, model = name.split("/")[0], name.split("/")[1][:-4]
        _, _, header, rows = compute_limits(cfg, analysis, model, observed=counts)
        old = contracts.read_limits(path).records()
        if len(old) != len(rows):
            raise NA64Error(f"{path}: {len(old)} rows but {len(rows)} masses now; re-run `na64flow limits` and freeze")
        i_obs = header.index("obs")
        merged = []
        for o, new in zip(old, rows):
            row = [o[h] for h in header]
            key_new, key_old = new[0], row[0]
            if not isinstance(key_new, str) and not math.isclose(float(key_old), float(key_new), rel_tol=1e-4):
                raise NA64Error(f"{path}: mass {key_old} does not match {key_new}; re-run limits and freeze")
            row[i_obs] = new[i_obs]
            merged.append(row)
        out[name] = (path, header, merged)
    return out


def unblind(cfg: dict) -> dict:
    """Check, compute everything in memory, then write counts, limits and the audit record; return it."""
    frozen = check_allowed(cfg)
    counts = observed_counts(cfg)
    tables = observed_limit_tables(cfg, counts)
    now = dt.datetime.now(dt.UTC)
    for (a, r), n in counts.items():
        contracts.write_observed(paths.unblinded_path(cfg, a, r), contracts.ObservedCount(a, r, n, {
            "n_ot": cfg["analyses"][a]["runs"][r]["n_ot"],
            "source": "published" if cfg["input"]["source"] == "published" else "processing.box_events",
            "freeze_hash": frozen["hash"], "unblinded_utc": now.isoformat(timespec="seconds")}))
    for path, header, rows in tables.values():
        contracts.write_limits(path, contracts.LimitTable(header, rows))
    audit = {
        "who": getpass.getuser(),
        "host": socket.gethostname(),
        "when_utc": now.isoformat(timespec="seconds"),
        "command": " ".join(sys.argv),
        "config": cfg.get("_path"),
        "tag": cfg["tag"],
        "package_version": __version__,
        "freeze_hash": frozen["hash"],
        "freeze_created_utc": frozen.get("created_utc"),
        "counts": {a: {r: n for (a2, r), n in counts.items() if a2 == a} for a in cfg["analyses"]},
        "limit_tables": sorted(tables),
    }
    audit_path = paths.results_dir(cfg) / "audit" / f"unblind-{now.strftime('%Y%m%dT%H%M%SZ')}.json"
    for p in (audit_path, unblinded_dir(cfg) / "audit.json"):
        with paths.atomic_output(p) as fh:
            json.dump(audit, fh, indent=1)
    audit["audit_path"] = str(audit_path)
    return audit


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_config_arguments(parser)


def run(args: argparse.Namespace) -> int:
    cfg = config_from_args(args)
    audit = unblind(cfg)
    total = sum(n for runs in audit["counts"].values() for n in runs.values())
    print(f"unblinded {cfg['tag']}: {total} event(s) observed in the boxes "
          f"({json.dumps(audit['counts'])}); {len(audit['limit_tables'])} limit table(s) with obs; "
          f"audit {audit['audit_path']}")
    return 0
