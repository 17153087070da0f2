"""Benchmark of the `process` step on NA64e events: our coffea processor vs the read floor vs ROOT RDataFrame.

    python benchmarks/bench_processing.py --n-events 1e6,5e6,2e7 [--repeat 3] [--dir /tmp/na64flow-bench]
                                          [--no-rdf] [--rdf-max 5e6]

1. writes (once, cached in --dir) seeded toy NA64e events (tests/reference/toy_events.py) in files of
   1e6 events with clusters of 2.5e5 entries (= the chunk size) and the compression `simulate` writes
   (``events.COMPRESSION``), run "2016-2022" of configs/default.yaml,
   processed unblinded (``blind=False``, so the box row can be compared); every point of the sweep reads the first N/1e6 files;
2. every measurement is one fresh process (``--child``), so its peak RSS is that of the point alone; the
   modes are alternated within each repetition and the median over ``--repeat`` is printed:
   * floor: uproot reads the branches the analysis declares (``NA64Processor.branches``: the same ones
     ours reads) and the (run_number, event_number) pair of the duplicate-event check into numpy, chunk by
     chunk (the same 2.5e5-entry chunks), one core;
   * coffea-read: ``run_processing`` on one worker whose ``process`` only reads those columns through
     coffea (Runner, NanoEvents) and returns the empty accumulator: the framework's own floor;
   * ours-1: ``processing.run_processing`` with one worker (runs in process);
   * ours-2: the futures executor with 2 forked workers;
   * rdf (rdf-2): ROOT RDataFrame, one thread (``EnableImplicitMT(2)``, against ours-2): the identical cut-flow (same cut values, same invalid-value
     definition on the same branches) and histograms; the script checks the cut-flow counts and box
     count agree exactly and histogram sums agree. ``rdf-jit`` runs the same graph on 1000 entries:
     its time is the JIT compilation (plus start-up), reported separately from the steady state;
3. whole-process wall time (interpreter start and imports included) and the in-process time of the step
   are both printed; steady-state rates are the slope between the smallest and the largest N.

Targets (issue 15): ours <= 1.2 x floor at every N; RSS(2e7) within 10% of RSS(1e6). The numbers are
whatever the machine gives: the load average is printed next to every point.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("toy_events", REPO / "tests" / "reference" / "toy_events.py")
toy = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(toy)

ANALYSIS, RUN = "na64e", "2016-2022"
PER_FILE = 1_000_000
CLUSTER = 250_000


def write_clustered(path: Path, cols: dict, cluster: int = CLUSTER) -> None:
    """Write as `simulate` does (events.write_events), in baskets/clusters of ``cluster`` entries (as a DAQ would)."""
    from na64flow.events import write_events

    write_events(path, cols, "electron", truth=True, cluster_events=cluster)


def data_files(workdir: Path, n_events: int) -> list[str]:
    """The first ceil(n/1e6) toy files in ``workdir/data`` (written once, then reused)."""
    files = []
    for i in range(int(np.ceil(n_events / PER_FILE))):
        f = workdir / "data" / f"chunk_{i:04d}.root"
        if not f.exists():
            print(f"writing {f} ({PER_FILE} events)", flush=True)
            cols = toy.electron(PER_FILE, seed=1000 + i)
            cols["event_number"] = cols["event_number"] + i * PER_FILE
            write_clustered(f, cols)
        files.append(str(f))
    return files


def prepare(workdir: Path, n_events: int):
    """Config (results in workdir/n<N>) with a manifest naming the first N events' files."""
    from na64flow.paths import manifest_path

    workdir.mkdir(parents=True, exist_ok=True)
    files = data_files(workdir, n_events)
    point = workdir / f"n{n_events}"
    point.mkdir(exist_ok=True)
    _, cfg = toy.make_config(point, REPO, {"execution.chunksize": CLUSTER})
    manifest = {"schema_version": "1.0", "analysis": ANALYSIS, "run": RUN, "setup": "electron",
                "beam_energy_gev": 100.0, "n_ot": 2e9, "seed": 1000,
                "samples": {"data": {"kind": "data", "files": files, "n_events": n_events}}}
    mpath = manifest_path(cfg, ANALYSIS, RUN)
    mpath.parent.mkdir(parents=True, exist_ok=True)
    mpath.write_text(json.dumps(manifest))
    return cfg, files


