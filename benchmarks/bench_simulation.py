"""Benchmark of the fast simulation against a realistic floor: events per second per core and peak memory.

Generates ~1e6 data-stream events of NA64e 2016-2022 (default configuration, the Poisson counts of every
process scaled up to 1e6 triggered events), in chunks of ``chunk_events``, including the ROOT writing.

Floor (issue 15), measured chunk by chunk in the same run:

* **draws**: every call the simulation makes on its random generators (method, arguments, size: the
  same variates from the same distributions, including the trigger-rejected events) is recorded in a
  separate pass through a proxy, then replayed on a fresh ``numpy.random.Generator`` and timed;
* **writing**: the chunk's columns (the same bytes) written to a new ROOT file with the same compression
  (``events.COMPRESSION``) through the same ``events.write_events``.

ours / floor = (generation + writing) / (replayed draws + writing). Times are CPU seconds of this process
(``time.process_time``; wall seconds are printed too): on a machine shared with other jobs, CPU time is
what one core spends. events/s per core = events / (generation + writing CPU seconds).

    python benchmarks/bench_simulation.py [--events 1000000] [--config configs/default.yaml]
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from na64flow import config, events
from na64flow.simulation import generator, run_model


class RecordingRNG:
    """Forwards to a numpy Generator and records every call (method, args, kwargs) and the count drawn."""

    def __init__(self, rng: np.random.Generator, calls: list):
        self._rng = rng
        self._calls = calls

    def __getattr__(self, name):
        attr = getattr(self._rng, name)
        if not callable(attr):
            return attr

        def wrapped(*a, **k):
            out = attr(*a, **k)
            self._calls.append((name, a, k, int(np.size(out))))
            return out

        return wrapped


def replay(calls: list, seed: int = 1) -> float:
    """CPU seconds to make the same calls (same distributions, parameters and sizes) on a fresh generator."""
    rng = np.random.default_rng(seed)
    t = time.process_time()
    for name, a, k, _ in calls:
        getattr(rng, name)(*a, **k)
    return time.process_time() - t


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--events", type=float, default=1e6)
    ap.add_argument("--config", default=str(Path(__file__).resolve().parents[1] / "configs" / "default.yaml"))
    args = ap.parse_args(argv)
    load0 = os.getloadavg()[0]
    cfg = config.load_config(args.config)
    t0 = time.process_time()
    model = run_model.build_model(cfg, "na64e", "2016-2022")
    t_model = time.process_time() - t0
    counts = generator.data_counts(model)
    f = args.events / sum(counts.values())
    counts = {k: int(round(v * f)) for k, v in counts.items()}
    n_chunks = generator.n_chunks_for(sum(counts.values()), int(model.settings["chunk_events"]))

    real_rng_for = generator.rng_for   # the name data_chunk looks up (generator imports it from run_model)
    gen_cpu = write_cpu = draw_cpu = wall = 0.0
    n_written = n_drawn = n_calls = 0
    with tempfile.TemporaryDirectory() as tmp:
        for c in range(n_chunks):
            # ours: generation and writing, as `simulate` does them
            w0, t = time.perf_counter(), time.process_time()
            cols = generator.data_chunk(model, counts, c, n_chunks)
            t1 = time.process_time()
            events.write_events(Path(tmp) / f"chunk_{c:04d}.root", cols, model.setup, truth=True)
            t2 = time.process_time()
            wall += time.perf_counter() - w0
            gen_cpu += t1 - t
            write_cpu += t2 - t1
            n_written += len(cols["weight"])
            # floor: the same draws, recorded in a second pass (same seeds -> the same chunk), replayed
            calls: list = []
            generator.rng_for = lambda *keys, _calls=calls: RecordingRNG(real_rng_for(*keys), _calls)
            try:
                again = generator.data_chunk(model, counts, c, n_chunks)
            finally:
                generator.rng_for = real_rng_for
            if not calls:
                raise SystemExit("bench_simulation: no random draw was recorded (generator.rng_for not used?): "
                                 "the floor would be meaningless")
            assert all(np.array_equal(again[k], cols[k], equal_nan=True) for k in cols), "not deterministic"
            del again
            draw_cpu += replay(calls, seed=c)
            n_drawn += sum(x[3] for x in calls)
            n_calls += len(calls)
            del calls, cols
    maxrss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    ours = gen_cpu + write_cpu
    floor = draw_cpu + write_cpu
    name, level = events.COMPRESSION
    print(f"load average (1 min) before/after: {load0:.1f} / {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    print(f"model (pilots, rates):      {t_model:8.2f} s CPU")
    print(f"events generated+written:   {n_written:,d} in {n_chunks} chunks; wall {wall:.2f} s")
    print(f"  generation CPU            {gen_cpu:8.2f} s")
    print(f"  writing CPU ({name}({level}))     {write_cpu:8.2f} s")
    print(f"  -> {n_written / ours:,.0f} events/s per core (target >= 1e6)")
    print(f"draws: {n_drawn:,d} variates ({n_drawn / max(n_written, 1):.0f} per event) in {n_calls:,d} calls")
    print(f"floor = same draws replayed {draw_cpu:.2f} s + same writing {write_cpu:.2f} s = {floor:.2f} s CPU")
    print(f"ratio ours/floor = {ours / floor:.2f} (target <= 1.5); generation / its draws = {gen_cpu / draw_cpu:.2f}")
    print(f"peak memory: max RSS {maxrss_mb:,.0f} MB (includes the recorded draw arguments of one chunk)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
