"""A real distributed run (issue 15): a `dask scheduler` and two `dask worker` processes on 127.0.0.1,
reached through ``execution.dask_scheduler`` as on a cluster, give the iterative executor's histograms."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import numpy as np
import pytest

from na64flow.dask_processes import DaskProcesses
from na64flow.processing import run_processing

_spec = importlib.util.spec_from_file_location("toy_events", Path(__file__).parent / "reference" / "toy_events.py")
toy = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(toy)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    with DaskProcesses(n_workers=2, workdir=tmp_path_factory.mktemp("dask"), timeout_s=120) as c:
        yield c
    assert not c.procs   # torn down: every process waited for


def test_scheduler_and_two_worker_processes_give_the_iterative_histograms(cluster, tmp_path, repo_root):
    from dask.distributed import Client

    _, cfg = toy.make_config(tmp_path, repo_root, {"execution.dask_scheduler": cluster.address})
    toy.write_run(cfg, "na64e", "2016-2022", 6000, seed=21, n_files=4)
    ref = run_processing(cfg, "na64e", "2016-2022", executor="iterative", status=False)
    dist = run_processing(cfg, "na64e", "2016-2022", status=False)   # dask, from execution.dask_scheduler
    with Client(cluster.address, timeout="60s") as client:
        pids = client.run(os.getpid)                                    # {worker address: pid}
        executed = client.run(lambda dask_worker: dask_worker.state.executed_count)
    # separate processes, not this one, and both took part in the run
    assert len(set(pids.values()) - {os.getpid()}) == 2
    assert all(n > 0 for n in executed.values()), executed
    for s, r in ref["samples"].items():
        d = dist["samples"][s]
        assert d["cutflow"] == r["cutflow"], s
        assert d["regions"] == r["regions"], s
        assert r["hists"].keys() == d["hists"].keys()
        for k, h in r["hists"].items():
            np.testing.assert_array_equal(h.values(flow=True), d["hists"][k].values(flow=True))
            np.testing.assert_array_equal(h.variances(flow=True), d["hists"][k].variances(flow=True))
    assert ref["samples"]["mc_bulk"]["cutflow"]["raw"][0] == 3000   # every simulated event read (data: blinded)