def declared_branches(cfg: dict) -> list[str]:
    from na64flow.config import cuts_for
    from na64flow.processing import analysis_module

    return analysis_module(ANALYSIS).Processor(cuts_for(cfg, ANALYSIS, RUN)).branches()


def read_floor(cfg: dict, files: list[str]) -> dict:
    """Read the declared branches of ``files`` into numpy with uproot, in the processor's chunks, plus the
    run_number/event_number pair that `process` reads of every data file before it (the duplicate-event
    check, ``inputs.check_unique_events``): the same branches, in one pass."""
    import uproot

    names = declared_branches(cfg)
    names += [b for b in ("run_number", "event_number") if b not in names]
    n = 0
    for f in files:
        with uproot.open(f) as fh:
            tree = fh["events"]
            for start in range(0, tree.num_entries, CLUSTER):
                arrays = tree.arrays(names, entry_start=start, entry_stop=start + CLUSTER, library="np")
                n += len(arrays[names[0]])
    return {"n": n, "branches": len(names)}


def ours(cfg: dict, workers: int) -> dict:
    from na64flow.processing import run_processing

    # blind=False: the box row is compared with RDataFrame (the `process` step itself always blinds)
    content = run_processing(cfg, ANALYSIS, RUN, workers=workers, executor="futures", status=False, blind=False)
    d = content["samples"]["data"]
    return {"raw": d["cutflow"]["raw"], "names": d["cutflow"]["names"],
            "entries": {k: float(h.sum(flow=True).value) for k, h in d["hists"].items()}}


def coffea_read(cfg: dict) -> dict:
    """The framework's own floor: ``run_processing`` on one worker, with coffea's Runner and NanoEvents
    reading the same declared branches of the same chunks (``NA64Processor.columns``), but a ``process``
    that returns the empty accumulator: no selection, no histogram fill. ours-1 minus this is the cost of
    the analysis itself; this minus the read floor is what coffea's chunked reading costs."""
    from na64flow.processing import processor as proc
    from na64flow.processing import run_processing

    def process(self, events):
        self.columns(events, with_weight=False)
        return {events.metadata["dataset"]: self.empty()}

    proc.NA64Processor.process = process
    run_processing(cfg, ANALYSIS, RUN, workers=1, executor="futures", status=False, blind=False)
    return {}


