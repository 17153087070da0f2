"""Benchmark of the fast simulation: events per second and peak memory for a 1e6-event run.

Generates ~1e6 data-stream events of NA64e 2016-2022 (default configuration, the Poisson counts of every
process scaled up to 1e6 triggered events), in chunks of ``chunk_events``, including the ROOT writing, and
compares the time with a *floor* measured in the same run: drawing the same number of random numbers
(counted through a proxy of the numpy Generator) with ``Generator.random`` in blocks of 1e6.
Peak memory: maximum resident set size (resource.getrusage) and the tracemalloc peak of one chunk.

    python benchmarks/bench_simulation.py [--events 1000000] [--config configs/default.yaml]
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

import numpy as np

from na64flow import config, events
from na64flow.simulation import generator


class CountingRNG:
    """Forwards to a numpy Generator and counts the random numbers it returns."""

    def __init__(self, rng: np.random.Generator):
        self._rng = rng
        self.count = 0

    def __getattr__(self, name):
        attr = getattr(self._rng, name)
        if not callable(attr):
            return attr

        def wrapped(*a, **k):
            out = attr(*a, **k)
            self.count += int(np.size(out))
            return out

        return wrapped


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--events", type=float, default=1e6)
    ap.add_argument("--config", default=str(Path(__file__).resolve().parents[1] / "configs" / "default.yaml"))
    args = ap.parse_args(argv)
    cfg = config.load_config(args.config)
    t0 = time.perf_counter()
    model = generator.build_model(cfg, "na64e", "2016-2022")
    t_model = time.perf_counter() - t0
    counts = generator.data_counts(model)
    total = sum(counts.values())
    f = args.events / total
    counts = {k: int(round(v * f)) for k, v in counts.items()}
    n_target = sum(counts.values())
    chunk = int(model.settings["chunk_events"])
    n_chunks = generator.n_chunks_for(n_target, chunk)

    proxies = []
    real_rng_for = generator.rng_for

    def counting_rng_for(*keys):
        p = CountingRNG(real_rng_for(*keys))
        proxies.append(p)
        return p

    generator.rng_for = counting_rng_for
    n_written = 0
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        for c in range(n_chunks):
            if c == 0:
                tracemalloc.start()
            cols = generator.data_chunk(model, counts, c, n_chunks)
            if c == 0:
                _, peak_chunk = tracemalloc.get_traced_memory()
                tracemalloc.stop()
            events.write_events(Path(tmp) / f"chunk_{c:04d}.root", cols, model.setup, truth=True)
            n_written += len(cols["weight"])
        t_sim = time.perf_counter() - t0
    generator.rng_for = real_rng_for
    n_random = sum(p.count for p in proxies)

    rng = np.random.default_rng(1)
    t0 = time.perf_counter()
    left = n_random
    while left > 0:
        m = min(left, 1_000_000)
        rng.random(m)
        left -= m
    t_floor = time.perf_counter() - t0
    maxrss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0

    print(f"model (pilots, rates):     {t_model:8.2f} s")
    print(f"events generated+written:  {n_written:,d} in {n_chunks} chunks, {t_sim:.2f} s "
          f"-> {n_written / t_sim:,.0f} events/s")
    print(f"random numbers drawn:      {n_random:,d} ({n_random / max(n_written, 1):.0f} per event)")
    print(f"floor (same count drawn):  {t_floor:8.3f} s -> ratio simulation/floor = {t_sim / t_floor:.1f}")
    print(f"peak memory:               max RSS {maxrss_mb:,.0f} MB; tracemalloc peak of one chunk "
          f"{peak_chunk / 2**20:,.0f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
