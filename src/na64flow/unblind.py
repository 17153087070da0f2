"""Unblind: check the freeze, read the observed box counts, write the observed products and an audit record.

`na64flow unblind -c C --set unblind=true` (Snakemake: `--config unblind=true`) runs only when
(1) unblinding is requested with the literal ``true`` (na64flow.config.unblind_request) and (2) the
analysis state recomputed now (na64flow.blinding.analysis_state: configuration, input ntuples, signal,
background and normalisation tables, sources, versions, expected limits) equals the one in
results/<tag>/freeze.json. Otherwise it stops with a message naming what is missing or every item that
changed, and writes nothing. It is the only step that reads the box: only after these checks, through
`processing.box_events` (the candidates) and `processing.unblinded_data` (the unblinded data sample);
published configurations take the public `runs.<run>.published.observed`.

Its outputs, all under results/<tag>/unblinded/ (the blinded products are never touched, so blinded and
observed can be diffed file by file; they mirror the blinded layout):

* ``counts/<analysis>/<run>.json``: observed events in the box, with the freeze hash;
* ``limits/<analysis>/<model>.csv`` and the per-run ``limits/<analysis>/<model>_<run>.csv``: every frozen
  limit table, expected columns exactly as frozen and ``obs`` filled (same statistics as the expected ones);
* ``likelihoods/<analysis>/{BkgOnly,patchset}.json``: the public pyhf likelihoods of `publish` with the
  observed box counts as observations (pyhf-validated; `publish --observed` packs them into
  unblinded/likelihoods.tar.gz, linked from the observed HEPData submission);
* ``histograms/<analysis>/<run>.pkl``: the blinded histogram file with the data sample unblinded;
* ``cutflows/<analysis>/<run>.{csv,md,tex}`` and ``summary.*``: the observed cut-flow tables;
* ``background/<analysis>/<run>.{json,md,tex}``: the background estimate next to the observed count;
* ``audit.json``: who, host, when, command, freeze hash, counts, files written (a copy is kept in
  results/<tag>/audit/unblind-<UTC time>.json, the history of unblindings; no rule reads it).

Observed HEPData and plots: `na64flow publish --observed` and `na64flow plot --observed` read these
(results/<tag>/unblinded/hepdata/, unblinded/plots/).
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
from pathlib import Path

from . import NA64Error, __version__, contracts, paths, registry
from .blinding import (
    analysis_state,
    differences,
    limit_files,
    read_freeze,
    run_limit_files,
    state_hash,
    unblinded_dir,
)
from .config import add_config_arguments, config_from_args, runs_of
from .stats import build_problem, settings, signal_tables_of, solve, to_coupling_limits

log = logging.getLogger(__name__)


def counts_path(cfg: dict, analysis: str, run: str) -> Path:
    """Observed box count of one run: results/<tag>/unblinded/counts/<analysis>/<run>.json."""
    return paths.unblinded_path(cfg, analysis, run)


def observed_limits_path(cfg: dict, name: str) -> Path:
    """results/<tag>/unblinded/limits/<analysis>/<model>.csv for a limit file name "<analysis>/<model>.csv"."""
    return unblinded_dir(cfg) / "limits" / name


def check_allowed(cfg: dict) -> dict:
    """The freeze record if unblinding is allowed; NA64Error saying why not otherwise (nothing written)."""
    if cfg.get("unblind") is not True:
        raise NA64Error(f"{cfg.get('_path', 'config')}: unblinding not requested; ask explicitly with "
                        "--set unblind=true (Snakemake: --config unblind=true). Nothing written.")
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
    from . import processing

    for a in cfg["analyses"]:
        for r in runs_of(cfg, a):
            events = processing.box_events(cfg, a, r)
            lengths = {len(v) for v in events.values()}
            if len(lengths) > 1:
                raise NA64Error(f"processing.box_events({a}, {r}): columns of different lengths {sorted(lengths)}")
            counts[(a, r)] = lengths.pop() if lengths else 0
    return counts


def observed_histograms(cfg: dict, counts: dict) -> dict[tuple[str, str], dict]:
    """{(analysis, run): histogram-file content} with the data sample unblinded (not for published configs).

    The simulated samples are those of the frozen blinded file; the data sample is re-processed with
    ``blind=False``. Its box row must equal the box count of ``counts`` (same selection)."""
    if cfg["input"]["source"] == "published":
        return {}
    from . import histograms as H
    from . import processing

    out = {}
    for (a, r), n in counts.items():
        content = H.load(paths.require_file(paths.histograms_path(cfg, a, r), f"histogram file of {a} run {r}",
                                            "process"))
        data = processing.unblinded_data(cfg, a, r)
        if data["cutflow"]["raw"][-1] != n:
            raise NA64Error(f"{a} run {r}: the unblinded cut-flow has {data['cutflow']['raw'][-1]} box events but "
                            f"processing.box_events found {n}; the two selections disagree")
        out[(a, r)] = {**content, "blinded": False, "samples": {**content["samples"], "data": data}}
    return out


def _merge_obs(name: str, header: list[str], rows: list[list], expected: list[dict] | None) -> list[dict]:
    """The frozen expected rows of table ``name`` with the ``obs`` column of ``rows`` (computed now)."""
    if expected is None:
        raise NA64Error(f"{name}: not in the freeze record; re-run `na64flow freeze`")
    if len(expected) != len(rows):
        raise NA64Error(f"{name}: {len(expected)} frozen rows but {len(rows)} masses now; re-run limits and freeze")
    i_obs = header.index("obs")
    merged = []
    for old, new in zip(expected, rows):
        key_new, key_old = new[0], old[header[0]]
        if not isinstance(key_new, str) and not math.isclose(float(key_old), float(key_new), rel_tol=1e-4):
            raise NA64Error(f"{name}: mass {key_old} does not match {key_new}; re-run limits and freeze")
        obs = new[i_obs]
        merged.append({**old, "obs": "" if not math.isfinite(obs) else f"{obs:.6g}"})
    return merged


def observed_limit_tables(cfg: dict, counts: dict, frozen: dict) -> dict[str, tuple[list[str], list[dict]]]:
    """{limit file name: (header, rows)} of every frozen limit table, the analysis and combined tables
    ("<analysis>/<model>.csv") and the per-run ones ("<analysis>/<model>_<run>.csv"): the expected
    columns as frozen, ``obs`` computed now with the same statistics (one solve per analysis, set of
    signal tables (``stats.signal_tables_of``) and set of runs, as `limits` does; a per-run table of an analysis with one run is its table)."""
    st = settings(cfg)
    solved = {}
    cache: dict = {}   # problems with the same channels and counts share toys and solved shapes, as in `limits`

    def table(analysis: str, model: str, run: str | None) -> tuple[list[str], list[list]]:
        runs = None if run is None or registry.runs(cfg, analysis) == [run] else (run,)
        key = (analysis, signal_tables_of(cfg, analysis, model), runs)
        if key not in solved:
            problem = build_problem(cfg, analysis, model, observed=counts, runs=None if runs is None else list(runs))
            solved[key] = (problem, solve(cfg, problem, cache=cache))
        return to_coupling_limits(*solved[key], model, st)

    targets = [(name, name.split("/")[0], name.split("/")[1][:-4], None) for name in limit_files(cfg)]
    targets += [(name, a, m, r) for name, (_, a, m, r) in run_limit_files(cfg).items()]
    out = {}
    for name, analysis, model, run in targets:
        header, rows = table(analysis, model, run)
        out[name] = (header, _merge_obs(name, header, rows, frozen["expected_limits"].get(name)))
    return out


def observed_likelihoods(cfg: dict, counts: dict) -> dict[str, tuple[dict, dict]]:
    """{analysis: (BkgOnly, patchset)}: the public pyhf likelihoods of `publish` with the observed box
    counts as observations (every analysis and ``combined``, :func:`na64flow.publish.likelihoods`)."""
    from .publish import likelihoods

    out = {}
    for analysis in registry.likelihood_analyses(cfg):
        result = likelihoods(cfg, analysis, observed=counts)
        if result is not None:
            out[analysis] = result
    return out


def _write_json(path: Path, obj: dict) -> None:
    with paths.atomic_output(path) as fh:
        json.dump(obj, fh, indent=1)


def _write_limit_table(path: Path, header: list[str], rows: list[dict]) -> None:
    contracts.write_limits(path, contracts.LimitTable(header, [[r[h] for h in header] for r in rows]))


def _write_background(cfg: dict, view: dict, analysis: str, run: str, n: int, stamp: dict) -> list[Path]:
    """Observed background files: the blinded record plus the observed count, as JSON, Markdown, LaTeX."""
    blinded = contracts.read_background(paths.background_path(cfg, analysis, run))
    rec = {**blinded.to_dict(), "blinded": False, "observed": n, **stamp}
    total = rec["total"]
    unc = total.get("uncertainty", math.hypot(total.get("stat", 0.0) or 0.0, total.get("syst", 0.0) or 0.0))
    rows = [(s.get("label", s.get("name", "?")), float(s.get("estimate", 0.0))) for s in rec.get("sources", [])]
    md = [f"# Expected background and observed events in the signal box: {analysis} {run}", "",
          f"Unblinded {stamp['unblinded_utc']} (freeze {stamp['freeze_hash'][:16]}); exposure n_ot = {rec['n_ot']:.3g}.", "",
          "| source | expected events |", "|---|---|"]
    md += [f"| {name} | {est:.3g} |" for name, est in rows]
    md += [f"| **total expected** | **{total['estimate']:.3g} ± {unc:.2g}** |", f"| **observed** | **{n}** |"]
    esc = {"_": r"\_", "&": r"\&", "%": r"\%", "#": r"\#"}
    tex = [r"\begin{tabular}{lc}", r"\hline", r"Source & Events \\", r"\hline"]
    tex += ["".join(esc.get(c, c) for c in name) + f" & {est:.3g} \\\\" for name, est in rows]
    tex += [r"\hline", f"Total expected & ${total['estimate']:.3g} \\pm {unc:.2g}$ \\\\",
            f"Observed & {n} \\\\", r"\hline", r"\end{tabular}"]
    out = paths.background_path(view, analysis, run)
    _write_json(out, rec)
    for ext, lines in (("md", md), ("tex", tex)):
        with paths.atomic_output(out.with_suffix(f".{ext}")) as fh:
            fh.write("\n".join(lines) + "\n")
    return [out, out.with_suffix(".md"), out.with_suffix(".tex")]


def unblind(cfg: dict) -> dict:
    """Check, compute everything in memory, then write the observed products and the audit; return it."""
    frozen = check_allowed(cfg)
    counts = observed_counts(cfg)
    hists = observed_histograms(cfg, counts)
    tables = observed_limit_tables(cfg, counts, frozen)
    public = observed_likelihoods(cfg, counts)
    now = dt.datetime.now(dt.UTC)
    stamp = {"freeze_hash": frozen["hash"], "unblinded_utc": now.isoformat(timespec="seconds")}
    view = paths.observed_view(cfg)
    published = cfg["input"]["source"] == "published"
    written: list[Path] = []
    for (a, r), n in counts.items():
        p = counts_path(cfg, a, r)
        contracts.write_observed(p, contracts.ObservedCount(a, r, n, {
            "n_ot": cfg["analyses"][a]["runs"][r]["n_ot"],
            "source": "published" if published else "processing.box_events", **stamp}))
        written.append(p)
        written += _write_background(cfg, view, a, r, n, stamp)
    if hists:
        from . import cutflow
        from . import histograms as H

        for (a, r), content in hists.items():
            H.save(paths.histograms_path(view, a, r), content)
            written.append(paths.histograms_path(view, a, r))
        for a in cfg["analyses"]:
            written += cutflow.write_tables(view, a)
    for name, (header, rows) in tables.items():
        _write_limit_table(observed_limits_path(cfg, name), header, rows)
        written.append(observed_limits_path(cfg, name))
    if public:
        from .publish import save_likelihoods

        for analysis, result in public.items():
            written += save_likelihoods(view, analysis, result)
    root = paths.results_dir(cfg)
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
        "likelihoods": sorted(public),
        "written": sorted(str(Path(p).relative_to(root)) for p in written),
    }
    audit_path = root / "audit" / f"unblind-{now.strftime('%Y%m%dT%H%M%SZ')}.json"
    for p in (audit_path, unblinded_dir(cfg) / "audit.json"):   # audit.json last: the step's completion mark
        _write_json(p, audit)
    audit["audit_path"] = str(audit_path)
    return audit


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_config_arguments(parser)


def run(args: argparse.Namespace) -> int:
    cfg = config_from_args(args)
    audit = unblind(cfg)
    total = sum(n for runs in audit["counts"].values() for n in runs.values())
    print(f"unblinded {cfg['tag']}: {total} event(s) observed in the boxes "
          f"({json.dumps(audit['counts'])}); {len(audit['limit_tables'])} observed limit table(s) under "
          f"{unblinded_dir(cfg)}; audit {audit['audit_path']}")
    return 0
