"""Event generation of one run: rates, trigger-conditioned data stream, calibration stream, weighted MC
and signal samples, in chunks with their own seeds.

Data stream (sample ``data``), per process p with rate r_p per particle on target:
  N_p ~ Poisson(n_ot x r_p x s_p x P_p(trigger)), events drawn *conditioned on the trigger* (rejection
  on a trigger-capable component where one exists), trigger bit 0; plus the calibration stream:
  N_cal ~ Poisson(n_ot x prescale) unbiased beam events (process drawn from the physical rates, without
  rate_scale), trigger bit 1
  (and bit 0 if they also fire the physics trigger). s_p = ``simulation.rate_scale.<p>`` (default 1).
MC samples (``mc_<p>``): ``n_mc`` trigger-conditioned events, weights summing (in expectation) to
  n_ot x r_p x s_p x P_p(trigger); processes that never fire the trigger (the bulk) are normalised to the
  calibration stream instead (manifest ``normalisation: calibration``).
Signal samples (``signal_<mode>_m<mass>``): ``n_signal`` events from physics.sampling.sample_signal,
  weight 1, generated with the signal signature (mediator energy > e_miss_min).

The rates, P(trigger) and the box acceptance A_box of the processes calibrated on published backgrounds
are the run's rate model (``run_model.build_model``, measured on fixed-seed pilot samples).
"""

from __future__ import annotations

import math

import numpy as np

from .. import events
from . import detector, processes_electron, processes_hadron, processes_muon, trigger
from .process_common import ECAL_DEPTH_X0
from .run_model import RunModel, detector_columns, rng_for, supports_component, track_length_table

# ----------------------------------------------------------------------------- event generation


def _gen(model: RunModel, name: str, rng, n: int, component=None) -> detector.Truth:
    p = model._procs[name]
    ctx = model.ctx()
    return p.gen(rng, n, ctx, component=component) if component else p.gen(rng, n, ctx)


def generate_triggered(model: RunModel, name: str, rng, n: int, component=None, max_batch=200_000):
    """``n`` events of process ``name`` passing the physics trigger (rejection sampling in batches).

    Returns (columns, bias weights, number generated to get them)."""
    rate = model.rates[name]
    if n <= 0:
        return None, np.zeros(0), 0
    p = max(rate.p_trigger_component, 1e-6)
    parts, weights, n_gen, got = [], [], 0, 0
    while got < n:
        batch = int(min(max_batch, max(1000, 1.3 * (n - got) / p)))
        t = _gen(model, name, rng, batch, component)
        cols = detector_columns(rng, t, model)
        ok = trigger.physics_trigger(cols, model.setup, model.e0_gev)
        idx = np.flatnonzero(ok)
        need = n - got
        if len(idx) >= need:
            idx = idx[:need]
            n_gen += int(idx[-1]) + 1
        else:
            n_gen += batch
        parts.append({k: v[idx] for k, v in cols.items()})
        weights.append(t["bias_weight"][idx])
        got += len(idx)
    cols = {k: np.concatenate([c[k] for c in parts]) for k in parts[0]}
    return cols, np.concatenate(weights), n_gen


EVENT_NUMBER_STRIDE = 1 << 32   # event numbers of chunk k start at k x 2^32: no chunk (injections included) reaches it


def first_event_number(chunk: int) -> int:
    """First event number of a chunk: unique within the run however many events a chunk holds (a signal
    injection puts all its events into chunk 0; event_number is unique within a run, docs/event-schema.md)."""
    return int(chunk) * EVENT_NUMBER_STRIDE


def _finish(cols: dict, model: RunModel, process_code: np.ndarray, weight: np.ndarray, trig_bits: np.ndarray,
            first_event: int) -> dict:
    n = len(weight)
    cols = dict(cols)
    cols["true_process"] = process_code.astype(np.int32)
    cols["weight"] = weight.astype(np.float64)
    cols["trigger_bits"] = trig_bits.astype(np.uint32)
    cols["event_number"] = np.arange(first_event, first_event + n, dtype=np.int64)
    return cols


def data_counts(model: RunModel) -> dict[str, int]:
    """Poisson numbers of triggered events per process, and of calibration events, for the run."""
    rng = rng_for(model.seed, "counts", model.analysis, model.run)
    out = {}
    for name, r in model.rates.items():
        out[name] = int(rng.poisson(model.n_ot * r.expected_triggered_per_ot))
    out["__calibration__"] = int(rng.poisson(model.n_ot * float(model.settings["calibration_prescale"])))
    return out