def rdf(cfg: dict, files: list[str], entries: int | None = None, threads: int = 1) -> dict:
    """The same cut-flow and histograms with ROOT RDataFrame (``threads`` > 1: ``EnableImplicitMT``);
    ``entries`` limits the event loop to the first entries (``Range``, single-threaded: the JIT-time probe)."""
    import ROOT

    from na64flow.config import cuts_for
    from na64flow.events import branches

    if threads > 1 and entries is None:
        ROOT.ROOT.EnableImplicitMT(threads)
    else:
        ROOT.ROOT.DisableImplicitMT()
    c = cuts_for(cfg, ANALYSIS, RUN)
    read = set(declared_branches(cfg))
    vec = ROOT.std.vector("string")()
    for f in files:
        vec.push_back(f)
    df = ROOT.RDataFrame("events", vec)
    if entries is not None:
        df = df.Range(entries)
    df = df.Define("hcal_gev", "double(hcal1_gev) + double(hcal2_gev) + double(hcal3_gev) + double(hcal4_gev)")
    df = df.Define("srd_min_mev", "std::min(std::min(srd1_mev, srd2_mev), srd3_mev)")
    df = df.Define("e_miss_gev", f"{c.beam_energy_gev} - ecal_gev")
    # invalid values: same definition as selection.invalid_mask, on the branches our processor reads
    invalid = []
    for b in (b for b in branches("electron") if b.name in read):
        if np.dtype(b.dtype).kind == "f":
            invalid.append(f"!std::isfinite({b.name})")
        if "momentum" in b.name or b.name.endswith("_ns") or "chi2" in b.name or b.name.endswith("_s"):
            continue
        if b.unit == "GeV":
            invalid.append(f"{b.name} < -{c.noise_tolerance_gev}")
        elif b.unit == "MeV":
            invalid.append(f"{b.name} < -{1000.0 * c.noise_tolerance_gev}")
        elif b.unit == "MIP":
            invalid.append(f"{b.name} < -{c.noise_tolerance_mip}")
    valid = "!(" + " || ".join(invalid) + ")"
    lo_p, hi_p = c.beam_momentum_window_gev
    lo_s, hi_s = c.srd_window_mev
    w = c.time_window_ns
    cut_expr = {
        "physics_trigger": "(trigger_bits & 1u) != 0",
        "beam_momentum": f"beam_momentum_gev > {lo_p} && beam_momentum_gev < {hi_p}",
        "track_angle": f"beam_angle_mrad < {c.max_angle_mrad}",
        "single_track": "n_tracks_up == 1",
        "srd_tag": " && ".join(f"srd{i}_mev > {lo_s} && srd{i}_mev < {hi_s}" for i in (1, 2, 3)),
        "preshower": f"ecal_ps_gev > {c.ecal_ps_min_gev}",
        "shower_shape": f"ecal_chi2 < {c.shower_chi2_max}",
        "in_time": f"std::abs(ecal_time_ns) < {w} && (hcal_gev < {c.hcal_zero_gev} || std::abs(hcal_time_ns) < {w})",
        "veto_empty": f"veto_mip < {c.veto_max_mip}",
    }
    n1_axes = {"beam_momentum": ("beam_momentum_gev", 100, 50, 150), "track_angle": ("beam_angle_mrad", 50, 0, 10),
               "single_track": ("n_tracks_up", 6, 0, 6), "srd_tag": ("srd_min_mev", 100, 0, 200),
               "preshower": ("ecal_ps_gev", 100, 0, 20), "shower_shape": ("ecal_chi2", 100, 0, 20),
               "in_time": ("ecal_time_ns", 80, -20, 20), "veto_empty": ("veto_mip", 60, 0, 6)}
    box = f"ecal_gev < {c.ecal_max_gev} && hcal_gev < {c.hcal_zero_gev}"
    counts = [df.Count()]
    node = df.Filter(valid, "invalid values")
    counts.append(node.Count())
    for name, expr in cut_expr.items():
        node = node.Filter(expr, name)
        counts.append(node.Count())
    counts.append(node.Filter(box).Count())
    h2 = node.Histo2D(("ecal_hcal", "", 150, 0, 150, 400, 0, 100), "ecal_gev", "hcal_gev")
    hm = node.Filter(f"hcal_gev < {c.hcal_zero_gev}").Histo1D(("e_miss", "", 150, 0, 150), "e_miss_gev")
    n1 = {}
    valid_node = df.Filter(valid)
    for name, (var, nb, lo, hi) in n1_axes.items():
        others = " && ".join(f"({e})" for k, e in cut_expr.items() if k != name)
        n1[name] = valid_node.Filter(others).Histo1D((f"n1_{name}", "", nb, lo, hi), var)
    raw = [int(x.GetValue()) for x in counts]      # triggers the single event loop
    sums = {"ecal_hcal": h2.GetEntries(), "e_miss": hm.GetEntries()}
    sums.update({f"n1_{k}": v.GetEntries() for k, v in n1.items()})
    return {"raw": raw, "entries": sums, "loops": df.GetNRuns()}


def child(mode: str, workdir: Path, n: int) -> dict:
    """One measurement in this (fresh) process: {"step_s", "maxrss_mb", "cpu_s", result...}."""
    cfg, files = prepare(workdir, n)
    import na64flow.processing  # noqa: F401  (imports are not part of the step time)
    if mode.startswith("rdf"):
        import ROOT  # noqa: F401
    def cpu():
        ru, rc = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
        return ru.ru_utime + ru.ru_stime + rc.ru_utime + rc.ru_stime

    c0 = cpu()
    t = time.perf_counter()
    if mode == "floor":
        out = read_floor(cfg, files)
    elif mode == "coffea-read":
        out = coffea_read(cfg)
    elif mode in ("ours-1", "ours-2"):
        out = ours(cfg, int(mode[-1]))
    elif mode == "rdf":
        out = rdf(cfg, files)
    elif mode == "rdf-2":
        out = rdf(cfg, files, threads=2)
    elif mode == "rdf-jit":
        out = rdf(cfg, files[:1], entries=1000)
    else:
        raise SystemExit(f"unknown mode {mode}")
    out["step_s"] = time.perf_counter() - t
    out["step_cpu_s"] = cpu() - c0
    ru, rc = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    out["maxrss_mb"] = ru.ru_maxrss / 1024
    out["children_maxrss_mb"] = rc.ru_maxrss / 1024
    out["cpu_s"] = ru.ru_utime + ru.ru_stime + rc.ru_utime + rc.ru_stime
    return out


