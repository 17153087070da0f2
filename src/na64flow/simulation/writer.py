"""Chunked output of the simulation: one ROOT file per (sample, chunk), and the manifest written last.

Tasks are (sample, chunk) pairs with their own seeds, so a run can be split into pieces
(task index modulo the number of pieces) and the pieces' manifests merged (``na64flow merge``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .. import events, samples
from . import generator, run_model


@dataclass(frozen=True)
class Task:
    sample: str
    kind: str            # data | mc | signal
    chunk: int
    n_chunks: int
    relpath: str
    process: str | None = None
    mode: str | None = None
    mass_gev: float | None = None


def plan(model: run_model.RunModel) -> tuple[list[Task], dict]:
    """All tasks of a run and the Poisson counts of the data stream."""
    ce = int(model.settings["chunk_events"])
    counts = generator.data_counts(model)
    tasks = []
    n_data = sum(counts.values()) + sum(int(s["n_events"]) for s in _inject(model))
    k = generator.n_chunks_for(n_data, ce)
    tasks += [Task("data", "data", i, k, f"data/chunk_{i:04d}.root") for i in range(k)]
    for name in model.rates:
        k = generator.n_chunks_for(int(model.settings["n_mc"]), ce)
        tasks += [Task(samples.mc_sample(name), "mc", i, k, f"mc/{name}/chunk_{i:04d}.root", process=name)
                  for i in range(k)]
    for mode, mass in generator.signal_points(model):
        sname = samples.signal_sample(mode, mass)
        k = generator.n_chunks_for(int(model.settings["n_signal"]), ce)
        tasks += [Task(sname, "signal", i, k, f"signal/{sname}/chunk_{i:04d}.root", mode=mode, mass_gev=mass)
                  for i in range(k)]
    return tasks, counts


def _inject(model):
    return [s for s in model.settings.get("inject") or []
            if s.get("analysis") == model.analysis and str(s.get("run")) == model.run]


def run_task(model: run_model.RunModel, counts: dict, task: Task, outdir: Path) -> dict:
    """Generate and write one chunk; returns {"sample", "file", "n_events", "sum_weights", ...}."""
    if task.kind == "data":
        cols = generator.data_chunk(model, counts, task.chunk, task.n_chunks, inject=_inject(model))
    elif task.kind == "mc":
        cols = generator.mc_chunk(model, task.process, task.chunk, task.n_chunks)
    else:
        cols = generator.signal_chunk(model, task.mode, task.mass_gev, task.chunk, task.n_chunks)
    events.write_events(outdir / task.relpath, cols, model.setup, truth=True)
    n = len(cols["weight"])
    out = {"sample": task.sample, "file": task.relpath, "n_events": int(n),
           "sum_weights": float(np.sum(cols["weight"]))}
    if task.kind == "data":
        out["per_process"] = {name: int(np.sum(cols["true_process"] == code))
                              for name, code in events.PROCESSES.items() if np.any(cols["true_process"] == code)}
        out["n_calibration"] = int(np.sum((cols["trigger_bits"] & events.TRIGGER_CALIBRATION) > 0))
    return out


def manifest(model: run_model.RunModel, tasks: list[Task], results: list[dict], counts: dict,
             piece: tuple[int, int] | None = None) -> dict:
    """The manifest of docs/contracts.md for the tasks done (all, or one piece's)."""
    by_task = {(r["sample"], r["file"]): r for r in results}
    smp: dict[str, dict] = {}
    for t in tasks:
        r = by_task.get((t.sample, t.relpath))
        if r is None:
            continue
        s = smp.get(t.sample)
        if s is None:
            if t.kind == "data":
                s = {"kind": "data", "files": [], "n_events": 0, "n_ot": model.n_ot,
                     "calibration_prescale": float(model.settings["calibration_prescale"]),
                     "n_calibration": 0, "processes": {}}
                for name, rate in model.rates.items():
                    s["processes"][name] = {
                        "rate_per_ot": rate.rate_per_ot, "rate_scale": rate.scale, "p_trigger": rate.p_trigger,
                        "expected": model.n_ot * rate.expected_triggered_per_ot, "drawn": counts[name],
                        "n_events": 0, "source": rate.source, "box_acceptance": rate.box_acceptance}
            elif t.kind == "mc":
                rate = model.rates[t.process]
                s = {"kind": "mc", "process": t.process, "files": [], "n_events": 0, "sum_weights": 0.0,
                     "normalisation": "triggered" if rate.p_trigger > 0 else "calibration"}
                topo = model._procs[t.process].extra.get("box_topology")
                if topo:   # how (or why not) this sample reaches the signal box
                    s["box_topology"] = topo
            else:
                s = {"kind": "signal", "mode": t.mode, "mass_gev": t.mass_gev, "files": [], "n_events": 0,
                     "e_miss_min_gev": model.e_miss_min_gev()}
            smp[t.sample] = s
        s["files"].append(t.relpath)
        s["n_events"] += r["n_events"]
        if s["kind"] == "mc":
            s["sum_weights"] += r["sum_weights"]
        if s["kind"] == "data":
            s["n_calibration"] += r["n_calibration"]
            for name, k in r["per_process"].items():
                s["processes"].setdefault(name, {"n_events": 0})
                s["processes"][name]["n_events"] += k
    out = {"schema_version": "1.0", "analysis": model.analysis, "run": model.run, "setup": model.setup,
           "beam": model.beam, "beam_energy_gev": model.e0_gev, "n_ot": model.n_ot, "seed": model.seed,
           "vhcal": model.vhcal, "dimuon_loss_prob": model.dimuon_loss_prob, "samples": smp}
    if piece is not None:
        out["piece"] = {"index": piece[0], "of": piece[1], "n_tasks": len(tasks)}
    return out
