"""A Dask cluster made of separate processes on this machine: one ``dask scheduler`` and N ``dask worker``.

This is how a batch cluster runs it (a scheduler job and worker jobs that connect to it through a
scheduler file), reduced to one host, for the distributed-execution test and benchmark and for a quick
multi-process run::

    with DaskProcesses(n_workers=2, workdir=tmp) as cluster:
        cfg["execution"]["dask_scheduler"] = cluster.address     # tcp://127.0.0.1:<port>
        run_processing(cfg, ...)

Every process is started with this interpreter (``python -m dask scheduler|worker``), so the workers
import the same na64flow. Every wait has a deadline and the processes are terminated (then killed) on
exit, so a broken cluster fails with an NA64Error instead of hanging.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from . import NA64Error


class DaskProcesses:
    """Context manager: a scheduler and ``n_workers`` single-threaded worker processes on 127.0.0.1."""

    def __init__(self, n_workers: int, workdir: str | Path, timeout_s: float = 120.0,
                 memory_limit: str = "2GB"):
        self.n_workers = int(n_workers)
        self.workdir = Path(workdir)
        self.timeout_s = float(timeout_s)
        self.memory_limit = memory_limit
        self.procs: list[subprocess.Popen] = []
        self.address: str | None = None

    def _start(self, args: list[str], log: str) -> subprocess.Popen:
        fh = open(self.workdir / log, "w")   # noqa: SIM115 (closed with the process in __exit__)
        p = subprocess.Popen([sys.executable, "-m", "dask", *args], stdout=fh, stderr=subprocess.STDOUT,
                             cwd=self.workdir, start_new_session=True)
        p._log = fh   # type: ignore[attr-defined]
        self.procs.append(p)
        return p

    def _fail(self, what: str) -> NA64Error:
        logs = "\n".join(f"--- {f.name}:\n{f.read_text()[-1500:]}" for f in sorted(self.workdir.glob("*.log")))
        return NA64Error(f"local Dask cluster: {what}\n{logs}")

    def __enter__(self) -> DaskProcesses:
        self.workdir.mkdir(parents=True, exist_ok=True)
        sfile = self.workdir / "scheduler.json"
        sfile.unlink(missing_ok=True)
        try:
            sched = self._start(["scheduler", "--host", "127.0.0.1", "--port", "0", "--no-dashboard",
                                 "--scheduler-file", str(sfile)], "scheduler.log")
            deadline = time.monotonic() + self.timeout_s
            while not sfile.exists():
                if sched.poll() is not None or time.monotonic() > deadline:
                    raise self._fail("the scheduler did not start")
                time.sleep(0.2)
            time.sleep(0.2)   # the file is written in one go, but give the writer a moment
            self.address = json.loads(sfile.read_text())["address"]
            for i in range(self.n_workers):
                self._start(["worker", "--scheduler-file", str(sfile), "--nthreads", "1", "--nworkers", "1",
                             "--no-nanny", "--name", f"worker-{i}", "--memory-limit", self.memory_limit,
                             "--death-timeout", str(int(self.timeout_s)),
                             "--local-directory", str(self.workdir / f"worker-{i}")], f"worker-{i}.log")
            self.wait_for_workers()
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def wait_for_workers(self) -> None:
        from dask.distributed import Client

        with Client(self.address, timeout=f"{int(self.timeout_s)}s") as client:
            try:
                client.wait_for_workers(self.n_workers, timeout=self.timeout_s)
            except Exception as exc:  # TimeoutError and friends
                raise self._fail(f"{self.n_workers} workers did not connect ({type(exc).__name__})") from exc

    def __exit__(self, *exc) -> None:
        for p in reversed(self.procs):      # workers first, then the scheduler
            if p.poll() is None:
                p.terminate()
        deadline = time.monotonic() + 20
        for p in self.procs:
            try:
                p.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, 9)
                p.wait(timeout=10)
            p._log.close()   # type: ignore[attr-defined]
        self.procs.clear()
