"""Benchmark of a distributed `process` step: 1 vs 2 `dask worker` processes behind one `dask scheduler`.

    python benchmarks/bench_dask.py [--n-events 4e6] [--repeat 3] [--dir /tmp/na64flow-bench]

The cluster is made of separate processes on 127.0.0.1 (``na64flow.dask_processes``: as on a batch
cluster, connected through a scheduler file), started once per worker count; the configuration points
``execution.dask_scheduler`` at it. The data are the toy NA64e files of ``bench_processing.py`` (shared
``--dir``). Prints the median wall and the speed-up, with the load average; checks that both worker
counts give the same cut-flow.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_processing as bp  # noqa: E402


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--n-events", type=float, default=4e6)
    p.add_argument("--dir", default="/tmp/na64flow-bench")
    p.add_argument("--repeat", type=int, default=3)
    args = p.parse_args(argv)
    n = int(args.n_events)
    cfg, _ = bp.prepare(Path(args.dir), n)
    from na64flow.dask_processes import DaskProcesses
    from na64flow.processing import run_processing

    times: dict[int, list[float]] = {1: [], 2: []}
    loads: dict[int, list[float]] = {1: [], 2: []}
    cutflows = {}
    with tempfile.TemporaryDirectory() as tmp:
        for workers in (1, 2):
            with DaskProcesses(n_workers=workers, workdir=Path(tmp) / f"w{workers}") as cluster:
                cfg["execution"]["dask_scheduler"] = cluster.address
                run_processing(cfg, bp.ANALYSIS, bp.RUN, status=False, workers=workers)   # warm-up: imports on the workers
                for _ in range(args.repeat):
                    loads[workers].append(os.getloadavg()[0])
                    t = time.perf_counter()
                    out = run_processing(cfg, bp.ANALYSIS, bp.RUN, status=False, workers=workers)
                    times[workers].append(time.perf_counter() - t)
                cutflows[workers] = out["samples"]["data"]["cutflow"]["raw"]
    assert cutflows[1] == cutflows[2]
    med = {w: statistics.median(v) for w, v in times.items()}
    print(f"{n:.3g} NA64e toy events, {os.cpu_count()} cores; dask scheduler + N worker processes "
          f"(1 thread each) on 127.0.0.1; median of {args.repeat} after one warm-up run")
    for w in (1, 2):
        print(f"  {w} worker(s): {med[w]:7.2f} s  {n / med[w] / 1e6:5.2f} M ev/s   "
              f"(all: {', '.join(f'{t:.2f}' for t in times[w])}; load {min(loads[w]):.1f}-{max(loads[w]):.1f})")
    print(f"  speed-up 2 vs 1 workers: {med[1] / med[2]:.2f}; cut-flows identical")
    return 0


if __name__ == "__main__":
    sys.exit(main())
