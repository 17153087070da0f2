"""coffea executors by name (iterative, futures, Dask) and the Runner of the `process` step."""

from __future__ import annotations

import concurrent.futures
import functools
import multiprocessing

from coffea import processor

from .. import NA64Error


def make_executor(name: str, workers: int, scheduler: str | None, local_processes: bool = True,
                  status: bool = True):
    """coffea executor by name; for Dask also returns the Client/cluster to close afterwards."""
    if name == "iterative":
        return processor.IterativeExecutor(status=status), []
    if name == "futures" and int(workers) <= 1:
        # one worker: no parallelism to gain, so run in process (saves the pool start-up and the
        # pickling of every chunk's histograms; measured in benchmarks/bench_processing.py)
        return processor.IterativeExecutor(status=status), []
    if name == "futures":
        # forked workers inherit the imported modules: ~5 s less start-up than loky's fresh interpreters,
        # which is what makes 2 workers ~2x faster than 1 on a few-million-event run (benchmarks/)
        pool = None
        if "fork" in multiprocessing.get_all_start_methods():
            pool = functools.partial(concurrent.futures.ProcessPoolExecutor,
                                     mp_context=multiprocessing.get_context("fork"))
        kwargs = {"pool": pool} if pool is not None else {}
        # no lz4 round trip of every chunk's histograms through the local pipe (CPU the main process
        # would spend while merging)
        return processor.FuturesExecutor(workers=max(1, int(workers)), status=status, compression=None,
                                         **kwargs), []
    if name == "dask":
        from dask.distributed import Client, LocalCluster

        if scheduler in (None, "local"):
            cluster = LocalCluster(n_workers=max(1, int(workers)), threads_per_worker=1,
                                   processes=local_processes, dashboard_address=None)
            client = Client(cluster)
            closers = [client, cluster]
        else:
            client = Client(scheduler)
            closers = [client]
        return processor.DaskExecutor(client=client, status=status), closers
    raise NA64Error(f"unknown executor '{name}'; use iterative, futures or dask")


def base_schema():
    """coffea's BaseSchema: the flat branches as they are (imported on use)."""
    from coffea.nanoevents import BaseSchema

    return BaseSchema


def make_runner(executor, chunksize: int, status: bool = True) -> processor.Runner:
    """coffea's Runner over ``executor`` with the flat BaseSchema."""
    # align_clusters: chunks end on cluster boundaries, so no basket is decompressed twice
    # preprocessing (file metadata only) runs in process: no second worker pool to start
    return processor.Runner(executor=executor, pre_executor=processor.IterativeExecutor(status=status),
                            chunksize=int(chunksize), schema=base_schema(), savemetrics=False, align_clusters=True)