def _split(n: int, k: int, i: int) -> int:
    return n // k + (1 if i < n % k else 0)


def data_chunk(model: RunModel, counts: dict[str, int], chunk: int, n_chunks: int, inject=None) -> dict:
    """Columns of data chunk ``chunk`` of ``n_chunks`` (its share of every process and of the calibration stream)."""
    rng = rng_for(model.seed, "data", model.analysis, model.run, chunk)
    parts = []
    for name, r in model.rates.items():
        n = _split(counts[name], n_chunks, chunk)
        if n == 0:
            continue
        cols, _, _ = generate_triggered(model, name, rng, n, r.component)
        parts.append(_finish(cols, model, np.full(n, events.PROCESSES[name]), np.ones(n),
                             np.full(n, events.TRIGGER_PHYSICS), 0))
    n_cal = _split(counts["__calibration__"], n_chunks, chunk)
    if n_cal:
        names = list(model.rates)
        # physical beam composition: rate_scale boosts only the triggered stream and the MC (a boosted
        # process would otherwise bias the unbiased stream used for normalisation)
        prob = np.array([model.rates[k].rate_per_ot for k in names])
        which = rng.choice(len(names), size=n_cal, p=prob / prob.sum())
        for i, name in enumerate(names):
            m = int(np.sum(which == i))
            if m == 0:
                continue
            t = _gen(model, name, rng, m)
            cols = detector_columns(rng, t, model)
            bits = events.TRIGGER_CALIBRATION | np.where(
                trigger.physics_trigger(cols, model.setup, model.e0_gev), events.TRIGGER_PHYSICS, 0)
            parts.append(_finish(cols, model, np.full(m, events.PROCESSES[name]), np.ones(m), bits, 0))
    if inject is not None and chunk == 0:
        for spec in inject:
            cols = signal_columns(model, rng, spec["mode"], float(spec["mass_gev"]), int(spec["n_events"]))
            ok = trigger.physics_trigger(cols, model.setup, model.e0_gev)
            cols = {k: v[ok] for k, v in cols.items()}
            m = int(ok.sum())
            parts.append(_finish(cols, model, np.full(m, events.PROCESSES["signal"]), np.ones(m),
                                 np.full(m, events.TRIGGER_PHYSICS), 0))
    return _merge_parts(parts, model, rng, chunk)


def _merge_parts(parts, model, rng, chunk):
    types = events.numpy_types(model.setup, truth=True)
    if not parts:
        return {k: np.zeros(0, dtype=t) for k, t in types.items()}
    cols = {k: np.concatenate([p[k] for p in parts]) for k in types}
    order = rng.permutation(len(cols["weight"]))
    cols = {k: v[order] for k, v in cols.items()}
    base = first_event_number(chunk)
    cols["event_number"] = np.arange(base, base + len(order), dtype=np.int64)
    return cols


def mc_chunk(model: RunModel, name: str, chunk: int, n_chunks: int) -> dict:
    """Weighted MC chunk of process ``name`` (module docstring for the normalisation)."""
    rng = rng_for(model.seed, "mc", model.analysis, model.run, name, chunk)
    n_mc = int(model.settings["n_mc"])
    n = _split(n_mc, n_chunks, chunk)
    r = model.rates[name]
    proc = model._procs[name]
    comp = r.component
    if name in ("upstream_interaction", "dimuon") and supports_component(proc, "enhanced"):
        comp = "enhanced"
    if name == "hadron_contamination":   # box topology importance-sampled (processes.hadron_contamination)
        comp = "ps_box"
    if r.p_trigger_component > 0:
        cols, w, n_gen = generate_triggered(model, name, rng, n, comp)
        prob = 1.0 if comp == "enhanced" else r.component_prob
        n_all = model.n_ot * r.rate_per_ot * r.scale * prob
        # each chunk estimates the expected triggered events from its own n_gen; it carries n/n_mc of them
        weight = n_all * w / max(n_gen, 1) * (n / n_mc)
        bits = np.full(n, events.TRIGGER_PHYSICS)
    else:   # never triggers: normalise to the calibration stream
        t = _gen(model, name, rng, n)
        cols = detector_columns(rng, t, model)
        n_cal = model.n_ot * float(model.settings["calibration_prescale"]) * r.rate_per_ot
        weight = np.full(n, n_cal / max(n_mc, 1))
        bits = events.TRIGGER_CALIBRATION | np.where(
            trigger.physics_trigger(cols, model.setup, model.e0_gev), events.TRIGGER_PHYSICS, 0)
    out = _finish(cols, model, np.full(n, events.PROCESSES[name]), weight, bits, 0)
    base = first_event_number(chunk)
    out["event_number"] = np.arange(base, base + n, dtype=np.int64)
    return out


