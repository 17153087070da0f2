"""The rate model of one simulated run: process rates per particle on target, trigger probabilities and
box acceptances measured on fixed-seed pilot samples (``simulation.n_pilot`` events, so every piece of a
parallel run derives the same numbers), the seeds of every chunk and the detector response of a run.
The event chunks made from it are ``generator``'s."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from types import SimpleNamespace

import numpy as np

from .. import NA64Error, config, events
from . import detector, processes, trigger

DEFAULTS = {
    "chunk_events": 250_000,
    "n_pilot": 40_000,
    "n_mc": 20_000,
    "n_signal": 5_000,
    "calibration_prescale": 1e-5,
    "rate_scale": {},
    "run_rate_scale": {},
    "signal_modes": {"na64e": ["brem", "annihilation"], "na64e_plus": ["brem", "annihilation"],
                     "na64mu": ["zprime"], "na64h": ["eta", "etaprime"]},
    "signal_masses_gev": {},
    "inject": [],
}


BOX_PILOT_FACTOR = 8   # box acceptances of rare topologies need a larger pilot (~5% precision)


def sim_settings(cfg: dict) -> dict:
    """The ``simulation`` section with defaults filled in."""
    out = dict(DEFAULTS)
    out.update(config.section(cfg, "simulation"))
    if int(out["chunk_events"]) > 250_000:
        raise NA64Error(f"simulation.chunk_events = {out['chunk_events']}: at most 250000 (bounded file size)")
    return out


def rng_for(seed: int, *keys) -> np.random.Generator:
    """Independent generator for (seed, keys...): SeedSequence with a spawn key hashed from the keys."""
    spawn = tuple(int(hashlib.sha256(str(k).encode()).hexdigest()[:8], 16) for k in keys)
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence(int(seed), spawn_key=spawn)))


def run_number_of(run: str) -> int:
    digits = "".join(ch for ch in str(run) if ch.isdigit())[:4]
    return int(digits) if digits else 0


@dataclass
class ProcessRate:
    name: str
    rate_per_ot: float
    source: str
    scale: float
    component: str | None
    component_prob: float
    p_trigger: float            # P(trigger) of the whole process (component prob included)
    p_trigger_component: float  # P(trigger | component)
    box_acceptance: float | None = None
    bulk: bool = False

    @property
    def expected_triggered_per_ot(self) -> float:
        return self.rate_per_ot * self.scale * self.p_trigger


@dataclass
class RunModel:
    analysis: str
    run: str
    setup: str
    beam: str
    e0_gev: float
    vhcal: bool
    n_ot: float
    seed: int
    run_number: int
    settings: dict
    cuts: SimpleNamespace
    rates: dict[str, ProcessRate] = field(default_factory=dict)
    dimuon_loss_prob: float = 0.0

    def ctx(self, vhcal=None) -> SimpleNamespace:
        return SimpleNamespace(e0_gev=self.e0_gev, beam=self.beam, setup=self.setup,
                               vhcal=self.vhcal if vhcal is None else vhcal, dimuon_loss_prob=self.dimuon_loss_prob)

    def e_miss_min_gev(self) -> float:
        c = self.cuts
        if self.setup == "electron":
            return self.e0_gev - float(c.ecal_max_gev)
        if self.setup == "muon":
            return self.e0_gev - float(c.p_out_max_gev)
        return self.e0_gev - float(c.ecal_max_gev) - float(c.hcal_zero_gev)


def detector_columns(rng, truth: detector.Truth, model: RunModel, vhcal=None) -> dict:
    return detector.respond(rng, truth, setup=model.setup, run_number=model.run_number,
                            vhcal=model.vhcal if vhcal is None else vhcal)


PILOT_BATCH = 100_000   # pilot events per batch (bounded memory whatever n_pilot)


def _pilot_mean(model: RunModel, proc: processes.Process, what: str, select, component=None, vhcal=None,
                ctx=None) -> float:
    """Weighted fraction E[bias_weight x select(columns)] of a fixed-seed pilot sample of one process,
    generated in batches of at most PILOT_BATCH events."""
    rng = rng_for(model.seed, "pilot", model.analysis, model.run, proc.name, what)
    n = int(model.settings["n_pilot"]) * (BOX_PILOT_FACTOR if what == "box" else 1)
    ctx = ctx or model.ctx(vhcal)
    total, done = 0.0, 0
    while done < n:
        m = min(PILOT_BATCH, n - done)
        t = proc.gen(rng, m, ctx, component=component) if component else proc.gen(rng, m, ctx)
        cols = detector_columns(rng, t, model, vhcal)
        total += float(np.sum(t["bias_weight"] * select(cols)))
        done += m
    return total / n


def supports_component(proc: processes.Process, component: str) -> bool:
    import inspect
    return "component" in inspect.signature(proc.gen).parameters


def build_model(cfg: dict, analysis: str, run: str) -> RunModel:
    """Rates, trigger probabilities and box acceptances of every process of (analysis, run)."""
    acfg = config.analysis_config(cfg, analysis)
    rcfg = config.run_config(cfg, analysis, run)
    settings = sim_settings(cfg)
    model = RunModel(analysis=analysis, run=str(run), setup=acfg["setup"], beam=acfg["beam"],
                     e0_gev=float(rcfg["beam_energy_gev"]), vhcal=bool(rcfg.get("vhcal", False)),
                     n_ot=float(rcfg["n_ot"]), seed=int(cfg["seed"]), run_number=run_number_of(run),
                     settings=settings, cuts=config.cuts_for(cfg, analysis, run))
    procs = processes.processes_for(model.setup, model.beam, model.e0_gev)
    all_scaled = set(settings["rate_scale"])
    for v in (settings["run_rate_scale"] or {}).values():
        all_scaled |= set(v)
    unknown = sorted(all_scaled - set(events.PROCESSES))
    if unknown:
        raise NA64Error(f"simulation.rate_scale: unknown process(es) {', '.join(unknown)}; "
                        f"known: {', '.join(events.PROCESSES)}")
    scales = dict(settings["rate_scale"])
    scales.update((settings["run_rate_scale"] or {}).get(f"{analysis}:{run}", {}))
    rates: dict[str, float] = {}
    box_acc: dict[str, float] = {}
    for p in procs:
        if p.published is not None:
            comp = "enhanced" if supports_component(p, "enhanced") and p.name == "upstream_interaction" else None
            ecal_max = p.published.ecal_max_gev
            acc = _pilot_mean(model, p, "box", lambda c, m=ecal_max: trigger.reference_box(c, model.setup, model.e0_gev, m),
                              component=comp, vhcal=False)
            if acc <= 0:
                raise NA64Error(f"simulation: process {p.name}: zero box acceptance in the pilot sample; "
                                "increase simulation.n_pilot")
            box_acc[p.name] = acc
            rates[p.name] = p.published.background / (p.published.n_ot * acc)
        elif not p.bulk:
            rates[p.name] = float(p.rate)
        if p.name == "dimuon" and "loss" in p.extra:
            pub = p.extra["loss"]
            lctx = model.ctx(False)
            lctx.dimuon_loss_prob = 1.0
            acc = _pilot_mean(model, p, "loss",
                              lambda c, m=pub.ecal_max_gev: trigger.reference_box(c, model.setup, model.e0_gev, m),
                              vhcal=False, ctx=lctx)
            model.dimuon_loss_prob = pub.background / (pub.n_ot * float(p.rate) * max(acc, 1e-12))
    bulk_rate = 1.0 - sum(rates.values())
    for p in procs:
        rate = bulk_rate if p.bulk else rates[p.name]
        comp, cprob = (p.extra.get("trigger_component") or (None, 1.0))
        p_trig_c = _pilot_mean(model, p, "trigger", lambda c: trigger.physics_trigger(c, model.setup, model.e0_gev),
                               component=comp)
        model.rates[p.name] = ProcessRate(
            name=p.name, rate_per_ot=rate, source=p.source, scale=float(scales.get(p.name, 1.0)),
            component=comp, component_prob=float(cprob), p_trigger=float(cprob) * p_trig_c,
            p_trigger_component=p_trig_c, box_acceptance=box_acc.get(p.name), bulk=p.bulk)
    model._procs = {p.name: p for p in procs}
    model._cfg = cfg
    model._table = None
    return model


def track_length_table(model: RunModel):
    """The cascade track-length table of the signal step (``na64flow.signal.get_table``: the cached
    ``cache/tracklength_<beam>_<E0>.npz``, computed and written with the ``signal.cascade`` settings if
    missing), so the simulated e+- signal and the signal yields use the same table. Loaded once per model."""
    if model._table is None:
        from .. import signal as signal_step

        model._table = signal_step.get_table(model._cfg, model.beam, model.e0_gev)
    return model._table
