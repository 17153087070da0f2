"""Whole-workflow timing: wall time of `snakemake --cores N` and the job-seconds of every rule.

    python benchmarks/bench_workflow.py --clone            # fresh clone of HEAD (own venv) in a temporary folder, run, report
    python benchmarks/bench_workflow.py --log run.log      # only parse the log of a run made by hand

Job-seconds of a job = wall time from its "rule X:" line to its "Finished jobid" line in Snakemake's
log (what the lead's per-rule table sums); the critical path is not reported, the total wall time is.
The load average (`uptime`) before and after is printed with every number: other processes on the
machine inflate wall times.
"""

from __future__ import annotations

import argparse
import collections
import datetime as dt
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

STAMP = re.compile(r"^\[(\w{3} \w{3} +\d+ \d\d:\d\d:\d\d \d{4})\]$")
RULE = re.compile(r"^(?:local)?(?:rule|checkpoint) (\S+):$")
JOBID = re.compile(r"^\s+jobid: (\d+)$")
FINISHED = re.compile(r"^Finished jobid: (\d+)")


def job_seconds(log_text: str) -> dict[str, list[float]]:
    """{rule: [wall seconds of each of its jobs]} from a Snakemake log."""
    started, rule_of, out = {}, {}, collections.defaultdict(list)
    stamp = pending = None
    for line in log_text.splitlines():
        if m := STAMP.match(line):
            stamp = dt.datetime.strptime(m[1], "%a %b %d %H:%M:%S %Y")
        elif m := RULE.match(line):
            pending = m[1]
        elif (m := JOBID.match(line)) and pending is not None:
            started[m[1]], rule_of[m[1]], pending = stamp, pending, None
        elif (m := FINISHED.match(line)) and m[1] in started:
            out[rule_of[m[1]]].append((stamp - started[m[1]]).total_seconds())
    return dict(out)


def report(jobs: dict[str, list[float]]) -> str:
    groups = collections.defaultdict(list)
    for rule, secs in jobs.items():
        base = "limits" if rule.startswith("limits_") else "plot" if rule.startswith("plot_") else \
            "signal" if rule.startswith("signal_") else "cutflow" if rule.startswith("cutflow_") else rule
        groups[base] += secs
    lines = [f"{'rule':<34} {'jobs':>4} {'job-s':>7}"]
    for rule, secs in sorted(jobs.items(), key=lambda kv: -sum(kv[1])):
        lines.append(f"{rule:<34} {len(secs):>4} {sum(secs):>7.0f}")
    lines.append("by step: " + ", ".join(f"{k} {sum(v):.0f} s ({len(v)})" for k, v in
                                         sorted(groups.items(), key=lambda kv: -sum(kv[1]))))
    lines.append(f"total job-seconds: {sum(sum(v) for v in jobs.values()):.0f}")
    return "\n".join(lines)


def uptime() -> str:
    return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--log", help="parse this Snakemake log instead of running")
    ap.add_argument("--clone", action="store_true", help="run in a fresh `git clone` of this checkout's HEAD")
    ap.add_argument("--cores", type=int, default=2)
    ap.add_argument("--dir", default=None, help="where to clone (default: a temporary folder)")
    args = ap.parse_args()
    if args.log:
        print(report(job_seconds(Path(args.log).read_text())))
        return 0
    repo = Path(__file__).resolve().parents[1]
    work = repo
    if args.clone:
        work = Path(args.dir or tempfile.mkdtemp(prefix="na64flow-bench-")) / "na64flow"
        subprocess.run(["git", "clone", "-q", str(repo), str(work)], check=True)
    env = dict(os.environ, CONDOR_CONFIG="/dev/null")
    python = sys.executable
    if args.clone:
        # the clone's own package (a venv seeing the installed dependencies, with an editable install of the
        # clone), so the run measures HEAD and not this checkout's working tree
        venv = work.parent / "venv"
        subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", str(venv)], check=True)
        python = str(venv / "bin" / "python")
        subprocess.run([python, "-m", "pip", "install", "-q", "--no-deps", "-e", str(work)], check=True)
        env.update(PATH=f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}", VIRTUAL_ENV=str(venv))
        env.pop("PYTHONPATH", None)
    print("load before:", uptime())
    t0 = time.perf_counter()
    proc = subprocess.run([python, "-m", "snakemake", "--cores", str(args.cores)], cwd=work, env=env,
                          capture_output=True, text=True)
    wall = time.perf_counter() - t0
    print("load after: ", uptime())
    (work / "bench_workflow.log").write_text(proc.stderr + proc.stdout)
    if proc.returncode:
        print(proc.stderr[-3000:])
        return proc.returncode
    print(f"snakemake --cores {args.cores} in {work}: {wall:.0f} s wall ({wall / 60:.1f} min)")
    print(report(job_seconds(proc.stderr + proc.stdout)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