def run_child(mode: str, workdir: Path, n: int) -> dict:
    load = os.getloadavg()[0]
    t = time.perf_counter()
    p = subprocess.run([sys.executable, __file__, "--child", mode, "--dir", str(workdir), "--n-events", str(n)],
                       capture_output=True, text=True, check=False)
    wall = time.perf_counter() - t
    if p.returncode != 0:
        raise SystemExit(f"{mode} at {n:.3g} failed:\n{p.stderr[-3000:]}")
    out = json.loads(p.stdout.strip().splitlines()[-1])
    out.update(wall_s=wall, load=(load, os.getloadavg()[0]))
    return out


def check_same(o: dict, r: dict) -> bool:
    """Cut-flow rows and histogram entries of ours (run unblinded) and RDataFrame identical."""
    return list(o["raw"]) == r["raw"] and all(abs(o["entries"][k] - v) < 0.5 for k, v in r["entries"].items())


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--n-events", default="5e6", help="comma-separated sweep, e.g. 1e6,5e6,2e7")
    p.add_argument("--dir", default="/tmp/na64flow-bench")
    p.add_argument("--repeat", type=int, default=3, help="repetitions per point (median reported)")
    p.add_argument("--no-rdf", action="store_true", help="skip the RDataFrame comparison")
    p.add_argument("--rdf-max", type=float, default=5e6, help="largest N of the RDataFrame runs (it is slow)")
    p.add_argument("--child", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    workdir = Path(args.dir)
    sweep = [int(float(x)) for x in str(args.n_events).split(",")]
    if args.child:
        print(json.dumps(child(args.child, workdir, sweep[0])))
        return 0
    for n in sweep:
        prepare(workdir, n)
    modes = ["floor", "coffea-read", "ours-1", "ours-2"]
    res: dict = {(m, n): [] for m in modes + ["rdf", "rdf-2", "rdf-jit"] for n in sweep}
    for rep in range(args.repeat):
        for n in sweep:
            for m in (modes if rep % 2 == 0 else modes[::-1]):   # alternate the order A/B
                res[(m, n)].append(run_child(m, workdir, n))
    ok = True
    if not args.no_rdf:
        for n in [n for n in sweep if n <= args.rdf_max]:
            res[("rdf-jit", n)].append(run_child("rdf-jit", workdir, n))
            res[("rdf", n)].append(run_child("rdf", workdir, n))
            res[("rdf-2", n)].append(run_child("rdf-2", workdir, n))
            for m in ("rdf", "rdf-2"):
                same = check_same(res[("ours-1", n)][0], res[(m, n)][0])
                print(f"N={n:.3g}: cut-flow and histogram entries of ours and {m} "
                      f"{'identical' if same else 'DIFFERENT'} (RDF event loops: {res[(m, n)][0]['loops']})")
                ok &= same
    for n in sweep:
        assert all(r["raw"] == res[("ours-1", n)][0]["raw"] for r in res[("ours-1", n)] + res[("ours-2", n)])

    def med(m, n, key):
        v = [r[key] for r in res[(m, n)]]
        return statistics.median(v) if v else float("nan")

    print(f"\nNA64e toy, run {RUN}, files of 1e6 events, chunks of {CLUSTER}; {os.cpu_count()} cores; "
          f"median of {args.repeat} (RDataFrame: 1) fresh processes per cell; "
          f"{res[('floor', sweep[0])][0]['branches']} branches read")
    print(f"{'mode':8s} {'N':>6s} {'wall s':>8s} {'step s':>8s} {'M ev/s':>7s} {'step CPU s':>10s} {'RSS MB':>7s} "
          f"{'load (1 min) before-after':>26s}")
    for m in modes + ["rdf-jit", "rdf", "rdf-2"]:
        for n in sweep:
            if not res[(m, n)]:
                continue
            loads = [r["load"] for r in res[(m, n)]]
            print(f"{m:8s} {n:6.0e} {med(m, n, 'wall_s'):8.2f} {med(m, n, 'step_s'):8.2f} "
                  f"{n / med(m, n, 'step_s') / 1e6:7.2f} {med(m, n, 'step_cpu_s'):10.2f} {med(m, n, 'maxrss_mb'):7.0f} "
                  f"{min(x[0] for x in loads):11.1f}-{max(x[1] for x in loads):.1f}")
    print()
    for n in sweep:
        print(f"N={n:.0e}: ours-1/floor whole-process {med('ours-1', n, 'wall_s') / med('floor', n, 'wall_s'):.2f}, "
              f"step {med('ours-1', n, 'step_s') / med('floor', n, 'step_s'):.2f} (target <= 1.2), "
              f"step CPU {med('ours-1', n, 'step_cpu_s') / med('floor', n, 'step_cpu_s'):.2f}; "
              f"2 workers speed-up (step) {med('ours-1', n, 'step_s') / med('ours-2', n, 'step_s'):.2f}; "
              f"RSS ours-1 {med('ours-1', n, 'maxrss_mb'):.0f} MB, floor {med('floor', n, 'maxrss_mb'):.0f} MB")
        print(f"N={n:.0e}: coffea-read/floor (step) {med('coffea-read', n, 'step_s') / med('floor', n, 'step_s'):.2f}: "
              f"coffea's chunked read of the same branches with no analysis; the analysis itself "
              f"(ours-1 - coffea-read) {med('ours-1', n, 'step_s') - med('coffea-read', n, 'step_s'):.2f} s, "
              f"{(med('ours-1', n, 'step_s') - med('coffea-read', n, 'step_s')) / med('floor', n, 'step_s'):.2f} x floor")
    lo, hi = sweep[0], sweep[-1]
    if hi > lo:
        def rate(m):
            return (hi - lo) / (med(m, hi, "step_s") - med(m, lo, "step_s")) / 1e6
        def cpu_per_mev(m):
            return (med(m, hi, "step_cpu_s") - med(m, lo, "step_cpu_s")) / (hi - lo) * 1e6

        print(f"steady state ({lo:.0e} -> {hi:.0e}): floor {rate('floor'):.2f}, ours-1 {rate('ours-1'):.2f}, "
              f"ours-2 {rate('ours-2'):.2f} M ev/s; ours-1/floor {rate('floor') / rate('ours-1'):.2f}, "
              f"coffea-read/floor {rate('floor') / rate('coffea-read'):.2f}; "
              f"CPU s per 1e6 events: floor {cpu_per_mev('floor'):.2f}, ours-1 {cpu_per_mev('ours-1'):.2f} "
              f"(ratio {cpu_per_mev('ours-1') / cpu_per_mev('floor'):.2f})")
        print(f"RSS ours-1 at {hi:.0e} / at {lo:.0e}: {med('ours-1', hi, 'maxrss_mb') / med('ours-1', lo, 'maxrss_mb'):.3f}"
              " (target <= 1.10)")
    rdf_n = [n for n in sweep if res[("rdf", n)]]
    if rdf_n:
        jit = statistics.median(r["step_s"] for n in rdf_n for r in res[("rdf-jit", n)])
        for n in rdf_n:
            loop = med("rdf", n, "step_s") - jit
            print(f"RDataFrame N={n:.0e}: JIT (+start, 1000-entry run) {jit:.2f} s, event loop {loop:.2f} s "
                  f"({n / loop / 1e6:.2f} M ev/s); ours-1/RDF total {med('ours-1', n, 'step_s') / med('rdf', n, 'step_s'):.2f}, "
                  f"steady state (RDF loop without JIT) {med('ours-1', n, 'step_s') / loop:.2f}; "
                  f"2 cores: ours-2/RDF ImplicitMT(2) total {med('ours-2', n, 'step_s') / med('rdf-2', n, 'step_s'):.2f}, "
                  f"without JIT {med('ours-2', n, 'step_s') / (med('rdf-2', n, 'step_s') - jit):.2f}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