# ----------------------------------------------------------------------------- signal


def signal_columns(model: RunModel, rng, mode: str, mass_gev: float, n: int) -> dict:
    """Detector-level columns of ``n`` signal events (physics.sampling.sample_signal)."""
    from ..physics.sampling import sample_signal

    e_thr = model.e_miss_min_gev()
    table = track_length_table(model) if model.setup == "electron" and mode in ("brem", "annihilation") else None
    s = sample_signal(rng, n, mode, mass_gev, model.beam, model.e0_gev, e_thr, table=table)
    med, depth, recoil = s["mediator_e_gev"], s["emission_depth_x0"], s["visible_recoil_gev"]
    t = detector.blank(n, model.e0_gev)
    ctx = model.ctx()
    if model.setup == "electron":
        p = processes_electron.electron_beam(t, rng, ctx)
        vis = np.clip(p - med, 0.0, None)
        t["ecal_em_gev"] = vis
        t["em_start_x0"] = rng.exponential(0.3, n)
    elif model.setup == "muon":
        from ..physics.sampling import lepton_mass_gev
        from . import muon_geometry

        p = processes_muon.muon_beam(t, rng, ctx)
        t["p_out_true_gev"] = np.clip(p - med - 2.0, 0.5, None)
        # scattered-muon angle from the WW emission (x = E_Z'/E0), then the ECAL after the emission point
        x = np.clip(med / model.e0_gev, 1e-6, 1 - 1e-6)
        t["mu_theta_x_mrad"], t["mu_theta_y_mrad"] = muon_geometry.muon_after_emission(
            rng, x, model.e0_gev, mass_gev, lepton_mass_gev(model.beam))
        t["mu_scatter_x0"] = np.clip(muon_geometry.ECAL_X0 - depth, 0.0, None)
    else:
        processes_hadron.pion_beam(t, rng, ctx)
        t["ecal_mip"] = np.clip(depth / ECAL_DEPTH_X0, 0, 1)
        t["ecal_had_gev"] = recoil
        t["had_start_x0"] = depth
    t["true_e_miss_gev"] = med
    t["true_mediator_e_gev"] = med
    return detector_columns(rng, t, model)


def signal_chunk(model: RunModel, mode: str, mass_gev: float, chunk: int, n_chunks: int) -> dict:
    rng = rng_for(model.seed, "signal", model.analysis, model.run, mode, f"{mass_gev:.6g}", chunk)
    n = _split(int(model.settings["n_signal"]), n_chunks, chunk)
    cols = signal_columns(model, rng, mode, mass_gev, n)
    bits = np.where(trigger.physics_trigger(cols, model.setup, model.e0_gev), events.TRIGGER_PHYSICS, 0)
    out = _finish(cols, model, np.full(n, events.PROCESSES["signal"]), np.ones(n), bits, 0)
    return out


def signal_points(model: RunModel) -> list[tuple[str, float]]:
    """(mode, mass_gev) of every signal sample of the run."""
    from ..physics.constants import M_ETA_GEV, M_ETAPRIME_GEV

    modes = model.settings["signal_modes"].get(model.analysis, [])
    masses = model.settings["signal_masses_gev"]
    out = []
    for mode in modes:
        if mode == "eta":
            out.append((mode, M_ETA_GEV))
        elif mode == "etaprime":
            out.append((mode, M_ETAPRIME_GEV))
        else:
            for m in masses.get(mode, []):
                out.append((mode, float(m)))
    return out


def n_chunks_for(n_events: int, chunk_events: int) -> int:
    return max(1, math.ceil(n_events / chunk_events))


__all__ = ["data_counts", "data_chunk", "generate_triggered", "mc_chunk", "n_chunks_for", "signal_chunk",
           "signal_columns", "signal_points"]
